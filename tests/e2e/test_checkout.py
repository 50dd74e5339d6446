"""The checkout end to end: the nine services as real processes on the real broker and registry,
driven through gRPC only. Each test asserts the final state of every service the order touched:
stock, payments, invoices, shipments.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from billing.v1 import billing_service_pb2 as billing_api
from billing.v1 import invoice_pb2
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from paying.v1 import payment_pb2
from pypdf import PdfReader
from shipping.v1 import shipment_pb2

from services.runtime.dlq import read_all
from tools.platform import Platform
from tools.shop import HOME, Shop, Shopper, Status, eventually, settled, stock_of

S = shipment_pb2
SAGA_TOPICS = ("ordering.orders.v1", "stocking.reservations.v1", "paying.payments.v1", "billing.invoices.v1",
               "shipping.shipments.v1")


@pytest.fixture(scope="module")
async def shop(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
               schema_registry_url: str) -> AsyncIterator[Shop]:
    platform = Platform(tmp_path_factory.mktemp("e2e"), kafka_bootstrap, schema_registry_url,
                        f"e2e{tmp_path_factory.getbasetemp().name[-6:]}")
    try:
        yield await Shop.open(platform)
    finally:
        await platform.close()


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-"), data[:20]
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)




async def test_happy_path_cart_to_delivered_with_invoice_and_label(shop: Shop) -> None:
    teapot = await shop.product(price=2490, stock=10)
    shopper = await shop.shopper()
    order = await shopper.checkout({teapot: 2})
    assert order.status == Status.ORDER_STATUS_PENDING

    confirmed = await shop.until(order.order_id, lambda o: o.status == Status.ORDER_STATUS_SHIPPED
                                 and o.invoice_state == order_pb2.INVOICE_STATE_FINALIZED
                                 and o.stock_state == order_pb2.STOCK_STATE_COMMITTED, "shipped, invoiced, committed")
    assert confirmed.payment_state == order_pb2.PAYMENT_STATE_CAPTURED
    total = order.totals.total.amount_minor

    [payment] = await shop.payments_of(order.order_id)
    assert (payment.status, payment.captured_amount.amount_minor) == (payment_pb2.PAYMENT_STATUS_CAPTURED, total)
    invoice = await shop.invoice(order.order_id)
    assert invoice.status == invoice_pb2.INVOICE_STATUS_FINAL
    assert invoice.invoice_number.startswith("INV-") and invoice.invoice_number == confirmed.invoice_number
    assert invoice.totals.gross.amount_minor == total
    text = pdf_text(await shop.invoice_pdf(invoice.invoice_id))
    for shown in (invoice.invoice_number, order.order_number, "Ada Lovelace", "1 rue de la Paix", "Teapot"):
        assert shown in text, shown

    shipment = await shop.shipment(order.order_id)
    assert (shipment.status, shipment.tracking_number) == (S.SHIPMENT_STATUS_LABEL_CREATED,
                                                           confirmed.tracking_number)
    assert shipment.tracking_number in pdf_text(await shop.label_pdf(shipment.shipment_id))
    assert stock_of(await shop.level(teapot)) == (8, 0, 8)

    for status in (S.SHIPMENT_STATUS_PICKED_UP, S.SHIPMENT_STATUS_IN_TRANSIT, S.SHIPMENT_STATUS_OUT_FOR_DELIVERY,
                   S.SHIPMENT_STATUS_DELIVERED):
        await shop.scan(shipment, status)
    delivered = await shop.until(order.order_id, Status.ORDER_STATUS_DELIVERED)
    steps = [e.step for e in (await shop.orders.GetOrderTimeline(order_api.GetOrderTimelineRequest(
        order_id=order.order_id))).entries]
    for step in ("ORDER_CREATED", "STOCK_RESERVED", "PAYMENT_SUCCEEDED", "ORDER_CONFIRMED", "STOCK_COMMITTED",
                 "INVOICE_FINALIZED", "SHIPMENT_CREATED", "ORDER_DELIVERED"):
        assert order_api.TimelineStep.Value(f"TIMELINE_STEP_{step}") in steps, step
    assert delivered.delivered_at.seconds > 0


async def test_stock_that_cannot_be_reserved_cancels_and_undoes_payment_and_invoice(shop: Shop) -> None:
    for _attempt in range(5):
        last_one = await shop.product(price=1500, stock=1)
        shoppers = [await shop.shopper(), await shop.shopper()]
        carts = [await shopper.cart({last_one: 1}) for shopper in shoppers]
        # Both carts saw the unit available; only one order can have it. When the first order's
        # reservation lands before the second CreateOrder reads its cart, that order is refused at
        # once instead (no saga to undo): try again with a new product.
        placed = await asyncio.gather(*(shopper.place(cart) for shopper, cart in zip(shoppers, carts, strict=True)),
                                      return_exceptions=True)
        refused = [p for p in placed if isinstance(p, grpc.aio.AioRpcError)]
        assert all(r.code() == grpc.StatusCode.FAILED_PRECONDITION and "out of stock" in (r.details() or "")
                   for r in refused), refused
        if not refused:
            break
    else:
        raise AssertionError("the second order never got past its cart check in 5 attempts")
    orders = [p for p in placed if not isinstance(p, BaseException)]
    outcomes = [await shop.until(o.order_id, lambda o: o.status in (Status.ORDER_STATUS_SHIPPED,
                                                                     Status.ORDER_STATUS_CANCELLED), "an outcome")
                for o in orders]
    [won] = [o for o in outcomes if o.status == Status.ORDER_STATUS_SHIPPED]
    [lost] = [o for o in outcomes if o.status == Status.ORDER_STATUS_CANCELLED]
    assert lost.cancellation.reason == order_pb2.CANCELLATION_REASON_OUT_OF_STOCK
    lost = await shop.until(lost.order_id, lambda o: o.payment_state in (order_pb2.PAYMENT_STATE_VOIDED,
                                                                           order_pb2.PAYMENT_STATE_REFUNDED)
                            and o.invoice_state == order_pb2.INVOICE_STATE_VOIDED, "payment and invoice undone")
    [payment] = await shop.payments_of(lost.order_id)
    assert payment.status in (payment_pb2.PAYMENT_STATUS_VOIDED, payment_pb2.PAYMENT_STATUS_REFUNDED)
    assert payment.captured_amount.amount_minor == payment.refunded_amount.amount_minor  # nothing kept
    assert (await shop.invoice(lost.order_id)).status == invoice_pb2.INVOICE_STATUS_VOID
    assert (await shop.invoice(won.order_id)).status == invoice_pb2.INVOICE_STATUS_FINAL
    assert stock_of(await shop.level(last_one)) == (0, 0, 0)  # the one unit, sold once


async def test_customer_cancels_before_pickup_gets_stock_back_refund_and_credit_note(shop: Shop) -> None:
    kettle = await shop.product(price=3990, stock=5)
    shopper = await shop.shopper()
    order = await shopper.checkout({kettle: 2})
    await shop.until(order.order_id, lambda o: o.status == Status.ORDER_STATUS_SHIPPED
                     and o.invoice_state == order_pb2.INVOICE_STATE_FINALIZED, "shipped and invoiced")
    assert (await shopper.cancel(order.order_id)).status == Status.ORDER_STATUS_CANCELLED

    undone = await shop.until(order.order_id, lambda o: o.payment_state == order_pb2.PAYMENT_STATE_REFUNDED
                              and o.invoice_state == order_pb2.INVOICE_STATE_CREDITED
                              and o.stock_state == order_pb2.STOCK_STATE_RELEASED, "refunded, credited, released")
    [payment] = await shop.payments_of(order.order_id)
    assert (payment.status, payment.refunded_amount.amount_minor) == (payment_pb2.PAYMENT_STATUS_REFUNDED,
                                                                      undone.totals.total.amount_minor)
    invoice = await shop.invoice(order.order_id)
    [note] = (await shop.billing.ListCreditNotes(billing_api.ListCreditNotesRequest(
        invoice_id=invoice.invoice_id))).credit_notes
    assert note.totals.gross.amount_minor == undone.totals.total.amount_minor
    shipment = await eventually(lambda: shop.shipment(order.order_id),
                                lambda s: s.status == S.SHIPMENT_STATUS_CANCELLED, "shipment cancelled")
    assert shipment.cancellation_reason
    assert stock_of(await shop.level(kettle)) == (5, 0, 5)


async def test_refunds_after_delivery_partial_then_the_rest(shop: Shop) -> None:
    mug = await shop.product(price=1000, stock=10, tax_class="reduced")
    shopper = await shop.shopper()
    order = await shopper.checkout({mug: 3})
    await shop.until(order.order_id, Status.ORDER_STATUS_SHIPPED)
    shipment = await shop.shipment(order.order_id)
    for status in (S.SHIPMENT_STATUS_PICKED_UP, S.SHIPMENT_STATUS_DELIVERED):
        await shop.scan(shipment, status)
    await shop.until(order.order_id, Status.ORDER_STATUS_DELIVERED)

    await shop.orders.RequestRefund(order_api.RequestRefundRequest(
        order_id=order.order_id, idempotency_key="chipped", reason="one arrived chipped",
        lines=[order_api.RefundLineSelection(sku=mug, quantity=1)]), metadata=shopper.me)
    partly = await shop.until(order.order_id, Status.ORDER_STATUS_PARTIALLY_REFUNDED)
    [payment] = await shop.payments_of(order.order_id)
    assert (payment.status, payment.refunded_amount.amount_minor) == (
        payment_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED, partly.totals.refunded.amount_minor)

    await shop.orders.RequestRefund(order_api.RequestRefundRequest(order_id=order.order_id, idempotency_key="rest"))
    refunded = await shop.until(order.order_id, lambda o: o.status == Status.ORDER_STATUS_REFUNDED
                                and all(r.credit_note_id for r in o.refunds), "refunded with credit notes")
    [payment] = await shop.payments_of(order.order_id)
    assert (payment.status, payment.refunded_amount.amount_minor) == (
        payment_pb2.PAYMENT_STATUS_REFUNDED, order.totals.total.amount_minor)
    notes = (await shop.billing.ListCreditNotes(billing_api.ListCreditNotesRequest(
        invoice_id=refunded.invoice_id))).credit_notes
    assert sum(n.totals.gross.amount_minor for n in notes) == order.totals.total.amount_minor
    assert len(notes) == 2
    assert stock_of(await shop.level(mug)) == (7, 0, 7)  # refunded goods are not back until staff count them in


async def test_stocking_killed_in_the_middle_of_a_checkout_confirms_it_once_after_restart(shop: Shop) -> None:
    lamp = await shop.product(price=5900, stock=4)
    shopper = await shop.shopper()
    order = await shopper.checkout({lamp: 1})
    shop.platform.kill("stocking")  # kill -9, wherever it was in handling OrderCreated
    await shop.until(order.order_id, lambda o: o.payment_state == order_pb2.PAYMENT_STATE_CAPTURED, "payment")
    await shop.platform.start("stocking")
    await shop.until(order.order_id, lambda o: o.status == Status.ORDER_STATUS_SHIPPED
                     and o.stock_state == order_pb2.STOCK_STATE_COMMITTED, "shipped and committed")
    confirmations = await shop.platform.events(
        "ordering.orders.v1", within=2, at_least=2,
        where=lambda e: e.WhichOneof("event") == "order_confirmed" and e.metadata.aggregate_id == order.order_id)
    assert len(confirmations) == 1
    assert stock_of(await shop.level(lamp)) == (3, 0, 3)


async def test_a_reservation_that_expires_before_payment_cancels_and_undoes_everything(shop: Shop) -> None:
    await shop.step_timeout(600)  # the expiry, not the saga's own timeout, must be what cancels
    vase = await shop.product(price=2200, stock=6)
    shopper = await shop.shopper()
    shop.platform.kill("paying")
    try:
        order = await shopper.checkout({vase: 2})
        await shop.until(order.order_id, lambda o: o.stock_state == order_pb2.STOCK_STATE_RESERVED, "stock reserved")
        assert stock_of(await shop.level(vase)) == (6, 2, 4)
        # Stocking's clock moved past the reservation's time-to-live (15 minutes by default).
        shop.platform.kill("stocking")
        await shop.platform.start("stocking", STOCKING_CLOCK_OFFSET_SECONDS=str(16 * 60))
        cancelled = await shop.until(order.order_id, Status.ORDER_STATUS_CANCELLED)
        assert (cancelled.cancellation.reason, cancelled.stock_state) == (
            order_pb2.CANCELLATION_REASON_TIMED_OUT, order_pb2.STOCK_STATE_RELEASED)
        assert "expired" in cancelled.cancellation.note
    finally:
        await shop.platform.start("paying")
        await shop.step_timeout(30)
    # Paying, back, sees OrderCreated then OrderCancelled: whatever it took, it gives back.
    await shop.until(order.order_id, lambda o: o.payment_state in (order_pb2.PAYMENT_STATE_VOIDED,
                                                                     order_pb2.PAYMENT_STATE_REFUNDED)
                     and o.invoice_state == order_pb2.INVOICE_STATE_VOIDED, "payment and invoice undone")
    [payment] = await shop.payments_of(order.order_id)
    assert payment.captured_amount.amount_minor == payment.refunded_amount.amount_minor
    assert (await shop.invoice(order.order_id)).status == invoice_pb2.INVOICE_STATUS_VOID
    assert stock_of(await shop.level(vase)) == (6, 0, 6)


async def test_a_saga_step_that_never_answers_times_out_into_its_compensation(shop: Shop) -> None:
    bowl = await shop.product(price=1800, stock=3)
    shopper = await shop.shopper()
    await shop.step_timeout(3)
    shop.platform.kill("paying")
    try:
        order = await shopper.checkout({bowl: 1})
        cancelled = await shop.until(order.order_id, Status.ORDER_STATUS_CANCELLED)
        assert cancelled.cancellation.reason == order_pb2.CANCELLATION_REASON_TIMED_OUT
        await shop.until(order.order_id, lambda o: o.stock_state == order_pb2.STOCK_STATE_RELEASED, "stock released")
    finally:
        await shop.step_timeout(30)
        await shop.platform.start("paying")
    await shop.until(order.order_id, lambda o: o.payment_state in (order_pb2.PAYMENT_STATE_VOIDED,
                                                                     order_pb2.PAYMENT_STATE_REFUNDED)
                     and o.invoice_state == order_pb2.INVOICE_STATE_VOIDED, "payment and invoice undone")
    assert stock_of(await shop.level(bowl)) == (3, 0, 3)


async def test_ordering_stopped_longer_than_the_step_timeout_with_answers_waiting_confirms_the_order(
        shop: Shop) -> None:
    """A restarted ordering reads the answers that arrived while it was down before its timeout sweep
    may run (issue 19: a restart cancelled paid orders as unanswered)."""
    cup = await shop.product(price=900, stock=4)
    shopper = await shop.shopper()
    step_timeout = 4
    await shop.step_timeout(step_timeout)
    shop.platform.kill("paying")  # so that the order cannot be confirmed before ordering is down
    try:
        order = await shopper.checkout({cup: 1})
        placed_at = time.monotonic()
        shop.platform.kill("ordering")
        await shop.platform.start("paying")
        paid = await shop.platform.events("paying.payments.v1", within=60, where=lambda e: e.WhichOneof("event") ==
                                          "payment_succeeded" and e.payment_succeeded.order_id == order.order_id)
        assert paid, "paying did not take the payment while ordering was down"
        # Ordering stays down well past the step timeout, the answers waiting on its topics.
        await asyncio.sleep(max(0.0, placed_at + step_timeout + 4 - time.monotonic()))
        await shop.platform.start("ordering")
        settled_order = await shop.until(order.order_id, lambda o: o.status in (
            Status.ORDER_STATUS_CONFIRMED, Status.ORDER_STATUS_SHIPPED, Status.ORDER_STATUS_CANCELLED), "an outcome")
        assert settled_order.status != Status.ORDER_STATUS_CANCELLED, settled_order.cancellation
    finally:
        for service in ("paying", "ordering"):
            if service not in shop.platform.processes:
                await shop.platform.start(service)
        await shop.step_timeout(30)
    await shop.until(order.order_id, Status.ORDER_STATUS_SHIPPED)


def _records_of(bootstrap: str, topics: list[str], order_id: str) -> list[tuple[str, bytes, bytes]]:
    """Every record of the order (keyed by its id) on the saga's topics, as Kafka holds them."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-replayer", "enable.auto.commit": False,
                         "enable.partition.eof": True, "isolation.level": "read_committed"})
    try:
        assignment = [TopicPartition(topic, p, OFFSET_BEGINNING) for topic in topics
                      for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions]
        consumer.assign(assignment)
        found: list[tuple[str, bytes, bytes]] = []
        at_end: set[tuple[str | None, int | None]] = set()
        while len(at_end) < len(assignment):
            for message in consumer.consume(500, timeout=1.0):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add((message.topic(), message.partition()))
                elif error is None and message.key() == order_id.encode():
                    found.append((message.topic(), message.key(), message.value()))  # type: ignore[arg-type]
        return found
    finally:
        consumer.close()


