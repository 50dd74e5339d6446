"""Paying's rules without Kafka or gRPC: intents, captures, refunds, voids and the cancellation rule."""

from __future__ import annotations

import contextlib
import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from services.paying import domain
from services.paying.domain import (
    Payment,
    PaymentEvent,
    PaymentFailed,
    PaymentRefunded,
    PaymentStatus,
    PaymentSucceeded,
    PaymentVoided,
    Refund,
    RefundCause,
    RefundedLine,
    RefundRequest,
)
from services.runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from services.runtime.store import JsonCodec

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)


def raises(error: type[Exception], text: str) -> pytest.RaisesExc[Exception]:
    """pytest.raises for an error whose message contains `text`, taken literally."""
    return pytest.raises(error, match=re.escape(text))


def new_intent(order_payments: tuple[Payment, ...] = (), *, payment_id: str = "pay-1", amount: int = 12_000,
               currency: str = "EUR", payment_method: str = "card") -> tuple[Payment, bool]:
    return domain.create_payment_intent(
        order_payments, payment_id=payment_id, order_id="ord-1", customer_id="cus-1", amount=amount,
        currency=currency, payment_method=payment_method, provider_reference=f"psp-{payment_id}", now=T0)


def captured(amount: int = 12_000) -> Payment:
    payment, _ = domain.capture_payment(new_intent(amount=amount)[0], T1)
    return payment


def manual(key: str, amount: int | None = None, *, reason: str = "", currency: str = "", shipping_amount: int = 0,
           lines: tuple[RefundedLine, ...] = ()) -> RefundRequest:
    return RefundRequest(idempotency_key=key, cause=RefundCause.MANUAL, amount=amount, reason=reason,
                         currency=currency, shipping_amount=shipping_amount, lines=lines)


def refund(payment: Payment, request: RefundRequest,
           refund_id: str = "ref-1") -> tuple[Payment, Refund, list[PaymentEvent]]:
    return domain.refund_payment(payment, request, refund_id=refund_id, provider_reference=f"psp-{refund_id}", now=T2)


# Intents.

def test_an_intent_waits_for_capture_with_nothing_taken_yet() -> None:
    payment, created = new_intent()
    assert created
    assert payment.status is PaymentStatus.REQUIRES_CAPTURE
    assert (payment.amount, payment.captured_amount, payment.refunded_amount) == (12_000, 0, 0)
    assert (payment.order_id, payment.customer_id, payment.currency, payment.payment_method) == (
        "ord-1", "cus-1", "EUR", "card")
    assert payment.created_at == payment.updated_at == T0


def test_asking_again_for_the_same_intent_returns_the_live_payment() -> None:
    first, _ = new_intent()
    again, created = new_intent((first,), payment_id="pay-2")
    assert again is first
    assert not created


@pytest.mark.parametrize(("amount", "method"), [(11_999, "card"), (12_000, "paypal")])
def test_an_order_has_one_live_payment(amount: int, method: str) -> None:
    first, _ = new_intent()
    with raises(AlreadyExists, "already has payment pay-1 of 120.00 EUR by card"):
        new_intent((first,), payment_id="pay-2", amount=amount, payment_method=method)


@pytest.mark.parametrize("ended", ["void", "fail"])
def test_a_new_intent_may_follow_a_voided_or_failed_one(ended: str) -> None:
    first, _ = new_intent()
    if ended == "void":
        first, _ = domain.void_payment(first, reason="customer changed mind", now=T1)
    else:
        first, _ = domain.fail_payment(first, failure_code="declined", failure_message="card declined", now=T1)
    second, created = new_intent((first,), payment_id="pay-2", amount=9_000, payment_method="paypal")
    assert created
    assert second.payment_id == "pay-2"
    assert domain.find_live_payment((first, second)) is second


@pytest.mark.parametrize(("changes", "message"), [
    ({"order_id": ""}, "order id is missing"),
    ({"amount": 0}, "amount must be positive, got 0"),
    ({"amount": -5}, "amount must be positive, got -5"),
    ({"currency": "EURO"}, "currency must be one of"),
    ({"payment_method": "cash"}, "payment method must be one of card, paypal, bank_transfer, got 'cash'"),
])
def test_an_intent_with_bad_input_is_refused(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"payment_id": "pay-1", "order_id": "ord-1", "customer_id": "cus-1",
                                 "amount": 12_000, "currency": "EUR", "payment_method": "card",
                                 "provider_reference": "psp", "now": T0}
    with raises(InvalidArgument, message):
        domain.create_payment_intent((), **{**fields, **changes})  # type: ignore[arg-type]


# Capture.

