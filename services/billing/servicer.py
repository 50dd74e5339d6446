"""BillingService over gRPC, and the stores the servicer and the handlers share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from billing.v1 import billing_service_pb2 as api
from billing.v1.billing_service_pb2_grpc import BillingServiceServicer

from services.billing import domain, messages, pdf
from services.billing.domain import (
    BillingChange,
    BillingEvent,
    CreditNote,
    CreditNoteIssued,
    DocumentCounter,
    Invoice,
    InvoiceDrafted,
    InvoiceStatus,
    RefundsAwaitingInvoice,
    TaxRate,
)
from services.runtime.bus import EventBus
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.proto import to_datetime
from services.runtime.store import JsonCodec
from services.runtime.transactions import UnitOfWork

TOPIC = "billing.invoices.v1"
PDF_CHUNK_BYTES = 64 * 1024
Publish = Callable[..., Any]  # bus.publish bound to a unit of work, or EventContext.publish


def now() -> datetime:
    return datetime.now(UTC)


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


def _version(event: BillingEvent, invoice: Invoice) -> int:
    """The order's billing events count 1 (drafted), 2 (finalised or voided), then one per credit note."""
    if isinstance(event, InvoiceDrafted):
        return 1
    if isinstance(event, CreditNoteIssued):
        return 3 + invoice.credit_note_ids.index(event.credit_note_id)
    return 2


async def pdf_stream(response: Callable[..., Any], filename: str, render: Callable[[], bytes],
                     ) -> AsyncIterator[Any]:
    """A header, then the file in chunks of at most 64 KiB. Rendering is CPU work: off the event loop."""
    data = await asyncio.to_thread(render)
    yield response(header=api.PdfHeader(filename=filename, content_type="application/pdf", size_bytes=len(data)))
    for start in range(0, len(data), PDF_CHUNK_BYTES):
        yield response(chunk=data[start:start + PDF_CHUNK_BYTES])


