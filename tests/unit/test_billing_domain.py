"""Billing's rules without Kafka or gRPC: drafts, numbering, voids, credit notes, tax rates, PDFs."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from services.billing import domain, pdf
from services.billing.domain import (
    Address,
    CreditNote,
    CreditNoteIssued,
    DocumentCounter,
    Invoice,
    InvoiceDrafted,
    InvoiceFinalized,
    InvoiceStatus,
    InvoiceVoided,
    LineKind,
    OrderLine,
    OrderToInvoice,
    Party,
    RefundedLine,
    RefundToCredit,
    TaxBreakdown,
    Totals,
)
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.store import JsonCodec

T0 = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(days=3)

SELLER = Party(party_id="RCS Paris 912 345 678", name="Maison Lumière SAS", email="billing@lumiere.example",
               vat_number="FR40303265045",
               address=Address(line1="48 boulevard Voltaire", postal_code="75011", city="Paris", country_code="FR"))
BILLING = Address(full_name="Camille Dupont", line1="12 rue des Lilas", postal_code="69003", city="Lyon",
                  country_code="FR")
SHIPPING = Address(full_name="Camille Dupont", company="Atelier Dupont", line1="5 quai Saint-Antoine",
                   postal_code="69002", city="Lyon", country_code="FR")


def raises(error: type[Exception], text: str) -> pytest.RaisesExc[Exception]:
    """pytest.raises for an error whose message contains `text`, taken literally."""
    return pytest.raises(error, match=re.escape(text))


def order_line(sku: str, quantity: int, unit_price: int, tax_class: str = "standard", rate: int = 2000,
               discount: int = 0) -> OrderLine:
    """A line priced by the platform's rules, as carting prices it."""
    subtotal = unit_price * quantity
    tax = domain.tax_on_net(subtotal - discount, rate)
    return OrderLine(sku=sku, product_id=f"prod-{sku}", seller_id="sel-1", name=f"Product {sku}", quantity=quantity,
                     unit_price=unit_price, tax_class=tax_class, tax_rate_bps=rate, subtotal=subtotal,
                     discount=discount, tax=tax, line_total=subtotal - discount + tax)


LINES = (
    order_line("LAMP-01", 1, 8_990, discount=450),  # net 8540, tax 1708
    order_line("BOOK-7", 2, 2_450, "reduced", 550, discount=245),  # net 4655, tax 256.025 -> 256
    order_line("TEA-3", 3, 799, "reduced", 550, discount=120),  # net 2277, tax 125.235 -> 125
)


def make_order(lines: tuple[OrderLine, ...] = LINES, shipping: int = 1_495, order_id: str = "ord-1",
               **changes: object) -> OrderToInvoice:
    subtotal, discount, tax = (sum(getattr(line, name) for line in lines) for name in ("subtotal", "discount", "tax"))
    order = OrderToInvoice(
        order_id=order_id, order_number=f"ORD-2026-{order_id}", customer_id="cus-42",
        customer_email="camille@example.org", currency="EUR", lines=lines, subtotal=subtotal, discount=discount,
        shipping=shipping, tax=tax, total=subtotal - discount + shipping + tax, shipping_address=SHIPPING,
        billing_address=BILLING, carrier_name="Colissimo", service_level="express", payment_method="card",
        created_at=T0)
    return dataclasses.replace(order, **changes)  # type: ignore[arg-type]


def drafted(order: OrderToInvoice | None = None, invoice_id: str = "inv-1") -> Invoice:
    return domain.draft_invoice(None, order or make_order(), invoice_id=invoice_id, seller=SELLER, now=T0).invoice