def test_capture_takes_the_whole_amount_and_says_so() -> None:
    intent, _ = new_intent()
    payment, events = domain.capture_payment(intent, T1)
    assert payment.status is PaymentStatus.CAPTURED
    assert payment.captured_amount == 12_000
    assert payment.captured_at == payment.updated_at == T1
    assert events == [PaymentSucceeded(payment_id="pay-1", order_id="ord-1", customer_id="cus-1", amount=12_000,
                                       currency="EUR", payment_method="card", provider_reference="psp-pay-1",
                                       captured_at=T1)]
    assert intent.status is PaymentStatus.REQUIRES_CAPTURE  # the input record is left as it was


def test_capturing_twice_changes_nothing() -> None:
    payment = captured()
    again, events = domain.capture_payment(payment, T2)
    assert again is payment
    assert events == []


def test_a_refunded_payment_counts_as_captured() -> None:
    payment, _, _ = refund(captured(), manual("k", 500))
    assert domain.capture_payment(payment, T2) == (payment, [])


@pytest.mark.parametrize(("end", "word"), [("void", "voided"), ("fail", "failed")])
def test_a_voided_or_failed_payment_cannot_be_captured(end: str, word: str) -> None:
    intent, _ = new_intent()
    ended, _ = (domain.void_payment(intent, reason="r", now=T1) if end == "void"
                else domain.fail_payment(intent, failure_code="declined", failure_message="no", now=T1))
    with raises(FailedPrecondition, f"payment pay-1 is {word}: it cannot be captured"):
        domain.capture_payment(ended, T2)


# The checkout step.

def pay(order_payments: tuple[Payment, ...] = (), payment_id: str = "pay-1") -> tuple[Payment, list[PaymentEvent]]:
    return domain.pay_order(order_payments, payment_id=payment_id, order_id="ord-1", customer_id="cus-1",
                            amount=12_000, currency="EUR", payment_method="card", provider_reference="psp", now=T1)


def test_order_created_makes_and_captures_the_payment_in_one_change() -> None:
    payment, events = pay()
    assert payment.status is PaymentStatus.CAPTURED
    assert [type(e) for e in events] == [PaymentSucceeded]


def test_a_replayed_order_created_charges_nothing_again() -> None:
    payment, _ = pay()
    again, events = pay((payment,), payment_id="pay-2")
    assert again is payment
    assert events == []


def test_a_replayed_order_created_after_cancellation_does_not_charge_the_order() -> None:
    payment, _ = pay()
    cancelled, _ = domain.cancel_order_payment(payment, reason="cancelled", refund_id="ref-1",
                                               provider_reference="psp-r", now=T2)
    voided, _ = domain.void_payment(new_intent(payment_id="pay-0")[0], reason="r", now=T1)
    for earlier in ((cancelled,), (voided,)):
        again, events = pay(earlier, payment_id="pay-9")
        assert again is earlier[0]
        assert events == []


def test_a_payment_left_waiting_for_capture_is_captured_by_the_checkout_step() -> None:
    intent, _ = new_intent()
    payment, events = pay((intent,), payment_id="pay-2")
    assert payment.payment_id == "pay-1"
    assert payment.status is PaymentStatus.CAPTURED
    assert len(events) == 1


# Refunds.

def test_a_partial_refund_then_the_rest() -> None:
    first, made, events = refund(captured(), manual("k1", 2_000, reason="scratched"))
    assert first.status is PaymentStatus.PARTIALLY_REFUNDED
    assert first.refunded_amount == 2_000
    assert first.refunds == (made,)
    assert (made.amount, made.cause, made.reason, made.idempotency_key) == (2_000, RefundCause.MANUAL, "scratched",
                                                                           "k1")
    assert events == [PaymentRefunded(
        payment_id="pay-1", order_id="ord-1", customer_id="cus-1", refund_id="ref-1", order_refund_id="",
        cause=RefundCause.MANUAL, amount=2_000, currency="EUR", total_refunded=2_000, captured_amount=12_000,
        fully_refunded=False, lines=(), shipping_amount=0, reason="scratched", refunded_at=T2)]
    rest, made_rest, rest_events = refund(first, manual("k2"), refund_id="ref-2")
    assert made_rest.amount == 10_000  # no amount: everything left
    assert rest.status is PaymentStatus.REFUNDED
    assert rest.refunded_amount == rest.captured_amount == 12_000
    assert [r.refund_id for r in rest.refunds] == ["ref-1", "ref-2"]
    assert isinstance(rest_events[0], PaymentRefunded)
    assert rest_events[0].fully_refunded and rest_events[0].total_refunded == 12_000


