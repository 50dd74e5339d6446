"""Billing's part of the checkout saga (ordering's and paying's events) and the tax-rate settings."""

from __future__ import annotations

import uuid
from typing import Any

from services.billing import domain, messages
from services.billing.domain import CREDIT_NOTE_PREFIX, INVOICE_PREFIX, Party, counter_key
from services.billing.stores import Books, set_tax_rate
from services.runtime.bus import EventBus, EventContext
from services.runtime.clock import now
from services.runtime.errors import FailedPrecondition
from services.runtime.shop_settings import ShopSettings

ORDERS, PAYMENTS = "ordering.orders.v1", "paying.payments.v1"
# administering's defaults (administering/v1/events.proto), until it has published its values.
DEFAULT_TAX_RATES = {"standard": 2000, "reduced": 550, "super_reduced": 210, "zero": 0}


class BillingHandlers:
    def __init__(self, books: Books, seller: Party, settings: ShopSettings) -> None:
        self.books, self.seller, self.settings = books, seller, settings

    def register(self, bus: EventBus) -> None:
        bus.on(ORDERS, "order_created", self.order_created)
        bus.on(ORDERS, "order_confirmed", self.order_confirmed)
        bus.on(ORDERS, "order_cancelled", self.order_cancelled)
        bus.on(PAYMENTS, "payment_refunded", self.payment_refunded)
        for tax_class in domain.TAX_CLASSES:
            self.settings.on_change(f"{domain.TAX_RATE_SETTING_PREFIX}{tax_class}", self.tax_rate_changed)

    async def order_created(self, event: EventContext) -> None:
        """The draft invoice, holding any refund paying reported before the order reached billing."""
        created, work, at = event.event, event.work, now()
        await work.lock((self.books.invoices, created.order_id), (self.books.awaiting, created.order_id))
        waiting = work.get(self.books.awaiting, created.order_id)
        change = domain.draft_invoice(
            work.get(self.books.invoices, created.order_id), messages.order_to_invoice_record(created, received_at=at),
            invoice_id=str(uuid.uuid4()), seller=self.seller, now=at,
            refunds_awaiting=waiting.refunds if waiting else ())
        self.books.save(work, change, event.publish)
        if waiting is not None:
            work.delete(self.books.awaiting, created.order_id)

    async def order_confirmed(self, event: EventContext) -> None:
        """Final, with the year's next number (and a credit note for each refund held on the draft)."""
        confirmed, work, at = event.event, event.work, now()
        invoice_counter = counter_key(INVOICE_PREFIX, at.year)
        credit_note_counter = counter_key(CREDIT_NOTE_PREFIX, at.year)
        # The invoice and the year's counters in one lock call: numbers stay gapless and unique.
        await work.lock((self.books.invoices, confirmed.order_id), (self.books.counters, invoice_counter),
                        (self.books.counters, credit_note_counter))
        invoice = work.get(self.books.invoices, confirmed.order_id)
        if invoice is None:
            raise FailedPrecondition(f"order {confirmed.order_number or confirmed.order_id} was confirmed, but "
                                     "billing has no draft invoice for it (its OrderCreated was not handled)")
        change = domain.finalize_invoice(
            invoice, invoice_counter=work.get(self.books.counters, invoice_counter),
            credit_note_counter=work.get(self.books.counters, credit_note_counter), now=at,
            new_credit_note_id=lambda: str(uuid.uuid4()))
        self.books.save(work, change, event.publish)

    async def order_cancelled(self, event: EventContext) -> None:
        """A draft is voided; a final invoice stays and is credited when the refund arrives."""
        cancelled, work = event.event, event.work
        await work.lock((self.books.invoices, cancelled.order_id))
        invoice = work.get(self.books.invoices, cancelled.order_id)
        if invoice is not None:
            change = domain.void_invoice(invoice, reason=messages.cancellation_reason_record(cancelled), now=now())
            self.books.save(work, change, event.publish)

    async def payment_refunded(self, event: EventContext) -> None:
        """One credit note per refund; held on a draft, or kept until the order's invoice exists."""
        refund, work, at = messages.refund_to_credit_record(event.event), event.work, now()
        credit_note_counter = counter_key(CREDIT_NOTE_PREFIX, at.year)
        await work.lock((self.books.invoices, refund.order_id), (self.books.awaiting, refund.order_id),
                        (self.books.counters, credit_note_counter))
        invoice = work.get(self.books.invoices, refund.order_id)
        if invoice is None:  # paying's topic ran ahead of ordering's
            waiting = domain.await_invoice(work.get(self.books.awaiting, refund.order_id), refund)
            work.put(self.books.awaiting, refund.order_id, waiting)
            return
        change = domain.credit_refund(invoice, refund, credit_note_counter=work.get(self.books.counters,
                                                                                    credit_note_counter),
                                      credit_note_id=str(uuid.uuid4()), now=at)
        self.books.save(work, change, event.publish)

    async def tax_rate_changed(self, event: EventContext, value: Any) -> None:
        tax_class = domain.tax_class_of_setting(event.event.name)
        assert tax_class is not None  # listeners are registered for the tax-rate settings only
        await set_tax_rate(event.work, self.books, tax_class, int(value), updated_by=domain.UPDATED_BY_SETTINGS)