async def test_every_event_of_a_checkout_delivered_twice_changes_nothing(shop: Shop) -> None:
    plate = await shop.product(price=1290, stock=8)
    shopper = await shop.shopper()
    order = await shopper.checkout({plate: 2})
    done = await shop.until(order.order_id, lambda o: o.status == Status.ORDER_STATUS_SHIPPED
                            and o.invoice_state == order_pb2.INVOICE_STATE_FINALIZED
                            and o.stock_state == order_pb2.STOCK_STATE_COMMITTED, "the checkout settled")
    platform = shop.platform
    records = await asyncio.to_thread(_records_of, platform.kafka_bootstrap,
                                      [platform.kafka_topic(t) for t in SAGA_TOPICS], order.order_id)
    assert len(records) >= 8
    producer = Producer({"bootstrap.servers": platform.kafka_bootstrap, "enable.idempotence": True})
    for topic, key, value in records:  # the same bytes again: what a redelivery looks like
        producer.produce(topic, key=key, value=value)
    assert producer.flush(15) == 0
    # A sentinel order placed after the replay settles only once every service has read past it.
    sentinel = await shopper.checkout({plate: 1})
    await shop.until(sentinel.order_id, Status.ORDER_STATUS_SHIPPED)

    again = await shop.order(order.order_id)
    assert (again.version, again.status, again.invoice_number) == (done.version, done.status, done.invoice_number)
    [payment] = await shop.payments_of(order.order_id)
    assert (payment.captured_amount.amount_minor, payment.refunded_amount.amount_minor) == (
        order.totals.total.amount_minor, 0)
    assert (await shop.invoice(order.order_id)).invoice_number == done.invoice_number
    assert (await shop.shipment(order.order_id)).shipment_id == done.shipment_id
    assert stock_of(await shop.level(plate)) == (5, 0, 5)  # 8 - 2 - 1 (the sentinel)
    for topic in SAGA_TOPICS:  # a duplicate is skipped, never parked as poison
        assert not await asyncio.to_thread(read_all, platform.kafka_bootstrap, f"{platform.kafka_topic(topic)}.dlq")


