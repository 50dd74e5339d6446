"""Billing's state: the books (invoices, credit notes, their counters and the tax rates) and the topic it publishes on.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

from services.billing import domain, messages
from services.billing.domain import (
    BillingChange,
    BillingEvent,
    CreditNote,
    CreditNoteIssued,
    DocumentCounter,
    Invoice,
    InvoiceDrafted,
    RefundsAwaitingInvoice,
    TaxRate,
)
from services.runtime.bus import EventBus, Publish
from services.runtime.clock import now
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.store import JsonCodec
from services.runtime.transactions import UnitOfWork

TOPIC = "billing.invoices.v1"


class Books:
    """Billing's stores. Invoices are keyed by order id (an order has one invoice), so the order's
    record is the lock every change of its billing takes; numbers come from one counter per kind
    and year, locked with the invoice by the unit of work that takes a number."""

    def __init__(self, bus: EventBus) -> None:
        self.invoices = bus.store("invoices", JsonCodec(Invoice))
        self.order_of_invoice = bus.store("invoice-orders", JsonCodec(str))  # written once, never changed
        self.credit_notes = bus.store("credit-notes", JsonCodec(CreditNote))
        self.counters = bus.store("counters", JsonCodec(DocumentCounter))
        self.awaiting = bus.store("refunds-awaiting-invoice", JsonCodec(RefundsAwaitingInvoice))
        self.tax_rates = bus.store("tax-rates", JsonCodec(TaxRate))

    def invoice(self, invoice_id: str) -> Invoice:
        if not invoice_id:
            raise InvalidArgument("invoice id is missing")
        order_id = self.order_of_invoice.get(invoice_id)
        found = self.invoices.get(order_id) if order_id else None
        if found is None:
            raise NotFound(f"no invoice {invoice_id!r}")
        return found

    def credit_note(self, credit_note_id: str) -> CreditNote:
        if not credit_note_id:
            raise InvalidArgument("credit note id is missing")
        found = self.credit_notes.get(credit_note_id)
        if found is None:
            raise NotFound(f"no credit note {credit_note_id!r}")
        return found

    def save(self, work: UnitOfWork, change: BillingChange, publish: Publish) -> None:
        """Store everything a use case changed and publish its events, in one unit of work."""
        invoice = change.invoice
        if work.get(self.invoices, invoice.order_id) is None:
            work.put(self.order_of_invoice, invoice.invoice_id, invoice.order_id)
        if work.get(self.invoices, invoice.order_id) != invoice:
            work.put(self.invoices, invoice.order_id, invoice)
        for note in change.credit_notes:
            work.put(self.credit_notes, note.credit_note_id, note)
        for counter in change.counters:
            work.put(self.counters, counter.key, counter)
        for event in change.events:
            publish(TOPIC, invoice.order_id, aggregate_version=_version(event, invoice), **messages.event(event))


async def set_tax_rate(work: UnitOfWork, books: Books, tax_class: str, rate_bps: int, *, updated_by: str) -> TaxRate:
    """The one write of a rate, for SetTaxRate and for the tax-rate settings alike."""
    await work.lock((books.tax_rates, tax_class))
    rate, changed = domain.set_tax_rate(work.get(books.tax_rates, tax_class), tax_class=tax_class,
                                        rate_bps=rate_bps, updated_by=updated_by, now=now())
    if changed:
        work.put(books.tax_rates, tax_class, rate)
    return rate



def _version(event: BillingEvent, invoice: Invoice) -> int:
    """The order's billing events count 1 (drafted), 2 (finalised or voided), then one per credit note."""
    if isinstance(event, InvoiceDrafted):
        return 1
    if isinstance(event, CreditNoteIssued):
        return 3 + invoice.credit_note_ids.index(event.credit_note_id)
    return 2
