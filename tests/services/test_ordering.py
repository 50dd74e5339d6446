"""ordering as a real process on the real broker: CreateOrder from a real carting cart, every saga
transition driven by the participants' events (published here as stocking, paying, billing and
shipping would), duplicates, the timeout sweep, a kill -9, every RPC and bad input.

The saga participants' own processes are not started: their events are published by the test, so
each transition is driven on purpose. Carting's callees (real cataloging, stocking and shipping, see
test_carting's `Callees`) run in a namespace of their own, so that stocking never hears these orders.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from administering.v1 import events_pb2 as admin_events
from billing.v1 import events_pb2 as billing_events
from billing.v1 import invoice_pb2
from carting.v1 import cart_service_pb2 as cart_api
from carting.v1.cart_service_pb2_grpc import CartServiceStub
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as api
from ordering.v1.order_service_pb2_grpc import OrderServiceStub
from paying.v1 import events_pb2 as paying_events
from shipping.v1 import events_pb2 as shipping_events
from shipping.v1 import shipment_pb2
from shop.common.v1.address_pb2 import Address
from shop.common.v1.paging_pb2 import PageRequest
from stocking.v1 import events_pb2 as stock_events

from services.runtime.inprocess import Service
from tests.contracts.consumers.ordering import place_order
from tests.services.support import HOME, Callees, eur, in_process, refused, start_platform
from tools.platform import Platform, as_customer

ORDERS, STOCK, PAYMENTS = "ordering.orders.v1", "stocking.reservations.v1", "paying.payments.v1"
INVOICES, SHIPMENTS, SETTINGS = "billing.invoices.v1", "shipping.shipments.v1", "administering.settings.v1"
TOPICS = (STOCK, PAYMENTS, INVOICES, SHIPMENTS)
Status = order_pb2.OrderStatus


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                schema_registry_url: str) -> AsyncIterator[tuple[Platform, Callees]]:
    """One ordering and one carting process (and carting's callees) for the module; each test has its own orders."""
    platform, callees = await start_platform(tmp_path_factory.mktemp("ordering"), kafka_bootstrap,
                                             schema_registry_url, "carting", "ordering", apart=True)
    try:
        yield platform, callees
    finally:
        await platform.close()
        await callees.stop()


@pytest.fixture(scope="module")
def platform(world: tuple[Platform, Callees]) -> Platform:
    return world[0]


@pytest.fixture(scope="module")
def orders(world: tuple[Platform, Callees]) -> Any:
    return world[0].stub("ordering", OrderServiceStub)


@pytest.fixture(scope="module")
def carts(world: tuple[Platform, Callees]) -> Any:
    return world[0].stub("carting", CartServiceStub)


class Shop:
    """A customer with a cart of their own, checking out through carting and ordering."""

    def __init__(self, world: tuple[Platform, Callees], carts: Any, orders: Any) -> None:
        self.platform, self.callees = world
        self.carts, self.orders = carts, orders
        self.customer = f"cus-{uuid.uuid4().hex[:8]}"
        self.sku = f"MUG-{uuid.uuid4().hex[:8].upper()}"

    @classmethod
    async def open(cls, world: tuple[Platform, Callees], carts: Any, orders: Any) -> Shop:
        shop = cls(world, carts, orders)
        await shop.callees.add_product(shop.sku, price=1250, weight=300, stock=100)
        return shop

    async def cart(self, quantity: int = 2) -> cart_api.Cart:
        cart = (await self.carts.CreateCart(cart_api.CreateCartRequest(customer_id=self.customer))).cart
        return (await self.carts.AddLine(cart_api.AddLineRequest(cart_id=cart.cart_id, sku=self.sku,
                                                                 quantity=quantity))).cart

    def request(self, cart_id: str, **changes: Any) -> api.CreateOrderRequest:
        fields: dict[str, Any] = {
            "cart_id": cart_id, "shipping_address": HOME, "payment_method": "card",
            "shipping_option_id": "colissimo.standard", "idempotency_key": str(uuid.uuid4()),
            "customer_email": "ada@example.com", **changes}
        return api.CreateOrderRequest(**fields)

    async def checkout(self, quantity: int = 2) -> order_pb2.Order:
        cart = await self.cart(quantity)
        order: order_pb2.Order = (await self.orders.CreateOrder(self.request(cart.cart_id),
                                                                metadata=as_customer(self.customer))).order
        return order

    async def order(self, order_id: str) -> order_pb2.Order:
        found: order_pb2.Order = (await self.orders.GetOrder(api.GetOrderRequest(order_id=order_id))).order
        return found

    async def until(self, order_id: str, status: int, within: float = 20) -> order_pb2.Order:
        name = Status.Name(status)  # type: ignore[arg-type]
        return await self.once(order_id, lambda o: o.status == status, f"status {name}", within)

    async def once(self, order_id: str, check: Callable[[order_pb2.Order], bool], what: str,
                   within: float = 20) -> order_pb2.Order:
        """The order once ordering has handled the events that make `check` true."""
        deadline = time.monotonic() + within
        while not check(order := await self.order(order_id)):
            assert time.monotonic() < deadline, f"no {what} after {within}s: {order}"
            await asyncio.sleep(0.2)
        return order

    async def events(self, order_id: str, kind: str, at_least: int = 1, within: float = 20) -> list[Any]:
        return [getattr(e, kind) for e in await self.platform.events(
            ORDERS, at_least=at_least, within=within,
            where=lambda e: e.metadata.aggregate_id == order_id and e.HasField(kind))]

    # --- the participants' events, as each would publish it ----------------------------------

    async def stock_reserved(self, order: order_pb2.Order) -> Any:
        return await self.platform.publish(STOCK, order.order_id, stock_reserved=stock_events.StockReserved(
            order_id=order.order_id, lines=[stock_events.StockLine(sku=line.sku, quantity=line.quantity)
                                            for line in order.lines]))

    async def stock_failed(self, order: order_pb2.Order) -> Any:
        line = order.lines[0]
        return await self.platform.publish(STOCK, order.order_id, stock_reservation_failed=(
            stock_events.StockReservationFailed(order_id=order.order_id, short_lines=[stock_events.ShortLine(
                sku=line.sku, requested=line.quantity, available=0, short_by=line.quantity,
                reason=stock_events.SHORTAGE_REASON_INSUFFICIENT_STOCK)])))

    async def stock_committed(self, order: order_pb2.Order) -> Any:
        return await self.platform.publish(STOCK, order.order_id,
                                           stock_committed=stock_events.StockCommitted(order_id=order.order_id))

    async def paid(self, order: order_pb2.Order) -> Any:
        return await self.platform.publish(PAYMENTS, order.order_id, payment_succeeded=paying_events.PaymentSucceeded(
            payment_id=f"pay-{order.order_id[:8]}", order_id=order.order_id, customer_id=order.customer_id,
            amount=order.totals.total, payment_method="card", captured_at=at(1)))

    async def payment_failed(self, order: order_pb2.Order) -> Any:
        return await self.platform.publish(PAYMENTS, order.order_id, payment_failed=paying_events.PaymentFailed(
            payment_id=f"pay-{order.order_id[:8]}", order_id=order.order_id, amount=order.totals.total,
            failure_code="declined", failure_message="card declined", failed_at=at(1)))

    async def refunded(self, order: order_pb2.Order, amount: int, refund_id: str, order_refund_id: str,
                       fully: bool) -> Any:
        return await self.platform.publish(PAYMENTS, order.order_id, payment_refunded=paying_events.PaymentRefunded(
            payment_id=f"pay-{order.order_id[:8]}", order_id=order.order_id, refund_id=refund_id,
            order_refund_id=order_refund_id, amount=eur(amount), fully_refunded=fully, refunded_at=at(10)))

    async def invoice(self, order: order_pb2.Order, kind: str) -> Any:
        invoice_id = f"inv-{order.order_id[:8]}"
        event: Any = {
            "invoice_drafted": billing_events.InvoiceDrafted(invoice_id=invoice_id, order_id=order.order_id,
                                                             drafted_at=at(1)),
            "invoice_finalized": billing_events.InvoiceFinalized(invoice_id=invoice_id, order_id=order.order_id,
                                                                 invoice_number="INV-2026-000001", issued_at=at(2)),
            "invoice_voided": billing_events.InvoiceVoided(invoice_id=invoice_id, order_id=order.order_id,
                                                           voided_at=at(2)),
        }[kind]
        return await self.platform.publish(INVOICES, order.order_id, **{kind: event})

    async def credit_note(self, order: order_pb2.Order, amount: int, order_refund_id: str) -> Any:
        return await self.platform.publish(INVOICES, order.order_id, credit_note_issued=(
            billing_events.CreditNoteIssued(
                credit_note_id=f"cn-{order_refund_id[:8]}", credit_note_number="CN-2026-000001",
                order_id=order.order_id, order_refund_id=order_refund_id, issued_at=at(11),
                totals=invoice_pb2.Totals(gross=eur(amount)))))

    async def shipped(self, order: order_pb2.Order) -> Any:
        return await self.platform.publish(SHIPMENTS, order.order_id, shipment_created=shipping_events.ShipmentCreated(
            shipment_id=f"sh-{order.order_id[:8]}", order_id=order.order_id, carrier_code="colissimo",
            tracking_number="6A12345678901", status=shipment_pb2.SHIPMENT_STATUS_LABEL_CREATED, created_at=at(3)))

    async def scanned(self, order: order_pb2.Order, status: int, seconds: int) -> Any:
        return await self.platform.publish(SHIPMENTS, order.order_id, shipment_status_changed=(
            shipping_events.ShipmentStatusChanged(
                shipment_id=f"sh-{order.order_id[:8]}", order_id=order.order_id, carrier_code="colissimo",
                status=status, location="Paris", occurred_at=at(seconds))))  # type: ignore[arg-type]

    async def delivered(self) -> order_pb2.Order:
        order = await self.checkout()
        await self.stock_reserved(order)
        await self.paid(order)
        await self.until(order.order_id, Status.ORDER_STATUS_CONFIRMED)  # shipping ships confirmed orders only
        await self.shipped(order)
        await self.scanned(order, shipment_pb2.SHIPMENT_STATUS_DELIVERED, 100)
        return await self.until(order.order_id, Status.ORDER_STATUS_DELIVERED)


def at(seconds: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds))
    return stamp