def test_a_refund_never_exceeds_what_is_left() -> None:
    payment, _, _ = refund(captured(), manual("k1", 10_000))
    with raises(FailedPrecondition, "a refund of 20.01 EUR exceeds the 20.00 EUR left to refund"):
        refund(payment, manual("k2", 2_001), refund_id="ref-2")


def test_nothing_is_left_to_refund_after_a_full_refund() -> None:
    payment, _, _ = refund(captured(), manual("k1"))
    with raises(FailedPrecondition, "already refunded in full"):
        refund(payment, manual("k2", 1), refund_id="ref-2")


def test_only_a_captured_payment_can_be_refunded() -> None:
    intent, _ = new_intent()
    with raises(FailedPrecondition, "payment pay-1 is waiting for capture: only a captured payment"):
        refund(intent, manual("k1", 100))
    voided, _ = domain.void_payment(intent, reason="r", now=T1)
    with raises(FailedPrecondition, "is voided"):
        refund(voided, manual("k1", 100))


def test_a_retried_refund_returns_the_same_refund_and_refunds_once() -> None:
    payment, made, _ = refund(captured(), manual("k1", 2_000, reason="late"))
    for retry in (manual("k1", 2_000, reason="late"), manual("k1", None, reason="late")):
        again, found, events = refund(payment, retry, refund_id="ref-other")
        assert again is payment
        assert found == made
        assert events == []


@pytest.mark.parametrize("different", [
    manual("k1", 2_001, reason="late"),
    manual("k1", 2_000, reason="another reason"),
    RefundRequest(idempotency_key="k1", cause=RefundCause.ORDER_REFUND, amount=2_000, reason="late",
                  order_refund_id="k1"),
])
def test_a_used_key_for_a_different_refund_is_refused(different: RefundRequest) -> None:
    payment, _, _ = refund(captured(), manual("k1", 2_000, reason="late"))
    with raises(AlreadyExists, "refund key 'k1' was already used on payment pay-1"):
        refund(payment, different, refund_id="ref-2")


def test_a_used_key_is_answered_even_when_nothing_is_left() -> None:
    payment, made, _ = refund(captured(), manual("k1"))
    assert refund(payment, manual("k1"), refund_id="ref-2")[1] == made


@pytest.mark.parametrize(("request_", "message"), [
    (manual(""), "needs an idempotency key"),
    (manual("k", 0), "refund amount must be positive, got 0"),
    (manual("k", -100), "refund amount must be positive"),
    (manual("k", 100, currency="USD"), "payment pay-1 is in EUR; it cannot be refunded in USD"),
    (manual("k", 100, shipping_amount=-1), "refunded shipping must not be negative"),
    (manual("k", 100, lines=(RefundedLine("A", 0, 100),)), "refunded line A: quantity must be positive"),
    (manual("k", 100, lines=(RefundedLine("A", 1, 60),)), "add up to 0.60 EUR, but the refund asks for 1.00 EUR"),
    (manual("k", None, lines=(RefundedLine("A", 1, 60),)), "but the refund asks for no amount"),
])
def test_a_refund_with_bad_input_is_refused(request_: RefundRequest, message: str) -> None:
    with raises(InvalidArgument, message):
        refund(captured(), request_)


def test_an_order_refund_carries_its_lines_to_billing() -> None:
    lines = [RefundedLine("MUG-1", 2, 2_400), RefundedLine("TEA-3", 1, 799)]
    request = RefundRequest.for_order_refund(order_refund_id="oref-1", amount=3_199 + 500, currency="EUR",
                                             lines=lines, shipping_amount=500, reason="damaged")
    payment, made, events = refund(captured(), request)
    assert (made.idempotency_key, made.order_refund_id, made.cause) == ("oref-1", "oref-1", RefundCause.ORDER_REFUND)
    event = events[0]
    assert isinstance(event, PaymentRefunded)
    assert event.lines == tuple(lines)
    assert (event.shipping_amount, event.order_refund_id, event.amount) == (500, "oref-1", 3_699)
    assert payment.refunds[0].lines == tuple(lines)


def test_refunds_keep_the_invariant_whatever_is_asked() -> None:
    """0 <= refunded <= captured <= amount after any sequence of accepted and refused refunds."""
    generator = random.Random(7)
    payment = captured(5_000)
    for attempt in range(200):
        amount = generator.choice([None, generator.randint(1, 2_500)])
        with contextlib.suppress(FailedPrecondition):
            payment, _, _ = refund(payment, manual(f"k{attempt}", amount), refund_id=f"ref-{attempt}")
        assert 0 <= payment.refunded_amount <= payment.captured_amount <= payment.amount
        assert payment.refunded_amount == sum(r.amount for r in payment.refunds)
    assert payment.status is PaymentStatus.REFUNDED