class BillingServicer(BillingServiceServicer):
    def __init__(self, bus: EventBus, books: Books) -> None:
        self.bus = bus
        self.books = books

    async def GetInvoice(self, request: api.GetInvoiceRequest,
                         context: grpc.aio.ServicerContext) -> api.GetInvoiceResponse:
        return api.GetInvoiceResponse(invoice=messages.invoice(self.books.invoice(request.invoice_id)))

    async def GetOrderInvoice(self, request: api.GetOrderInvoiceRequest,
                              context: grpc.aio.ServicerContext) -> api.GetOrderInvoiceResponse:
        if not request.order_id:
            raise InvalidArgument("order id is missing")
        found = self.books.invoices.get(request.order_id)
        if found is None:
            raise NotFound(f"order {request.order_id!r} has no invoice (yet: billing drafts it shortly after "
                           "the order is created)")
        return api.GetOrderInvoiceResponse(invoice=messages.invoice(found))

    async def ListInvoices(self, request: api.ListInvoicesRequest,
                           context: grpc.aio.ServicerContext) -> api.ListInvoicesResponse:
        statuses = {messages.status_from_proto(value) for value in request.statuses}
        after = to_datetime(request.issued_after) if request.HasField("issued_after") else None
        before = to_datetime(request.issued_before) if request.HasField("issued_before") else None
        if after is not None and before is not None and before <= after:
            raise InvalidArgument(f"issued_before ({before.isoformat()}) must be after issued_after "
                                  f"({after.isoformat()})")

        def wanted(invoice: Invoice) -> bool:
            if request.customer_id and invoice.customer.party_id != request.customer_id:
                return False
            if statuses and invoice.status not in statuses:
                return False
            if after is None and before is None:
                return True
            issued = invoice.issued_at
            return issued is not None and (after is None or issued >= after) and (before is None or issued < before)

        chosen = sorted(filter(wanted, self.books.invoices.values()), key=_newest_first, reverse=True)
        shown, page = messages.page(chosen, _newest_first, request.page)
        return api.ListInvoicesResponse(invoices=[messages.invoice(i) for i in shown], page=page)

    async def GetInvoicePdf(self, request: api.GetInvoicePdfRequest,
                            context: grpc.aio.ServicerContext) -> AsyncIterator[api.GetInvoicePdfResponse]:
        invoice = self.books.invoice(request.invoice_id)
        if invoice.status is InvoiceStatus.DRAFT:
            raise FailedPrecondition(f"invoice {invoice.invoice_id} of order {invoice.order_number} is still a draft: "
                                     "its PDF exists once the order is confirmed")
        if invoice.status is InvoiceStatus.VOID:
            raise FailedPrecondition(f"invoice {invoice.invoice_id} of order {invoice.order_number} was voided: "
                                     "it has no PDF")
        async for part in pdf_stream(api.GetInvoicePdfResponse, f"{invoice.invoice_number}.pdf",
                                     lambda: pdf.render_invoice_pdf(invoice)):
            yield part

    async def GetCreditNote(self, request: api.GetCreditNoteRequest,
                            context: grpc.aio.ServicerContext) -> api.GetCreditNoteResponse:
        return api.GetCreditNoteResponse(credit_note=messages.credit_note(
            self.books.credit_note(request.credit_note_id)))

    async def ListCreditNotes(self, request: api.ListCreditNotesRequest,
                              context: grpc.aio.ServicerContext) -> api.ListCreditNotesResponse:
        invoice = self.books.invoice(request.invoice_id)
        notes = [self.books.credit_note(note_id) for note_id in invoice.credit_note_ids]
        return api.ListCreditNotesResponse(credit_notes=[messages.credit_note(note) for note in notes])

    async def GetCreditNotePdf(self, request: api.GetCreditNotePdfRequest,
                               context: grpc.aio.ServicerContext) -> AsyncIterator[api.GetCreditNotePdfResponse]:
        note = self.books.credit_note(request.credit_note_id)
        async for part in pdf_stream(api.GetCreditNotePdfResponse, f"{note.credit_note_number}.pdf",
                                     lambda: pdf.render_credit_note_pdf(note)):
            yield part

    async def ListTaxRates(self, request: api.ListTaxRatesRequest,
                           context: grpc.aio.ServicerContext) -> api.ListTaxRatesResponse:
        rates = domain.list_tax_rates(self.books.tax_rates.values())
        return api.ListTaxRatesResponse(tax_rates=[messages.tax_rate(rate) for rate in rates])

    async def GetTaxRate(self, request: api.GetTaxRateRequest,
                         context: grpc.aio.ServicerContext) -> api.GetTaxRateResponse:
        domain.check_tax_class(request.tax_class)
        rate = self.books.tax_rates.get(request.tax_class)
        if rate is None:
            raise NotFound(f"no rate is set for tax class {request.tax_class!r} yet")
        return api.GetTaxRateResponse(tax_rate=messages.tax_rate(rate))

    async def SetTaxRate(self, request: api.SetTaxRateRequest,
                         context: grpc.aio.ServicerContext) -> api.SetTaxRateResponse:
        domain.check_tax_class(request.tax_class)
        async with self.bus.unit_of_work() as work:
            rate = await set_tax_rate(work, self.books, request.tax_class, request.rate_bps, updated_by="staff")
        return api.SetTaxRateResponse(tax_rate=messages.tax_rate(rate))


async def set_tax_rate(work: UnitOfWork, books: Books, tax_class: str, rate_bps: int, *, updated_by: str) -> TaxRate:
    """The one write of a rate, for SetTaxRate and for the tax-rate settings alike."""
    await work.lock((books.tax_rates, tax_class))
    rate, changed = domain.set_tax_rate(work.get(books.tax_rates, tax_class), tax_class=tax_class,
                                        rate_bps=rate_bps, updated_by=updated_by, now=now())
    if changed:
        work.put(books.tax_rates, tax_class, rate)
    return rate


def _newest_first(invoice: Invoice) -> str:
    return f"{invoice.created_at.isoformat()}|{invoice.invoice_id}"
