"""Paying's state: payments by id and by order, and the topic it publishes on.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from services.paying import messages
from services.paying.domain import Payment, PaymentEvent
from services.runtime.bus import EventBus, Publish
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.store import JsonCodec
from services.runtime.transactions import UnitOfWork

TOPIC = "paying.payments.v1"


@dataclass(frozen=True)
class OrderPayments:
    """Everything paying keeps about one order, stored as one record so that a payment and its events
    change together: the order's payments (at most one live), how many events were published for
    the order (their aggregate_version), and whether the order was cancelled before it was paid."""

    order_id: str
    payments: tuple[Payment, ...] = ()
    version: int = 0
    cancelled: bool = False


def provider_reference(kind: str) -> str:
    """The simulated provider's reference of a charge ("pi_...") or a refund ("re_...")."""
    return f"{kind}_{uuid.uuid4().hex[:24]}"


class Payments:
    """The stores: one record per order, and which order each payment belongs to."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.orders = bus.store("orders", JsonCodec(OrderPayments))
        self.order_of_payment = bus.store("payment-orders", JsonCodec(str))  # written once, never changed

    def find(self, payment_id: str) -> Payment:
        if not payment_id:
            raise InvalidArgument("payment id is missing")
        order_id = self.order_of_payment.get(payment_id)
        record = self.orders.get(order_id) if order_id else None
        found = next((p for p in record.payments if p.payment_id == payment_id), None) if record else None
        if found is None:
            raise NotFound(f"no payment {payment_id!r}")
        return found

    @contextlib.asynccontextmanager
    async def order(self, work: UnitOfWork, order_id: str) -> AsyncIterator[OrderPayments]:
        """The order's record, locked for the unit of work (every change of an order's payments takes it)."""
        await work.lock((self.orders, order_id))
        yield work.get(self.orders, order_id) or OrderPayments(order_id=order_id)

    def save(self, work: UnitOfWork, record: OrderPayments, payment: Payment | None,
             events: Sequence[PaymentEvent], publish: Publish, *, cancelled: bool = False) -> None:
        """Store the changed payment in its order's record and publish its events, in the same unit of
        work. Nothing changed (a replay, a repeated call): nothing is written."""
        payments = record.payments
        if payment is not None and payment not in payments:
            if any(p.payment_id == payment.payment_id for p in payments):
                payments = tuple(payment if p.payment_id == payment.payment_id else p for p in payments)
            else:
                payments = (*payments, payment)
                work.put(self.order_of_payment, payment.payment_id, record.order_id)
        version = record.version
        for event in events:
            version += 1
            publish(TOPIC, record.order_id, aggregate_version=version, **messages.event(event))
        changed = dataclasses.replace(record, payments=payments, version=version,
                                      cancelled=record.cancelled or cancelled)
        if changed != record:
            work.put(self.orders, record.order_id, changed)

