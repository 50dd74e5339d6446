"""Paying's part of the checkout saga: ordering's events, each handled in the event's unit of work."""

from __future__ import annotations

import uuid

from services.paying import domain, messages
from services.paying.stores import Payments, provider_reference
from services.runtime.bus import EventBus, EventContext
from services.runtime.clock import now
from services.runtime.errors import FailedPrecondition

ORDERS = "ordering.orders.v1"


class PayingHandlers:
    def __init__(self, payments: Payments) -> None:
        self.payments = payments

    def register(self, bus: EventBus) -> None:
        bus.on(ORDERS, "order_created", self.order_created)
        bus.on(ORDERS, "order_cancelled", self.order_cancelled)
        bus.on(ORDERS, "order_refund_requested", self.order_refund_requested)

    async def order_created(self, event: EventContext) -> None:
        """Intent and capture in one change (PaymentSucceeded). The order's first payment is its only
        one: a replay, under the same event id or a new one, charges nothing more."""
        created = event.event
        async with self.payments.order(event.work, created.order_id) as record:
            if record.cancelled:
                return  # cancelled before it was paid (events of a saga seen out of order): never charge it
            payment, events = domain.pay_order(
                record.payments, payment_id=str(uuid.uuid4()), order_id=created.order_id,
                customer_id=created.customer_id, amount=created.totals.total.amount_minor,
                currency=created.currency or created.totals.total.currency, payment_method=created.payment_method,
                provider_reference=provider_reference("pi"), now=now())
            self.payments.save(event.work, record, payment, events, event.publish)

    async def order_cancelled(self, event: EventContext) -> None:
        """Void before capture, refund everything left after it; once, however often it is delivered."""
        cancelled = event.event
        async with self.payments.order(event.work, cancelled.order_id) as record:
            live = domain.find_live_payment(record.payments)
            if live is None:
                self.payments.save(event.work, record, None, (), event.publish, cancelled=True)
                return
            payment, events = domain.cancel_order_payment(
                live, reason=messages.cancellation_reason_record(cancelled), refund_id=str(uuid.uuid4()),
                provider_reference=provider_reference("re"), now=now())
            self.payments.save(event.work, record, payment, events, event.publish, cancelled=True)

    async def order_refund_requested(self, event: EventContext) -> None:
        """Refund what ordering asks, with its refund id as the idempotency key (PaymentRefunded)."""
        requested = event.event
        async with self.payments.order(event.work, requested.order_id) as record:
            live = domain.find_live_payment(record.payments)
            if live is None:
                raise FailedPrecondition(f"order {requested.order_number or requested.order_id} has no payment "
                                         f"to refund (refund {requested.refund_id})")
            payment, _, events = domain.refund_payment(
                live, messages.order_refund_request_record(requested), refund_id=str(uuid.uuid4()),
                provider_reference=provider_reference("re"), now=now())
            self.payments.save(event.work, record, payment, events, event.publish)
