"""billing as a real process on the real broker: ordering's and paying's events and the tax-rate
settings in, invoices, credit notes, their PDFs and billing's events out; every RPC; bad input
refused with a readable status."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from administering.v1 import events_pb2 as admin_events
from billing.v1 import billing_service_pb2 as api
from billing.v1 import invoice_pb2
from billing.v1.billing_service_pb2_grpc import BillingServiceStub
from google.protobuf.timestamp_pb2 import Timestamp
from ordering.v1 import events_pb2 as ordering_events
from ordering.v1 import order_pb2
from paying.v1 import events_pb2 as paying_events
from paying.v1 import payment_pb2
from pypdf import PdfReader
from shop.common.v1.address_pb2 import Address
from shop.common.v1.money_pb2 import Money
from shop.common.v1.paging_pb2 import PageRequest

from services.billing.domain import tax_on_net
from services.runtime.inprocess import Service
from tests.services.support import in_process, refused
from tools.platform import Platform

ORDERS, PAYMENTS, INVOICES, SETTINGS = ("ordering.orders.v1", "paying.payments.v1", "billing.invoices.v1",
                                        "administering.settings.v1")
YEAR = datetime.now(UTC).year


async def start_billing(platform: Platform) -> Any:
    await platform.start("billing", BILLING_SELLER_NAME="Maison Lumière SAS")
    return platform.stub("billing", BillingServiceStub)


@pytest.fixture(scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                 schema_registry_url: str) -> AsyncIterator[Platform]:
    """One billing process for the tests that work on orders of their own; the numbering test has its own."""
    running = Platform(tmp_path_factory.mktemp("billing"), kafka_bootstrap, schema_registry_url,
                       f"t{uuid.uuid4().hex[:12]}")
    try:
        await start_billing(running)
        yield running
    finally:
        await running.close()


@pytest.fixture(scope="module")
async def local(schema_registry_url: str) -> AsyncIterator[tuple[Service, Any]]:
    """Billing in this process: the bad-input table needs no broker."""
    async with in_process("billing", schema_registry_url) as (service, channel):
        yield service, BillingServiceStub(channel)


@pytest.fixture(scope="module")
def stub(shared: Platform) -> Any:
    return shared.stub("billing", BillingServiceStub)


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


def line(sku: str, quantity: int, unit_price: int, tax_class: str, rate: int) -> order_pb2.OrderLine:
    subtotal = quantity * unit_price
    tax = tax_on_net(subtotal, rate)
    return order_pb2.OrderLine(
        sku=sku, product_id=f"prod-{sku}", seller_id="sel-1", name=f"Product {sku}", quantity=quantity,
        unit_price=eur(unit_price), tax_class=tax_class, tax_rate_bps=rate, subtotal=eur(subtotal), discount=eur(0),
        tax=eur(tax), line_total=eur(subtotal + tax))


LINES = [line("LAMP-1", 1, 8_990, "standard", 2000), line("BOOK-7", 2, 2_450, "reduced", 550)]
SHIPPING = 495
TAX = sum(ln.tax.amount_minor for ln in LINES)
SUBTOTAL = sum(ln.subtotal.amount_minor for ln in LINES)
TOTAL = SUBTOTAL + TAX + SHIPPING
ADDRESS = Address(full_name="Camille Dupont", line1="12 rue des Lilas", postal_code="69003", city="Lyon",
                  country_code="FR")


def order_created(order_id: str) -> ordering_events.OrderCreated:
    created_at = Timestamp()
    created_at.GetCurrentTime()
    return ordering_events.OrderCreated(
        order_id=order_id, order_number=f"ORD-{order_id[:8]}", customer_id="cus-42",
        customer_email="camille@example.org", currency="EUR", lines=LINES,
        totals=order_pb2.OrderTotals(subtotal=eur(SUBTOTAL), discount=eur(0), shipping=eur(SHIPPING), tax=eur(TAX),
                                     total=eur(TOTAL)),
        shipping_address=ADDRESS, billing_address=ADDRESS, payment_method="card", created_at=created_at,
        shipping_option=order_pb2.OrderShippingOption(shipping_option_id="colissimo.standard",
                                                      carrier_code="colissimo", carrier_name="Colissimo",
                                                      service_level="standard", price=eur(SHIPPING)))


def order_confirmed(order_id: str) -> ordering_events.OrderConfirmed:
    return ordering_events.OrderConfirmed(order_id=order_id, order_number=f"ORD-{order_id[:8]}",
                                          customer_id="cus-42", currency="EUR", payment_id=f"pay-{order_id}")


def order_cancelled(order_id: str) -> ordering_events.OrderCancelled:
    return ordering_events.OrderCancelled(order_id=order_id, order_number=f"ORD-{order_id[:8]}",
                                          customer_id="cus-42", reason=order_pb2.CANCELLATION_REASON_OUT_OF_STOCK,
                                          note="LAMP-1: 1 asked, 0 available", currency="EUR")


def payment_refunded(order_id: str, refund_id: str, amount: int, *, sku: str = "") -> paying_events.PaymentRefunded:
    lines = [payment_pb2.RefundedLine(sku=sku, quantity=1, amount=eur(amount))] if sku else []
    return paying_events.PaymentRefunded(
        payment_id=f"pay-{order_id}", order_id=order_id, customer_id="cus-42", refund_id=refund_id,
        cause=payment_pb2.REFUND_CAUSE_ORDER_REFUND, amount=eur(amount), lines=lines, shipping_amount=eur(0),
        reason="arrived scratched")


async def billing_events(platform: Platform, order_id: str, kind: str, at_least: int = 1) -> list[Any]:
    return [getattr(e, kind) for e in await platform.events(
        INVOICES, at_least=at_least, where=lambda e: e.metadata.aggregate_id == order_id and e.HasField(kind))]


async def download(call: Any) -> tuple[Any, bytes]:
    """A PDF stream: its header, and its chunks joined (each at most 64 KiB)."""
    parts = [part async for part in call]
    assert parts[0].WhichOneof("part") == "header"
    chunks = [part.chunk for part in parts[1:]]
    assert all(part.WhichOneof("part") == "chunk" for part in parts[1:])
    assert all(0 < len(chunk) <= 64 * 1024 for chunk in chunks)
    data = b"".join(chunks)
    assert parts[0].header.size_bytes == len(data) and parts[0].header.content_type == "application/pdf"
    return parts[0].header, data


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def test_order_created_drafts_the_invoice_and_cancellation_voids_it(shared: Platform, stub: Any) -> None:
    order_id = str(uuid.uuid4())
    sent = await shared.publish(ORDERS, order_id, order_created=order_created(order_id))
    [drafted] = await billing_events(shared, order_id, "invoice_drafted")
    assert drafted.totals.gross.amount_minor == TOTAL and drafted.totals.tax.amount_minor == TAX
    assert drafted.order_number == f"ORD-{order_id[:8]}" and drafted.customer_id == "cus-42"

    invoice = (await stub.GetOrderInvoice(api.GetOrderInvoiceRequest(order_id=order_id))).invoice
    assert invoice.status == invoice_pb2.INVOICE_STATUS_DRAFT and not invoice.invoice_number
    assert [(ln.kind, ln.sku) for ln in invoice.lines] == [
        (invoice_pb2.LINE_KIND_PRODUCT, "LAMP-1"), (invoice_pb2.LINE_KIND_PRODUCT, "BOOK-7"),
        (invoice_pb2.LINE_KIND_SHIPPING, "")]
    assert [(b.tax_class, b.tax_rate_bps) for b in invoice.tax_breakdown] == [
        ("standard", 2000), ("reduced", 550), ("zero", 0)]
    assert invoice.seller.name == "Maison Lumière SAS" and invoice.customer.name == "Camille Dupont"
    assert (await stub.GetInvoice(api.GetInvoiceRequest(invoice_id=invoice.invoice_id))).invoice == invoice
    with pytest.raises(grpc.aio.AioRpcError) as no_pdf:
        await download(stub.GetInvoicePdf(api.GetInvoicePdfRequest(invoice_id=invoice.invoice_id)))
    assert no_pdf.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is still a draft" in (no_pdf.value.details() or "")

    shared.produce_envelope(ORDERS, sent)  # a duplicate changes nothing
    await shared.publish(ORDERS, order_id, order_cancelled=order_cancelled(order_id))
    [voided] = await billing_events(shared, order_id, "invoice_voided")
    assert voided.invoice_id == invoice.invoice_id and "out of stock (LAMP-1: 1 asked, 0 available)" in voided.reason
    envelopes = await shared.events(INVOICES, at_least=2, where=lambda e: e.metadata.aggregate_id == order_id)
    assert [e.metadata.aggregate_version for e in envelopes] == [1, 2]
    assert envelopes[0].metadata.causation_id == sent.metadata.event_id
    voided_invoice = (await stub.GetInvoice(api.GetInvoiceRequest(invoice_id=invoice.invoice_id))).invoice
    assert voided_invoice.status == invoice_pb2.INVOICE_STATUS_VOID and voided_invoice.void_reason == voided.reason


async def test_confirmations_number_invoices_without_gaps_and_the_pdf_carries_the_number(platform: Platform) -> None:
    stub = await start_billing(platform)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for order_id in (first, second):
        await platform.publish(ORDERS, order_id, order_created=order_created(order_id))
    await platform.publish(ORDERS, first, order_confirmed=order_confirmed(first))
    [finalized] = await billing_events(platform, first, "invoice_finalized")
    assert finalized.invoice_number == f"INV-{YEAR}-000001"
    await platform.publish(ORDERS, second, order_confirmed=order_confirmed(second))
    await platform.publish(ORDERS, first, order_confirmed=order_confirmed(first))  # again, under a new event id
    [finalized_second] = await billing_events(platform, second, "invoice_finalized")
    assert finalized_second.invoice_number == f"INV-{YEAR}-000002"

    invoice = (await stub.GetOrderInvoice(api.GetOrderInvoiceRequest(order_id=first))).invoice
    assert invoice.status == invoice_pb2.INVOICE_STATUS_FINAL and invoice.invoice_number == f"INV-{YEAR}-000001"
    header, data = await download(stub.GetInvoicePdf(api.GetInvoicePdfRequest(invoice_id=invoice.invoice_id)))
    assert header.filename == f"INV-{YEAR}-000001.pdf"
    text = pdf_text(data)
    assert f"INV-{YEAR}-000001" in text and "Maison Lumière SAS" in text and "Camille Dupont" in text

    # Twenty orders confirmed at once: twenty distinct, consecutive numbers.
    orders = [str(uuid.uuid4()) for _ in range(20)]
    await asyncio.gather(*(platform.publish(ORDERS, o, order_created=order_created(o)) for o in orders))
    await asyncio.gather(*(platform.publish(ORDERS, o, order_confirmed=order_confirmed(o)) for o in orders))
    wanted = set(orders)
    finals = await platform.events(INVOICES, at_least=20, within=60, where=lambda e: (
        e.metadata.aggregate_id in wanted and e.HasField("invoice_finalized")))
    numbers = sorted(e.invoice_finalized.invoice_number for e in finals)
    assert numbers == [f"INV-{YEAR}-{n:06d}" for n in range(3, 23)]
    assert len(await billing_events(platform, first, "invoice_finalized")) == 1

    listed = await stub.ListInvoices(api.ListInvoicesRequest(
        customer_id="cus-42", statuses=[invoice_pb2.INVOICE_STATUS_FINAL], page=PageRequest(page_size=15)))
    rest = await stub.ListInvoices(api.ListInvoicesRequest(
        customer_id="cus-42", statuses=[invoice_pb2.INVOICE_STATUS_FINAL],
        page=PageRequest(page_size=15, page_token=listed.page.next_page_token)))
    assert len(listed.invoices) == 15 and len(rest.invoices) == 7 and not rest.page.next_page_token
    assert len({i.invoice_id for i in (*listed.invoices, *rest.invoices)}) == 22
    tomorrow = Timestamp()
    tomorrow.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    assert not (await stub.ListInvoices(api.ListInvoicesRequest(issued_after=tomorrow))).invoices

    # Stopped, a tax rate changed meanwhile, started again: the stores come back, numbering goes on,
    # and the change billing had not handled yet reaches its rate table.
    platform.terminate("billing")
    setting = admin_events.SettingChanged(name="tax.rate_bps.standard",
                                          value=admin_events.SettingValue(basis_points=2100), version=1)
    await platform.publish(SETTINGS, setting.name, setting_changed=setting)
    await start_billing(platform)
    assert (await stub.GetInvoice(api.GetInvoiceRequest(invoice_id=invoice.invoice_id))).invoice == invoice
    after_restart = str(uuid.uuid4())
    await platform.publish(ORDERS, after_restart, order_created=order_created(after_restart))
    await platform.publish(ORDERS, after_restart, order_confirmed=order_confirmed(after_restart))
    [next_one] = await billing_events(platform, after_restart, "invoice_finalized")
    assert next_one.invoice_number == f"INV-{YEAR}-000023"
    rate = await eventually_rate(stub, "standard")
    assert (rate.rate_bps, rate.updated_by) == (2100, "settings")


async def test_refunds_become_credit_notes_with_their_pdf_even_when_they_arrive_first(
        shared: Platform, stub: Any) -> None:
    order_id = str(uuid.uuid4())
    await shared.publish(ORDERS, order_id, order_created=order_created(order_id))
    await shared.publish(ORDERS, order_id, order_confirmed=order_confirmed(order_id))
    [finalized] = await billing_events(shared, order_id, "invoice_finalized")

    refund = payment_refunded(order_id, "re-1", LINES[0].line_total.amount_minor, sku="LAMP-1")
    await shared.publish(PAYMENTS, order_id, payment_refunded=refund)
    await shared.publish(PAYMENTS, order_id, payment_refunded=refund)  # again under a new event id: one credit note
    [issued] = await billing_events(shared, order_id, "credit_note_issued")
    assert issued.invoice_number == finalized.invoice_number and issued.refund_id == "re-1"
    assert issued.totals.gross.amount_minor == LINES[0].line_total.amount_minor
    assert issued.totals.tax.amount_minor == LINES[0].tax.amount_minor and not issued.invoice_fully_credited

    notes = (await stub.ListCreditNotes(api.ListCreditNotesRequest(invoice_id=finalized.invoice_id))).credit_notes
    assert [n.credit_note_id for n in notes] == [issued.credit_note_id]
    note = (await stub.GetCreditNote(api.GetCreditNoteRequest(credit_note_id=issued.credit_note_id))).credit_note
    assert note == notes[0] and note.credit_note_number == issued.credit_note_number
    assert note.credit_note_number.startswith(f"CN-{YEAR}-")
    header, data = await download(stub.GetCreditNotePdf(api.GetCreditNotePdfRequest(
        credit_note_id=issued.credit_note_id)))
    assert header.filename == f"{note.credit_note_number}.pdf"
    text = pdf_text(data)
    assert note.credit_note_number in text and finalized.invoice_number in text
    invoice = (await stub.GetInvoice(api.GetInvoiceRequest(invoice_id=finalized.invoice_id))).invoice
    assert invoice.credited.amount_minor == issued.totals.gross.amount_minor
    assert list(invoice.credit_note_ids) == [issued.credit_note_id]

    # Paying's topic ahead of ordering's: the refund waits for the invoice, and is credited once it is final.
    early = str(uuid.uuid4())
    await shared.publish(PAYMENTS, early, payment_refunded=payment_refunded(early, "re-early", 1_000))
    await shared.drained("billing", PAYMENTS)
    await shared.publish(ORDERS, early, order_created=order_created(early))
    await shared.publish(ORDERS, early, order_confirmed=order_confirmed(early))
    [early_note] = await billing_events(shared, early, "credit_note_issued")
    assert early_note.refund_id == "re-early" and early_note.totals.gross.amount_minor == 1_000
    kinds = [e.WhichOneof("event") for e in await shared.events(
        INVOICES, at_least=3, where=lambda e: e.metadata.aggregate_id == early)]
    assert kinds == ["invoice_drafted", "invoice_finalized", "credit_note_issued"]


async def eventually_rate(stub: Any, tax_class: str, within: float = 30) -> Any:
    """The class's rate once billing has one (settings arrive as events)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return (await stub.GetTaxRate(api.GetTaxRateRequest(tax_class=tax_class))).tax_rate
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND and time.monotonic() < deadline, exc.details()
            await asyncio.sleep(0.2)