@pytest.fixture
async def shop(world: tuple[Platform, Callees], carts: Any, orders: Any) -> Shop:
    return await Shop.open(world, carts, orders)


async def test_create_order_stores_it_pending_publishes_order_created_and_closes_the_cart(shop: Shop) -> None:
    cart = await shop.cart(quantity=2)
    request = shop.request(cart.cart_id, expected_total=eur(3000 + 0))  # wrong on purpose: shipping is extra
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(request, metadata=as_customer(shop.customer))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not the EUR 30.00 shown" in (refused.value.details() or "")

    request = shop.request(cart.cart_id)
    order = (await shop.orders.CreateOrder(request, metadata=as_customer(shop.customer))).order
    assert (order.status, order.stock_state, order.payment_state, order.invoice_state) == (
        Status.ORDER_STATUS_PENDING, order_pb2.STOCK_STATE_PENDING, order_pb2.PAYMENT_STATE_PENDING,
        order_pb2.INVOICE_STATE_PENDING)
    assert order.order_number.startswith(f"ORD-{datetime.now(UTC).year}-")
    assert (order.customer_id, order.cart_id, order.payment_method, order.billing_address) == (
        shop.customer, cart.cart_id, "card", HOME)
    assert [(line.sku, line.quantity, line.line_total.amount_minor) for line in order.lines] == [(shop.sku, 2, 3000)]
    shipping = order.shipping_option
    assert (shipping.shipping_option_id, shipping.carrier_code, order.totals.shipping) == (
        "colissimo.standard", "colissimo", shipping.price)
    assert order.totals.total.amount_minor == 3000 + shipping.price.amount_minor

    [created] = await shop.events(order.order_id, "order_created")
    assert (created.order_number, created.cart_id, created.totals, list(created.lines)) == (
        order.order_number, cart.cart_id, order.totals, list(order.lines))
    closed = (await shop.carts.GetCart(cart_api.GetCartRequest(cart_id=cart.cart_id))).cart
    assert (closed.state, closed.order_id) == (cart_api.CART_STATE_CHECKED_OUT, order.order_id)

    # A retry with the same key is the same order; nothing is published again.
    again = (await shop.orders.CreateOrder(request, metadata=as_customer(shop.customer))).order
    assert again == order
    request.payment_method = "paypal"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(request, metadata=as_customer(shop.customer))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # the cart is closed: a new key cannot order it again
        await shop.orders.CreateOrder(shop.request(cart.cart_id), metadata=as_customer(shop.customer))
    assert (refused.value.code(), "already ordered" in (refused.value.details() or "")) == (
        grpc.StatusCode.FAILED_PRECONDITION, True)
    assert len(await shop.events(order.order_id, "order_created", within=1)) == 1
    [entry] = (await shop.orders.GetOrderTimeline(api.GetOrderTimelineRequest(order_id=order.order_id))).entries
    assert (entry.step, entry.source, entry.actor) == (api.TIMELINE_STEP_ORDER_CREATED, "ordering",
                                                       order_pb2.ACTOR_CUSTOMER)


