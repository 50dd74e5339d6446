"""Ordering's rules: the order aggregate and the checkout saga's state machine.

The saga, as a list of steps, each with the compensation that undoes it (FTGO's shape):

    participant  forward step (ordering learns it from)      compensation, asked by OrderCancelled
    stocking     reserve the lines      (StockReserved)      release them               (StockReleased)
    paying       capture the total      (PaymentSucceeded)   void, or refund if captured (PaymentVoided/-Refunded)
    billing      draft the invoice      (InvoiceDrafted)     void the draft, or credit the final invoice
    ordering     confirm once stock RESERVED and payment CAPTURED, in either order (OrderConfirmed)
    shipping     create the shipment    (ShipmentCreated)    cancel it if not yet picked up (ShipmentCancelled)

The order stays PENDING, with one sub-state per participant, until it is confirmed or cancelled.
OrderCancelled is the one compensation command: every participant undoes its own step on it,
idempotently on the order id (stocking releases the event's lines, paying voids or refunds the
payment, billing voids or credits the invoice, shipping cancels the shipment).

Rules every transition keeps, so that Kafka's redeliveries and reorderings are harmless:
- Idempotent: an event whose effect is already recorded returns the order unchanged (same version)
  and no events. Each handler checks the sub-state it moves (or the paying refund / credit note id it
  records), so a redelivery is recognised even when it was re-published under a new event id.
- Confirmation happens once, whichever of StockReserved and PaymentSucceeded comes last.
- A compensation is never lost: a forward step reported after the order was cancelled (stock
  reserved, payment captured) sends the same OrderCancelled again, so the participant that took
  something gives it back even if it took it after it handled the first copy.

Use cases take the current order and plain values and return `(changed order, events)`; the order
given is never mutated, and an unchanged order keeps its version, so the wiring writes only when the
version moved. Every amount is an int of minor units in the order's currency.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from services.runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.runtime.paging import Page, instant, paginate
from services.runtime.values import Address, RefundedLine, ShipmentStatus, ShippingQuote

PAYMENT_METHODS = ("card", "paypal", "bank_transfer")
# Administering's default for the setting saga.step_timeout.
DEFAULT_STEP_TIMEOUT = timedelta(seconds=30)


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class StockState(StrEnum):
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    FAILED = "FAILED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"


class PaymentState(StrEnum):
    PENDING = "PENDING"
    CAPTURED = "CAPTURED"
    FAILED = "FAILED"
    VOIDED = "VOIDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class InvoiceState(StrEnum):
    PENDING = "PENDING"
    DRAFTED = "DRAFTED"
    FINALIZED = "FINALIZED"
    VOIDED = "VOIDED"
    CREDITED = "CREDITED"


class CancellationReason(StrEnum):
    CUSTOMER_REQUEST = "CUSTOMER_REQUEST"
    STAFF_DECISION = "STAFF_DECISION"
    FRAUD_SUSPECTED = "FRAUD_SUSPECTED"
    # Set by the saga only.
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    TIMED_OUT = "TIMED_OUT"


# The reasons a person may give to CancelOrder; the others are the saga's.
REQUESTABLE_CANCELLATION_REASONS = (
    CancellationReason.CUSTOMER_REQUEST,
    CancellationReason.STAFF_DECISION,
    CancellationReason.FRAUD_SUSPECTED,
)


class Actor(StrEnum):
    CUSTOMER = "CUSTOMER"
    STAFF = "STAFF"
    SYSTEM = "SYSTEM"


class RefundStatus(StrEnum):
    REQUESTED = "REQUESTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class TimelineStep(StrEnum):
    ORDER_CREATED = "ORDER_CREATED"
    STOCK_RESERVED = "STOCK_RESERVED"
    STOCK_RESERVATION_FAILED = "STOCK_RESERVATION_FAILED"
    PAYMENT_SUCCEEDED = "PAYMENT_SUCCEEDED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    INVOICE_DRAFTED = "INVOICE_DRAFTED"
    ORDER_CONFIRMED = "ORDER_CONFIRMED"
    STOCK_COMMITTED = "STOCK_COMMITTED"
    INVOICE_FINALIZED = "INVOICE_FINALIZED"
    SHIPMENT_CREATED = "SHIPMENT_CREATED"
    SHIPMENT_STATUS_CHANGED = "SHIPMENT_STATUS_CHANGED"
    ORDER_SHIPPED = "ORDER_SHIPPED"
    ORDER_DELIVERED = "ORDER_DELIVERED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    STOCK_RELEASED = "STOCK_RELEASED"
    PAYMENT_VOIDED = "PAYMENT_VOIDED"
    INVOICE_VOIDED = "INVOICE_VOIDED"
    SHIPMENT_CANCELLED = "SHIPMENT_CANCELLED"
    REFUND_REQUESTED = "REFUND_REQUESTED"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"
    CREDIT_NOTE_ISSUED = "CREDIT_NOTE_ISSUED"
    REFUND_COMPLETED = "REFUND_COMPLETED"
    REFUND_FAILED = "REFUND_FAILED"


class ReleaseReason(StrEnum):
    """Why stocking released a reservation (stocking.v1.ReleaseReason)."""

    ORDER_CANCELLED = "ORDER_CANCELLED"
    EXPIRED = "EXPIRED"
    STAFF = "STAFF"


# ---------------------------------------------------------------------------------------------- records


@dataclass
class OrderLine:
    """One SKU, frozen at checkout with carting's amounts (never recomputed)."""

    sku: str
    product_id: str
    seller_id: str
    name: str
    quantity: int
    unit_price: int
    tax_class: str
    tax_rate_bps: int
    unit_weight_grams: int
    subtotal: int
    discount: int
    tax: int
    line_total: int
    # Units refunded by completed refunds.
    refunded_quantity: int = 0


@dataclass
class OrderTotals:
    """total = subtotal - discount + tax + shipping."""

    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    # Sum of the refunds paying made so far (after delivery, or as a cancellation's compensation).
    refunded: int = 0


@dataclass
class Cancellation:
    reason: CancellationReason
    note: str
    cancelled_by: Actor
    # PENDING or CONFIRMED.
    previous_status: OrderStatus
    cancelled_at: datetime