class CreditNoteIds:
    """A deterministic id source, as the wiring passes a UUID factory."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"cn-{self.count}"


def finalized(invoice: Invoice | None = None, counter: DocumentCounter | None = None,
              now: datetime = T1) -> domain.BillingChange:
    return domain.finalize_invoice(invoice or drafted(), invoice_counter=counter, credit_note_counter=None, now=now,
                                   new_credit_note_id=CreditNoteIds())


def final_invoice() -> Invoice:
    return finalized().invoice


def a_refund(amount: int, refund_id: str = "ref-1", lines: tuple[RefundedLine, ...] = (), shipping: int = 0,
             currency: str = "EUR") -> RefundToCredit:
    return RefundToCredit(refund_id=refund_id, order_id="ord-1", order_refund_id=f"o{refund_id}", currency=currency,
                          amount=amount, lines=lines, shipping_amount=shipping, reason="damaged")


def credit(invoice: Invoice, refund: RefundToCredit, counter: DocumentCounter | None = None,
           now: datetime = T2, credit_note_id: str = "cn-1") -> domain.BillingChange:
    return domain.credit_refund(invoice, refund, credit_note_counter=counter, credit_note_id=credit_note_id, now=now)


# Rounding.

@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    (5, 10, 1), (4, 10, 0), (15, 10, 2), (14_999, 10_000, 1), (-5, 10, -1), (-4, 10, 0), (0, 7, 0)])
def test_division_rounds_halves_away_from_zero(numerator: int, denominator: int, expected: int) -> None:
    assert domain.divide_half_up(numerator, denominator) == expected


@pytest.mark.parametrize(("net", "rate", "tax"), [
    (8_540, 2000, 1_708), (4_655, 550, 256), (25, 2000, 5), (5, 1000, 1), (1, 550, 0), (10, 550, 1),
    (2_277, 550, 125), (100, 210, 2), (1_000, 0, 0)])
def test_tax_is_charged_on_net_rounded_half_up(net: int, rate: int, tax: int) -> None:
    assert domain.tax_on_net(net, rate) == tax


def test_the_tax_inside_a_whole_line_is_the_line_tax() -> None:
    """Why a line credited in full matches its invoice line: the formula worked back from the gross
    returns exactly the tax charged on the net, for every amount and rate."""
    for rate in (2000, 1000, 550, 210, 0):
        for net in range(0, 20_000, 7):
            tax = domain.tax_on_net(net, rate)
            assert domain.tax_in_gross(net + tax, rate) == tax


@pytest.mark.parametrize(("rate", "text"), [(2000, "20%"), (550, "5.5%"), (210, "2.1%"), (0, "0%"), (1_025, "10.25%")])
def test_rates_read_as_percentages(rate: int, text: str) -> None:
    assert domain.format_rate(rate) == text


@pytest.mark.parametrize(("total", "weights", "shares"), [
    (100, [1, 1, 1], [34, 33, 33]), (10, [3, 7], [3, 7]), (1, [1, 1], [1, 0]), (999, [5, 0, 5], [500, 0, 499]),
    (7, [10_248, 7_313, 1_495], [4, 3, 0])])
def test_an_amount_splits_in_proportion_to_the_minor_unit(total: int, weights: list[int], shares: list[int]) -> None:
    assert domain.split_in_proportion(total, weights) == shares
    assert sum(shares) == total


# Drafts.

def test_a_draft_reproduces_the_order_line_by_line() -> None:
    change = domain.draft_invoice(None, make_order(), invoice_id="inv-1", seller=SELLER, now=T0)
    invoice = change.invoice
    assert invoice.status is InvoiceStatus.DRAFT
    assert invoice.invoice_number == "" and invoice.issued_at is None
    lamp, book, tea, shipping = invoice.lines
    assert [line.line_number for line in invoice.lines] == [1, 2, 3, 4]
    assert (lamp.kind, lamp.sku, lamp.quantity, lamp.unit_price, lamp.discount) == (
        LineKind.PRODUCT, "LAMP-01", 1, 8_990, 450)
    assert (lamp.net_amount, lamp.tax_amount, lamp.gross_amount) == (8_540, 1_708, 10_248)
    assert (book.net_amount, book.tax_amount, book.gross_amount) == (4_655, 256, 4_911)
    assert (tea.net_amount, tea.tax_amount) == (2_277, 125)
    assert (shipping.kind, shipping.sku, shipping.tax_class, shipping.tax_rate_bps) == (
        LineKind.SHIPPING, "", "zero", 0)
    assert (shipping.net_amount, shipping.tax_amount, shipping.gross_amount) == (1_495, 0, 1_495)
    assert shipping.description == "Shipping: Colissimo express"


def test_a_draft_has_a_tax_breakdown_per_rate_highest_first_and_totals_equal_to_the_order() -> None:
    order = make_order()
    invoice = drafted(order)
    assert invoice.tax_breakdown == (
        TaxBreakdown("standard", 2000, net=8_540, tax=1_708),
        TaxBreakdown("reduced", 550, net=4_655 + 2_277, tax=256 + 125),
        TaxBreakdown("zero", 0, net=1_495, tax=0))
    assert invoice.totals == Totals(net=order.subtotal - order.discount + order.shipping, tax=order.tax,
                                    gross=order.total)


def test_a_draft_names_the_customer_and_addresses_and_says_it_was_drafted() -> None:
    change = domain.draft_invoice(None, make_order(), invoice_id="inv-1", seller=SELLER, now=T0)
    invoice = change.invoice
    assert invoice.customer == Party(party_id="cus-42", name="Camille Dupont", email="camille@example.org",
                                     address=BILLING)
    assert (invoice.seller, invoice.billing_address, invoice.shipping_address) == (SELLER, BILLING, SHIPPING)
    assert change.events == (InvoiceDrafted(invoice_id="inv-1", order_id="ord-1", order_number="ORD-2026-ord-1",
                                            customer_id="cus-42", currency="EUR", totals=invoice.totals,
                                            drafted_at=T0),)
    assert change.credit_notes == change.counters == ()


def test_free_shipping_makes_no_shipping_line() -> None:
    invoice = drafted(make_order(shipping=0))
    assert [line.kind for line in invoice.lines] == [LineKind.PRODUCT] * 3
    assert [entry.tax_class for entry in invoice.tax_breakdown] == ["standard", "reduced"]


def test_a_replayed_order_created_keeps_the_one_invoice() -> None:
    invoice = drafted()
    change = domain.draft_invoice(invoice, make_order(), invoice_id="inv-2", seller=SELLER, now=T1)
    assert change.invoice is invoice
    assert change.events == ()


@pytest.mark.parametrize(("order", "message"), [
    (make_order(currency=""), "order ORD-2026-ord-1 has no currency"),
    (make_order(lines=()), "has no lines to invoice"),
    (make_order(lines=(dataclasses.replace(LINES[0], tax=1_707),)),
     "line LAMP-01: tax is 1707, but 20% of 8540 rounded half up is 1708"),
    (make_order(lines=(dataclasses.replace(LINES[0], subtotal=9_000),)), "subtotal 9000 is not 1 x 8990"),
    (make_order(lines=(dataclasses.replace(LINES[0], line_total=1),)), "line total 1 is not subtotal - discount + tax"),
    (make_order(lines=(dataclasses.replace(LINES[0], discount=-1),)), "discount -1 must be between 0 and the subtotal"),
    (make_order(lines=(dataclasses.replace(LINES[0], quantity=0),)), "quantity must be positive"),
    (make_order(lines=(dataclasses.replace(LINES[0], tax_class="luxury"),)), "tax class must be one of"),
    (make_order(lines=(order_line("X", 1, 100, "zero", 2000),)), "rate 2000 is not valid for tax class 'zero'"),
    (make_order(tax=1), "tax is 1, but its lines add up to 2089"),
    (make_order(subtotal=1), "subtotal is 1, but its lines add up to"),
    (make_order(total=1), "total 1 is not subtotal - discount + shipping + tax"),
    (make_order(shipping=-1, total=make_order().total - 1_496), "shipping must not be negative"),
])
def test_an_order_whose_amounts_do_not_add_up_is_not_invoiced(order: OrderToInvoice, message: str) -> None:
    with raises(InvalidArgument, message):
        drafted(order)


# Finalisation and numbering.

def test_finalising_numbers_and_dates_the_invoice() -> None:
    draft = drafted()
    change = finalized(draft)
    invoice = change.invoice
    assert invoice.status is InvoiceStatus.FINAL
    assert invoice.invoice_number == "INV-2026-000001"
    assert invoice.issued_at == T1
    assert change.counters == (DocumentCounter("INV", 2026, 1),)
    assert change.events == (InvoiceFinalized(
        invoice_id="inv-1", invoice_number="INV-2026-000001", order_id="ord-1", order_number="ORD-2026-ord-1",
        customer_id="cus-42", currency="EUR", totals=draft.totals, issued_at=T1),)
    assert (invoice.lines, invoice.totals) == (draft.lines, draft.totals)


def test_finalising_twice_keeps_the_first_number_and_takes_none() -> None:
    invoice = final_invoice()
    change = finalized(invoice, counter=DocumentCounter("INV", 2026, 7))
    assert change.invoice is invoice
    assert change.events == change.counters == ()


def test_a_voided_invoice_cannot_become_final() -> None:
    voided = domain.void_invoice(drafted(), reason="out of stock", now=T1).invoice
    with raises(FailedPrecondition, "was voided: it cannot become final"):
        finalized(voided)


def test_numbers_are_gapless_and_start_again_each_year() -> None:
    """Finalising drafts in turn with the stored counter, as the wiring does: numbers follow each
    other; voided drafts and repeated finalisations take none; a new year starts at 000001."""
    counters: dict[str, DocumentCounter] = {}
    numbers = []
    moments = [datetime(2026, 12, 31, 23, 58, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
               datetime(2027, 1, 1, 0, 0, tzinfo=UTC), datetime(2027, 1, 1, 0, 1, tzinfo=UTC),
               datetime(2027, 6, 1, tzinfo=UTC)]
    for index, now in enumerate(moments):
        draft = drafted(make_order(order_id=f"o{index}"), invoice_id=f"inv-{index}")
        if index == 3:  # cancelled before confirmation: voided, no number
            domain.void_invoice(draft, reason="cancelled", now=now)
            continue
        key = domain.counter_key("INV", now.year)
        change = finalized(draft, counter=counters.get(key), now=now)
        again = finalized(change.invoice, counter=change.counters[0], now=now)  # a replayed OrderConfirmed
        assert again.counters == ()
        counters.update({c.key: c for c in change.counters})
        numbers.append(change.invoice.invoice_number)
    assert numbers == ["INV-2026-000001", "INV-2026-000002", "INV-2027-000001", "INV-2027-000002"]
    assert counters == {"INV-2026": DocumentCounter("INV", 2026, 2), "INV-2027": DocumentCounter("INV", 2027, 2)}


def test_numbers_have_six_digits_and_grow_beyond() -> None:
    assert domain.take_next_number(DocumentCounter("INV", 2026, 41), "INV", 2026)[1] == "INV-2026-000042"
    assert domain.take_next_number(DocumentCounter("CN", 2026, 999_999), "CN", 2026)[1] == "CN-2026-1000000"


def test_a_counter_of_another_year_or_kind_is_a_wiring_bug() -> None:
    with raises(ValueError, "counter INV-2025 was passed where INV-2026 was needed"):
        domain.take_next_number(DocumentCounter("INV", 2025, 3), "INV", 2026)
    with raises(ValueError, "counter CN-2026 was passed"):
        finalized(drafted(), counter=DocumentCounter("CN", 2026, 3))


# Voiding.

def test_a_cancelled_order_voids_its_draft_once() -> None:
    draft = drafted()
    change = domain.void_invoice(draft, reason="out of stock", now=T1)
    assert change.invoice.status is InvoiceStatus.VOID
    assert (change.invoice.void_reason, change.invoice.voided_at, change.invoice.invoice_number) == (
        "out of stock", T1, "")
    assert change.events == (InvoiceVoided(invoice_id="inv-1", order_id="ord-1", order_number="ORD-2026-ord-1",
                                           customer_id="cus-42", currency="EUR", totals=draft.totals,
                                           reason="out of stock", voided_at=T1),)
    again = domain.void_invoice(change.invoice, reason="again", now=T2)
    assert again.invoice is change.invoice and again.events == ()


def test_a_final_invoice_is_never_voided_but_credited() -> None:
    invoice = final_invoice()
    change = domain.void_invoice(invoice, reason="cancelled after confirmation", now=T2)
    assert change.invoice is invoice
    assert change.events == ()


# Credit notes.

def test_a_full_refund_credits_every_line_exactly() -> None:
    invoice = final_invoice()
    change = credit(invoice, a_refund(invoice.totals.gross))
    (note,) = change.credit_notes
    assert note.credit_note_number == "CN-2026-000001"
    assert (note.invoice_number, note.invoice_issued_at, note.refund_id, note.order_refund_id) == (
        "INV-2026-000001", T1, "ref-1", "oref-1")
    assert [(line.kind, line.invoice_line_number, line.quantity) for line in note.lines] == [
        (invoice_line.kind, invoice_line.line_number, invoice_line.quantity) for invoice_line in invoice.lines]
    assert [(line.net_amount, line.tax_amount) for line in note.lines] == [
        (line.net_amount, line.tax_amount) for line in invoice.lines]
    assert note.totals == invoice.totals
    assert note.tax_breakdown == invoice.tax_breakdown
    assert change.invoice.credited == invoice.totals.gross
    assert change.invoice.credit_note_ids == ("cn-1",)
    assert change.counters == (DocumentCounter("CN", 2026, 1),)
    assert change.events == (CreditNoteIssued(
        credit_note_id="cn-1", credit_note_number="CN-2026-000001", invoice_id="inv-1",
        invoice_number="INV-2026-000001", order_id="ord-1", order_number="ORD-2026-ord-1", customer_id="cus-42",
        refund_id="ref-1", order_refund_id="oref-1", currency="EUR", totals=invoice.totals,
        invoice_credited=invoice.totals.gross, invoice_fully_credited=True, issued_at=T2),)


def test_refunded_lines_and_shipping_are_credited_from_their_gross() -> None:
    invoice = final_invoice()
    refund = a_refund(2_455 + 1_495, lines=(RefundedLine("BOOK-7", 1, 2_455),), shipping=1_495)
    note = credit(invoice, refund).credit_notes[0]
    book, shipping = note.lines
    assert (book.kind, book.invoice_line_number, book.sku, book.quantity) == (LineKind.PRODUCT, 2, "BOOK-7", 1)
    assert (book.tax_amount, book.net_amount, book.gross_amount) == (128, 2_327, 2_455)  # 2455 x 550 / 10550
    assert (shipping.kind, shipping.invoice_line_number, shipping.tax_amount, shipping.net_amount) == (
        LineKind.SHIPPING, 4, 0, 1_495)
    assert note.totals == Totals(net=2_327 + 1_495, tax=128, gross=3_950)
    assert note.tax_breakdown == (TaxBreakdown("reduced", 550, 2_327, 128), TaxBreakdown("zero", 0, 1_495, 0))


def test_a_plain_amount_is_spread_over_the_rates_in_proportion() -> None:
    invoice = final_invoice()  # gross per rate: 10248 standard, 7313 reduced, 1495 zero
    note = credit(invoice, a_refund(1_000)).credit_notes[0]
    assert [(line.kind, line.tax_class, line.gross_amount) for line in note.lines] == [
        (LineKind.ADJUSTMENT, "standard", 538), (LineKind.ADJUSTMENT, "reduced", 384),
        (LineKind.ADJUSTMENT, "zero", 78)]
    standard = note.lines[0]
    assert (standard.tax_amount, standard.net_amount, standard.invoice_line_number) == (90, 448, 0)
    assert standard.description == "Refund at 20% tax (standard)"
    assert note.totals.gross == 1_000


def test_an_amount_beyond_the_lines_is_spread_too() -> None:
    invoice = final_invoice()
    note = credit(invoice, a_refund(2_455 + 100, lines=(RefundedLine("BOOK-7", 1, 2_455),))).credit_notes[0]
    assert [line.kind for line in note.lines] == [LineKind.PRODUCT, LineKind.ADJUSTMENT, LineKind.ADJUSTMENT,
                                                  LineKind.ADJUSTMENT]
    assert note.totals.gross == 2_555


def test_credit_notes_are_numbered_in_turn_and_track_what_is_credited() -> None:
    invoice = final_invoice()
    first = credit(invoice, a_refund(1_000))
    second = credit(first.invoice, a_refund(invoice.totals.gross - 1_000, refund_id="ref-2"), first.counters[0],
                    credit_note_id="cn-2")
    assert second.credit_notes[0].credit_note_number == "CN-2026-000002"
    assert second.invoice.credit_note_ids == ("cn-1", "cn-2")
    assert second.invoice.credited_refund_ids == ("ref-1", "ref-2")
    event = second.events[0]
    assert isinstance(event, CreditNoteIssued)
    assert (event.invoice_credited, event.invoice_fully_credited) == (invoice.totals.gross, True)
    first_event = first.events[0]
    assert isinstance(first_event, CreditNoteIssued) and not first_event.invoice_fully_credited


def test_credit_note_numbers_start_again_each_year() -> None:
    invoice = final_invoice()
    late = credit(invoice, a_refund(1_000), DocumentCounter("CN", 2026, 41),
                  now=datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    early = credit(late.invoice, a_refund(1_000, refund_id="ref-2"), None, now=datetime(2027, 1, 1, tzinfo=UTC),
                   credit_note_id="cn-2")
    assert late.credit_notes[0].credit_note_number == "CN-2026-000042"
    assert early.credit_notes[0].credit_note_number == "CN-2027-000001"
    assert early.counters == (DocumentCounter("CN", 2027, 1),)


def test_one_credit_note_per_refund() -> None:
    change = credit(final_invoice(), a_refund(1_000))
    again = credit(change.invoice, a_refund(1_000), change.counters[0], credit_note_id="cn-9")
    assert again.invoice is change.invoice
    assert again.events == again.credit_notes == again.counters == ()


@pytest.mark.parametrize(("refund", "error", "message"), [
    (a_refund(100_000), FailedPrecondition, "refund ref-1 of 100000 exceeds the 19056 left to credit"),
    (a_refund(100, currency="USD"), InvalidArgument, "refund ref-1 is in USD, invoice inv-1 in EUR"),
    (a_refund(0), InvalidArgument, "amount must be positive, got 0"),
    (a_refund(100, lines=(RefundedLine("NOPE", 1, 100),)), InvalidArgument, "pays back SKU NOPE, which is not on"),
    (a_refund(100, lines=(RefundedLine("LAMP-01", 2, 100),)), InvalidArgument, "the invoice has 1 for 10248"),
    (a_refund(100, shipping=2_000), InvalidArgument, "gives back 2000 of shipping; the invoice charged 1495"),
    (a_refund(100, lines=(RefundedLine("LAMP-01", 1, 200),)), InvalidArgument, "add up to more than its amount 100"),
])
def test_a_refund_that_does_not_fit_the_invoice_is_refused(refund: RefundToCredit, error: type[Exception],
                                                           message: str) -> None:
    with raises(error, message):
        credit(final_invoice(), refund)


def test_nothing_is_credited_beyond_the_invoice() -> None:
    invoice = final_invoice()
    change = credit(invoice, a_refund(invoice.totals.gross))
    with raises(FailedPrecondition, "exceeds the 0 left to credit"):
        credit(change.invoice, a_refund(1, refund_id="ref-2"), change.counters[0])


def test_a_refund_of_a_draft_is_held_and_credited_when_final() -> None:
    draft = drafted()
    held = credit(draft, a_refund(1_000))
    assert held.events == held.credit_notes == held.counters == ()
    assert held.invoice.held_refunds == (a_refund(1_000),)
    assert credit(held.invoice, a_refund(1_000)).invoice is held.invoice  # held once
    held_twice = credit(held.invoice, a_refund(2_000, refund_id="ref-2")).invoice
    change = domain.finalize_invoice(held_twice, invoice_counter=DocumentCounter("INV", 2026, 4),
                                     credit_note_counter=DocumentCounter("CN", 2026, 9), now=T1,
                                     new_credit_note_id=CreditNoteIds())
    assert [type(e) for e in change.events] == [InvoiceFinalized, CreditNoteIssued, CreditNoteIssued]
    assert [note.credit_note_number for note in change.credit_notes] == ["CN-2026-000010", "CN-2026-000011"]
    assert [note.credit_note_id for note in change.credit_notes] == ["cn-1", "cn-2"]
    assert sorted(change.counters, key=lambda c: c.prefix) == [DocumentCounter("CN", 2026, 11),
                                                                DocumentCounter("INV", 2026, 5)]
    assert change.invoice.held_refunds == ()
    assert change.invoice.credited == 3_000
    assert change.invoice.invoice_number == "INV-2026-000005"


def test_a_held_refund_is_checked_when_it_arrives() -> None:
    with raises(FailedPrecondition, "exceeds"):
        credit(drafted(), a_refund(100_000))
    held = credit(drafted(), a_refund(19_000)).invoice
    with raises(FailedPrecondition, "exceeds the 56 left to credit"):
        credit(held, a_refund(100, refund_id="ref-2"))


def test_a_voided_invoice_needs_no_credit_note() -> None:
    held = credit(drafted(), a_refund(1_000)).invoice
    voided = domain.void_invoice(held, reason="cancelled", now=T1).invoice
    assert voided.held_refunds == ()
    change = credit(voided, a_refund(5_000, refund_id="ref-2"))
    assert change.invoice is voided
    assert change.events == ()


def test_refunds_that_came_before_the_order_are_held_on_its_draft() -> None:
    waiting = domain.await_invoice(None, a_refund(1_000))
    waiting = domain.await_invoice(waiting, a_refund(1_000))
    waiting = domain.await_invoice(waiting, a_refund(500, refund_id="ref-2"))
    assert waiting.order_id == "ord-1"
    assert [refund.refund_id for refund in waiting.refunds] == ["ref-1", "ref-2"]
    change = domain.draft_invoice(None, make_order(), invoice_id="inv-1", seller=SELLER, now=T0,
                                  refunds_awaiting=waiting.refunds)
    assert change.invoice.held_refunds == waiting.refunds
    assert [type(e) for e in change.events] == [InvoiceDrafted]


# Tax rates.

def test_a_tax_rate_is_set_and_setting_it_again_changes_nothing() -> None:
    rate, changed = domain.set_tax_rate(None, tax_class="reduced", rate_bps=550, updated_by="settings", now=T0)
    assert changed
    assert rate == domain.TaxRate(tax_class="reduced", rate_bps=550, updated_at=T0, updated_by="settings")
    same, changed_again = domain.set_tax_rate(rate, tax_class="reduced", rate_bps=550, updated_by="staff-1", now=T1)
    assert same is rate and not changed_again
    newer, changed = domain.set_tax_rate(rate, tax_class="reduced", rate_bps=600, updated_by="staff-1", now=T1)
    assert changed and (newer.rate_bps, newer.updated_by, newer.updated_at) == (600, "staff-1", T1)


@pytest.mark.parametrize(("tax_class", "rate", "message"), [
    ("luxury", 2000, "tax class must be one of standard, reduced, super_reduced, zero, got 'luxury'"),
    ("standard", -1, "from 0 to 10000, got -1"), ("standard", 10_001, "got 10001"),
    ("zero", 100, 'tax class "zero" always has rate 0, got 100')])
def test_a_bad_tax_rate_is_refused(tax_class: str, rate: int, message: str) -> None:
    with raises(InvalidArgument, message):
        domain.set_tax_rate(None, tax_class=tax_class, rate_bps=rate, updated_by="staff-1", now=T0)


def test_tax_rates_come_from_their_settings_and_list_highest_first() -> None:
    assert domain.tax_class_of_setting("tax.rate_bps.super_reduced") == "super_reduced"
    assert domain.tax_class_of_setting("shop.currency") is None
    rates = [domain.set_tax_rate(None, tax_class=c, rate_bps=r, updated_by="settings", now=T0)[0]
             for c, r in (("zero", 0), ("reduced", 550), ("standard", 2000), ("super_reduced", 210))]
    assert [rate.tax_class for rate in domain.list_tax_rates(rates)] == ["standard", "reduced", "super_reduced",
                                                                         "zero"]


# Records round-trip through the store.

def test_documents_and_counters_round_trip_through_the_store_codec() -> None:
    held = credit(drafted(), a_refund(1_000, lines=(RefundedLine("BOOK-7", 1, 1_000),))).invoice
    change = finalized(held)
    note = change.credit_notes[0]
    for value, kind in ((held, Invoice), (change.invoice, Invoice), (note, CreditNote),
                        (change.counters[0], DocumentCounter)):
        codec: JsonCodec[object] = JsonCodec(kind)
        assert codec.decode(codec.encode(value)) == value


# PDFs.

def pdf_text(document: bytes) -> str:
    assert document.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)


def test_the_invoice_pdf_shows_number_parties_lines_and_totals() -> None:
    invoice = final_invoice()
    text = pdf_text(pdf.render_invoice_pdf(invoice))
    for expected in ("INVOICE", "INV-2026-000001", "14 March 2026", "ORD-2026-ord-1", "Maison Lumière SAS",
                     "FR40303265045", "Camille Dupont", "12 rue des Lilas", "5 quai Saint-Antoine", "LAMP-01",
                     "Product BOOK-7", "Shipping: Colissimo express", "20% (standard)", "5.5% (reduced)", "€85.40",
                     "Total paid", "€190.56", "paid by card"):
        assert expected in text, expected


def test_a_draft_invoice_pdf_is_marked_draft() -> None:
    text = pdf_text(pdf.render_invoice_pdf(drafted()))
    assert "DRAFT" in text
    assert "not issued yet" in text


def test_the_credit_note_pdf_names_itself_and_the_invoice_it_credits() -> None:
    invoice = final_invoice()
    note = credit(invoice, a_refund(2_455, lines=(RefundedLine("BOOK-7", 1, 2_455),))).credit_notes[0]
    text = pdf_text(pdf.render_credit_note_pdf(note))
    for expected in ("CREDIT NOTE", "CN-2026-000001", "INV-2026-000001", "17 March 2026", "damaged", "BOOK-7",
                     "Total credited", "€24.55", "Camille Dupont"):
        assert expected in text, expected


def test_a_long_invoice_runs_over_pages() -> None:
    lines = tuple(order_line(f"SKU-{n:03d}", 1 + n % 3, 1_000 + n) for n in range(60))
    invoice = finalized(drafted(make_order(lines=lines))).invoice
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf.render_invoice_pdf(invoice))).pages]
    assert len(pages) >= 2
    assert all(f"Invoice INV-2026-000001 · page {n}" in page for n, page in enumerate(pages, start=1))
    assert all("Description" in page for page in pages if "SKU-" in page)  # the lines' header repeats
    assert "SKU-000" in pages[0] and "SKU-059" in "".join(pages)
    assert "Total paid" in pages[-1]


def test_pdfs_are_rendered_the_same_every_time() -> None:
    invoice = final_invoice()
    assert pdf.render_invoice_pdf(invoice) == pdf.render_invoice_pdf(invoice)


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (123_456, "EUR", "€1,234.56"), (5, "EUR", "€0.05"), (-450, "EUR", "-€4.50"), (1_999, "CHF", "19.99 CHF"),
    (1_500, "JPY", "1,500 JPY")])
def test_amounts_on_documents(amount: int, currency: str, text: str) -> None:
    assert pdf.format_amount(amount, currency) == text