async def test_checkout_refusals_that_depend_on_the_cart(shop: Shop) -> None:
    anonymous = (await shop.carts.CreateCart(cart_api.CreateCartRequest())).cart
    empty = (await shop.carts.CreateCart(cart_api.CreateCartRequest(customer_id=shop.customer))).cart
    stranger = await (await Shop.open((shop.platform, shop.callees), shop.carts, shop.orders)).cart()
    for cart_id, code, message in [
        (anonymous.cart_id, grpc.StatusCode.FAILED_PRECONDITION, "an anonymous cart cannot be checked out"),
        (empty.cart_id, grpc.StatusCode.FAILED_PRECONDITION, "the cart is empty"),
        (stranger.cart_id, grpc.StatusCode.NOT_FOUND, "no cart"),
        ("no-such-cart", grpc.StatusCode.NOT_FOUND, "carting: no cart 'no-such-cart'"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.orders.CreateOrder(shop.request(cart_id), metadata=as_customer(shop.customer))
        assert (refused.value.code(), message in (refused.value.details() or "")) == (code, True), refused.value
    mine = await shop.cart()
    wrong_option: list[tuple[dict[str, Any], grpc.StatusCode, str]] = [
        ({"shipping_option_id": "colissimo.teleport"}, grpc.StatusCode.FAILED_PRECONDITION,
         "shipping: no shipping option 'colissimo.teleport'"),
        ({"shipping_address": Address(full_name="A", line1="1 Main St", postal_code="0000", city="McMurdo",
                                      country_code="AQ")},
         grpc.StatusCode.FAILED_PRECONDITION, "shipping: shipping option colissimo.standard does not deliver to AQ"),
    ]
    for changes, code, message in wrong_option:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.orders.CreateOrder(shop.request(mine.cart_id, **changes), metadata=as_customer(shop.customer))
        assert (refused.value.code(), message in (refused.value.details() or "")) == (code, True), refused.value


# --------------------------------------------------------------------------------------- the saga


async def test_stock_and_payment_in_either_order_confirm_then_shipping_delivers(shop: Shop) -> None:
    first, second = await shop.checkout(), await shop.checkout()
    # Each event waits for the one before: they travel on different topics, so only that fixes their order.
    await shop.stock_reserved(first)
    await shop.once(first.order_id, lambda o: o.stock_state == order_pb2.STOCK_STATE_RESERVED, "reservation")
    await shop.invoice(first, "invoice_drafted")
    drafted = await shop.once(first.order_id, lambda o: o.invoice_state == order_pb2.INVOICE_STATE_DRAFTED, "draft")
    assert (drafted.status, drafted.invoice_id) == (Status.ORDER_STATUS_PENDING, f"inv-{first.order_id[:8]}")
    await shop.paid(first)
    await shop.paid(second)  # the other way round
    await shop.once(second.order_id, lambda o: o.payment_state == order_pb2.PAYMENT_STATE_CAPTURED, "capture")
    await shop.stock_reserved(second)
    for order in (first, second):
        confirmed = await shop.until(order.order_id, Status.ORDER_STATUS_CONFIRMED)
        assert (confirmed.payment_state, confirmed.payment_id, confirmed.version) == (
            order_pb2.PAYMENT_STATE_CAPTURED, f"pay-{order.order_id[:8]}", 4 if order is first else 3)
        [event] = await shop.events(order.order_id, "order_confirmed")
        assert (event.payment_id, event.total_weight_grams, list(event.lines)) == (
            confirmed.payment_id, 600, list(order.lines))

    await shop.stock_committed(first)
    await shop.once(first.order_id, lambda o: o.stock_state == order_pb2.STOCK_STATE_COMMITTED, "commit")
    await shop.invoice(first, "invoice_finalized")
    await shop.once(first.order_id, lambda o: o.invoice_state == order_pb2.INVOICE_STATE_FINALIZED, "final invoice")
    await shop.shipped(first)
    shipped = await shop.until(first.order_id, Status.ORDER_STATUS_SHIPPED)
    assert (shipped.shipment_id, shipped.tracking_number, shipped.carrier_code, shipped.invoice_number) == (
        f"sh-{first.order_id[:8]}", "6A12345678901", "colissimo", "INV-2026-000001")
    await shop.scanned(first, shipment_pb2.SHIPMENT_STATUS_IN_TRANSIT, 50)
    await shop.scanned(first, shipment_pb2.SHIPMENT_STATUS_DELIVERED, 100)
    delivered = await shop.until(first.order_id, Status.ORDER_STATUS_DELIVERED)
    assert delivered.delivered_at == at(100)
    timeline = (await shop.orders.GetOrderTimeline(api.GetOrderTimelineRequest(order_id=first.order_id))).entries
    assert [entry.step for entry in timeline] == [
        api.TIMELINE_STEP_ORDER_CREATED, api.TIMELINE_STEP_STOCK_RESERVED, api.TIMELINE_STEP_INVOICE_DRAFTED,
        api.TIMELINE_STEP_PAYMENT_SUCCEEDED, api.TIMELINE_STEP_ORDER_CONFIRMED, api.TIMELINE_STEP_STOCK_COMMITTED,
        api.TIMELINE_STEP_INVOICE_FINALIZED, api.TIMELINE_STEP_SHIPMENT_CREATED, api.TIMELINE_STEP_ORDER_SHIPPED,
        api.TIMELINE_STEP_SHIPMENT_STATUS_CHANGED, api.TIMELINE_STEP_SHIPMENT_STATUS_CHANGED,
        api.TIMELINE_STEP_ORDER_DELIVERED]
    total = first.totals.total.amount_minor
    assert (timeline[1].source, timeline[3].detail) == ("stocking", f"captured EUR {total // 100}.{total % 100:02d}")
    assert timeline[1].event_id and timeline[-1].status_after == Status.ORDER_STATUS_DELIVERED


async def test_every_event_delivered_twice_changes_nothing_the_second_time(shop: Shop) -> None:
    order = await shop.checkout()
    steps: list[tuple[str, Callable[[order_pb2.Order], Any], Callable[[order_pb2.Order], bool]]] = [
        (STOCK, shop.stock_reserved, lambda o: o.stock_state == order_pb2.STOCK_STATE_RESERVED),
        (PAYMENTS, shop.paid, lambda o: o.status == Status.ORDER_STATUS_CONFIRMED),
        (STOCK, shop.stock_committed, lambda o: o.stock_state == order_pb2.STOCK_STATE_COMMITTED),
        (INVOICES, lambda o: shop.invoice(o, "invoice_drafted"), lambda o: bool(o.invoice_id)),
        (INVOICES, lambda o: shop.invoice(o, "invoice_finalized"), lambda o: bool(o.invoice_number)),
        (SHIPMENTS, shop.shipped, lambda o: o.status == Status.ORDER_STATUS_SHIPPED),
        (SHIPMENTS, lambda o: shop.scanned(o, shipment_pb2.SHIPMENT_STATUS_DELIVERED, 100),
         lambda o: o.status == Status.ORDER_STATUS_DELIVERED),
    ]
    for topic, publish, done in steps:
        sent = await publish(order)
        await shop.platform.publish(topic, order.order_id, **{sent.WhichOneof("event"): getattr(
            sent, sent.WhichOneof("event"))})  # the same event re-published under a new event id
        await asyncio.to_thread(shop.platform.produce_envelope, topic, sent)  # and the very same envelope again
        before = await shop.once(order.order_id, done, "the step")
        await shop.platform.drained("ordering", *TOPICS)
        assert await shop.order(order.order_id) == before
    after = await shop.order(order.order_id)
    # One version per step: created, reserved, paid (and confirmed), committed, drafted, final, shipped, delivered.
    assert (after.status, after.version) == (Status.ORDER_STATUS_DELIVERED, 8)
    assert len(await shop.events(order.order_id, "order_confirmed", within=1)) == 1
    assert not await shop.events(order.order_id, "order_cancelled", at_least=0, within=0)
    timeline = (await shop.orders.GetOrderTimeline(api.GetOrderTimelineRequest(order_id=order.order_id))).entries
    assert len(timeline) == 11


async def test_stock_that_cannot_be_reserved_cancels_the_order_and_a_late_payment_is_given_back(shop: Shop) -> None:
    order = await shop.checkout()
    await shop.stock_failed(order)
    cancelled = await shop.until(order.order_id, Status.ORDER_STATUS_CANCELLED)
    assert (cancelled.stock_state, cancelled.cancellation.reason, cancelled.cancellation.cancelled_by) == (
        order_pb2.STOCK_STATE_FAILED, order_pb2.CANCELLATION_REASON_OUT_OF_STOCK, order_pb2.ACTOR_SYSTEM)
    assert f"SKU {shop.sku}: 2 asked, 0 available" in cancelled.cancellation.note
    [event] = await shop.events(order.order_id, "order_cancelled")
    assert (event.reason, event.previous_status, list(event.lines), event.totals) == (
        order_pb2.CANCELLATION_REASON_OUT_OF_STOCK, Status.ORDER_STATUS_PENDING, list(order.lines), order.totals)
    await shop.stock_failed(order)  # a duplicate: nothing more
    await shop.paid(order)  # captured after the cancellation: the cancellation is sent again for the refund
    second = await shop.events(order.order_id, "order_cancelled", at_least=2)
    assert len(second) == 2 and second[1] == second[0]
    await shop.paid(order)
    await shop.platform.drained("ordering", *TOPICS)
    assert len(await shop.events(order.order_id, "order_cancelled", within=1)) == 2

    failed = await shop.checkout()
    await shop.stock_reserved(failed)
    await shop.payment_failed(failed)
    cancelled = await shop.until(failed.order_id, Status.ORDER_STATUS_CANCELLED)
    assert (cancelled.payment_state, cancelled.cancellation.reason) == (
        order_pb2.PAYMENT_STATE_FAILED, order_pb2.CANCELLATION_REASON_PAYMENT_FAILED)
    assert len(await shop.events(failed.order_id, "order_cancelled")) == 1


async def test_cancel_order_by_the_customer_or_staff(shop: Shop) -> None:
    pending, confirmed, shipped = await shop.checkout(), await shop.checkout(), await shop.checkout()
    me = as_customer(shop.customer)
    request = api.CancelOrderRequest(order_id=pending.order_id, reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST,
                                     note="changed my mind")
    cancelled = (await shop.orders.CancelOrder(request, metadata=me)).order
    assert (cancelled.status, cancelled.cancellation.cancelled_by, cancelled.cancellation.note) == (
        Status.ORDER_STATUS_CANCELLED, order_pb2.ACTOR_CUSTOMER, "changed my mind")
    assert (await shop.orders.CancelOrder(request, metadata=me)).order == cancelled  # again: unchanged
    [event] = await shop.events(pending.order_id, "order_cancelled")
    assert (event.cancelled_by, event.previous_status) == (order_pb2.ACTOR_CUSTOMER, Status.ORDER_STATUS_PENDING)
    await shop.stock_reserved(pending)  # reserved after all: the release is asked again
    assert len(await shop.events(pending.order_id, "order_cancelled", at_least=2)) == 2

    for order in (confirmed, shipped):
        await shop.stock_reserved(order)
        await shop.paid(order)
        await shop.until(order.order_id, Status.ORDER_STATUS_CONFIRMED)
    await shop.shipped(shipped)
    await shop.scanned(shipped, shipment_pb2.SHIPMENT_STATUS_PICKED_UP, 4)  # the carrier has it now
    timeline = api.GetOrderTimelineRequest(order_id=shipped.order_id)
    deadline = time.monotonic() + 20
    while api.TIMELINE_STEP_SHIPMENT_STATUS_CHANGED not in [
            e.step for e in (await shop.orders.GetOrderTimeline(timeline)).entries]:
        assert time.monotonic() < deadline, "ordering never heard of the pick-up"
        await asyncio.sleep(0.2)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CancelOrder(api.CancelOrderRequest(
            order_id=confirmed.order_id, reason=order_pb2.CANCELLATION_REASON_FRAUD_SUSPECTED), metadata=me)
    assert (refused.value.code(), refused.value.details()) == (
        grpc.StatusCode.PERMISSION_DENIED, "a customer can only cancel with reason CUSTOMER_REQUEST")
    by_staff = (await shop.orders.CancelOrder(api.CancelOrderRequest(
        order_id=confirmed.order_id, reason=order_pb2.CANCELLATION_REASON_FRAUD_SUSPECTED, note="stolen card"))).order
    assert (by_staff.cancellation.cancelled_by, by_staff.cancellation.previous_status) == (
        order_pb2.ACTOR_STAFF, Status.ORDER_STATUS_CONFIRMED)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CancelOrder(api.CancelOrderRequest(
            order_id=shipped.order_id, reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST), metadata=me)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ask for a refund once it is delivered" in (refused.value.details() or "")


async def test_refunds_after_delivery_complete_on_paying_and_billing_events(shop: Shop) -> None:
    order = await shop.delivered()
    me = as_customer(shop.customer)
    ask = api.RequestRefundRequest(order_id=order.order_id, idempotency_key="rk-1", reason="chipped",
                                   lines=[api.RefundLineSelection(sku=shop.sku, quantity=1)])
    answer = await shop.orders.RequestRefund(ask, metadata=me)
    refund = answer.refund
    assert (refund.status, refund.amount.amount_minor, refund.full, refund.requested_by) == (
        order_pb2.REFUND_STATUS_REQUESTED, 1500, False, order_pb2.ACTOR_CUSTOMER)
    assert (await shop.orders.RequestRefund(ask, metadata=me)).refund == refund  # same key: same refund
    [requested] = await shop.events(order.order_id, "order_refund_requested")
    assert (requested.refund_id, requested.amount.amount_minor, [(x.sku, x.quantity) for x in requested.lines]) == (
        refund.refund_id, 1500, [(shop.sku, 1)])

    await shop.refunded(order, 1500, "pr-1", refund.refund_id, fully=False)
    await shop.credit_note(order, 1500, refund.refund_id)
    partly = await shop.once(order.order_id, lambda o: bool(o.refunds[0].credit_note_id)
                             and o.status == Status.ORDER_STATUS_PARTIALLY_REFUNDED, "refund and credit note")
    assert (partly.refunds[0].status, partly.refunds[0].payment_refund_id, partly.totals.refunded.amount_minor) == (
        order_pb2.REFUND_STATUS_COMPLETED, "pr-1", 1500)
    assert (partly.invoice_state, partly.refunds[0].credit_note_id, partly.lines[0].refunded_quantity) == (
        order_pb2.INVOICE_STATE_CREDITED, f"cn-{refund.refund_id[:8]}", 1)

    rest = (await shop.orders.RequestRefund(api.RequestRefundRequest(order_id=order.order_id,
                                                                     idempotency_key="rk-2"))).refund
    left = order.totals.total.amount_minor - 1500
    assert (rest.amount.amount_minor, rest.full, rest.requested_by) == (left, True, order_pb2.ACTOR_STAFF)
    await shop.refunded(order, left, "pr-2", rest.refund_id, fully=True)
    refunded = await shop.until(order.order_id, Status.ORDER_STATUS_REFUNDED)
    assert refunded.payment_state == order_pb2.PAYMENT_STATE_REFUNDED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.RequestRefund(api.RequestRefundRequest(order_id=order.order_id, idempotency_key="rk-3",
                                                                 amount=eur(1)))
    assert (refused.value.code(), refused.value.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION, f"nothing is left to refund on order {order.order_number}")


async def test_order_history_staff_listing_and_who_sees_what(shop: Shop) -> None:
    placed = [await shop.checkout() for _ in range(3)]
    me = as_customer(shop.customer)
    page = await shop.orders.ListCustomerOrders(api.ListCustomerOrdersRequest(
        customer_id=shop.customer, page=PageRequest(page_size=2)), metadata=me)
    assert [o.order_id for o in page.orders] == [placed[2].order_id, placed[1].order_id]
    assert page.page.total_size == 3 and page.page.next_page_token
    rest = await shop.orders.ListCustomerOrders(api.ListCustomerOrdersRequest(
        customer_id=shop.customer, page=PageRequest(page_size=2, page_token=page.page.next_page_token)), metadata=me)
    assert ([o.order_id for o in rest.orders], rest.page.next_page_token) == ([placed[0].order_id], "")

    await shop.stock_failed(placed[0])
    await shop.until(placed[0].order_id, Status.ORDER_STATUS_CANCELLED)
    staff = await shop.orders.ListOrders(api.ListOrdersRequest(
        customer_id=shop.customer, statuses=[Status.ORDER_STATUS_PENDING]))
    assert [o.order_id for o in staff.orders] == [placed[2].order_id, placed[1].order_id]
    by_number = await shop.orders.ListOrders(api.ListOrdersRequest(order_number=placed[1].order_number))
    assert [o.order_id for o in by_number.orders] == [placed[1].order_id]
    after = Timestamp()
    after.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    assert not (await shop.orders.ListOrders(api.ListOrdersRequest(customer_id=shop.customer,
                                                                   created_after=after))).orders

    # Another customer's orders answer as if they did not exist; listing every order is staff's.
    stranger = as_customer("cus-stranger")
    for call, code in [
        (shop.orders.GetOrder(api.GetOrderRequest(order_id=placed[0].order_id), metadata=stranger),
         grpc.StatusCode.NOT_FOUND),
        (shop.orders.GetOrderTimeline(api.GetOrderTimelineRequest(order_id=placed[0].order_id), metadata=stranger),
         grpc.StatusCode.NOT_FOUND),
        (shop.orders.CancelOrder(api.CancelOrderRequest(
            order_id=placed[1].order_id, reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST), metadata=stranger),
         grpc.StatusCode.NOT_FOUND),
        (shop.orders.ListCustomerOrders(api.ListCustomerOrdersRequest(customer_id=shop.customer), metadata=stranger),
         grpc.StatusCode.NOT_FOUND),
        (shop.orders.ListOrders(api.ListOrdersRequest(), metadata=me), grpc.StatusCode.PERMISSION_DENIED),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == code, refused.value.details()


async def test_an_order_in_the_middle_of_its_saga_survives_a_kill_9(shop: Shop) -> None:
    order = await shop.checkout()
    await shop.stock_reserved(order)
    await shop.once(order.order_id, lambda o: o.stock_state == order_pb2.STOCK_STATE_RESERVED, "reservation")
    shop.platform.kill("ordering")
    await shop.paid(order)  # while ordering is down
    await shop.platform.start("ordering")
    assert (await shop.until(order.order_id, Status.ORDER_STATUS_CONFIRMED)).version == 3
    assert len(await shop.events(order.order_id, "order_confirmed")) == 1


async def test_the_timeout_sweep_cancels_a_stalled_order(shop: Shop) -> None:
    """Last in the module: while the timeout is short, any PENDING order times out."""

    async def step_timeout(seconds: int, version: int) -> None:
        await shop.platform.publish(SETTINGS, "saga.step_timeout", setting_changed=admin_events.SettingChanged(
            name="saga.step_timeout", value=admin_events.SettingValue(duration_value=Duration(seconds=seconds)),
            changed_by="admin-1", version=version))

    await step_timeout(2, 1)
    try:
        stalled = await shop.checkout()
        cancelled = await shop.until(stalled.order_id, Status.ORDER_STATUS_CANCELLED, within=30)
        assert (cancelled.cancellation.reason, cancelled.cancellation.cancelled_by) == (
            order_pb2.CANCELLATION_REASON_TIMED_OUT, order_pb2.ACTOR_SYSTEM)
        assert cancelled.cancellation.note == "no answer from stocking and paying within 2 s"
        [event] = await shop.events(stalled.order_id, "order_cancelled")
        assert event.reason == order_pb2.CANCELLATION_REASON_TIMED_OUT
    finally:
        await step_timeout(30, 2)


# ------------------------------------------------------------------------------------- bad input


def _bad_requests() -> list[tuple[str, Any, tuple[tuple[str, str], ...], grpc.StatusCode, str]]:
    invalid, missing = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    me, nowhere = as_customer("cus-bad"), str(uuid.uuid4())

    def create(**changes: Any) -> api.CreateOrderRequest:
        fields: dict[str, Any] = {"cart_id": "cart-1", "shipping_address": HOME, "payment_method": "card",
                                  "shipping_option_id": "colissimo.standard", "idempotency_key": "k-1",
                                  "customer_email": "ada@example.com", **changes}
        return api.CreateOrderRequest(**{k: v for k, v in fields.items() if v is not None})

    def address(**changes: str) -> Address:
        changed = Address()
        changed.CopyFrom(HOME)
        for name, value in changes.items():
            setattr(changed, name, value)
        return changed

    return [
        ("CreateOrder", create(), (), grpc.StatusCode.UNAUTHENTICATED, "an order is placed for a signed-in customer"),
        ("CreateOrder", create(cart_id=""), me, invalid, "cart id is required"),
        ("CreateOrder", create(idempotency_key=""), me, invalid, "idempotency key is required"),
        ("CreateOrder", create(customer_email="nobody"), me, invalid, "'nobody' is not an e-mail address"),
        ("CreateOrder", create(shipping_address=None), me, invalid,
         "shipping address is missing: full name, line1, postal code, city, country code"),
        ("CreateOrder", create(shipping_address=address(city=" ")), me, invalid, "shipping address is missing: city"),
        ("CreateOrder", create(shipping_address=address(country_code="fr")), me, invalid,
         "country code must be two upper-case letters"),
        ("CreateOrder", create(billing_address=Address(full_name="Ada")), me, invalid, "billing address is missing"),
        ("CreateOrder", create(payment_method="cash"), me, invalid,
         "payment method must be one of card, paypal, bank_transfer, got 'cash'"),
        ("CreateOrder", create(shipping_option_id=""), me, invalid, "a shipping option is required"),
        ("GetOrder", api.GetOrderRequest(), (), invalid, "order id is required"),
        ("GetOrder", api.GetOrderRequest(order_id=nowhere), (), missing, f"no order '{nowhere}'"),
        ("GetOrderTimeline", api.GetOrderTimelineRequest(), (), invalid, "order id is required"),
        ("GetOrderTimeline", api.GetOrderTimelineRequest(order_id=nowhere), (), missing, "no order"),
        ("ListCustomerOrders", api.ListCustomerOrdersRequest(), (), invalid, "customer id is required"),
        ("ListCustomerOrders", api.ListCustomerOrdersRequest(customer_id="c", page=PageRequest(page_size=-1)), (),
         invalid, "page_size must be 0 (the default) or more, got -1"),
        ("ListCustomerOrders", api.ListCustomerOrdersRequest(customer_id="c", page=PageRequest(page_token="zz")), (),
         invalid, "page_token 'zz' is not one this list issued for these filters and this order"),
        ("ListOrders", api.ListOrdersRequest(statuses=[Status.ORDER_STATUS_UNSPECIFIED]), (), invalid,
         "status filter must be one of PENDING"),
        ("ListOrders", api.ListOrdersRequest(statuses=[42]), (), invalid, "got 42"),  # type: ignore[list-item]
        ("ListOrders", api.ListOrdersRequest(created_after=at(10), created_before=at(5)), (), invalid,
         "created_before must be after created_after"),
        ("ListOrders", api.ListOrdersRequest(page=PageRequest(page_size=-5)), (), invalid,
         "page_size must be 0 (the default) or more"),
        ("CancelOrder", api.CancelOrderRequest(reason=order_pb2.CANCELLATION_REASON_STAFF_DECISION), (), invalid,
         "order id is required"),
        ("CancelOrder", api.CancelOrderRequest(order_id=nowhere, reason=order_pb2.CANCELLATION_REASON_STAFF_DECISION),
         (), missing, "no order"),
        ("CancelOrder", api.CancelOrderRequest(order_id="{order}"), (), invalid, "a cancellation reason is required"),
        ("CancelOrder", api.CancelOrderRequest(order_id="{order}", reason=order_pb2.CANCELLATION_REASON_TIMED_OUT), (),
         invalid, "cancellation reason TIMED_OUT is set by the checkout itself"),
        ("CancelOrder", api.CancelOrderRequest(order_id="{order}", reason=99), (), invalid,  # type: ignore[arg-type]
         "cancellation reason must be one of"),
        ("RequestRefund", api.RequestRefundRequest(idempotency_key="k"), (), invalid, "order id is required"),
        ("RequestRefund", api.RequestRefundRequest(order_id=nowhere, idempotency_key="k"), (), missing, "no order"),
        ("RequestRefund", api.RequestRefundRequest(order_id="{order}"), (), invalid, "idempotency key is required"),
        ("RequestRefund", api.RequestRefundRequest(order_id="{order}", idempotency_key="k", amount=eur(5), lines=[
            api.RefundLineSelection(sku="A", quantity=1)]), (), invalid, "give either lines or an amount"),
        ("RequestRefund", api.RequestRefundRequest(order_id="{order}", idempotency_key="k"), (),
         grpc.StatusCode.FAILED_PRECONDITION, "only a delivered order can be refunded"),
    ]


@pytest.mark.parametrize(("method", "request_", "metadata", "code", "message"), _bad_requests(),
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(_bad_requests())])
async def test_bad_input_is_refused_with_a_readable_status(
        local: tuple[Service, Any, str], method: str, request_: Any, metadata: Any, code: grpc.StatusCode,
        message: str) -> None:
    service, orders, pending_order_id = local
    if getattr(request_, "order_id", None) == "{order}":
        request_.order_id = pending_order_id
    await refused(getattr(orders, method)(request_, metadata=metadata), code, message, by=service)


@pytest.fixture(scope="module")
async def local(schema_registry_url: str) -> AsyncIterator[tuple[Service, Any, str]]:
    """Ordering in this process with one pending order, carting and shipping answering as ordering's contracts
    with them say: the bad-input table needs no broker."""
    async with in_process("ordering", schema_registry_url) as (service, channel):
        yield service, OrderServiceStub(channel), await place_order(service)


def test_the_bad_input_table_covers_every_rpc() -> None:
    rpcs = set(api.DESCRIPTOR.services_by_name["OrderService"].methods_by_name)
    assert {method for method, *_ in _bad_requests()} == rpcs
