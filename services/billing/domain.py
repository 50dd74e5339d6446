"""Billing's rules: an order's invoice from draft to final, its credit notes, their numbers, tax rates.

Pure: no I/O, no clock (every use case takes `now`), no id generation (ids come in). A use case
takes the current records and plain values and returns a `BillingChange`: the invoice as it now
is, the credit notes and number counters it made or moved, and the events to publish. The wiring
stores all of them and publishes the events in one unit of work.

The shop is the merchant of record: one invoice per order. An invoice reproduces the order's
amounts exactly, at the rate each line was charged at checkout: net = subtotal - discount, tax per
line = net x rate / 10000 rounded half up, shipping a line of tax class "zero". Amounts are ints in
minor units of the document's currency.

Numbers are given only when a document becomes final, from a `DocumentCounter` per kind and
calendar year (of `now`, which the wiring passes in UTC) that the same unit of work stores, so
they are sequential without gaps: INV-2026-000001, INV-2026-000002 ... and CN-2026-000001 ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.values import Address, RefundedLine

TAX_CLASSES = ("standard", "reduced", "super_reduced", "zero")
ZERO_TAX_CLASS = "zero"
MAX_RATE_BPS = 10_000
TAX_RATE_SETTING_PREFIX = "tax.rate_bps."  # administering's setting "tax.rate_bps.<tax class>"
UPDATED_BY_SETTINGS = "settings"
INVOICE_PREFIX = "INV"
CREDIT_NOTE_PREFIX = "CN"


class InvoiceStatus(StrEnum):
    """As InvoiceStatus in billing/v1/invoice.proto, without the prefix."""

    DRAFT = "DRAFT"
    FINAL = "FINAL"
    VOID = "VOID"


class LineKind(StrEnum):
    PRODUCT = "PRODUCT"
    SHIPPING = "SHIPPING"
    ADJUSTMENT = "ADJUSTMENT"  # an amount with no invoice line behind it


# Rounding: integers only, never floats.

def divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest int, halves away from zero."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def tax_on_net(net: int, rate_bps: int) -> int:
    """The tax charged on a net amount: net x rate / 10000, rounded half up (the platform's rule)."""
    return divide_half_up(net * rate_bps, MAX_RATE_BPS)


def tax_in_gross(gross: int, rate_bps: int) -> int:
    """The tax inside a gross amount: gross x rate / (10000 + rate), rounded half up. For a whole
    invoice line this gives back exactly the line's tax, so a line credited in full matches it."""
    return divide_half_up(gross * rate_bps, MAX_RATE_BPS + rate_bps)


def format_rate(rate_bps: int) -> str:
    """2000 -> "20%", 550 -> "5.5%", 210 -> "2.1%"."""
    whole, hundredths = divmod(rate_bps, 100)
    return f"{whole}%" if not hundredths else f"{whole}.{hundredths:02d}".rstrip("0") + "%"


# Records.

@dataclass(frozen=True)
class Party:
    """Who issues (the shop) or receives (the customer) a document."""

    party_id: str
    name: str
    email: str = ""
    vat_number: str = ""
    address: Address = field(default_factory=Address)


@dataclass(frozen=True)
class Totals:
    net: int
    tax: int
    gross: int  # net + tax


@dataclass(frozen=True)
class TaxBreakdown:
    """Amounts of one tax rate on a document, as the law asks an invoice to show them."""

    tax_class: str
    tax_rate_bps: int
    net: int
    tax: int


@dataclass(frozen=True)
class InvoiceLine:
    line_number: int  # 1, 2, 3 ... in the order's line order; shipping last
    kind: LineKind
    sku: str
    product_id: str
    seller_id: str
    description: str
    quantity: int
    unit_price: int  # net
    discount: int  # the line's share of the order discount, already taken off net_amount
    tax_class: str
    tax_rate_bps: int
    net_amount: int
    tax_amount: int
    gross_amount: int


@dataclass(frozen=True)
class CreditNoteLine:
    line_number: int
    kind: LineKind
    invoice_line_number: int  # 0 for an ADJUSTMENT
    sku: str
    description: str
    quantity: int
    tax_class: str
    tax_rate_bps: int
    net_amount: int
    tax_amount: int
    gross_amount: int


@dataclass(frozen=True)
class RefundToCredit:
    """A refund paying reported (PaymentRefunded): the credit note it calls for."""

    refund_id: str
    order_id: str
    order_refund_id: str
    currency: str
    amount: int  # gross, positive
    lines: tuple[RefundedLine, ...] = ()  # empty: credited in proportion to the invoice's tax breakdown
    shipping_amount: int = 0  # included in amount
    reason: str = ""


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    order_id: str
    order_number: str
    status: InvoiceStatus
    seller: Party
    customer: Party
    billing_address: Address
    shipping_address: Address
    currency: str
    lines: tuple[InvoiceLine, ...]
    tax_breakdown: tuple[TaxBreakdown, ...]  # highest rate first
    totals: Totals
    payment_method: str
    order_date: datetime
    created_at: datetime
    invoice_number: str = ""  # given when FINAL
    credited: int = 0  # gross of the credit notes so far
    credit_note_ids: tuple[str, ...] = ()  # oldest first
    credited_refund_ids: tuple[str, ...] = ()  # paying's refund ids credited, parallel to credit_note_ids
    held_refunds: tuple[RefundToCredit, ...] = ()  # refunds received while DRAFT, credited once FINAL
    void_reason: str = ""
    issued_at: datetime | None = None  # the invoice date
    voided_at: datetime | None = None


@dataclass(frozen=True)
class CreditNote:
    credit_note_id: str
    credit_note_number: str
    invoice_id: str
    invoice_number: str
    invoice_issued_at: datetime
    order_id: str
    order_number: str
    refund_id: str
    order_refund_id: str
    reason: str
    seller: Party
    customer: Party
    currency: str
    lines: tuple[CreditNoteLine, ...]
    tax_breakdown: tuple[TaxBreakdown, ...]
    totals: Totals  # positive; gross equals the refund's amount
    issued_at: datetime


@dataclass(frozen=True)
class DocumentCounter:
    """The last number given to one kind of document (prefix) in one calendar year. The wiring keeps
    it under `counter_key(prefix, year)` and stores it in the unit of work that uses a number."""

    prefix: str
    year: int
    last_number: int = 0

    @property
    def key(self) -> str:
        return counter_key(self.prefix, self.year)


@dataclass(frozen=True)
class RefundsAwaitingInvoice:
    """Refunds that arrived before the order's invoice was drafted (paying's topic ran ahead of
    ordering's). Kept by order id and handed to `draft_invoice`, which holds them on the draft."""

    order_id: str
    refunds: tuple[RefundToCredit, ...] = ()


@dataclass(frozen=True)
class TaxRate:
    tax_class: str
    rate_bps: int
    updated_at: datetime
    updated_by: str  # a staff id, or "settings"


# What OrderCreated carries, as billing needs it.

@dataclass(frozen=True)
class OrderLine:
    sku: str
    product_id: str
    seller_id: str
    name: str
    quantity: int
    unit_price: int
    tax_class: str
    tax_rate_bps: int
    subtotal: int  # unit_price x quantity
    discount: int
    tax: int  # on subtotal - discount
    line_total: int  # subtotal - discount + tax


@dataclass(frozen=True)
class OrderToInvoice:
    order_id: str
    order_number: str
    customer_id: str
    customer_email: str
    currency: str
    lines: tuple[OrderLine, ...]
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    shipping_address: Address
    billing_address: Address
    carrier_name: str
    service_level: str  # "standard", "express", "pickup_point"
    payment_method: str
    created_at: datetime


# Domain events, published on billing.invoices.v1 keyed by order id.

@dataclass(frozen=True)
class InvoiceDrafted:
    invoice_id: str
    order_id: str
    order_number: str
    customer_id: str
    currency: str
    totals: Totals
    drafted_at: datetime


@dataclass(frozen=True)
class InvoiceFinalized:
    invoice_id: str
    invoice_number: str
    order_id: str
    order_number: str
    customer_id: str
    currency: str
    totals: Totals
    issued_at: datetime


@dataclass(frozen=True)
class InvoiceVoided:
    invoice_id: str
    order_id: str
    order_number: str
    customer_id: str
    currency: str
    totals: Totals
    reason: str
    voided_at: datetime


@dataclass(frozen=True)
class CreditNoteIssued:
    credit_note_id: str
    credit_note_number: str
    invoice_id: str
    invoice_number: str
    order_id: str
    order_number: str
    customer_id: str
    refund_id: str
    order_refund_id: str
    currency: str
    totals: Totals
    invoice_credited: int
    invoice_fully_credited: bool
    issued_at: datetime


BillingEvent = InvoiceDrafted | InvoiceFinalized | InvoiceVoided | CreditNoteIssued


@dataclass(frozen=True)
class BillingChange:
    """Everything one use case changed: store the invoice, each credit note and each counter, and
    publish the events, all in one unit of work. A change that did nothing has only the invoice."""

    invoice: Invoice
    events: tuple[BillingEvent, ...] = ()
    credit_notes: tuple[CreditNote, ...] = ()
    counters: tuple[DocumentCounter, ...] = ()

    def then(self, later: BillingChange) -> BillingChange:
        """This change followed by a later one on the same invoice."""
        counters = {c.key: c for c in (*self.counters, *later.counters)}  # the later value of a counter wins
        return BillingChange(later.invoice, (*self.events, *later.events),
                             (*self.credit_notes, *later.credit_notes), tuple(counters.values()))


# Numbering.

def counter_key(prefix: str, year: int) -> str:
    """The key of a counter: "INV-2026". The wiring locks it with the invoice before finalising."""
    return f"{prefix}-{year}"


def take_next_number(counter: DocumentCounter | None, prefix: str, year: int) -> tuple[DocumentCounter, str]:
    """The year's next number and the counter that gave it. `counter` is the stored one, None for
    the first document of the year: each year starts again at 000001."""
    current = counter or DocumentCounter(prefix=prefix, year=year)
    if (current.prefix, current.year) != (prefix, year):
        raise ValueError(f"counter {current.key} was passed where {counter_key(prefix, year)} was needed")
    taken = dataclasses.replace(current, last_number=current.last_number + 1)
    return taken, f"{prefix}-{year}-{taken.last_number:06d}"


# Use cases.

def draft_invoice(existing: Invoice | None, order: OrderToInvoice, *, invoice_id: str, seller: Party, now: datetime,
                  refunds_awaiting: Sequence[RefundToCredit] = ()) -> BillingChange:
    """The draft invoice of an order just created (OrderCreated). An order has one invoice: when it
    already has one (a replayed event), that one is returned unchanged. Refunds that arrived before
    the order did are held on the draft and credited when it becomes final."""
    if existing is not None:
        return BillingChange(existing)
    _check_order_amounts(order)
    lines = _invoice_lines(order)
    invoice = Invoice(
        invoice_id=invoice_id, order_id=order.order_id, order_number=order.order_number,
        status=InvoiceStatus.DRAFT, seller=seller,
        customer=Party(party_id=order.customer_id, name=order.billing_address.full_name,
                       email=order.customer_email, address=order.billing_address),
        billing_address=order.billing_address, shipping_address=order.shipping_address, currency=order.currency,
        lines=lines, tax_breakdown=_tax_breakdown((ln.tax_class, ln.tax_rate_bps, ln.net_amount, ln.tax_amount)
                                                  for ln in lines),
        totals=_totals((ln.net_amount, ln.tax_amount) for ln in lines), payment_method=order.payment_method,
        order_date=order.created_at, created_at=now)
    change = BillingChange(invoice, (InvoiceDrafted(
        invoice_id=invoice_id, order_id=order.order_id, order_number=order.order_number,
        customer_id=order.customer_id, currency=order.currency, totals=invoice.totals, drafted_at=now),))
    for refund in refunds_awaiting:
        if not _has_seen(change.invoice, refund):
            change = dataclasses.replace(change, invoice=_hold_refund(change.invoice, refund))
    return change


def finalize_invoice(invoice: Invoice, *, invoice_counter: DocumentCounter | None,
                     credit_note_counter: DocumentCounter | None, now: datetime,
                     new_credit_note_id: Callable[[], str]) -> BillingChange:
    """Makes the draft final on OrderConfirmed: the year's next number, the invoice date, and a credit
    note for each refund held while it was a draft. Finalising again keeps the first number.
    The counters are the stored ones of `now`'s year (None when the year has none yet)."""
    if invoice.status is InvoiceStatus.FINAL:
        return BillingChange(invoice)
    if invoice.status is InvoiceStatus.VOID:
        raise FailedPrecondition(f"invoice {invoice.invoice_id} of order {invoice.order_number} was voided: "
                                 "it cannot become final")
    counter, number = take_next_number(invoice_counter, INVOICE_PREFIX, now.year)
    final = dataclasses.replace(invoice, status=InvoiceStatus.FINAL, invoice_number=number, issued_at=now,
                                held_refunds=())
    change = BillingChange(final, (InvoiceFinalized(
        invoice_id=invoice.invoice_id, invoice_number=number, order_id=invoice.order_id,
        order_number=invoice.order_number, customer_id=invoice.customer.party_id, currency=invoice.currency,
        totals=invoice.totals, issued_at=now),), counters=(counter,))
    for refund in invoice.held_refunds:
        change = change.then(credit_refund(change.invoice, refund, credit_note_counter=credit_note_counter,
                                           credit_note_id=new_credit_note_id(), now=now))
        credit_note_counter = next((c for c in change.counters if c.prefix == CREDIT_NOTE_PREFIX),
                                   credit_note_counter)
    return change


def void_invoice(invoice: Invoice, *, reason: str, now: datetime) -> BillingChange:
    """Voids a draft whose order was cancelled (OrderCancelled); refunds held on it need no credit
    note. A void invoice stays as it is; so does a final one, which is never voided but credited
    when paying reports the refund."""
    if invoice.status is not InvoiceStatus.DRAFT:
        return BillingChange(invoice)
    voided = dataclasses.replace(invoice, status=InvoiceStatus.VOID, void_reason=reason, voided_at=now,
                                 held_refunds=())
    return BillingChange(voided, (InvoiceVoided(
        invoice_id=invoice.invoice_id, order_id=invoice.order_id, order_number=invoice.order_number,
        customer_id=invoice.customer.party_id, currency=invoice.currency, totals=invoice.totals, reason=reason,
        voided_at=now),))


def credit_refund(invoice: Invoice, refund: RefundToCredit, *, credit_note_counter: DocumentCounter | None,
                  credit_note_id: str, now: datetime) -> BillingChange:
    """The credit note for one refund (PaymentRefunded) of a final invoice, numbered from the year's
    counter. One credit note per refund id: a refund seen before changes nothing. A refund of a
    draft is checked and held until the invoice is final; a void invoice needs no credit note."""
    if _has_seen(invoice, refund) or invoice.status is InvoiceStatus.VOID:
        return BillingChange(invoice)
    if invoice.status is InvoiceStatus.DRAFT:
        return BillingChange(_hold_refund(invoice, refund))
    _check_refund_fits(invoice, refund)
    lines = _credit_note_lines(invoice, refund)
    assert invoice.issued_at is not None  # every final invoice has its date
    counter, number = take_next_number(credit_note_counter, CREDIT_NOTE_PREFIX, now.year)
    note = CreditNote(
        credit_note_id=credit_note_id, credit_note_number=number, invoice_id=invoice.invoice_id,
        invoice_number=invoice.invoice_number, invoice_issued_at=invoice.issued_at, order_id=invoice.order_id,
        order_number=invoice.order_number, refund_id=refund.refund_id, order_refund_id=refund.order_refund_id,
        reason=refund.reason, seller=invoice.seller, customer=invoice.customer, currency=invoice.currency,
        lines=lines,
        tax_breakdown=_tax_breakdown((ln.tax_class, ln.tax_rate_bps, ln.net_amount, ln.tax_amount) for ln in lines),
        totals=_totals((ln.net_amount, ln.tax_amount) for ln in lines), issued_at=now)
    credited = invoice.credited + note.totals.gross
    updated = dataclasses.replace(
        invoice, credited=credited, credit_note_ids=(*invoice.credit_note_ids, credit_note_id),
        credited_refund_ids=(*invoice.credited_refund_ids, refund.refund_id))
    return BillingChange(updated, (CreditNoteIssued(
        credit_note_id=credit_note_id, credit_note_number=number, invoice_id=invoice.invoice_id,
        invoice_number=invoice.invoice_number, order_id=invoice.order_id, order_number=invoice.order_number,
        customer_id=invoice.customer.party_id, refund_id=refund.refund_id, order_refund_id=refund.order_refund_id,
        currency=invoice.currency, totals=note.totals, invoice_credited=credited,
        invoice_fully_credited=credited == invoice.totals.gross, issued_at=now),),
        credit_notes=(note,), counters=(counter,))


def await_invoice(waiting: RefundsAwaitingInvoice | None, refund: RefundToCredit) -> RefundsAwaitingInvoice:
    """Keeps a refund of an order billing has no invoice for yet; a refund kept before is not kept twice."""
    current = waiting or RefundsAwaitingInvoice(order_id=refund.order_id)
    if any(kept.refund_id == refund.refund_id for kept in current.refunds):
        return current
    return dataclasses.replace(current, refunds=(*current.refunds, refund))


# Tax rates.

def check_tax_class(tax_class: str) -> None:
    if tax_class not in TAX_CLASSES:
        raise InvalidArgument(f"tax class must be one of {', '.join(TAX_CLASSES)}, got {tax_class!r}")


def tax_class_of_setting(setting_name: str) -> str | None:
    """"tax.rate_bps.reduced" -> "reduced"; None for a setting that is not a tax rate."""
    if not setting_name.startswith(TAX_RATE_SETTING_PREFIX):
        return None
    return setting_name.removeprefix(TAX_RATE_SETTING_PREFIX)


def set_tax_rate(current: TaxRate | None, *, tax_class: str, rate_bps: int, updated_by: str,
                 now: datetime) -> tuple[TaxRate, bool]:
    """Billing's rate for one tax class (SetTaxRate, or SettingChanged with updated_by "settings").
    Returns the rate and whether it changed: setting the current value changes nothing. Documents
    are never repriced: they keep the rates their order was charged."""
    check_tax_class(tax_class)
    if not 0 <= rate_bps <= MAX_RATE_BPS:
        raise InvalidArgument(f"a tax rate is in basis points from 0 to {MAX_RATE_BPS}, got {rate_bps}")
    if tax_class == ZERO_TAX_CLASS and rate_bps != 0:
        raise InvalidArgument(f"tax class \"zero\" always has rate 0, got {rate_bps}")
    if current is not None and current.rate_bps == rate_bps:
        return current, False
    return TaxRate(tax_class=tax_class, rate_bps=rate_bps, updated_at=now, updated_by=updated_by), True


def list_tax_rates(rates: Iterable[TaxRate]) -> list[TaxRate]:
    """Highest rate first, as ListTaxRates answers."""
    return sorted(rates, key=lambda r: (-r.rate_bps, r.tax_class))


# Building documents.

def _check_order_amounts(order: OrderToInvoice) -> None:
    """An invoice must reproduce what the customer paid; an order whose amounts do not add up by the
    platform's pricing rules is refused rather than invoiced wrongly."""
    where = f"order {order.order_number or order.order_id}"
    if not order.currency:
        raise InvalidArgument(f"{where} has no currency")
    if not order.lines:
        raise InvalidArgument(f"{where} has no lines to invoice")
    for line in order.lines:
        at = f"{where}, line {line.sku}"
        check_tax_class(line.tax_class)
        if not 0 <= line.tax_rate_bps <= MAX_RATE_BPS or (line.tax_class == ZERO_TAX_CLASS and line.tax_rate_bps):
            raise InvalidArgument(f"{at}: rate {line.tax_rate_bps} is not valid for tax class {line.tax_class!r}")
        if line.quantity <= 0:
            raise InvalidArgument(f"{at}: quantity must be positive, got {line.quantity}")
        if line.subtotal != line.unit_price * line.quantity:
            raise InvalidArgument(f"{at}: subtotal {line.subtotal} is not {line.quantity} x {line.unit_price}")
        if not 0 <= line.discount <= line.subtotal:
            raise InvalidArgument(f"{at}: discount {line.discount} must be between 0 and the subtotal")
        expected_tax = tax_on_net(line.subtotal - line.discount, line.tax_rate_bps)
        if line.tax != expected_tax:
            raise InvalidArgument(f"{at}: tax is {line.tax}, but {format_rate(line.tax_rate_bps)} of "
                                  f"{line.subtotal - line.discount} rounded half up is {expected_tax}")
        if line.line_total != line.subtotal - line.discount + line.tax:
            raise InvalidArgument(f"{at}: line total {line.line_total} is not subtotal - discount + tax")
    sums = {"subtotal": (order.subtotal, sum(ln.subtotal for ln in order.lines)),
            "discount": (order.discount, sum(ln.discount for ln in order.lines)),
            "tax": (order.tax, sum(ln.tax for ln in order.lines))}
    for name, (total, of_lines) in sums.items():
        if total != of_lines:
            raise InvalidArgument(f"{where}: {name} is {total}, but its lines add up to {of_lines}")
    if order.shipping < 0:
        raise InvalidArgument(f"{where}: shipping must not be negative, got {order.shipping}")
    if order.total != order.subtotal - order.discount + order.shipping + order.tax:
        raise InvalidArgument(f"{where}: total {order.total} is not subtotal - discount + shipping + tax")


def _invoice_lines(order: OrderToInvoice) -> tuple[InvoiceLine, ...]:
    lines = [InvoiceLine(
        line_number=number, kind=LineKind.PRODUCT, sku=line.sku, product_id=line.product_id,
        seller_id=line.seller_id, description=line.name, quantity=line.quantity, unit_price=line.unit_price,
        discount=line.discount, tax_class=line.tax_class, tax_rate_bps=line.tax_rate_bps,
        net_amount=line.subtotal - line.discount, tax_amount=line.tax, gross_amount=line.line_total)
        for number, line in enumerate(order.lines, start=1)]
    if order.shipping:
        service = order.service_level.replace("_", " ")
        lines.append(InvoiceLine(
            line_number=len(lines) + 1, kind=LineKind.SHIPPING, sku="", product_id="", seller_id="",
            description=f"Shipping: {order.carrier_name} {service}".strip(), quantity=1, unit_price=order.shipping,
            discount=0, tax_class=ZERO_TAX_CLASS, tax_rate_bps=0, net_amount=order.shipping, tax_amount=0,
            gross_amount=order.shipping))
    return tuple(lines)


def _has_seen(invoice: Invoice, refund: RefundToCredit) -> bool:
    return refund.refund_id in invoice.credited_refund_ids or any(
        held.refund_id == refund.refund_id for held in invoice.held_refunds)


def _hold_refund(invoice: Invoice, refund: RefundToCredit) -> Invoice:
    """A draft keeps a refund until it is final. The refund is checked now, so that finalising,
    which credits it, cannot fail on it later."""
    _check_refund_fits(invoice, refund)
    _credit_note_lines(invoice, refund)
    return dataclasses.replace(invoice, held_refunds=(*invoice.held_refunds, refund))


def _check_refund_fits(invoice: Invoice, refund: RefundToCredit) -> None:
    if refund.currency != invoice.currency:
        raise InvalidArgument(f"refund {refund.refund_id} is in {refund.currency}, "
                              f"invoice {invoice.invoice_id} in {invoice.currency}")
    if refund.amount <= 0:
        raise InvalidArgument(f"refund {refund.refund_id}: amount must be positive, got {refund.amount}")
    left = invoice.totals.gross - invoice.credited - sum(held.amount for held in invoice.held_refunds)
    if refund.amount > left:
        raise FailedPrecondition(f"refund {refund.refund_id} of {refund.amount} exceeds the {left} "
                                 f"left to credit on the invoice of order {invoice.order_number}")


def _credit_note_lines(invoice: Invoice, refund: RefundToCredit) -> tuple[CreditNoteLine, ...]:
    """What a refund credits: the lines it names, the shipping it gives back, and whatever is left of
    its amount. A plain amount covering the whole invoice credits every invoice line in full; any
    other plain amount is spread over the invoice's tax rates in proportion to their gross."""
    lines: list[CreditNoteLine] = []
    for refunded in refund.lines:
        invoiced = next((ln for ln in invoice.lines if ln.kind is LineKind.PRODUCT and ln.sku == refunded.sku), None)
        if invoiced is None:
            raise InvalidArgument(f"refund {refund.refund_id} pays back SKU {refunded.sku}, "
                                  f"which is not on the invoice of order {invoice.order_number}")
        if not 0 < refunded.quantity <= invoiced.quantity or not 0 <= refunded.amount <= invoiced.gross_amount:
            raise InvalidArgument(f"refund {refund.refund_id} pays back {refunded.quantity} x {refunded.sku} for "
                                  f"{refunded.amount}; the invoice has {invoiced.quantity} for {invoiced.gross_amount}")
        lines.append(_credit_line(len(lines) + 1, invoiced, refunded.quantity, refunded.amount))
    if refund.shipping_amount:
        shipping = next((ln for ln in invoice.lines if ln.kind is LineKind.SHIPPING), None)
        if shipping is None or not 0 < refund.shipping_amount <= shipping.gross_amount:
            charged = shipping.gross_amount if shipping else 0
            raise InvalidArgument(f"refund {refund.refund_id} gives back {refund.shipping_amount} of shipping; "
                                  f"the invoice charged {charged}")
        lines.append(_credit_line(len(lines) + 1, shipping, 1, refund.shipping_amount))
    rest = refund.amount - sum(ln.gross_amount for ln in lines)
    if rest < 0:
        raise InvalidArgument(f"refund {refund.refund_id}: its lines and shipping add up to more than its "
                              f"amount {refund.amount}")
    if rest and not lines and rest == invoice.totals.gross:
        lines = [_credit_line(ln.line_number, ln, ln.quantity, ln.gross_amount) for ln in invoice.lines]
    elif rest:
        rates = [entry for entry in invoice.tax_breakdown if entry.net + entry.tax > 0]
        shares = split_in_proportion(rest, [entry.net + entry.tax for entry in rates])
        for entry, gross in zip(rates, shares, strict=True):
            if gross:
                tax = tax_in_gross(gross, entry.tax_rate_bps)
                tax_class = entry.tax_class.replace("_", " ")
                lines.append(CreditNoteLine(
                    line_number=len(lines) + 1, kind=LineKind.ADJUSTMENT, invoice_line_number=0, sku="",
                    description=f"Refund at {format_rate(entry.tax_rate_bps)} tax ({tax_class})",
                    quantity=1, tax_class=entry.tax_class, tax_rate_bps=entry.tax_rate_bps, net_amount=gross - tax,
                    tax_amount=tax, gross_amount=gross))
    return tuple(lines)


def _credit_line(line_number: int, invoiced: InvoiceLine, quantity: int, gross: int) -> CreditNoteLine:
    tax = tax_in_gross(gross, invoiced.tax_rate_bps)
    return CreditNoteLine(
        line_number=line_number, kind=invoiced.kind, invoice_line_number=invoiced.line_number, sku=invoiced.sku,
        description=invoiced.description, quantity=quantity, tax_class=invoiced.tax_class,
        tax_rate_bps=invoiced.tax_rate_bps, net_amount=gross - tax, tax_amount=tax, gross_amount=gross)


def split_in_proportion(total: int, weights: Sequence[int]) -> list[int]:
    """Shares of `total` in proportion to `weights` that add up to `total` exactly: each share is
    rounded down, and the minor units left go to the largest remainders (the first on a tie)."""
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    remainders = [total * weight % whole for weight in weights]
    for index in sorted(range(len(weights)), key=lambda i: -remainders[i])[: total - sum(shares)]:
        shares[index] += 1
    return shares


def _tax_breakdown(entries: Iterable[tuple[str, int, int, int]]) -> tuple[TaxBreakdown, ...]:
    """Sums (tax class, rate, net, tax) per class and rate, highest rate first."""
    sums: dict[tuple[str, int], tuple[int, int]] = {}
    for tax_class, rate_bps, net, tax in entries:
        net_so_far, tax_so_far = sums.get((tax_class, rate_bps), (0, 0))
        sums[(tax_class, rate_bps)] = (net_so_far + net, tax_so_far + tax)
    return tuple(TaxBreakdown(tax_class=tax_class, tax_rate_bps=rate, net=net, tax=tax)
                 for (tax_class, rate), (net, tax) in sorted(sums.items(), key=lambda kv: (-kv[0][1], kv[0][0])))


def _totals(amounts: Iterable[tuple[int, int]]) -> Totals:
    net = tax = 0
    for line_net, line_tax in amounts:
        net, tax = net + line_net, tax + line_tax
    return Totals(net=net, tax=tax, gross=net + tax)