async def place_retrying(shopper: Shopper, cart_id: str, key: str) -> order_pb2.Order:
    """CreateOrder as the storefront sends it: retried under the same idempotency key while ordering is down."""
    request = order_api.CreateOrderRequest(cart_id=cart_id, shipping_address=HOME, billing_address=HOME,
                                           payment_method="card", shipping_option_id="colissimo.standard",
                                           idempotency_key=key, customer_email=shopper.email)
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = await shopper.shop.orders.CreateOrder(request, metadata=shopper.me, timeout=5)
            return answer.order  # type: ignore[no-any-return]
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            assert time.monotonic() < deadline, f"ordering still unreachable: {exc.details()}"
            await asyncio.sleep(0.5)




@pytest.mark.parametrize("victim", ["ordering", "paying"])
async def test_a_service_killed_during_50_concurrent_checkouts_loses_and_doubles_nothing(
        shop: Shop, victim: str) -> None:
    skus = [await shop.product(price=price, stock=200) for price in (990, 1490, 2490)]
    shoppers = await asyncio.gather(*(shop.shopper() for _ in range(50)))
    baskets = [{skus[i % 3]: 1 + i % 2, skus[(i + 1) % 3]: 1} for i in range(50)]
    carts = await asyncio.gather(*(s.cart(b) for s, b in zip(shoppers, baskets, strict=True)))

    async def kill_and_restart() -> None:
        await asyncio.sleep(0.5)  # in the middle of the checkouts
        shop.platform.kill(victim)
        await shop.platform.start(victim)

    placed, _ = await asyncio.gather(
        asyncio.gather(*(place_retrying(s, c.cart_id, str(uuid.uuid4())) for s, c in zip(shoppers, carts,
                                                                                           strict=True))),
        kill_and_restart())
    assert len({o.order_id for o in placed}) == 50
    final = [await shop.until(o.order_id, settled, "a final state", within=120) for o in placed]
    shipped = [o for o in final if o.status == Status.ORDER_STATUS_SHIPPED]
    assert len(shipped) == 50, [(o.order_number, o.status, o.cancellation) for o in final if o not in shipped]

    for order in final:  # nothing charged twice
        payments = await shop.payments_of(order.order_id)
        assert len(payments) == 1, order.order_number
        assert payments[0].captured_amount.amount_minor == order.totals.total.amount_minor
    invoices = [await shop.invoice(o.order_id) for o in shipped]  # invoices equal confirmed orders
    assert all(i.status == invoice_pb2.INVOICE_STATUS_FINAL for i in invoices)
    assert len({i.invoice_number for i in invoices}) == len(shipped)
    for sku in skus:  # stock balanced
        sold = sum(line.quantity for o in shipped for line in o.lines if line.sku == sku)
        assert stock_of(await shop.level(sku)) == (200 - sold, 0, 200 - sold), sku