@dataclass
class OrderRefund:
    refund_id: str
    idempotency_key: str
    # What was asked, to tell a retry from a different request with the same key.
    request_fingerprint: str
    status: RefundStatus
    # Tax included: lines, plus shipping for a full refund.
    amount: int
    # Empty for a refund of a plain amount.
    lines: list[RefundedLine]
    shipping_amount: int
    # True when it refunds everything that was left.
    full: bool
    reason: str
    requested_by: Actor
    requested_at: datetime
    payment_refund_id: str = ""
    credit_note_id: str = ""
    failure_reason: str = ""
    completed_at: datetime | None = None


@dataclass
class TimelineEntry:
    step: TimelineStep
    occurred_at: datetime
    # The service that reported it: "ordering", "stocking", "paying", "billing" or "shipping".
    source: str
    # One line for people.
    detail: str
    actor: Actor
    status_after: OrderStatus
    # The consumed event that recorded the step; empty for ordering's own steps.
    event_id: str = ""


@dataclass
class Order:
    order_id: str
    order_number: str
    customer_id: str
    customer_email: str
    currency: str
    lines: list[OrderLine]
    totals: OrderTotals
    shipping_address: Address
    billing_address: Address
    shipping_option: ShippingQuote
    payment_method: str
    cart_id: str
    # The cart version the order was priced from; ordering closes the cart with it.
    cart_version: int
    idempotency_key: str
    request_fingerprint: str
    created_at: datetime
    updated_at: datetime
    status: OrderStatus = OrderStatus.PENDING
    stock_state: StockState = StockState.PENDING
    payment_state: PaymentState = PaymentState.PENDING
    invoice_state: InvoiceState = InvoiceState.PENDING
    cancellation: Cancellation | None = None
    refunds: list[OrderRefund] = field(default_factory=list)
    payment_id: str = ""
    invoice_id: str = ""
    invoice_number: str = ""
    shipment_id: str = ""
    carrier_code: str = ""
    tracking_number: str = ""
    # The last carrier scan, to recognise a repeated one.
    shipment_status: ShipmentStatus | None = None
    shipment_status_at: datetime | None = None
    # Paying's refund ids and billing's credit note ids already recorded (duplicates are skipped).
    payment_refund_ids: list[str] = field(default_factory=list)
    credit_note_ids: list[str] = field(default_factory=list)
    version: int = 1
    confirmed_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    # Each saga step and compensation, oldest first.
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def total_weight_grams(self) -> int:
        return sum(line.unit_weight_grams * line.quantity for line in self.lines)


# ----------------------------------------------------------------------------- events ordering emits
# The Protobuf events of ordering.orders.v1, field for field (messages.py maps them).


@dataclass
class OrderCreated:
    order_id: str
    order_number: str
    customer_id: str
    customer_email: str
    currency: str
    lines: list[OrderLine]
    totals: OrderTotals
    shipping_address: Address
    billing_address: Address
    shipping_option: ShippingQuote
    payment_method: str
    cart_id: str
    created_at: datetime


@dataclass
class OrderConfirmed:
    order_id: str
    order_number: str
    customer_id: str
    customer_email: str
    currency: str
    lines: list[OrderLine]
    totals: OrderTotals
    shipping_address: Address
    shipping_option: ShippingQuote
    total_weight_grams: int
    payment_id: str
    confirmed_at: datetime


@dataclass
class OrderCancelled:
    """The compensation command: stocking releases `lines`, paying voids the payment or refunds it
    if captured, billing voids the draft invoice or credits the final one, shipping cancels a shipment
    not yet picked up, profiling takes the total back out of the spend when previous_status is
    CONFIRMED. Sent again, identical, when a step reports success after the cancellation."""

    order_id: str
    order_number: str
    customer_id: str
    reason: CancellationReason
    note: str
    cancelled_by: Actor
    previous_status: OrderStatus
    lines: list[OrderLine]
    totals: OrderTotals
    currency: str
    cancelled_at: datetime


@dataclass
class OrderRefundRequested:
    order_id: str
    order_number: str
    customer_id: str
    refund_id: str
    amount: int
    currency: str
    lines: list[RefundedLine]
    shipping_amount: int
    full: bool
    reason: str
    requested_by: Actor
    requested_at: datetime


OrderEvent = OrderCreated | OrderConfirmed | OrderCancelled | OrderRefundRequested


# ------------------------------------------------------------------------ events ordering consumes
# What the handlers need of the other services' events; each carries its envelope's event id and
# occurred_at (the time the timeline shows).


@dataclass(frozen=True, kw_only=True)
class ReportedEvent:
    event_id: str
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class ShortLine:
    sku: str
    requested: int
    available: int


