"""paying as a real process on the real broker: ordering's events in, payments and their events out,
every RPC, and bad input refused with a readable status."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from ordering.v1 import events_pb2 as ordering_events
from ordering.v1 import order_pb2
from paying.v1 import payment_pb2
from paying.v1 import payment_service_pb2 as api
from paying.v1.payment_service_pb2_grpc import PaymentServiceStub
from shop.common.v1.money_pb2 import Money
from shop.common.v1.paging_pb2 import PageRequest

from services.runtime.inprocess import Service
from tests.services.support import in_process, refused
from tools.platform import Platform

ORDERS, PAYMENTS = "ordering.orders.v1", "paying.payments.v1"


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                   schema_registry_url: str) -> AsyncIterator[Platform]:
    """One paying process for the whole module; every test works on orders of its own."""
    running = Platform(tmp_path_factory.mktemp("paying"), kafka_bootstrap, schema_registry_url,
                       f"t{uuid.uuid4().hex[:12]}")
    try:
        await running.start("paying")
        yield running
    finally:
        await running.close()


@pytest.fixture(scope="module")
async def local(schema_registry_url: str) -> AsyncIterator[tuple[Service, Any]]:
    """Paying in this process: the refusals need no broker."""
    async with in_process("paying", schema_registry_url) as (service, channel):
        yield service, PaymentServiceStub(channel)


@pytest.fixture(scope="module")
def stub(platform: Platform) -> Any:
    return platform.stub("paying", PaymentServiceStub)


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


def order_created(order_id: str, total: int) -> ordering_events.OrderCreated:
    return ordering_events.OrderCreated(
        order_id=order_id, order_number=f"ORD-{order_id[:6]}", customer_id="cus-1", customer_email="c@example.org",
        currency="EUR", totals=order_pb2.OrderTotals(total=eur(total)), payment_method="card")


def order_cancelled(order_id: str) -> ordering_events.OrderCancelled:
    return ordering_events.OrderCancelled(
        order_id=order_id, order_number=f"ORD-{order_id[:6]}", customer_id="cus-1",
        reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST, note="changed my mind", currency="EUR")


def refund_requested(order_id: str, refund_id: str, amount: int) -> ordering_events.OrderRefundRequested:
    return ordering_events.OrderRefundRequested(
        order_id=order_id, order_number=f"ORD-{order_id[:6]}", customer_id="cus-1", refund_id=refund_id,
        amount=eur(amount), lines=[order_pb2.RefundLine(sku="LAMP-1", quantity=1, amount=eur(amount))],
        shipping_amount=eur(0), reason="scratched")


async def payment_events(platform: Platform, order_id: str, kind: str, at_least: int = 1) -> list[Any]:
    return [getattr(e, kind) for e in await platform.events(
        PAYMENTS, at_least=at_least, where=lambda e: e.metadata.aggregate_id == order_id and e.HasField(kind))]


async def test_order_created_is_captured_once_then_refunded_as_ordering_asks(platform: Platform, stub: Any) -> None:
    order_id = str(uuid.uuid4())
    sent = await platform.publish(ORDERS, order_id, order_created=order_created(order_id, 12_345))
    [succeeded] = await payment_events(platform, order_id, "payment_succeeded")
    assert (succeeded.amount.amount_minor, succeeded.amount.currency) == (12_345, "EUR")
    assert succeeded.payment_method == "card" and succeeded.provider_reference

    # The same event again, and a re-publish of it under a new event id: no second capture.
    platform.produce_envelope(ORDERS, sent)
    await platform.publish(ORDERS, order_id, order_created=order_created(order_id, 12_345))
    # A refund asked by ordering, twice under two event ids: one refund, keyed on ordering's refund id.
    await platform.publish(ORDERS, order_id, order_refund_requested=refund_requested(order_id, "rf-1", 1_000))
    await platform.publish(ORDERS, order_id, order_refund_requested=refund_requested(order_id, "rf-1", 1_000))
    # Then the cancellation refunds what is left, once.
    await platform.publish(ORDERS, order_id, order_cancelled=order_cancelled(order_id))
    await platform.publish(ORDERS, order_id, order_cancelled=order_cancelled(order_id))
    await platform.publish(ORDERS, order_id, order_created=order_created(order_id, 12_345))
    await platform.drained("paying", ORDERS)

    refunds = await payment_events(platform, order_id, "payment_refunded", at_least=2)
    assert [(r.amount.amount_minor, r.cause, r.order_refund_id) for r in refunds] == [
        (1_000, payment_pb2.REFUND_CAUSE_ORDER_REFUND, "rf-1"), (11_345, payment_pb2.REFUND_CAUSE_ORDER_CANCELLED, "")]
    assert [line.sku for line in refunds[0].lines] == ["LAMP-1"]
    assert refunds[1].fully_refunded and refunds[1].total_refunded.amount_minor == 12_345
    assert len(await payment_events(platform, order_id, "payment_succeeded")) == 1
    envelopes = await platform.events(PAYMENTS, at_least=3, where=lambda e: e.metadata.aggregate_id == order_id)
    assert [e.metadata.aggregate_version for e in envelopes] == [1, 2, 3]
    assert envelopes[0].metadata.causation_id == sent.metadata.event_id
    assert {e.metadata.correlation_id for e in envelopes} == {order_id}

    listed = await stub.ListPayments(api.ListPaymentsRequest(order_id=order_id))
    [payment] = listed.payments
    assert payment.status == payment_pb2.PAYMENT_STATUS_REFUNDED
    assert (payment.captured_amount.amount_minor, payment.refunded_amount.amount_minor) == (12_345, 12_345)
    assert [r.idempotency_key for r in payment.refunds] == ["rf-1", f"cancel:{order_id}"]


async def test_cancellation_voids_an_uncaptured_payment_and_an_order_cancelled_first_is_never_charged(
        platform: Platform, stub: Any) -> None:
    order_id = str(uuid.uuid4())
    intent = await stub.CreatePaymentIntent(api.CreatePaymentIntentRequest(
        order_id=order_id, customer_id="cus-1", amount=eur(5_000), payment_method="paypal"))
    await platform.publish(ORDERS, order_id, order_cancelled=order_cancelled(order_id))
    await platform.publish(ORDERS, order_id, order_cancelled=order_cancelled(order_id))
    [voided] = await payment_events(platform, order_id, "payment_voided")
    assert voided.payment_id == intent.payment.payment_id and voided.amount.amount_minor == 5_000
    assert "cancelled: customer request (changed my mind)" in voided.reason

    late = str(uuid.uuid4())  # its OrderCreated comes after its OrderCancelled
    await platform.publish(ORDERS, late, order_cancelled=order_cancelled(late))
    await platform.publish(ORDERS, late, order_created=order_created(late, 7_000))
    await platform.drained("paying", ORDERS)
    assert not (await stub.ListPayments(api.ListPaymentsRequest(order_id=late))).payments
    assert not await platform.events(PAYMENTS, within=0, where=lambda e: e.metadata.aggregate_id == late)
    assert len(await payment_events(platform, order_id, "payment_voided")) == 1
    got = await stub.GetPayment(api.GetPaymentRequest(payment_id=intent.payment.payment_id))
    assert got.payment.status == payment_pb2.PAYMENT_STATUS_VOIDED


async def test_every_rpc_on_a_payment_from_intent_to_refund_and_void(platform: Platform, stub: Any) -> None:
    order_id = str(uuid.uuid4())
    request = api.CreatePaymentIntentRequest(order_id=order_id, customer_id="cus-2", amount=eur(9_900),
                                             payment_method="card")
    first = await stub.CreatePaymentIntent(request)
    again = await stub.CreatePaymentIntent(request)
    assert first.created and not again.created and again.payment.payment_id == first.payment.payment_id
    payment_id = first.payment.payment_id
    assert first.payment.status == payment_pb2.PAYMENT_STATUS_REQUIRES_CAPTURE

    captured = (await stub.CapturePayment(api.CapturePaymentRequest(payment_id=payment_id))).payment
    assert captured.status == payment_pb2.PAYMENT_STATUS_CAPTURED and captured.captured_amount.amount_minor == 9_900
    assert (await stub.CapturePayment(api.CapturePaymentRequest(payment_id=payment_id))).payment == captured
    [succeeded] = await payment_events(platform, order_id, "payment_succeeded")
    assert succeeded.payment_id == payment_id

    refund_request = api.RefundPaymentRequest(payment_id=payment_id, amount=eur(2_500), idempotency_key="key-1",
                                              reason="goodwill")
    refunded = await stub.RefundPayment(refund_request)
    repeated = await stub.RefundPayment(refund_request)
    assert refunded.refund.refund_id == repeated.refund.refund_id
    assert refunded.refund.cause == payment_pb2.REFUND_CAUSE_MANUAL
    assert repeated.payment.status == payment_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED
    assert repeated.payment.refunded_amount.amount_minor == 2_500
    [event] = await payment_events(platform, order_id, "payment_refunded")
    assert (event.refund_id, event.amount.amount_minor, event.reason) == (refunded.refund.refund_id, 2_500, "goodwill")
    got = await stub.GetPayment(api.GetPaymentRequest(payment_id=payment_id))
    assert got.payment == repeated.payment

    other_order = str(uuid.uuid4())
    other = await stub.CreatePaymentIntent(api.CreatePaymentIntentRequest(
        order_id=other_order, customer_id="cus-2", amount=eur(1_200), payment_method="bank_transfer"))
    voided = await stub.VoidPayment(api.VoidPaymentRequest(payment_id=other.payment.payment_id, reason="duplicate"))
    assert voided.payment.status == payment_pb2.PAYMENT_STATUS_VOIDED and voided.payment.failure_reason == "duplicate"
    [void_event] = await payment_events(platform, other_order, "payment_voided")
    assert void_event.reason == "duplicate"

    # Newest first, one a page, across orders, filtered by status.
    statuses = [payment_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED, payment_pb2.PAYMENT_STATUS_VOIDED]
    page_one = await stub.ListPayments(api.ListPaymentsRequest(statuses=statuses, page=PageRequest(page_size=1)))
    page_two = await stub.ListPayments(api.ListPaymentsRequest(
        statuses=statuses, page=PageRequest(page_size=1, page_token=page_one.page.next_page_token)))
    listed = [p.payment_id for p in (*page_one.payments, *page_two.payments)]
    assert listed[:2] == [other.payment.payment_id, payment_id]
    assert all(p.status in statuses for p in (*page_one.payments, *page_two.payments))


def _bad_requests() -> list[tuple[str, Any, grpc.StatusCode, str]]:
    missing = "00000000-0000-4000-8000-000000000404"  # fixed: xdist workers must collect the same test ids

    def intent(**changes: Any) -> api.CreatePaymentIntentRequest:
        fields: dict[str, Any] = {"order_id": "ord-x", "customer_id": "cus-1", "amount": eur(1_000),
                                  "payment_method": "card", **changes}
        return api.CreatePaymentIntentRequest(**{k: v for k, v in fields.items() if v is not None})

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    return [
        ("CreatePaymentIntent", intent(order_id=""), invalid, "order id is missing"),
        ("CreatePaymentIntent", intent(customer_id=""), invalid, "customer id is missing"),
        ("CreatePaymentIntent", intent(amount=None), invalid, "amount is missing"),
        ("CreatePaymentIntent", intent(amount=eur(0)), invalid, "amount must be positive, got 0"),
        ("CreatePaymentIntent", intent(amount=eur(-5)), invalid, "amount must be positive, got -5"),
        ("CreatePaymentIntent", intent(amount=Money(amount_minor=100, currency="XXX")), invalid,
         "currency must be one of"),
        ("CreatePaymentIntent", intent(payment_method="cash"), invalid, "payment method must be one of"),
        ("CapturePayment", api.CapturePaymentRequest(), invalid, "payment id is missing"),
        ("CapturePayment", api.CapturePaymentRequest(payment_id=missing), grpc.StatusCode.NOT_FOUND,
         f"no payment '{missing}'"),
        ("GetPayment", api.GetPaymentRequest(), invalid, "payment id is missing"),
        ("GetPayment", api.GetPaymentRequest(payment_id=missing), grpc.StatusCode.NOT_FOUND, "no payment"),
        ("ListPayments", api.ListPaymentsRequest(statuses=[payment_pb2.PAYMENT_STATUS_UNSPECIFIED]), invalid,
         "payment status filter must be one of"),
        ("ListPayments", api.ListPaymentsRequest(statuses=[42]), invalid, "got 42"),  # type: ignore[list-item]
        ("ListPayments", api.ListPaymentsRequest(page=PageRequest(page_size=-1)), invalid,
         "page_size must be 0 (the default) or more"),
        ("ListPayments", api.ListPaymentsRequest(page=PageRequest(page_token="%%%")), invalid,
         "page_token '%%%' is not one this list issued for these filters and this order"),
        ("RefundPayment", api.RefundPaymentRequest(idempotency_key="k"), invalid, "payment id is missing"),
        ("RefundPayment", api.RefundPaymentRequest(payment_id=missing, idempotency_key="k"),
         grpc.StatusCode.NOT_FOUND, "no payment"),
        ("VoidPayment", api.VoidPaymentRequest(), invalid, "payment id is missing"),
        ("VoidPayment", api.VoidPaymentRequest(payment_id=missing), grpc.StatusCode.NOT_FOUND, "no payment"),
    ]


@pytest.mark.parametrize(("method", "request_", "code", "message"),
                         [pytest.param(*case, id=f"{case[0]}: {case[3]}") for case in _bad_requests()])
async def test_bad_input_is_refused_with_a_readable_status(local: tuple[Service, Any], method: str, request_: Any,
                                                           code: grpc.StatusCode, message: str) -> None:
    service, stub = local
    await refused(getattr(stub, method)(request_), code, message, by=service)


async def test_refusals_that_depend_on_the_payment(local: tuple[Service, Any]) -> None:
    """Refund before capture, without key, too much, in another currency; void after capture; a
    second intent with another amount."""
    service, stub = local
    order_id = str(uuid.uuid4())
    created = await stub.CreatePaymentIntent(api.CreatePaymentIntentRequest(
        order_id=order_id, customer_id="cus-3", amount=eur(3_000), payment_method="card"))
    payment_id = created.payment.payment_id
    await refused(stub.RefundPayment(api.RefundPaymentRequest(payment_id=payment_id, idempotency_key="k")),
                  grpc.StatusCode.FAILED_PRECONDITION, "only a captured payment can be refunded", by=service)
    await refused(stub.CreatePaymentIntent(api.CreatePaymentIntentRequest(
        order_id=order_id, customer_id="cus-3", amount=eur(3_001), payment_method="card")),
        grpc.StatusCode.ALREADY_EXISTS, "already has payment", by=service)
    await stub.CapturePayment(api.CapturePaymentRequest(payment_id=payment_id))
    await refused(stub.RefundPayment(api.RefundPaymentRequest(payment_id=payment_id)),
                  grpc.StatusCode.INVALID_ARGUMENT, "a refund needs an idempotency key", by=service)
    await refused(stub.RefundPayment(api.RefundPaymentRequest(payment_id=payment_id, idempotency_key="k",
                                                              amount=eur(3_001))),
                  grpc.StatusCode.FAILED_PRECONDITION, "exceeds the 30.00 EUR left to refund", by=service)
    await refused(stub.RefundPayment(api.RefundPaymentRequest(payment_id=payment_id, idempotency_key="k",
                                                              amount=Money(amount_minor=100, currency="USD"))),
                  grpc.StatusCode.INVALID_ARGUMENT, "it cannot be refunded in USD", by=service)
    await refused(stub.RefundPayment(api.RefundPaymentRequest(payment_id=payment_id, idempotency_key="k",
                                                              amount=eur(0))),
                  grpc.StatusCode.INVALID_ARGUMENT, "refund amount must be positive, got 0", by=service)
    await refused(stub.VoidPayment(api.VoidPaymentRequest(payment_id=payment_id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "refund it instead of voiding it", by=service)