async def test_tax_rates_follow_the_settings_and_set_tax_rate(shared: Platform, stub: Any) -> None:
    setting = admin_events.SettingChanged(name="tax.rate_bps.super_reduced",
                                          value=admin_events.SettingValue(basis_points=260), changed_by="adm-1",
                                          version=1)
    await shared.publish(SETTINGS, setting.name, setting_changed=setting)
    rate = await eventually_rate(stub, "super_reduced")
    assert (rate.rate_bps, rate.updated_by) == (260, "settings")

    set_rate = (await stub.SetTaxRate(api.SetTaxRateRequest(tax_class="standard", rate_bps=1900))).tax_rate
    assert (set_rate.tax_class, set_rate.rate_bps, set_rate.updated_by) == ("standard", 1900, "staff")
    rates = (await stub.ListTaxRates(api.ListTaxRatesRequest())).tax_rates
    assert [(r.tax_class, r.rate_bps) for r in rates] == [("standard", 1900), ("super_reduced", 260)]


async def call(stub: Any, method: str, request: Any) -> Any:
    """A unary call, or a whole server stream."""
    result = getattr(stub, method)(request)
    if hasattr(result, "__aiter__"):
        return [part async for part in result]
    return await result


def _bad_requests() -> list[tuple[str, Any, grpc.StatusCode, str]]:
    missing = "00000000-0000-4000-8000-000000000404"  # fixed: xdist workers must collect the same test ids
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    later, earlier = Timestamp(seconds=2_000_000_000), Timestamp(seconds=1_900_000_000)
    return [
        ("GetInvoice", api.GetInvoiceRequest(), invalid, "invoice id is missing"),
        ("GetInvoice", api.GetInvoiceRequest(invoice_id=missing), not_found, f"no invoice '{missing}'"),
        ("GetOrderInvoice", api.GetOrderInvoiceRequest(), invalid, "order id is missing"),
        ("GetOrderInvoice", api.GetOrderInvoiceRequest(order_id=missing), not_found, "has no invoice"),
        ("ListInvoices", api.ListInvoicesRequest(statuses=[invoice_pb2.INVOICE_STATUS_UNSPECIFIED]), invalid,
         "invoice status filter must be one of"),
        ("ListInvoices", api.ListInvoicesRequest(issued_after=later, issued_before=earlier), invalid,
         "issued_before (2030-03-17T17:46:40+00:00) must be after issued_after"),
        ("ListInvoices", api.ListInvoicesRequest(page=PageRequest(page_size=-3)), invalid,
         "page_size must be 0 (the default) or more, got -3"),
        ("ListInvoices", api.ListInvoicesRequest(page=PageRequest(page_token="nope")), invalid,
         "page_token 'nope' is not one this list issued for these filters and this order"),
        ("GetInvoicePdf", api.GetInvoicePdfRequest(), invalid, "invoice id is missing"),
        ("GetInvoicePdf", api.GetInvoicePdfRequest(invoice_id=missing), not_found, "no invoice"),
        ("GetCreditNote", api.GetCreditNoteRequest(), invalid, "credit note id is missing"),
        ("GetCreditNote", api.GetCreditNoteRequest(credit_note_id=missing), not_found, "no credit note"),
        ("ListCreditNotes", api.ListCreditNotesRequest(), invalid, "invoice id is missing"),
        ("ListCreditNotes", api.ListCreditNotesRequest(invoice_id=missing), not_found, "no invoice"),
        ("GetCreditNotePdf", api.GetCreditNotePdfRequest(), invalid, "credit note id is missing"),
        ("GetCreditNotePdf", api.GetCreditNotePdfRequest(credit_note_id=missing), not_found, "no credit note"),
        ("GetTaxRate", api.GetTaxRateRequest(), invalid, "tax class must be one of"),
        ("GetTaxRate", api.GetTaxRateRequest(tax_class="luxury"), invalid, "got 'luxury'"),
        ("GetTaxRate", api.GetTaxRateRequest(tax_class="zero"), not_found, "no rate is set for tax class 'zero'"),
        ("SetTaxRate", api.SetTaxRateRequest(tax_class="luxury", rate_bps=100), invalid, "tax class must be one of"),
        ("SetTaxRate", api.SetTaxRateRequest(tax_class="reduced", rate_bps=-1), invalid, "from 0 to 10000, got -1"),
        ("SetTaxRate", api.SetTaxRateRequest(tax_class="reduced", rate_bps=10_001), invalid, "got 10001"),
        ("SetTaxRate", api.SetTaxRateRequest(tax_class="zero", rate_bps=5), invalid,
         'tax class "zero" always has rate 0'),
    ]


@pytest.mark.parametrize(("method", "request_", "code", "message"),
                         [pytest.param(*case, id=f"{case[0]}: {case[3]}") for case in _bad_requests()])
async def test_bad_input_is_refused_with_a_readable_status(local: tuple[Service, Any], method: str, request_: Any,
                                                           code: grpc.StatusCode, message: str) -> None:
    service, stub = local
    await refused(call(stub, method, request_), code, message, by=service)