@dataclass(frozen=True, kw_only=True)
class StockReserved(ReportedEvent):
    units: int
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StockReservationFailed(ReportedEvent):
    short_lines: tuple[ShortLine, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StockReleased(ReportedEvent):
    reason: ReleaseReason


@dataclass(frozen=True, kw_only=True)
class StockCommitted(ReportedEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class PaymentSucceeded(ReportedEvent):
    payment_id: str
    amount: int


@dataclass(frozen=True, kw_only=True)
class PaymentFailed(ReportedEvent):
    payment_id: str
    failure_message: str


@dataclass(frozen=True, kw_only=True)
class PaymentVoided(ReportedEvent):
    payment_id: str
    amount: int


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(ReportedEvent):
    # Paying's refund id: unique, so duplicates are recognised by it.
    refund_id: str
    # Ordering's refund id for a refund asked with OrderRefundRequested; empty for a cancellation's
    # compensation or a manual refund.
    order_refund_id: str
    amount: int
    fully_refunded: bool


@dataclass(frozen=True, kw_only=True)
class InvoiceDrafted(ReportedEvent):
    invoice_id: str


@dataclass(frozen=True, kw_only=True)
class InvoiceFinalized(ReportedEvent):
    invoice_id: str
    invoice_number: str


@dataclass(frozen=True, kw_only=True)
class InvoiceVoided(ReportedEvent):
    invoice_id: str


@dataclass(frozen=True, kw_only=True)
class CreditNoteIssued(ReportedEvent):
    credit_note_id: str
    credit_note_number: str
    order_refund_id: str
    amount: int


@dataclass(frozen=True, kw_only=True)
class ShipmentCreated(ReportedEvent):
    shipment_id: str
    carrier_code: str
    tracking_number: str


@dataclass(frozen=True, kw_only=True)
class ShipmentStatusChanged(ReportedEvent):
    shipment_id: str
    status: ShipmentStatus
    location: str = ""
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentCancelled(ReportedEvent):
    shipment_id: str
    reason: str = ""


SagaEvent = (
    StockReserved | StockReservationFailed | StockReleased | StockCommitted
    | PaymentSucceeded | PaymentFailed | PaymentVoided | PaymentRefunded
    | InvoiceDrafted | InvoiceFinalized | InvoiceVoided | CreditNoteIssued
    | ShipmentCreated | ShipmentStatusChanged | ShipmentCancelled
)


# -------------------------------------------------------------------------------------- placing


@dataclass(frozen=True)
class PlaceOrder:
    """CreateOrder's request, as plain values."""

    cart_id: str
    shipping_address: Address
    # None means the shipping address.
    billing_address: Address | None
    payment_method: str
    shipping_option_id: str
    idempotency_key: str
    customer_email: str
    # The total the shopper accepted, when the client sends it.
    expected_total: int | None = None
    expected_currency: str = ""

    def fingerprint(self) -> str:
        return _fingerprint(asdict(self))


@dataclass(frozen=True)
class CartLineSnapshot:
    """A line of carting's GetCart answer: what ordering copies into the order."""

    sku: str
    product_id: str
    seller_id: str
    name: str
    quantity: int
    unit_price: int
    price_changed: bool
    # carting's LineAvailability without its prefix: "AVAILABLE", "OUT_OF_STOCK", ...
    availability: str
    tax_class: str
    tax_rate_bps: int
    unit_weight_grams: int
    subtotal: int
    discount: int
    tax: int
    total: int


@dataclass(frozen=True)
class CartSnapshot:
    cart_id: str
    customer_id: str
    # carting's CartState without its prefix: "OPEN", "CHECKED_OUT", ...
    state: str
    currency: str
    version: int
    lines: tuple[CartLineSnapshot, ...]


def check_place_order(request: PlaceOrder) -> None:
    """The checks that need no cart: the wiring runs them before calling carting (create_order runs
    them again)."""
    if not request.cart_id:
        raise InvalidArgument("cart id is required")
    if not request.idempotency_key:
        raise InvalidArgument("idempotency key is required: one per checkout attempt, reused on retries")
    if "@" not in request.customer_email:
        raise InvalidArgument(f"customer e-mail {request.customer_email!r} is not an e-mail address")
    _check_address("shipping address", request.shipping_address)
    if request.billing_address is not None:
        _check_address("billing address", request.billing_address)
    if request.payment_method not in PAYMENT_METHODS:
        raise InvalidArgument(
            f"payment method must be one of {', '.join(PAYMENT_METHODS)}, got {request.payment_method!r}"
        )
    if not request.shipping_option_id:
        raise InvalidArgument("a shipping option is required")


def order_for_repeated_request(existing: Order, request: PlaceOrder) -> Order:
    """CreateOrder retried with a key already used: the same order for the same request, refused otherwise."""
    if existing.request_fingerprint != request.fingerprint():
        raise AlreadyExists(
            f"idempotency key {request.idempotency_key!r} was already used for another checkout (order "
            f"{existing.order_number}); use a new key for a new attempt"
        )
    return copy.deepcopy(existing)


def create_order(
    request: PlaceOrder,
    *,
    cart: CartSnapshot,
    shipping_option: ShippingQuote,
    caller_customer_id: str,
    order_id: str,
    order_number: str,
    now: datetime,
) -> tuple[Order, list[OrderEvent]]:
    """A PENDING order from the cart as carting priced it, with the shipping option as shipping priced
    it for the address; OrderCreated starts the saga. Line amounts are copied, never recomputed, so the
    shopper pays what the cart showed."""
    check_place_order(request)
    if not cart.customer_id:
        raise FailedPrecondition("an anonymous cart cannot be checked out: sign in first")
    if cart.customer_id != caller_customer_id:
        raise NotFound(f"no cart {cart.cart_id!r}")  # another customer's cart is not even said to exist
    if cart.state != "OPEN":
        raise FailedPrecondition(f"cart {cart.cart_id} is {cart.state.lower().replace('_', ' ')}, not open")
    if not cart.lines:
        raise FailedPrecondition("the cart is empty")
    for line in cart.lines:
        if line.availability != "AVAILABLE":
            raise FailedPrecondition(
                f"{line.name} ({line.sku}) is {line.availability.lower().replace('_', ' ')}: change or remove it"
            )
        if line.price_changed:
            raise FailedPrecondition(f"the price of {line.name} ({line.sku}) changed: accept the new price first")
    if shipping_option.currency != cart.currency:
        raise FailedPrecondition(
            f"shipping was priced in {shipping_option.currency} but the cart is in {cart.currency}"
        )

    lines = [
        OrderLine(
            sku=line.sku, product_id=line.product_id, seller_id=line.seller_id, name=line.name,
            quantity=line.quantity, unit_price=line.unit_price, tax_class=line.tax_class,
            tax_rate_bps=line.tax_rate_bps, unit_weight_grams=line.unit_weight_grams, subtotal=line.subtotal,
            discount=line.discount, tax=line.tax, line_total=line.total,
        )
        for line in cart.lines
    ]
    subtotal = sum(line.subtotal for line in lines)
    discount = sum(line.discount for line in lines)
    tax = sum(line.tax for line in lines)
    total = subtotal - discount + tax + shipping_option.price
    if request.expected_total is not None and (
        request.expected_total != total or (request.expected_currency or cart.currency) != cart.currency
    ):
        raise FailedPrecondition(
            f"the total is now {_money(total, cart.currency)}, not the "
            f"{_money(request.expected_total, request.expected_currency or cart.currency)} shown: review the order"
        )

    order = Order(
        order_id=order_id, order_number=order_number, customer_id=cart.customer_id,
        customer_email=request.customer_email, currency=cart.currency, lines=lines,
        totals=OrderTotals(subtotal=subtotal, discount=discount, shipping=shipping_option.price, tax=tax, total=total),
        shipping_address=copy.deepcopy(request.shipping_address),
        billing_address=copy.deepcopy(request.billing_address or request.shipping_address),
        shipping_option=copy.deepcopy(shipping_option), payment_method=request.payment_method,
        cart_id=cart.cart_id, cart_version=cart.version, idempotency_key=request.idempotency_key,
        request_fingerprint=request.fingerprint(), created_at=now, updated_at=now,
    )
    units = sum(line.quantity for line in lines)
    _log(order, TimelineStep.ORDER_CREATED, at=now, source="ordering", actor=Actor.CUSTOMER,
         detail=f"{units} item(s), total {_money(total, order.currency)}, paid by {order.payment_method}")
    event = OrderCreated(
        order_id=order.order_id, order_number=order.order_number, customer_id=order.customer_id,
        customer_email=order.customer_email, currency=order.currency, lines=copy.deepcopy(order.lines),
        totals=copy.deepcopy(order.totals), shipping_address=copy.deepcopy(order.shipping_address),
        billing_address=copy.deepcopy(order.billing_address), shipping_option=copy.deepcopy(order.shipping_option),
        payment_method=order.payment_method, cart_id=order.cart_id, created_at=order.created_at,
    )
    return order, [event]


def _check_address(label: str, address: Address) -> None:
    required = ("full_name", "line1", "postal_code", "city", "country_code")
    missing = [name.replace("_", " ") for name in required if not getattr(address, name).strip()]
    if missing:
        raise InvalidArgument(f"{label} is missing: {', '.join(missing)}")
    if not re.fullmatch(r"[A-Z]{2}", address.country_code):
        raise InvalidArgument(f"{label} country code must be two upper-case letters (FR), got {address.country_code!r}")


# ---------------------------------------------------------------------------- the saga's events


def apply_event(order: Order, event: SagaEvent, *, now: datetime) -> tuple[Order, list[OrderEvent]]:
    """The order after another service's event, and the events ordering publishes in answer."""
    match event:
        case StockReserved():
            return _on_stock_reserved(order, event, now)
        case StockReservationFailed():
            return _on_stock_reservation_failed(order, event, now)
        case StockReleased():
            return _on_stock_released(order, event, now)
        case StockCommitted():
            return _on_stock_committed(order, event, now)
        case PaymentSucceeded():
            return _on_payment_succeeded(order, event, now)
        case PaymentFailed():
            return _on_payment_failed(order, event, now)
        case PaymentVoided():
            return _on_payment_voided(order, event, now)
        case PaymentRefunded():
            return _on_payment_refunded(order, event, now)
        case InvoiceDrafted() | InvoiceFinalized() | InvoiceVoided() | CreditNoteIssued():
            return _on_invoice_event(order, event, now), []
        case ShipmentCreated() | ShipmentStatusChanged() | ShipmentCancelled():
            return _on_shipment_event(order, event, now), []
    raise TypeError(f"ordering does not handle {type(event).__name__}")


def _on_stock_reserved(order: Order, event: StockReserved, now: datetime) -> tuple[Order, list[OrderEvent]]:
    if order.stock_state is not StockState.PENDING:
        return order, []
    changed = _next_version(order, now)
    changed.stock_state = StockState.RESERVED
    detail = f"{event.units} unit(s) reserved"
    if changed.status is OrderStatus.CANCELLED:
        # Stocking reserved after we gave up on the order: ask again for the release.
        _log(changed, TimelineStep.STOCK_RESERVED, at=event.occurred_at, source="stocking", event_id=event.event_id,
             detail=f"{detail} after the cancellation; release asked again")
        return changed, [_cancelled_event(changed)]
    _log(changed, TimelineStep.STOCK_RESERVED, at=event.occurred_at, source="stocking", detail=detail,
         event_id=event.event_id)
    return changed, _confirm_if_ready(changed, now)


def _on_stock_reservation_failed(
    order: Order, event: StockReservationFailed, now: datetime
) -> tuple[Order, list[OrderEvent]]:
    if order.stock_state is not StockState.PENDING:
        return order, []
    changed = _next_version(order, now)
    changed.stock_state = StockState.FAILED
    shortages = "; ".join(f"SKU {s.sku}: {s.requested} asked, {s.available} available" for s in event.short_lines)
    _log(changed, TimelineStep.STOCK_RESERVATION_FAILED, at=event.occurred_at, source="stocking",
         detail=shortages or "not enough stock", event_id=event.event_id)
    if changed.status is not OrderStatus.PENDING:
        return changed, []  # already cancelled: nothing was reserved, so nothing more to undo
    return changed, [_cancel(changed, CancellationReason.OUT_OF_STOCK, shortages or "not enough stock",
                             Actor.SYSTEM, now)]


def _on_stock_released(order: Order, event: StockReleased, now: datetime) -> tuple[Order, list[OrderEvent]]:
    if order.stock_state in (StockState.RELEASED, StockState.FAILED):
        return order, []
    changed = _next_version(order, now)
    changed.stock_state = StockState.RELEASED
    by_staff = event.reason is ReleaseReason.STAFF
    _log(changed, TimelineStep.STOCK_RELEASED, at=event.occurred_at, source="stocking", event_id=event.event_id,
         detail=f"reservation released ({event.reason.value.lower().replace('_', ' ')})",
         actor=Actor.STAFF if by_staff else Actor.SYSTEM)
    if changed.status is not OrderStatus.PENDING:
        return changed, []  # the compensation of a cancellation, or a late expiry after confirmation
    # Without its stock the order cannot be confirmed: cancel it, undoing the payment and invoice.
    if by_staff:
        reason, note, actor = CancellationReason.STAFF_DECISION, "stock reservation released by staff", Actor.STAFF
    else:
        reason, note, actor = CancellationReason.TIMED_OUT, "stock reservation expired before payment", Actor.SYSTEM
    return changed, [_cancel(changed, reason, note, actor, now)]


def _on_stock_committed(order: Order, event: StockCommitted, now: datetime) -> tuple[Order, list[OrderEvent]]:
    if order.stock_state is not StockState.RESERVED:
        return order, []  # a repeat; stocking commits only what it reserved
    changed = _next_version(order, now)
    changed.stock_state = StockState.COMMITTED
    _log(changed, TimelineStep.STOCK_COMMITTED, at=event.occurred_at, source="stocking",
         detail="reserved stock committed", event_id=event.event_id)
    return changed, []


def _on_payment_succeeded(order: Order, event: PaymentSucceeded, now: datetime) -> tuple[Order, list[OrderEvent]]:
    if order.payment_state is not PaymentState.PENDING:
        return order, []
    changed = _next_version(order, now)
    changed.payment_state = PaymentState.CAPTURED
    changed.payment_id = event.payment_id
    detail = f"captured {_money(event.amount, order.currency)}"
    if changed.status is OrderStatus.CANCELLED:
        # Captured after the cancellation: ask again for the refund, so the money goes back.
        _log(changed, TimelineStep.PAYMENT_SUCCEEDED, at=event.occurred_at, source="paying", event_id=event.event_id,
             detail=f"{detail} after the cancellation; refund asked again")
        return changed, [_cancelled_event(changed)]
    _log(changed, TimelineStep.PAYMENT_SUCCEEDED, at=event.occurred_at, source="paying", detail=detail,
         event_id=event.event_id)
    return changed, _confirm_if_ready(changed, now)


def _on_payment_failed(order: Order, event: PaymentFailed, now: datetime) -> tuple[Order, list[OrderEvent]]:
    if order.payment_state is not PaymentState.PENDING:
        return order, []
    changed = _next_version(order, now)
    changed.payment_state = PaymentState.FAILED
    changed.payment_id = event.payment_id
    note = event.failure_message or "payment failed"
    _log(changed, TimelineStep.PAYMENT_FAILED, at=event.occurred_at, source="paying", detail=note,
         event_id=event.event_id)
    if changed.status is not OrderStatus.PENDING:
        return changed, []
    return changed, [_cancel(changed, CancellationReason.PAYMENT_FAILED, note, Actor.SYSTEM, now)]


def _on_payment_voided(order: Order, event: PaymentVoided, now: datetime) -> tuple[Order, list[OrderEvent]]:
    if order.payment_state in (PaymentState.VOIDED, PaymentState.FAILED):
        return order, []
    changed = _next_version(order, now)
    changed.payment_state = PaymentState.VOIDED
    changed.payment_id = changed.payment_id or event.payment_id
    _log(changed, TimelineStep.PAYMENT_VOIDED, at=event.occurred_at, source="paying", event_id=event.event_id,
         detail=f"payment of {_money(event.amount, order.currency)} voided")
    if changed.status is not OrderStatus.PENDING:
        return changed, []
    # Paying gave the payment up on its own: the order can no longer be paid.
    return changed, [_cancel(changed, CancellationReason.PAYMENT_FAILED, "payment voided", Actor.SYSTEM, now)]


def _on_payment_refunded(order: Order, event: PaymentRefunded, now: datetime) -> tuple[Order, list[OrderEvent]]:
    if event.refund_id in order.payment_refund_ids:
        return order, []
    changed = _next_version(order, now)
    changed.payment_refund_ids.append(event.refund_id)
    changed.totals.refunded += event.amount
    changed.payment_state = PaymentState.REFUNDED if event.fully_refunded else PaymentState.PARTIALLY_REFUNDED
    refund = next((r for r in changed.refunds if event.order_refund_id and r.refund_id == event.order_refund_id), None)
    completes_refund = refund is not None and refund.status is RefundStatus.REQUESTED
    if refund is not None and completes_refund:
        refund.status = RefundStatus.COMPLETED
        refund.payment_refund_id = event.refund_id
        refund.completed_at = event.occurred_at
        for refunded in refund.lines:
            line = next(line for line in changed.lines if line.sku == refunded.sku)
            line.refunded_quantity += refunded.quantity
    if changed.status in (OrderStatus.DELIVERED, OrderStatus.PARTIALLY_REFUNDED):
        everything = changed.totals.refunded >= changed.totals.total
        changed.status = OrderStatus.REFUNDED if everything else OrderStatus.PARTIALLY_REFUNDED
    _log(changed, TimelineStep.PAYMENT_REFUNDED, at=event.occurred_at, source="paying", event_id=event.event_id,
         detail=f"refunded {_money(event.amount, order.currency)}")
    if refund is not None and completes_refund:
        _log(changed, TimelineStep.REFUND_COMPLETED, at=event.occurred_at, source="ordering",
             detail=f"refund {refund.refund_id} completed", actor=refund.requested_by)
    return changed, []


InvoiceEvent = InvoiceDrafted | InvoiceFinalized | InvoiceVoided | CreditNoteIssued


def _on_invoice_event(order: Order, event: InvoiceEvent, now: datetime) -> Order:
    """Billing's side only updates the sub-state and the timeline: no saga decision depends on it."""
    state = order.invoice_state
    match event:
        case InvoiceDrafted() if state is InvoiceState.PENDING:
            changed = _next_version(order, now)
            changed.invoice_state, changed.invoice_id = InvoiceState.DRAFTED, event.invoice_id
            step, detail = TimelineStep.INVOICE_DRAFTED, "draft invoice made"
        case InvoiceFinalized() if state in (InvoiceState.PENDING, InvoiceState.DRAFTED):
            changed = _next_version(order, now)
            changed.invoice_state, changed.invoice_id = InvoiceState.FINALIZED, event.invoice_id
            changed.invoice_number = event.invoice_number
            step, detail = TimelineStep.INVOICE_FINALIZED, f"invoice {event.invoice_number}"
        case InvoiceVoided() if state in (InvoiceState.PENDING, InvoiceState.DRAFTED):
            changed = _next_version(order, now)
            changed.invoice_state = InvoiceState.VOIDED
            changed.invoice_id = changed.invoice_id or event.invoice_id
            step, detail = TimelineStep.INVOICE_VOIDED, "draft invoice voided"
        case CreditNoteIssued() if event.credit_note_id not in order.credit_note_ids:
            changed = _next_version(order, now)
            changed.credit_note_ids.append(event.credit_note_id)
            changed.invoice_state = InvoiceState.CREDITED
            for refund in changed.refunds:
                if event.order_refund_id and refund.refund_id == event.order_refund_id:
                    refund.credit_note_id = event.credit_note_id
            step = TimelineStep.CREDIT_NOTE_ISSUED
            detail = f"credit note {event.credit_note_number} for {_money(event.amount, order.currency)}"
        case _:
            return order  # a repeat, or news that no longer changes anything
    _log(changed, step, at=event.occurred_at, source="billing", detail=detail, event_id=event.event_id)
    return changed


ShipmentEvent = ShipmentCreated | ShipmentStatusChanged | ShipmentCancelled


def _on_shipment_event(order: Order, event: ShipmentEvent, now: datetime) -> Order:
    match event:
        case ShipmentCreated() if not order.shipment_id:
            changed = _next_version(order, now)
            changed.shipment_id, changed.carrier_code = event.shipment_id, event.carrier_code
            changed.tracking_number = event.tracking_number
            changed.shipment_status, changed.shipment_status_at = ShipmentStatus.LABEL_CREATED, event.occurred_at
            _log(changed, TimelineStep.SHIPMENT_CREATED, at=event.occurred_at, source="shipping",
                 detail=f"{event.carrier_code}, tracking {event.tracking_number}", event_id=event.event_id)
            # A shipment made for an order cancelled meanwhile is cancelled by shipping on OrderCancelled.
            if changed.status is OrderStatus.CONFIRMED:
                changed.status, changed.shipped_at = OrderStatus.SHIPPED, event.occurred_at
                _log(changed, TimelineStep.ORDER_SHIPPED, at=event.occurred_at, source="ordering",
                     detail=f"shipped with {event.carrier_code}")
            return changed
        case ShipmentStatusChanged() if (event.status, event.occurred_at) != (
            order.shipment_status, order.shipment_status_at
        ):
            changed = _next_version(order, now)
            changed.shipment_status, changed.shipment_status_at = event.status, event.occurred_at
            where = f" at {event.location}" if event.location else ""
            what = f": {event.description}" if event.description else ""
            _log(changed, TimelineStep.SHIPMENT_STATUS_CHANGED, at=event.occurred_at, source="shipping",
                 detail=f"{event.status.value.lower().replace('_', ' ')}{where}{what}", event_id=event.event_id)
            delivered = event.status is ShipmentStatus.DELIVERED
            if delivered and changed.status in (OrderStatus.CONFIRMED, OrderStatus.SHIPPED):
                changed.status, changed.delivered_at = OrderStatus.DELIVERED, event.occurred_at
                changed.shipped_at = changed.shipped_at or event.occurred_at
                _log(changed, TimelineStep.ORDER_DELIVERED, at=event.occurred_at, source="ordering",
                     detail="delivered")
            return changed
        case ShipmentCancelled() if order.shipment_status is not ShipmentStatus.CANCELLED:
            changed = _next_version(order, now)
            changed.shipment_status, changed.shipment_status_at = ShipmentStatus.CANCELLED, event.occurred_at
            _log(changed, TimelineStep.SHIPMENT_CANCELLED, at=event.occurred_at, source="shipping",
                 detail=f"shipment cancelled{': ' + event.reason if event.reason else ''}", event_id=event.event_id)
            return changed
    return order


# ------------------------------------------------------------------------ cancelling and timeouts


def cancel_order(
    order: Order, *, reason: CancellationReason, note: str, actor: Actor, now: datetime
) -> tuple[Order, list[OrderEvent]]:
    """A person cancels an order whose parcel the carrier has not picked up yet (a shipment with only
    its label is cancelled by shipping); OrderCancelled asks every participant to undo its step.
    Cancelling a CANCELLED order returns it unchanged."""
    if reason not in REQUESTABLE_CANCELLATION_REASONS:
        raise InvalidArgument(
            f"cancellation reason {reason.value} is set by the checkout itself; give one of "
            f"{', '.join(r.value for r in REQUESTABLE_CANCELLATION_REASONS)}"
        )
    if actor is Actor.CUSTOMER and reason is not CancellationReason.CUSTOMER_REQUEST:
        raise PermissionDenied("a customer can only cancel with reason CUSTOMER_REQUEST")
    if order.status is OrderStatus.CANCELLED:
        return order, []
    label_only = order.status is OrderStatus.SHIPPED and order.shipment_status is ShipmentStatus.LABEL_CREATED
    if order.status not in (OrderStatus.PENDING, OrderStatus.CONFIRMED) and not label_only:
        held = " and the carrier has its parcel" if order.status is OrderStatus.SHIPPED else ""
        raise FailedPrecondition(
            f"order {order.order_number} is {order.status.value.lower().replace('_', ' ')}{held} and can no longer "
            "be cancelled; ask for a refund once it is delivered"
        )
    changed = _next_version(order, now)
    return changed, [_cancel(changed, reason, note, actor, now)]


def saga_deadline(order: Order, step_timeout: timedelta) -> datetime | None:
    """When a PENDING order times out: stocking and paying both start on OrderCreated, so each must
    answer within one step timeout of the order's creation. None once the order left PENDING: after
    confirmation money is taken, and only a person may cancel."""
    return order.created_at + step_timeout if order.status is OrderStatus.PENDING else None


def time_out_order(order: Order, *, now: datetime, step_timeout: timedelta) -> tuple[Order, list[OrderEvent]]:
    """Cancels a PENDING order whose saga waited past its deadline (reason TIMED_OUT); unchanged otherwise."""
    deadline = saga_deadline(order, step_timeout)
    if deadline is None or now < deadline:
        return order, []
    waiting_on = [name for name, pending in (
        ("stocking", order.stock_state is StockState.PENDING),
        ("paying", order.payment_state is PaymentState.PENDING),
    ) if pending]
    note = f"no answer from {' and '.join(waiting_on) or 'the saga'} within {step_timeout.total_seconds():g} s"
    changed = _next_version(order, now)
    return changed, [_cancel(changed, CancellationReason.TIMED_OUT, note, Actor.SYSTEM, now)]


def time_out_stalled_orders(
    orders: Iterable[Order], *, now: datetime, step_timeout: timedelta
) -> list[tuple[Order, list[OrderEvent]]]:
    """The orders that time out at `now`, each cancelled with its OrderCancelled; the others are left out."""
    timed_out = (time_out_order(order, now=now, step_timeout=step_timeout) for order in orders)
    return [(order, events) for order, events in timed_out if events]


def _confirm_if_ready(order: Order, now: datetime) -> list[OrderEvent]:
    """Confirms a PENDING order once both stock and payment are in, whichever came last. Only a
    PENDING order confirms, so it happens once."""
    stock_held = order.stock_state in (StockState.RESERVED, StockState.COMMITTED)
    if not (order.status is OrderStatus.PENDING and stock_held and order.payment_state is PaymentState.CAPTURED):
        return []
    order.status = OrderStatus.CONFIRMED
    order.confirmed_at = now
    _log(order, TimelineStep.ORDER_CONFIRMED, at=now, source="ordering", detail="stock reserved and payment captured")
    return [
        OrderConfirmed(
            order_id=order.order_id, order_number=order.order_number, customer_id=order.customer_id,
            customer_email=order.customer_email, currency=order.currency, lines=copy.deepcopy(order.lines),
            totals=copy.deepcopy(order.totals), shipping_address=copy.deepcopy(order.shipping_address),
            shipping_option=copy.deepcopy(order.shipping_option), total_weight_grams=order.total_weight_grams,
            payment_id=order.payment_id, confirmed_at=now,
        )
    ]


def _cancel(order: Order, reason: CancellationReason, note: str, actor: Actor, now: datetime) -> OrderCancelled:
    order.cancellation = Cancellation(
        reason=reason, note=note, cancelled_by=actor, previous_status=order.status, cancelled_at=now
    )
    order.status = OrderStatus.CANCELLED
    label = reason.value.lower().replace("_", " ")
    _log(order, TimelineStep.ORDER_CANCELLED, at=now, source="ordering", actor=actor,
         detail=f"{label}: {note}" if note else label)
    return _cancelled_event(order)


def _cancelled_event(order: Order) -> OrderCancelled:
    cancellation = order.cancellation
    assert cancellation is not None
    return OrderCancelled(
        order_id=order.order_id, order_number=order.order_number, customer_id=order.customer_id,
        reason=cancellation.reason, note=cancellation.note, cancelled_by=cancellation.cancelled_by,
        previous_status=cancellation.previous_status, lines=copy.deepcopy(order.lines),
        totals=copy.deepcopy(order.totals), currency=order.currency, cancelled_at=cancellation.cancelled_at,
    )


# ------------------------------------------------------------------------------------------- refunds


@dataclass(frozen=True)
class RefundSelection:
    sku: str
    quantity: int


@dataclass(frozen=True)
class RequestRefund:
    """RequestRefund's request. Neither lines nor amount: everything still refundable, shipping
    included; lines: those units, without shipping; amount: that sum, tax included (staff only)."""

    idempotency_key: str
    lines: tuple[RefundSelection, ...] = ()
    amount: int | None = None
    currency: str = ""
    reason: str = ""

    def fingerprint(self) -> str:
        return _fingerprint(asdict(self))


def request_refund(
    order: Order, request: RequestRefund, *, refund_id: str, actor: Actor, now: datetime
) -> tuple[Order, OrderRefund, list[OrderEvent]]:
    """Records a refund of a delivered order as REQUESTED and asks paying for it (OrderRefundRequested).

    What is left to refund is the total minus every refund completed or still requested, so two
    refunds asked at once can never add up to more than was paid. A refund of lines gives back, per
    line, the line total's share for those units rounded down, the last units of a line taking the
    remainder. A retry with the same key and request returns the same refund and no event.
    """
    if not request.idempotency_key:
        raise InvalidArgument("idempotency key is required")
    for existing in order.refunds:
        if existing.idempotency_key == request.idempotency_key:
            if existing.request_fingerprint != request.fingerprint():
                raise AlreadyExists(f"idempotency key {request.idempotency_key!r} was already used for another refund")
            return order, existing, []
    if request.lines and request.amount is not None:
        raise InvalidArgument("give either lines or an amount to refund, not both")
    if order.status not in (OrderStatus.DELIVERED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED):
        raise FailedPrecondition(
            f"order {order.order_number} is {order.status.value.lower().replace('_', ' ')}: only a delivered order "
            "can be refunded"
        )
    left = order.totals.total - _refunds_taken(order)
    if left <= 0:
        raise FailedPrecondition(f"nothing is left to refund on order {order.order_number}")

    if request.amount is not None:
        if actor is Actor.CUSTOMER:
            raise PermissionDenied("only staff can refund a plain amount")
        if request.amount <= 0:
            raise InvalidArgument(f"amount to refund must be positive, got {request.amount}")
        if request.currency and request.currency != order.currency:
            raise InvalidArgument(f"amount must be in the order's currency {order.currency}, got {request.currency}")
        lines, shipping_amount, amount = [], 0, request.amount
    elif request.lines:
        lines, shipping_amount = _refund_lines(order, request.lines), 0
        amount = sum(line.amount for line in lines)
    else:
        lines, shipping_amount, amount = _everything_left(order, left)
    if amount > left:
        raise FailedPrecondition(
            f"a refund of {_money(amount, order.currency)} exceeds the {_money(left, order.currency)} left to refund"
        )

    changed = _next_version(order, now)
    refund = OrderRefund(
        refund_id=refund_id, idempotency_key=request.idempotency_key, request_fingerprint=request.fingerprint(),
        status=RefundStatus.REQUESTED, amount=amount, lines=lines, shipping_amount=shipping_amount,
        full=amount == left, reason=request.reason, requested_by=actor, requested_at=now,
    )
    changed.refunds.append(refund)
    _log(changed, TimelineStep.REFUND_REQUESTED, at=now, source="ordering", actor=actor,
         detail=f"refund of {_money(amount, order.currency)} asked{': ' + request.reason if request.reason else ''}")
    event = OrderRefundRequested(
        order_id=order.order_id, order_number=order.order_number, customer_id=order.customer_id,
        refund_id=refund_id, amount=amount, currency=order.currency, lines=copy.deepcopy(lines),
        shipping_amount=shipping_amount, full=refund.full, reason=request.reason, requested_by=actor,
        requested_at=now,
    )
    return changed, copy.deepcopy(refund), [event]


def _refunds_taken(order: Order) -> int:
    """Refunds completed (paying's, whatever asked them) plus refunds asked and not yet completed."""
    still_requested = sum(r.amount for r in order.refunds if r.status is RefundStatus.REQUESTED)
    return order.totals.refunded + still_requested


def _taken_by_sku(order: Order) -> dict[str, tuple[int, int]]:
    """Per SKU, the (units, amount) of every refund asked or completed."""
    taken: dict[str, tuple[int, int]] = {}
    for refund in order.refunds:
        if refund.status is RefundStatus.FAILED:
            continue
        for line in refund.lines:
            units, amount = taken.get(line.sku, (0, 0))
            taken[line.sku] = (units + line.quantity, amount + line.amount)
    return taken


def _refund_lines(order: Order, selections: Sequence[RefundSelection]) -> list[RefundedLine]:
    taken = _taken_by_sku(order)
    by_sku = {line.sku: line for line in order.lines}
    seen: set[str] = set()
    lines = []
    for selection in selections:
        line = by_sku.get(selection.sku)
        if line is None:
            raise InvalidArgument(f"order {order.order_number} has no line for SKU {selection.sku!r}")
        if selection.sku in seen:
            raise InvalidArgument(f"SKU {selection.sku} is listed twice")
        seen.add(selection.sku)
        if selection.quantity < 1:
            raise InvalidArgument(
                f"quantity to refund must be at least 1, got {selection.quantity} for {selection.sku}"
            )
        taken_units, taken_amount = taken.get(line.sku, (0, 0))
        units_left = line.quantity - taken_units
        if selection.quantity > units_left:
            raise FailedPrecondition(
                f"only {units_left} unit(s) of {line.sku} are left to refund, {selection.quantity} asked"
            )
        if selection.quantity == units_left:
            amount = line.line_total - taken_amount  # the last units take the remainder of the rounding
        else:
            amount = line.line_total * selection.quantity // line.quantity
        lines.append(RefundedLine(sku=line.sku, quantity=selection.quantity, amount=amount))
    return lines


def _everything_left(order: Order, left: int) -> tuple[list[RefundedLine], int, int]:
    """The full refund: every unit left plus shipping, when that is exactly what is left; after a
    plain-amount refund it is not, and the rest is refunded as a plain amount (billing credits it in
    proportion)."""
    taken = _taken_by_sku(order)
    lines = []
    for line in order.lines:
        units, amount = taken.get(line.sku, (0, 0))
        if units < line.quantity:
            lines.append(RefundedLine(sku=line.sku, quantity=line.quantity - units, amount=line.line_total - amount))
    if sum(line.amount for line in lines) + order.totals.shipping == left:
        return lines, order.totals.shipping, left
    return [], 0, left


# ----------------------------------------------------------------------------------------- reading


def ensure_customer_owns(order: Order, customer_id: str) -> None:
    """A customer sees only their own orders; another's answers as if it did not exist."""
    if order.customer_id != customer_id:
        raise NotFound(f"no order {order.order_id!r}")


@dataclass(frozen=True)
class OrderFilter:
    """Staff listing filters; an empty field filters nothing."""

    statuses: tuple[OrderStatus, ...] = ()
    customer_id: str = ""
    order_number: str = ""
    # At or after.
    created_after: datetime | None = None
    # Strictly before.
    created_before: datetime | None = None


def list_customer_orders(orders: Iterable[Order], *, customer_id: str, page_size: int,
                         page_token: str) -> Page[Order]:
    """A customer's order history, newest first."""
    if not customer_id:
        raise InvalidArgument("customer id is required")
    return list_orders(orders, filters=OrderFilter(customer_id=customer_id), page_size=page_size, page_token=page_token)


def list_orders(orders: Iterable[Order], *, filters: OrderFilter, page_size: int, page_token: str) -> Page[Order]:
    """Orders matching the filters, newest first (creation time, then order id), a page at a time."""
    if filters.created_after and filters.created_before and filters.created_before <= filters.created_after:
        raise InvalidArgument("created_before must be after created_after")
    return paginate((o for o in orders if _matches(o, filters)),
                    sort_key=lambda order: (instant(order.created_at), order.order_id), descending=True,
                    filters=asdict(filters), page_size=page_size, page_token=page_token)


def _matches(order: Order, filters: OrderFilter) -> bool:
    return (
        (not filters.statuses or order.status in filters.statuses)
        and (not filters.customer_id or order.customer_id == filters.customer_id)
        and (not filters.order_number or order.order_number == filters.order_number)
        and (filters.created_after is None or order.created_at >= filters.created_after)
        and (filters.created_before is None or order.created_at < filters.created_before)
    )


# ------------------------------------------------------------------------------------------- helpers


def _next_version(order: Order, now: datetime) -> Order:
    """A copy to change, one version on."""
    changed = copy.deepcopy(order)
    changed.version += 1
    changed.updated_at = now
    return changed


def _log(
    order: Order, step: TimelineStep, *, at: datetime, source: str, detail: str,
    actor: Actor = Actor.SYSTEM, event_id: str = "",
) -> None:
    order.timeline.append(
        TimelineEntry(step=step, occurred_at=at, source=source, detail=detail, actor=actor,
                      status_after=order.status, event_id=event_id)
    )


def _money(amount: int, currency: str) -> str:
    """For timeline details and messages; the shop's currencies have two decimals."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{currency} {sign}{units}.{cents:02d}"


def _fingerprint(request: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