# Void and fail.

def test_void_releases_an_authorisation() -> None:
    intent, _ = new_intent()
    payment, events = domain.void_payment(intent, reason="out of stock", now=T1)
    assert payment.status is PaymentStatus.VOIDED
    assert (payment.voided_at, payment.failure_reason, payment.captured_amount) == (T1, "out of stock", 0)
    assert events == [PaymentVoided(payment_id="pay-1", order_id="ord-1", customer_id="cus-1", amount=12_000,
                                    currency="EUR", reason="out of stock", voided_at=T1)]
    assert domain.void_payment(payment, reason="again", now=T2) == (payment, [])


def test_a_captured_payment_is_refunded_not_voided() -> None:
    with raises(FailedPrecondition, "payment pay-1 was captured: refund it instead of voiding it"):
        domain.void_payment(captured(), reason="r", now=T2)


def test_a_failed_payment_cannot_be_voided() -> None:
    failed, _ = domain.fail_payment(new_intent()[0], failure_code="declined", failure_message="no", now=T1)
    with raises(FailedPrecondition, "failed: there is nothing to void"):
        domain.void_payment(failed, reason="r", now=T2)


def test_a_declined_payment_fails_once() -> None:
    payment, events = domain.fail_payment(new_intent()[0], failure_code="declined",
                                          failure_message="The card was declined", now=T1)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_reason == "The card was declined"
    assert events == [PaymentFailed(payment_id="pay-1", order_id="ord-1", customer_id="cus-1", amount=12_000,
                                    currency="EUR", payment_method="card", failure_code="declined",
                                    failure_message="The card was declined", failed_at=T1)]
    assert domain.fail_payment(payment, failure_code="x", failure_message="y", now=T2) == (payment, [])
    with raises(FailedPrecondition, "is captured: it can no longer fail"):
        domain.fail_payment(captured(), failure_code="x", failure_message="y", now=T2)


# Cancellation: void before capture, full refund after.

def cancel(payment: Payment, refund_id: str = "ref-c") -> tuple[Payment, list[PaymentEvent]]:
    return domain.cancel_order_payment(payment, reason="customer request", refund_id=refund_id,
                                       provider_reference="psp-c", now=T2)


def test_cancelling_before_capture_voids() -> None:
    payment, events = cancel(new_intent()[0])
    assert payment.status is PaymentStatus.VOIDED
    assert [type(e) for e in events] == [PaymentVoided]


def test_cancelling_after_capture_refunds_everything_once() -> None:
    payment, events = cancel(captured())
    assert payment.status is PaymentStatus.REFUNDED
    (made,) = payment.refunds
    assert (made.cause, made.idempotency_key, made.amount, made.lines) == (
        RefundCause.ORDER_CANCELLED, "cancel:ord-1", 12_000, ())
    assert isinstance(events[0], PaymentRefunded) and events[0].fully_refunded
    assert cancel(payment, refund_id="ref-c2") == (payment, [])  # a replayed OrderCancelled


def test_cancelling_after_a_partial_refund_refunds_the_rest() -> None:
    partly, _, _ = refund(captured(), manual("k1", 3_000))
    payment, events = cancel(partly)
    assert payment.refunds[-1].amount == 9_000
    assert payment.status is PaymentStatus.REFUNDED
    assert len(events) == 1


def test_cancelling_a_payment_with_nothing_to_give_back_changes_nothing() -> None:
    refunded, _, _ = refund(captured(), manual("k1"))
    voided, _ = domain.void_payment(new_intent()[0], reason="r", now=T1)
    failed, _ = domain.fail_payment(new_intent()[0], failure_code="declined", failure_message="no", now=T1)
    for payment in (refunded, voided, failed):
        assert cancel(payment) == (payment, [])


# Records.

def test_a_payment_round_trips_through_the_store_codec() -> None:
    payment, _, _ = refund(captured(), RefundRequest.for_order_refund(
        order_refund_id="oref-1", amount=1_000, currency="EUR", lines=[RefundedLine("A", 1, 1_000)],
        shipping_amount=0, reason="r"))
    codec: JsonCodec[Payment] = JsonCodec(Payment)
    assert codec.decode(codec.encode(payment)) == payment


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (12_345, "EUR", "123.45 EUR"), (5, "EUR", "0.05 EUR"), (-250, "GBP", "-2.50 GBP"), (1_500, "JPY", "1500 JPY")])
def test_amounts_read_well_in_messages(amount: int, currency: str, text: str) -> None:
    assert domain.format_money(amount, currency) == text
