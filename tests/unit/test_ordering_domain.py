"""Ordering's domain without Kafka or gRPC: placing orders, the saga's state machine (every state x every
event), arrival orders, duplicates, compensations, timeouts, refunds, the timeline and listings."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from services.ordering import domain
from services.ordering.domain import (
    Actor,
    Address,
    CancellationReason,
    CartLineSnapshot,
    CartSnapshot,
    CreditNoteIssued,
    InvoiceDrafted,
    InvoiceFinalized,
    InvoiceState,
    InvoiceVoided,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderFilter,
    OrderRefundRequested,
    OrderStatus,
    PaymentFailed,
    PaymentRefunded,
    PaymentState,
    PaymentSucceeded,
    PaymentVoided,
    PlaceOrder,
    RefundSelection,
    RefundStatus,
    ReleaseReason,
    RequestRefund,
    SagaEvent,
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentStatus,
    ShipmentStatusChanged,
    ShippingQuote,
    ShortLine,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
    StockState,
    TimelineStep,
)
from services.runtime import paging
from services.runtime.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=30)
_event_ids = itertools.count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ------------------------------------------------------------------------------------------- fixtures

HOME = Address(full_name="Ada Lovelace", line1="1 rue de la Paix", postal_code="75002", city="Paris",
               country_code="FR")
# Line amounts as carting priced them (cart_service.proto's rules): 3 x 19.99 standard, 1 x 5.00 reduced.
MUG = CartLineSnapshot(sku="MUG-1", product_id="p-1", seller_id="s-1", name="Mug", quantity=3, unit_price=1999,
                       price_changed=False, availability="AVAILABLE", tax_class="standard", tax_rate_bps=2000,
                       unit_weight_grams=300, subtotal=5997, discount=0, tax=1199, total=7196)
BOOK = CartLineSnapshot(sku="BOOK-1", product_id="p-2", seller_id="s-2", name="Book", quantity=1, unit_price=500,
                        price_changed=False, availability="AVAILABLE", tax_class="reduced", tax_rate_bps=550,
                        unit_weight_grams=400, subtotal=500, discount=0, tax=28, total=528)
CART = CartSnapshot(cart_id="cart-1", customer_id="cust-1", state="OPEN", currency="EUR", version=4,
                    lines=(MUG, BOOK))
OPTION = ShippingQuote(shipping_option_id="opt-1", carrier_code="colissimo", carrier_name="Colissimo",
                        service_level="standard", price=590, currency="EUR", estimated_days_min=2,
                        estimated_days_max=4)
TOTAL = 7196 + 528 + 590
REQUEST = PlaceOrder(cart_id="cart-1", shipping_address=HOME, billing_address=None, payment_method="card",
                     shipping_option_id="opt-1", idempotency_key="key-1", customer_email="ada@example.com")


def place(request: PlaceOrder = REQUEST, cart: CartSnapshot = CART, *, order_id: str = "o-1",
          now: datetime = T0) -> tuple[Order, list[domain.OrderEvent]]:
    return domain.create_order(request, cart=cart, shipping_option=OPTION, caller_customer_id=cart.customer_id,
                               order_id=order_id, order_number=f"ORD-2026-{order_id}", now=now)


def new_order() -> Order:
    return place()[0]


def eid() -> str:
    return f"ev-{next(_event_ids)}"


# One factory per consumed event, each giving a new event id (a fresh event, not a redelivery).
def stock_reserved(t: float = 1) -> StockReserved:
    return StockReserved(event_id=eid(), occurred_at=at(t), units=4, expires_at=at(900))


def stock_failed(t: float = 1) -> StockReservationFailed:
    return StockReservationFailed(event_id=eid(), occurred_at=at(t),
                                  short_lines=(ShortLine(sku="MUG-1", requested=3, available=1),))


def stock_released(t: float = 2, reason: ReleaseReason = ReleaseReason.EXPIRED) -> StockReleased:
    return StockReleased(event_id=eid(), occurred_at=at(t), reason=reason)


def stock_committed(t: float = 3) -> StockCommitted:
    return StockCommitted(event_id=eid(), occurred_at=at(t))


def payment_succeeded(t: float = 1) -> PaymentSucceeded:
    return PaymentSucceeded(event_id=eid(), occurred_at=at(t), payment_id="pay-1", amount=TOTAL)


def payment_failed(t: float = 1) -> PaymentFailed:
    return PaymentFailed(event_id=eid(), occurred_at=at(t), payment_id="pay-1", failure_message="card declined")


def payment_voided(t: float = 2) -> PaymentVoided:
    return PaymentVoided(event_id=eid(), occurred_at=at(t), payment_id="pay-1", amount=TOTAL)


def payment_refunded(amount: int = TOTAL, *, refund_id: str = "pr-1", order_refund_id: str = "",
                     fully: bool = True, t: float = 5) -> PaymentRefunded:
    return PaymentRefunded(event_id=eid(), occurred_at=at(t), refund_id=refund_id, order_refund_id=order_refund_id,
                           amount=amount, fully_refunded=fully)


def invoice_drafted(t: float = 1) -> InvoiceDrafted:
    return InvoiceDrafted(event_id=eid(), occurred_at=at(t), invoice_id="inv-1")


def invoice_finalized(t: float = 3) -> InvoiceFinalized:
    return InvoiceFinalized(event_id=eid(), occurred_at=at(t), invoice_id="inv-1", invoice_number="INV-2026-000001")


def invoice_voided(t: float = 3) -> InvoiceVoided:
    return InvoiceVoided(event_id=eid(), occurred_at=at(t), invoice_id="inv-1")


def credit_note(order_refund_id: str = "", *, credit_note_id: str = "cn-1", amount: int = TOTAL) -> CreditNoteIssued:
    return CreditNoteIssued(event_id=eid(), occurred_at=at(6), credit_note_id=credit_note_id,
                            credit_note_number="CN-2026-000001", order_refund_id=order_refund_id, amount=amount)


def shipment_created(t: float = 4) -> ShipmentCreated:
    return ShipmentCreated(event_id=eid(), occurred_at=at(t), shipment_id="sh-1", carrier_code="colissimo",
                           tracking_number="6A123")


def shipment_scanned(status: ShipmentStatus = ShipmentStatus.DELIVERED, t: float = 100) -> ShipmentStatusChanged:
    return ShipmentStatusChanged(event_id=eid(), occurred_at=at(t), shipment_id="sh-1", status=status,
                                 location="Paris")


def shipment_cancelled(t: float = 5) -> ShipmentCancelled:
    return ShipmentCancelled(event_id=eid(), occurred_at=at(t), shipment_id="sh-1", reason="order cancelled")


def apply(order: Order, *events: SagaEvent) -> tuple[Order, list[domain.OrderEvent]]:
    emitted: list[domain.OrderEvent] = []
    for event in events:
        order, new = domain.apply_event(order, event, now=event.occurred_at)
        emitted += new
    return order, emitted


def delivered() -> Order:
    return apply(new_order(), stock_reserved(), payment_succeeded(), shipment_created(), shipment_scanned())[0]


def refunded(order: Order, request: RequestRefund, *, refund_id: str = "r-1", fully: bool = False) -> Order:
    order, refund, _ = domain.request_refund(order, request, refund_id=refund_id, actor=Actor.CUSTOMER, now=at(200))
    return apply(order, payment_refunded(refund.amount, refund_id=f"p{refund_id}", order_refund_id=refund_id,
                                         fully=fully))[0]


def cancelled_by_customer(order: Order) -> Order:
    return domain.cancel_order(order, reason=CancellationReason.CUSTOMER_REQUEST, note="changed my mind",
                               actor=Actor.CUSTOMER, now=at(10))[0]


# Every state of the machine, each reached through the domain itself.
STATES: dict[str, Callable[[], Order]] = {
    "PENDING": new_order,
    "PENDING/stock reserved": lambda: apply(new_order(), stock_reserved())[0],
    "PENDING/payment captured": lambda: apply(new_order(), payment_succeeded())[0],
    "CONFIRMED": lambda: apply(new_order(), stock_reserved(), payment_succeeded())[0],
    "SHIPPED/label only": lambda: apply(new_order(), stock_reserved(), payment_succeeded(), shipment_created())[0],
    "SHIPPED": lambda: apply(new_order(), stock_reserved(), payment_succeeded(), shipment_created(),
                             shipment_scanned(ShipmentStatus.PICKED_UP, t=5))[0],
    "DELIVERED": delivered,
    "CANCELLED": lambda: cancelled_by_customer(new_order()),
    "PARTIALLY_REFUNDED": lambda: refunded(delivered(), RequestRefund("k", lines=(RefundSelection("BOOK-1", 1),))),
    "REFUNDED": lambda: refunded(delivered(), RequestRefund("k"), fully=True),
}


def customer_cancels(order: Order) -> tuple[Order, list[domain.OrderEvent]]:
    return domain.cancel_order(order, reason=CancellationReason.CUSTOMER_REQUEST, note="", actor=Actor.CUSTOMER,
                               now=at(50))


def saga_times_out(order: Order) -> tuple[Order, list[domain.OrderEvent]]:
    return domain.time_out_order(order, now=at(31), step_timeout=TIMEOUT)


# Every input of the machine: another service's event or a use case.
INPUTS: dict[str, Callable[[Order], tuple[Order, list[domain.OrderEvent]]]] = {
    "StockReserved": lambda o: apply(o, stock_reserved(20)),
    "StockReservationFailed": lambda o: apply(o, stock_failed(20)),
    "StockReleased(expired)": lambda o: apply(o, stock_released(20)),
    "StockCommitted": lambda o: apply(o, stock_committed(20)),
    "PaymentSucceeded": lambda o: apply(o, payment_succeeded(20)),
    "PaymentFailed": lambda o: apply(o, payment_failed(20)),
    "PaymentVoided": lambda o: apply(o, payment_voided(20)),
    "InvoiceDrafted": lambda o: apply(o, invoice_drafted(20)),
    "ShipmentCreated": lambda o: apply(o, shipment_created(20)),
    "Shipment DELIVERED": lambda o: apply(o, shipment_scanned(t=300)),
    "CancelOrder(customer)": customer_cancels,
    "saga timeout": saga_times_out,
}

P, C, S, D, X = OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, "refused"
PR, R, K = OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED, OrderStatus.CANCELLED
NONE: tuple[type, ...] = ()
CONF, CANC = (OrderConfirmed,), (OrderCancelled,)

# state -> input -> (status after, events emitted); "refused" means a FailedPrecondition.
MACHINE: dict[str, dict[str, tuple[object, tuple[type, ...]]]] = {
    "PENDING": {
        "StockReserved": (P, NONE), "StockReservationFailed": (K, CANC), "StockReleased(expired)": (K, CANC),
        "StockCommitted": (P, NONE), "PaymentSucceeded": (P, NONE), "PaymentFailed": (K, CANC),
        "PaymentVoided": (K, CANC), "InvoiceDrafted": (P, NONE), "ShipmentCreated": (P, NONE),
        "Shipment DELIVERED": (P, NONE), "CancelOrder(customer)": (K, CANC), "saga timeout": (K, CANC),
    },
    "PENDING/stock reserved": {
        "StockReserved": (P, NONE), "StockReservationFailed": (P, NONE), "StockReleased(expired)": (K, CANC),
        "StockCommitted": (P, NONE), "PaymentSucceeded": (C, CONF), "PaymentFailed": (K, CANC),
        "PaymentVoided": (K, CANC), "InvoiceDrafted": (P, NONE), "ShipmentCreated": (P, NONE),
        "Shipment DELIVERED": (P, NONE), "CancelOrder(customer)": (K, CANC), "saga timeout": (K, CANC),
    },
    "PENDING/payment captured": {
        "StockReserved": (C, CONF), "StockReservationFailed": (K, CANC), "StockReleased(expired)": (K, CANC),
        "StockCommitted": (P, NONE), "PaymentSucceeded": (P, NONE), "PaymentFailed": (P, NONE),
        "PaymentVoided": (K, CANC), "InvoiceDrafted": (P, NONE), "ShipmentCreated": (P, NONE),
        "Shipment DELIVERED": (P, NONE), "CancelOrder(customer)": (K, CANC), "saga timeout": (K, CANC),
    },
    "CONFIRMED": {
        "StockReserved": (C, NONE), "StockReservationFailed": (C, NONE), "StockReleased(expired)": (C, NONE),
        "StockCommitted": (C, NONE), "PaymentSucceeded": (C, NONE), "PaymentFailed": (C, NONE),
        "PaymentVoided": (C, NONE), "InvoiceDrafted": (C, NONE), "ShipmentCreated": (S, NONE),
        "Shipment DELIVERED": (D, NONE), "CancelOrder(customer)": (K, CANC), "saga timeout": (C, NONE),
    },
    "SHIPPED/label only": {
        "StockReserved": (S, NONE), "StockReservationFailed": (S, NONE), "StockReleased(expired)": (S, NONE),
        "StockCommitted": (S, NONE), "PaymentSucceeded": (S, NONE), "PaymentFailed": (S, NONE),
        "PaymentVoided": (S, NONE), "InvoiceDrafted": (S, NONE), "ShipmentCreated": (S, NONE),
        "Shipment DELIVERED": (D, NONE), "CancelOrder(customer)": (K, CANC), "saga timeout": (S, NONE),
    },
    "SHIPPED": {
        "StockReserved": (S, NONE), "StockReservationFailed": (S, NONE), "StockReleased(expired)": (S, NONE),
        "StockCommitted": (S, NONE), "PaymentSucceeded": (S, NONE), "PaymentFailed": (S, NONE),
        "PaymentVoided": (S, NONE), "InvoiceDrafted": (S, NONE), "ShipmentCreated": (S, NONE),
        "Shipment DELIVERED": (D, NONE), "CancelOrder(customer)": (X, NONE), "saga timeout": (S, NONE),
    },
    "DELIVERED": {
        "StockReserved": (D, NONE), "StockReservationFailed": (D, NONE), "StockReleased(expired)": (D, NONE),
        "StockCommitted": (D, NONE), "PaymentSucceeded": (D, NONE), "PaymentFailed": (D, NONE),
        "PaymentVoided": (D, NONE), "InvoiceDrafted": (D, NONE), "ShipmentCreated": (D, NONE),
        "Shipment DELIVERED": (D, NONE), "CancelOrder(customer)": (X, NONE), "saga timeout": (D, NONE),
    },
    "CANCELLED": {
        # Stock reserved or payment captured after the cancellation: the cancellation is sent again.
        "StockReserved": (K, CANC), "StockReservationFailed": (K, NONE), "StockReleased(expired)": (K, NONE),
        "StockCommitted": (K, NONE), "PaymentSucceeded": (K, CANC), "PaymentFailed": (K, NONE),
        "PaymentVoided": (K, NONE), "InvoiceDrafted": (K, NONE), "ShipmentCreated": (K, NONE),
        "Shipment DELIVERED": (K, NONE), "CancelOrder(customer)": (K, NONE), "saga timeout": (K, NONE),
    },
    "PARTIALLY_REFUNDED": {
        "StockReserved": (PR, NONE), "StockReservationFailed": (PR, NONE), "StockReleased(expired)": (PR, NONE),
        "StockCommitted": (PR, NONE), "PaymentSucceeded": (PR, NONE), "PaymentFailed": (PR, NONE),
        "PaymentVoided": (PR, NONE), "InvoiceDrafted": (PR, NONE), "ShipmentCreated": (PR, NONE),
        "Shipment DELIVERED": (PR, NONE), "CancelOrder(customer)": (X, NONE), "saga timeout": (PR, NONE),
    },
    "REFUNDED": {
        "StockReserved": (R, NONE), "StockReservationFailed": (R, NONE), "StockReleased(expired)": (R, NONE),
        "StockCommitted": (R, NONE), "PaymentSucceeded": (R, NONE), "PaymentFailed": (R, NONE),
        "PaymentVoided": (R, NONE), "InvoiceDrafted": (R, NONE), "ShipmentCreated": (R, NONE),
        "Shipment DELIVERED": (R, NONE), "CancelOrder(customer)": (X, NONE), "saga timeout": (R, NONE),
    },
}


def test_the_table_covers_every_state_and_every_input() -> None:
    assert set(MACHINE) == set(STATES)
    assert all(set(row) == set(INPUTS) for row in MACHINE.values())


@pytest.mark.parametrize(
    ("state", "given"), [(state, given) for state in MACHINE for given in MACHINE[state]],
    ids=[f"{state} + {given}" for state in MACHINE for given in MACHINE[state]],
)
def test_state_machine(state: str, given: str) -> None:
    expected_status, expected_events = MACHINE[state][given]
    order = STATES[state]()
    before = TypeAdapter(Order).dump_json(order)
    if expected_status == X:
        with pytest.raises(FailedPrecondition):
            INPUTS[given](order)
        return
    changed, events = INPUTS[given](order)
    assert changed.status == expected_status
    assert tuple(type(event) for event in events) == expected_events
    assert TypeAdapter(Order).dump_json(order) == before  # the given order is never mutated
    if changed.version == order.version:
        assert changed == order  # no change at all without a new version
    else:
        assert changed.version == order.version + 1


@pytest.mark.parametrize(
    ("state", "given"), [(state, given) for state in MACHINE for given in MACHINE[state]
                         if MACHINE[state][given][0] != X],
)
def test_applying_the_same_input_twice_changes_nothing_the_second_time(state: str, given: str) -> None:
    once, _ = INPUTS[given](STATES[state]())
    twice, events = INPUTS[given](once)  # the same news again, under a new event id (a re-published event)
    assert (twice, events) == (once, [])


@pytest.mark.parametrize("state", sorted(STATES))
def test_redelivering_the_very_same_event_changes_nothing(state: str) -> None:
    order = STATES[state]()
    for make in (stock_reserved, stock_failed, stock_released, stock_committed, payment_succeeded, payment_failed,
                 payment_voided, invoice_drafted, invoice_finalized, invoice_voided, shipment_created,
                 shipment_scanned, shipment_cancelled, payment_refunded, credit_note):
        event = make()
        once, _ = domain.apply_event(order, event, now=at(60))
        again, events = domain.apply_event(once, event, now=at(61))
        assert (again, events) == (once, [])


# --------------------------------------------------------------------------------------------- placing


def test_create_order_stores_a_pending_order_and_publishes_order_created() -> None:
    order, events = place()
    assert (order.status, order.stock_state, order.payment_state, order.invoice_state) == (
        OrderStatus.PENDING, StockState.PENDING, PaymentState.PENDING, InvoiceState.PENDING
    )
    assert [(line.sku, line.quantity, line.line_total) for line in order.lines] == [("MUG-1", 3, 7196),
                                                                                     ("BOOK-1", 1, 528)]
    totals = order.totals
    assert (totals.subtotal, totals.discount, totals.tax, totals.shipping, totals.total) == (6497, 0, 1227, 590, TOTAL)
    assert order.billing_address == HOME  # unset billing address means the shipping address
    assert (order.cart_id, order.cart_version, order.version, order.total_weight_grams) == ("cart-1", 4, 1, 1300)
    assert [entry.step for entry in order.timeline] == [TimelineStep.ORDER_CREATED]
    [created] = events
    assert isinstance(created, OrderCreated)
    assert (created.order_id, created.totals, created.lines, created.cart_id) == ("o-1", order.totals, order.lines,
                                                                                  "cart-1")


def test_create_order_copies_the_vip_discount_of_the_cart() -> None:
    discounted = dataclasses.replace(MUG, discount=300, tax=1139, total=6836)
    order, _ = place(cart=dataclasses.replace(CART, lines=(discounted,)))
    assert (order.totals.discount, order.totals.tax, order.totals.total) == (300, 1139, 5997 - 300 + 1139 + 590)


def blank(field: str) -> PlaceOrder:
    return dataclasses.replace(REQUEST, shipping_address=dataclasses.replace(HOME, **{field: ""}))


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (dataclasses.replace(REQUEST, cart_id=""), "cart id"),
        (dataclasses.replace(REQUEST, idempotency_key=""), "idempotency key"),
        (dataclasses.replace(REQUEST, customer_email="nobody"), "e-mail"),
        (dataclasses.replace(REQUEST, payment_method="cash"), "payment method"),
        (dataclasses.replace(REQUEST, shipping_option_id=""), "shipping option"),
        (blank("full_name"), "shipping address is missing: full name"),
        (blank("line1"), "line1"),
        (blank("postal_code"), "postal code"),
        (blank("city"), "city"),
        (blank("country_code"), "country code"),
        (dataclasses.replace(REQUEST, shipping_address=dataclasses.replace(HOME, country_code="fr")), "upper-case"),
        (dataclasses.replace(REQUEST, billing_address=Address(full_name="Ada")), "billing address is missing"),
    ],
)
def test_create_order_refuses_incomplete_requests(request_: PlaceOrder, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        place(request_)


@pytest.mark.parametrize(
    ("cart", "error", "words"),
    [
        (dataclasses.replace(CART, customer_id=""), FailedPrecondition, "anonymous"),
        (dataclasses.replace(CART, state="CHECKED_OUT"), FailedPrecondition, "checked out"),
        (dataclasses.replace(CART, lines=()), FailedPrecondition, "empty"),
        (dataclasses.replace(CART, lines=(dataclasses.replace(MUG, availability="OUT_OF_STOCK"),)), FailedPrecondition,
         "out of stock"),
        (dataclasses.replace(CART, lines=(dataclasses.replace(MUG, price_changed=True),)), FailedPrecondition,
         "price of Mug"),
    ],
)
def test_create_order_refuses_carts_that_cannot_be_ordered(cart: CartSnapshot, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        place(cart=cart)


def test_create_order_refuses_another_customers_cart() -> None:
    with pytest.raises(NotFound):
        domain.create_order(REQUEST, cart=CART, shipping_option=OPTION, caller_customer_id="cust-2", order_id="o-1",
                            order_number="ORD-1", now=T0)


def test_create_order_refuses_a_total_the_shopper_did_not_see() -> None:
    with pytest.raises(FailedPrecondition, match=r"EUR 83\.14"):
        place(dataclasses.replace(REQUEST, expected_total=TOTAL - 1))
    assert place(dataclasses.replace(REQUEST, expected_total=TOTAL, expected_currency="EUR"))[0].totals.total == TOTAL


def test_a_retry_with_the_same_key_returns_the_same_order_and_another_request_is_refused() -> None:
    order = new_order()
    assert domain.order_for_repeated_request(order, REQUEST) == order
    with pytest.raises(AlreadyExists, match="key-1"):
        domain.order_for_repeated_request(order, dataclasses.replace(REQUEST, payment_method="paypal"))


# ------------------------------------------------------------------------------------ the happy path


def test_happy_path_timeline() -> None:
    order, events = apply(new_order(), invoice_drafted(1), stock_reserved(2), payment_succeeded(3), stock_committed(4),
                          invoice_finalized(5), shipment_created(6), shipment_scanned(ShipmentStatus.PICKED_UP, 7),
                          shipment_scanned(ShipmentStatus.DELIVERED, 8))
    assert [type(event) for event in events] == [OrderConfirmed]
    assert (order.status, order.stock_state, order.payment_state, order.invoice_state) == (
        OrderStatus.DELIVERED, StockState.COMMITTED, PaymentState.CAPTURED, InvoiceState.FINALIZED
    )
    assert (order.payment_id, order.invoice_id, order.invoice_number) == ("pay-1", "inv-1", "INV-2026-000001")
    assert (order.shipment_id, order.carrier_code, order.tracking_number) == ("sh-1", "colissimo", "6A123")
    assert (order.confirmed_at, order.shipped_at, order.delivered_at) == (at(3), at(6), at(8))
    assert [(entry.step, entry.status_after) for entry in order.timeline] == [
        (TimelineStep.ORDER_CREATED, P),
        (TimelineStep.INVOICE_DRAFTED, P),
        (TimelineStep.STOCK_RESERVED, P),
        (TimelineStep.PAYMENT_SUCCEEDED, P),
        (TimelineStep.ORDER_CONFIRMED, C),
        (TimelineStep.STOCK_COMMITTED, C),
        (TimelineStep.INVOICE_FINALIZED, C),
        (TimelineStep.SHIPMENT_CREATED, C),
        (TimelineStep.ORDER_SHIPPED, S),
        (TimelineStep.SHIPMENT_STATUS_CHANGED, S),
        (TimelineStep.SHIPMENT_STATUS_CHANGED, S),
        (TimelineStep.ORDER_DELIVERED, D),
    ]
    assert [entry.source for entry in order.timeline[:5]] == ["ordering", "billing", "stocking", "paying", "ordering"]
    assert order.timeline[3].detail == "captured EUR 83.14"
    assert order.timeline[9].detail == "picked up at Paris"


def test_order_confirmed_carries_the_parcel_and_the_payment() -> None:
    _, [confirmed] = apply(new_order(), stock_reserved(), payment_succeeded())
    assert isinstance(confirmed, OrderConfirmed)
    assert (confirmed.payment_id, confirmed.total_weight_grams, confirmed.totals.total) == ("pay-1", 1300, TOTAL)
    assert (confirmed.shipping_address, confirmed.shipping_option) == (HOME, OPTION)


FORWARD_STEPS: dict[str, Callable[[float], SagaEvent]] = {
    "stock": stock_reserved, "payment": payment_succeeded, "invoice": invoice_drafted,
}


@pytest.mark.parametrize("arrival", list(itertools.permutations(FORWARD_STEPS)), ids="-".join)
def test_stock_and_payment_in_any_order_with_duplicates_confirm_once(arrival: tuple[str, ...]) -> None:
    events = [FORWARD_STEPS[name](t) for t, name in enumerate(arrival, start=1)]
    # Each event delivered twice in a row, then the whole lot replayed.
    order, emitted = apply(new_order(), *[event for event in events for _ in (1, 2)], *events)
    assert [type(event) for event in emitted] == [OrderConfirmed]
    assert order.status is OrderStatus.CONFIRMED
    assert [entry.step for entry in order.timeline].count(TimelineStep.ORDER_CONFIRMED) == 1


def test_stock_committed_before_payment_still_confirms() -> None:
    order, emitted = apply(new_order(), stock_reserved(), stock_committed(), payment_succeeded())
    assert (order.status, [type(event) for event in emitted]) == (OrderStatus.CONFIRMED, [OrderConfirmed])


# ------------------------------------------------------------------------------------ unhappy paths


def test_stock_that_cannot_be_reserved_cancels_the_order_and_asks_every_participant_to_compensate() -> None:
    order, [cancelled] = apply(new_order(), payment_succeeded(1), invoice_drafted(1), stock_failed(2))
    assert isinstance(cancelled, OrderCancelled)
    assert (order.status, order.stock_state) == (OrderStatus.CANCELLED, StockState.FAILED)
    assert (cancelled.reason, cancelled.cancelled_by, cancelled.previous_status) == (
        CancellationReason.OUT_OF_STOCK, Actor.SYSTEM, OrderStatus.PENDING
    )
    assert cancelled.note == "SKU MUG-1: 3 asked, 1 available"
    assert ([line.sku for line in cancelled.lines], cancelled.totals.total) == (["MUG-1", "BOOK-1"], TOTAL)
    assert order.cancellation is not None and order.cancellation.reason is CancellationReason.OUT_OF_STOCK

    # The participants compensate; each report is recorded, none asks for more.
    order, emitted = apply(order, payment_refunded(TOTAL, t=3), invoice_voided(4))
    assert emitted == []
    assert (order.payment_state, order.invoice_state, order.totals.refunded) == (
        PaymentState.REFUNDED, InvoiceState.VOIDED, TOTAL
    )
    assert order.status is OrderStatus.CANCELLED
    assert [entry.step for entry in order.timeline][-4:] == [
        TimelineStep.STOCK_RESERVATION_FAILED, TimelineStep.ORDER_CANCELLED, TimelineStep.PAYMENT_REFUNDED,
        TimelineStep.INVOICE_VOIDED,
    ]


def test_a_reservation_that_expires_before_payment_cancels_as_timed_out() -> None:
    order, [cancelled] = apply(new_order(), stock_reserved(), stock_released(reason=ReleaseReason.EXPIRED))
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.reason, cancelled.cancelled_by) == (CancellationReason.TIMED_OUT, Actor.SYSTEM)
    assert order.stock_state is StockState.RELEASED
    # The payment then comes in: the refund is asked again, so the money goes back.
    order, [again] = apply(order, payment_succeeded(5))
    assert again == cancelled
    assert order.payment_state is PaymentState.CAPTURED


def test_a_reservation_released_by_staff_cancels_as_a_staff_decision() -> None:
    _, [cancelled] = apply(new_order(), stock_reserved(), stock_released(reason=ReleaseReason.STAFF))
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.reason, cancelled.cancelled_by) == (CancellationReason.STAFF_DECISION, Actor.STAFF)


def test_a_failed_payment_cancels_and_the_stock_is_released() -> None:
    order, [cancelled] = apply(new_order(), stock_reserved(), payment_failed(2))
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.reason, cancelled.note) == (CancellationReason.PAYMENT_FAILED, "card declined")
    order, emitted = apply(order, stock_released(3, ReleaseReason.ORDER_CANCELLED))
    assert (order.stock_state, emitted) == (StockState.RELEASED, [])


def test_a_late_payment_after_cancellation_asks_again_for_the_refund_once() -> None:
    cancelled_order, [first] = customer_cancels(new_order())
    order, [again] = apply(cancelled_order, payment_succeeded(60))
    assert again == first  # the very same compensation command, which participants de-duplicate
    assert order.payment_state is PaymentState.CAPTURED
    assert "refund asked again" in order.timeline[-1].detail
    order, emitted = apply(order, payment_succeeded(61), payment_refunded(TOTAL, t=62))
    assert emitted == []
    assert (order.payment_state, order.status) == (PaymentState.REFUNDED, OrderStatus.CANCELLED)


def test_a_late_reservation_after_cancellation_asks_again_for_the_release() -> None:
    order, [first] = saga_times_out(new_order())
    order, [again] = apply(order, stock_reserved(40))
    assert again == first
    assert order.stock_state is StockState.RESERVED
    order, emitted = apply(order, stock_released(41, ReleaseReason.ORDER_CANCELLED))
    assert (order.stock_state, emitted) == (StockState.RELEASED, [])


def test_customer_cancels_a_confirmed_order_and_it_is_refunded_and_credited() -> None:
    confirmed = STATES["CONFIRMED"]()
    confirmed = apply(confirmed, stock_committed(), invoice_finalized())[0]
    order, [cancelled] = domain.cancel_order(confirmed, reason=CancellationReason.CUSTOMER_REQUEST, note="too late",
                                             actor=Actor.CUSTOMER, now=at(10))
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.previous_status, cancelled.cancelled_by, cancelled.cancelled_at) == (
        OrderStatus.CONFIRMED, Actor.CUSTOMER, at(10)
    )
    order, emitted = apply(order, stock_released(11, ReleaseReason.ORDER_CANCELLED), payment_refunded(TOTAL, t=12),
                           credit_note(), shipment_created(13), shipment_cancelled(14))
    assert emitted == []
    assert (order.status, order.stock_state, order.payment_state, order.invoice_state) == (
        OrderStatus.CANCELLED, StockState.RELEASED, PaymentState.REFUNDED, InvoiceState.CREDITED
    )
    assert order.shipment_status is ShipmentStatus.CANCELLED


def test_staff_may_cancel_for_fraud() -> None:
    _, [cancelled] = domain.cancel_order(new_order(), reason=CancellationReason.FRAUD_SUSPECTED,
                                         note="stolen card", actor=Actor.STAFF, now=at(5))
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.reason, cancelled.cancelled_by, cancelled.note) == (
        CancellationReason.FRAUD_SUSPECTED, Actor.STAFF, "stolen card"
    )


@pytest.mark.parametrize(
    "reason", [CancellationReason.OUT_OF_STOCK, CancellationReason.PAYMENT_FAILED, CancellationReason.TIMED_OUT]
)
def test_reasons_of_the_saga_cannot_be_given_to_cancel_order(reason: CancellationReason) -> None:
    with pytest.raises(InvalidArgument, match="set by the checkout"):
        domain.cancel_order(new_order(), reason=reason, note="", actor=Actor.STAFF, now=at(5))


def test_a_customer_may_only_give_customer_request() -> None:
    with pytest.raises(PermissionDenied):
        domain.cancel_order(new_order(), reason=CancellationReason.STAFF_DECISION, note="", actor=Actor.CUSTOMER,
                            now=at(5))


def test_cancelling_a_shipped_order_says_to_ask_for_a_refund() -> None:
    with pytest.raises(FailedPrecondition, match=r"the carrier has its parcel.*ask for a refund"):
        customer_cancels(STATES["SHIPPED"]())


def test_an_order_whose_parcel_only_has_its_label_can_still_be_cancelled() -> None:
    order, [cancelled] = customer_cancels(STATES["SHIPPED/label only"]())
    assert isinstance(cancelled, OrderCancelled)
    assert (order.status, cancelled.previous_status) == (OrderStatus.CANCELLED, OrderStatus.SHIPPED)


# -------------------------------------------------------------------------------------------- timeout


def test_a_pending_order_times_out_one_step_timeout_after_creation() -> None:
    order = apply(new_order(), stock_reserved())[0]
    assert domain.saga_deadline(order, TIMEOUT) == at(30)
    assert domain.time_out_order(order, now=at(29.999), step_timeout=TIMEOUT) == (order, [])
    changed, [cancelled] = domain.time_out_order(order, now=at(30), step_timeout=TIMEOUT)
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.reason, cancelled.cancelled_by) == (CancellationReason.TIMED_OUT, Actor.SYSTEM)
    assert cancelled.note == "no answer from paying within 30 s"
    assert changed.status is OrderStatus.CANCELLED


def test_only_pending_orders_time_out() -> None:
    stalled = new_order()
    waiting = place(order_id="o-2", now=at(20))[0]
    confirmed = STATES["CONFIRMED"]()
    timed_out = domain.time_out_stalled_orders([stalled, waiting, confirmed], now=at(40), step_timeout=TIMEOUT)
    assert [(order.order_id, order.status) for order, _ in timed_out] == [("o-1", OrderStatus.CANCELLED)]
    assert domain.saga_deadline(confirmed, TIMEOUT) is None


# -------------------------------------------------------------------------------------------- refunds


def ask_refund(order: Order, request: RequestRefund, actor: Actor = Actor.CUSTOMER,
               refund_id: str = "r-1") -> tuple[Order, domain.OrderRefund, list[domain.OrderEvent]]:
    return domain.request_refund(order, request, refund_id=refund_id, actor=actor, now=at(200))


def test_a_full_refund_gives_back_everything_with_shipping() -> None:
    order, refund, [event] = ask_refund(delivered(), RequestRefund("k-1", reason="broken"))
    assert isinstance(event, OrderRefundRequested)
    assert (refund.amount, refund.shipping_amount, refund.full, refund.status) == (TOTAL, 590, True,
                                                                                   RefundStatus.REQUESTED)
    assert [(line.sku, line.quantity, line.amount) for line in refund.lines] == [("MUG-1", 3, 7196),
                                                                                 ("BOOK-1", 1, 528)]
    assert (event.refund_id, event.amount, event.full, event.reason, event.lines) == ("r-1", TOTAL, True, "broken",
                                                                                      refund.lines)
    assert order.status is OrderStatus.DELIVERED  # until paying has refunded

    order, emitted = apply(order, payment_refunded(TOTAL, refund_id="pr-1", order_refund_id="r-1"),
                           credit_note("r-1"))
    assert emitted == []
    assert (order.status, order.payment_state, order.totals.refunded) == (OrderStatus.REFUNDED, PaymentState.REFUNDED,
                                                                          TOTAL)
    [done] = order.refunds
    assert (done.status, done.payment_refund_id, done.credit_note_id, done.completed_at) == (
        RefundStatus.COMPLETED, "pr-1", "cn-1", at(5)
    )
    assert [line.refunded_quantity for line in order.lines] == [3, 1]
    assert [entry.step for entry in order.timeline][-4:] == [
        TimelineStep.REFUND_REQUESTED, TimelineStep.PAYMENT_REFUNDED, TimelineStep.REFUND_COMPLETED,
        TimelineStep.CREDIT_NOTE_ISSUED,
    ]


def test_refunds_of_units_round_down_and_the_last_units_take_the_remainder() -> None:
    order = delivered()
    amounts = []
    for n in range(3):
        order, refund, _ = ask_refund(order, RequestRefund(f"k-{n}", lines=(RefundSelection("MUG-1", 1),)),
                                      refund_id=f"r-{n}")
        amounts.append(refund.amount)
        assert (refund.full, refund.shipping_amount) == (False, 0)
    assert amounts == [2398, 2398, 2400]  # 7196 / 3 = 2398.67
    assert sum(amounts) == MUG.total


def test_a_partial_refund_leaves_the_order_partially_refunded() -> None:
    order = refunded(delivered(), RequestRefund("k", lines=(RefundSelection("MUG-1", 2),)))
    assert (order.status, order.payment_state, order.totals.refunded) == (
        OrderStatus.PARTIALLY_REFUNDED, PaymentState.PARTIALLY_REFUNDED, 4797
    )
    assert [line.refunded_quantity for line in order.lines] == [2, 0]
    # The rest, asked as a full refund, is the last unit of each line plus shipping.
    order, refund, _ = ask_refund(order, RequestRefund("k-2"), refund_id="r-2")
    assert (refund.amount, refund.shipping_amount, refund.full) == (TOTAL - 4797, 590, True)
    assert [(line.sku, line.quantity, line.amount) for line in refund.lines] == [("MUG-1", 1, 2399),
                                                                                 ("BOOK-1", 1, 528)]


def test_a_refund_never_exceeds_what_is_left_counting_refunds_still_requested() -> None:
    order, _, _ = ask_refund(delivered(), RequestRefund("k-1", amount=8000), actor=Actor.STAFF)
    with pytest.raises(FailedPrecondition, match=r"exceeds the EUR 3\.14 left"):
        ask_refund(order, RequestRefund("k-2", amount=315), actor=Actor.STAFF, refund_id="r-2")
    with pytest.raises(FailedPrecondition, match="exceeds"):
        ask_refund(order, RequestRefund("k-3", lines=(RefundSelection("BOOK-1", 1),)), refund_id="r-3")
    # After a plain amount, "everything left" is refunded as a plain amount.
    order, rest, _ = ask_refund(order, RequestRefund("k-4"), refund_id="r-4")
    assert (rest.amount, rest.lines, rest.shipping_amount, rest.full) == (314, [], 0, True)
    with pytest.raises(FailedPrecondition, match="nothing is left"):
        ask_refund(order, RequestRefund("k-5"), refund_id="r-5")


def test_a_refund_request_is_idempotent_on_its_key() -> None:
    request = RequestRefund("k-1", lines=(RefundSelection("BOOK-1", 1),), reason="damaged")
    order, refund, [_] = ask_refund(delivered(), request)
    again_order, again, events = ask_refund(order, request, refund_id="r-other")
    assert (again_order, again, events) == (order, refund, [])
    with pytest.raises(AlreadyExists):
        ask_refund(order, dataclasses.replace(request, reason="other"))


@pytest.mark.parametrize(
    ("request_", "actor", "error", "words"),
    [
        (RequestRefund("k", lines=(RefundSelection("BOOK-1", 1),), amount=10), Actor.STAFF, InvalidArgument,
         "not both"),
        (RequestRefund("k", lines=(RefundSelection("NOPE", 1),)), Actor.CUSTOMER, InvalidArgument, "NOPE"),
        (RequestRefund("k", lines=(RefundSelection("BOOK-1", 0),)), Actor.CUSTOMER, InvalidArgument, "at least 1"),
        (RequestRefund("k", lines=(RefundSelection("BOOK-1", 1),) * 2), Actor.CUSTOMER, InvalidArgument, "twice"),
        (RequestRefund("k", lines=(RefundSelection("BOOK-1", 2),)), Actor.CUSTOMER, FailedPrecondition, "only 1"),
        (RequestRefund("k", amount=0), Actor.STAFF, InvalidArgument, "positive"),
        (RequestRefund("k", amount=100, currency="USD"), Actor.STAFF, InvalidArgument, "currency"),
        (RequestRefund("k", amount=100), Actor.CUSTOMER, PermissionDenied, "only staff"),
        (RequestRefund("", amount=100), Actor.STAFF, InvalidArgument, "idempotency key"),
    ],
)
def test_refund_requests_that_are_refused(request_: RequestRefund, actor: Actor, error: type[DomainError],
                                          words: str) -> None:
    with pytest.raises(error, match=words):
        ask_refund(delivered(), request_, actor=actor)


@pytest.mark.parametrize("state", ["PENDING", "CONFIRMED", "SHIPPED", "CANCELLED", "REFUNDED"])
def test_only_delivered_orders_can_be_refunded(state: str) -> None:
    with pytest.raises(FailedPrecondition):
        ask_refund(STATES[state](), RequestRefund("k-new"))


def test_a_duplicate_payment_refund_or_credit_note_changes_nothing() -> None:
    order, _, _ = ask_refund(delivered(), RequestRefund("k-1"))
    order = apply(order, payment_refunded(TOTAL, refund_id="pr-1", order_refund_id="r-1"), credit_note("r-1"))[0]
    again, emitted = apply(order, payment_refunded(TOTAL, refund_id="pr-1", order_refund_id="r-1"),
                           credit_note("r-1"))
    assert (again, emitted) == (order, [])


def test_a_manual_refund_through_paying_counts_on_a_delivered_order() -> None:
    order = apply(delivered(), payment_refunded(1000, refund_id="manual-1", fully=False))[0]
    assert (order.status, order.totals.refunded) == (OrderStatus.PARTIALLY_REFUNDED, 1000)


# ---------------------------------------------------------------------------------- reading and store


def test_a_customer_sees_only_their_orders() -> None:
    order = new_order()
    domain.ensure_customer_owns(order, "cust-1")
    with pytest.raises(NotFound):
        domain.ensure_customer_owns(order, "cust-2")


def many_orders() -> list[Order]:
    orders = []
    for n in range(7):
        cart = dataclasses.replace(CART, customer_id="cust-1" if n % 2 == 0 else "cust-2")
        orders.append(place(cart=cart, order_id=f"o-{n}", now=at(n * 60))[0])
    orders[3] = cancelled_by_customer(orders[3])
    return orders


def test_a_customers_history_is_paged_newest_first_without_gaps() -> None:
    orders, seen, token = many_orders(), [], ""
    while True:
        page = domain.list_customer_orders(orders, customer_id="cust-1", page_size=3, page_token=token)
        seen += [order.order_id for order in page.items]
        assert page.total_size == 4
        if not (token := page.next_page_token):
            break
    assert seen == ["o-6", "o-4", "o-2", "o-0"]


def test_staff_filters_by_status_customer_number_and_dates() -> None:
    orders = many_orders()

    def ids(filters: OrderFilter) -> list[str]:
        return [o.order_id for o in domain.list_orders(orders, filters=filters, page_size=0, page_token="").items]

    assert ids(OrderFilter()) == ["o-6", "o-5", "o-4", "o-3", "o-2", "o-1", "o-0"]
    assert ids(OrderFilter(statuses=(OrderStatus.CANCELLED,))) == ["o-3"]
    assert ids(OrderFilter(customer_id="cust-2", statuses=(OrderStatus.PENDING,))) == ["o-5", "o-1"]
    assert ids(OrderFilter(order_number="ORD-2026-o-4")) == ["o-4"]
    assert ids(OrderFilter(created_after=at(120), created_before=at(240))) == ["o-3", "o-2"]


@pytest.mark.parametrize(
    ("filters", "page_size", "token", "words"),
    [
        (OrderFilter(created_after=at(10), created_before=at(10)), 0, "", "created_before"),
        (OrderFilter(), -1, "", "page_size must be 0"),
        (OrderFilter(), 0, "not-a-token", "is not one this list issued for these filters and this order"),
    ],
)
def test_listing_refuses_bad_paging_and_dates(filters: OrderFilter, page_size: int, token: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        domain.list_orders(many_orders(), filters=filters, page_size=page_size, page_token=token)


def test_page_size_is_capped() -> None:
    orders = [place(order_id=f"o-{n}", now=at(n))[0] for n in range(paging.MAX_PAGE_SIZE + 5)]
    page = domain.list_orders(orders, filters=OrderFilter(), page_size=1000, page_token="")
    assert len(page.items) == paging.MAX_PAGE_SIZE
    assert page.next_page_token


def test_an_order_round_trips_through_json() -> None:
    adapter = TypeAdapter(Order)
    for order in (refunded(delivered(), RequestRefund("k", lines=(RefundSelection("MUG-1", 1),))),
                  cancelled_by_customer(new_order())):
        assert adapter.validate_json(adapter.dump_json(order)) == order


def test_use_cases_never_mutate_the_order_they_are_given() -> None:
    order = delivered()
    snapshot = TypeAdapter(Order).dump_json(order)
    ask_refund(order, RequestRefund("k"))
    apply(order, payment_refunded(100, fully=False), credit_note(), shipment_scanned(ShipmentStatus.EXCEPTION, 500))
    domain.time_out_order(new_order(), now=at(99), step_timeout=TIMEOUT)
    assert TypeAdapter(Order).dump_json(order) == snapshot
