"""BillingService over gRPC, and the stores the servicer and the handlers share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from billing.v1 import billing_service_pb2 as api
from billing.v1.billing_service_pb2_grpc import BillingServiceServicer

from services.billing import domain, messages, pdf
from services.billing.domain import CreditNote, Invoice, InvoiceStatus
from services.billing.stores import Books, set_tax_rate
from services.runtime import auth, proto
from services.runtime.bus import EventBus
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.paging import SortKey, instant, paginate
from services.runtime.proto import to_datetime

LIST_PAGE_SIZE = 50  # a list's page when the request asks for none, as it has always been here
PDF_CHUNK_BYTES = 64 * 1024


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

    def _invoice(self, invoice_id: str) -> Invoice:
        """The invoice, if the caller may see it (a customer only their own: another's is NOT_FOUND)."""
        invoice = self.books.invoice(invoice_id)
        auth.owned_by(invoice.customer.party_id, f"invoice {invoice_id!r}")
        return invoice

    def _credit_note(self, credit_note_id: str) -> CreditNote:
        note = self.books.credit_note(credit_note_id)
        self._invoice(note.invoice_id)  # a credit note is its invoice's customer's
        return note

    async def GetInvoice(self, request: api.GetInvoiceRequest,
                         context: grpc.aio.ServicerContext) -> api.GetInvoiceResponse:
        return api.GetInvoiceResponse(invoice=messages.invoice(self._invoice(request.invoice_id)))

    async def GetOrderInvoice(self, request: api.GetOrderInvoiceRequest,
                              context: grpc.aio.ServicerContext) -> api.GetOrderInvoiceResponse:
        if not request.order_id:
            raise InvalidArgument("order id is missing")
        found = self.books.invoices.get(request.order_id)
        if found is not None:
            auth.owned_by(found.customer.party_id, f"invoice of order {request.order_id!r}")
        if found is None:
            raise NotFound(f"order {request.order_id!r} has no invoice (yet: billing drafts it shortly after "
                           "the order is created)")
        return api.GetOrderInvoiceResponse(invoice=messages.invoice(found))

    async def ListInvoices(self, request: api.ListInvoicesRequest,
                           context: grpc.aio.ServicerContext) -> api.ListInvoicesResponse:
        statuses = {messages.status_record(value) for value in request.statuses}
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

        page = paginate(filter(wanted, self.books.invoices.values()), sort_key=_newest_first, descending=True,
                        filters=[request.customer_id, sorted(statuses), after, before],
                        page_size=request.page.page_size, page_token=request.page.page_token,
                        default_size=LIST_PAGE_SIZE)
        return api.ListInvoicesResponse(invoices=[messages.invoice(i) for i in page.items], page=proto.page(page))

    async def GetInvoicePdf(self, request: api.GetInvoicePdfRequest,
                            context: grpc.aio.ServicerContext) -> AsyncIterator[api.GetInvoicePdfResponse]:
        invoice = self._invoice(request.invoice_id)
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
        return api.GetCreditNoteResponse(credit_note=messages.credit_note(self._credit_note(request.credit_note_id)))

    async def ListCreditNotes(self, request: api.ListCreditNotesRequest,
                              context: grpc.aio.ServicerContext) -> api.ListCreditNotesResponse:
        invoice = self._invoice(request.invoice_id)
        notes = [self.books.credit_note(note_id) for note_id in invoice.credit_note_ids]
        return api.ListCreditNotesResponse(credit_notes=[messages.credit_note(note) for note in notes])

    async def GetCreditNotePdf(self, request: api.GetCreditNotePdfRequest,
                               context: grpc.aio.ServicerContext) -> AsyncIterator[api.GetCreditNotePdfResponse]:
        note = self._credit_note(request.credit_note_id)
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


def _newest_first(invoice: Invoice) -> SortKey:
    return instant(invoice.created_at), invoice.invoice_id
