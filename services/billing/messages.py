"""Billing's documents and events as Protobuf messages, and ordering's and paying's events as domain values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from billing.v1 import billing_service_pb2 as api
from billing.v1 import events_pb2, invoice_pb2
from ordering.v1 import events_pb2 as ordering_events
from ordering.v1 import order_pb2
from paying.v1 import events_pb2 as paying_events

from services.billing.domain import (
    BillingEvent,
    CreditNote,
    CreditNoteIssued,
    CreditNoteLine,
    Invoice,
    InvoiceDrafted,
    InvoiceFinalized,
    InvoiceLine,
    InvoiceStatus,
    InvoiceVoided,
    LineKind,
    OrderLine,
    OrderToInvoice,
    Party,
    RefundedLine,
    RefundToCredit,
    TaxBreakdown,
    TaxRate,
    Totals,
)
from services.runtime.errors import InvalidArgument
from services.runtime.proto import address, address_record, money, timestamp, to_datetime

# Into the domain.

def order_to_invoice_record(created: ordering_events.OrderCreated, *, received_at: datetime) -> OrderToInvoice:
    """`received_at` stands for the order date of an event that lacks its created_at."""
    totals = created.totals
    return OrderToInvoice(
        order_id=created.order_id, order_number=created.order_number, customer_id=created.customer_id,
        customer_email=created.customer_email, currency=created.currency,
        lines=tuple(_order_line_record(line) for line in created.lines), subtotal=totals.subtotal.amount_minor,
        discount=totals.discount.amount_minor, shipping=totals.shipping.amount_minor, tax=totals.tax.amount_minor,
        total=totals.total.amount_minor, shipping_address=address_record(created.shipping_address),
        billing_address=address_record(created.billing_address), carrier_name=created.shipping_option.carrier_name,
        service_level=created.shipping_option.service_level, payment_method=created.payment_method,
        created_at=to_datetime(created.created_at) if created.HasField("created_at") else received_at)


def _order_line_record(line: order_pb2.OrderLine) -> OrderLine:
    return OrderLine(
        sku=line.sku, product_id=line.product_id, seller_id=line.seller_id, name=line.name, quantity=line.quantity,
        unit_price=line.unit_price.amount_minor, tax_class=line.tax_class, tax_rate_bps=line.tax_rate_bps,
        subtotal=line.subtotal.amount_minor, discount=line.discount.amount_minor, tax=line.tax.amount_minor,
        line_total=line.line_total.amount_minor)


def refund_to_credit_record(refunded: paying_events.PaymentRefunded) -> RefundToCredit:
    return RefundToCredit(
        refund_id=refunded.refund_id, order_id=refunded.order_id, order_refund_id=refunded.order_refund_id,
        currency=refunded.amount.currency, amount=refunded.amount.amount_minor,
        lines=tuple(RefundedLine(sku=line.sku, quantity=line.quantity, amount=line.amount.amount_minor)
                    for line in refunded.lines),
        shipping_amount=refunded.shipping_amount.amount_minor, reason=refunded.reason)


def cancellation_reason_record(cancelled: ordering_events.OrderCancelled) -> str:
    """"order cancelled: out of stock (SKU A: 2 asked, 0 available)", for the voided invoice."""
    known = cancelled.reason in order_pb2.CancellationReason.values()
    name = order_pb2.CancellationReason.Name(cancelled.reason) if known else ""
    why = name.removeprefix("CANCELLATION_REASON_").replace("_", " ").lower()
    text = "order cancelled" + (f": {why}" if why and why != "unspecified" else "")
    return text + (f" ({cancelled.note})" if cancelled.note else "")


def status_record(value: invoice_pb2.InvoiceStatus.ValueType) -> InvoiceStatus:
    name = invoice_pb2.InvoiceStatus.Name(value) if value in invoice_pb2.InvoiceStatus.values() else ""
    if not name or value == invoice_pb2.INVOICE_STATUS_UNSPECIFIED:
        known = ", ".join(invoice_pb2.InvoiceStatus.keys()[1:])
        raise InvalidArgument(f"invoice status filter must be one of {known}, got {name or value}")
    return InvoiceStatus(name.removeprefix("INVOICE_STATUS_"))


# Out of the domain.

def status(value: InvoiceStatus) -> invoice_pb2.InvoiceStatus.ValueType:
    return invoice_pb2.InvoiceStatus.Value(f"INVOICE_STATUS_{value.value}")


def kind(value: LineKind) -> invoice_pb2.LineKind.ValueType:
    return invoice_pb2.LineKind.Value(f"LINE_KIND_{value.value}")


def totals(value: Totals, currency: str) -> invoice_pb2.Totals:
    return invoice_pb2.Totals(net=money(value.net, currency), tax=money(value.tax, currency),
                              gross=money(value.gross, currency))


def party(value: Party) -> invoice_pb2.Party:
    return invoice_pb2.Party(party_id=value.party_id, name=value.name, email=value.email,
                             vat_number=value.vat_number, address=address(value.address))


def tax_breakdown(entries: Sequence[TaxBreakdown], currency: str) -> list[invoice_pb2.TaxBreakdown]:
    return [invoice_pb2.TaxBreakdown(tax_class=entry.tax_class, tax_rate_bps=entry.tax_rate_bps,
                                     net=money(entry.net, currency), tax=money(entry.tax, currency))
            for entry in entries]


def _invoice_line(line: InvoiceLine, currency: str) -> invoice_pb2.InvoiceLine:
    return invoice_pb2.InvoiceLine(
        line_number=line.line_number, kind=kind(line.kind), sku=line.sku, product_id=line.product_id,
        seller_id=line.seller_id, description=line.description, quantity=line.quantity,
        unit_price=money(line.unit_price, currency), discount=money(line.discount, currency),
        tax_class=line.tax_class, tax_rate_bps=line.tax_rate_bps, net_amount=money(line.net_amount, currency),
        tax_amount=money(line.tax_amount, currency), gross_amount=money(line.gross_amount, currency))


def invoice(value: Invoice) -> invoice_pb2.Invoice:
    currency = value.currency
    return invoice_pb2.Invoice(
        invoice_id=value.invoice_id, invoice_number=value.invoice_number, order_id=value.order_id,
        order_number=value.order_number, status=status(value.status), seller=party(value.seller),
        customer=party(value.customer), billing_address=address(value.billing_address),
        shipping_address=address(value.shipping_address), currency=currency,
        lines=[_invoice_line(line, currency) for line in value.lines],
        tax_breakdown=tax_breakdown(value.tax_breakdown, currency), totals=totals(value.totals, currency),
        credited=money(value.credited, currency), credit_note_ids=list(value.credit_note_ids),
        void_reason=value.void_reason, created_at=timestamp(value.created_at), issued_at=timestamp(value.issued_at),
        voided_at=timestamp(value.voided_at))


def _credit_note_line(line: CreditNoteLine, currency: str) -> invoice_pb2.CreditNoteLine:
    return invoice_pb2.CreditNoteLine(
        line_number=line.line_number, kind=kind(line.kind), invoice_line_number=line.invoice_line_number,
        sku=line.sku, description=line.description, quantity=line.quantity, tax_class=line.tax_class,
        tax_rate_bps=line.tax_rate_bps, net_amount=money(line.net_amount, currency),
        tax_amount=money(line.tax_amount, currency), gross_amount=money(line.gross_amount, currency))


def credit_note(value: CreditNote) -> invoice_pb2.CreditNote:
    currency = value.currency
    return invoice_pb2.CreditNote(
        credit_note_id=value.credit_note_id, credit_note_number=value.credit_note_number,
        invoice_id=value.invoice_id, invoice_number=value.invoice_number, order_id=value.order_id,
        order_number=value.order_number, refund_id=value.refund_id, order_refund_id=value.order_refund_id,
        reason=value.reason, seller=party(value.seller), customer=party(value.customer), currency=currency,
        lines=[_credit_note_line(line, currency) for line in value.lines],
        tax_breakdown=tax_breakdown(value.tax_breakdown, currency), totals=totals(value.totals, currency),
        issued_at=timestamp(value.issued_at))


def tax_rate(value: TaxRate) -> api.TaxRate:
    return api.TaxRate(tax_class=value.tax_class, rate_bps=value.rate_bps, updated_at=timestamp(value.updated_at),
                       updated_by=value.updated_by)


def event(value: BillingEvent) -> dict[str, Any]:
    """The domain event as the envelope's oneof field, ready for `publish(..., **event(value))`."""
    match value:
        case InvoiceDrafted():
            return {"invoice_drafted": events_pb2.InvoiceDrafted(
                invoice_id=value.invoice_id, order_id=value.order_id, order_number=value.order_number,
                customer_id=value.customer_id, currency=value.currency, totals=totals(value.totals, value.currency),
                drafted_at=timestamp(value.drafted_at))}
        case InvoiceFinalized():
            return {"invoice_finalized": events_pb2.InvoiceFinalized(
                invoice_id=value.invoice_id, invoice_number=value.invoice_number, order_id=value.order_id,
                order_number=value.order_number, customer_id=value.customer_id, currency=value.currency,
                totals=totals(value.totals, value.currency), issued_at=timestamp(value.issued_at))}
        case InvoiceVoided():
            return {"invoice_voided": events_pb2.InvoiceVoided(
                invoice_id=value.invoice_id, order_id=value.order_id, order_number=value.order_number,
                customer_id=value.customer_id, currency=value.currency, totals=totals(value.totals, value.currency),
                reason=value.reason, voided_at=timestamp(value.voided_at))}
        case CreditNoteIssued():
            return {"credit_note_issued": events_pb2.CreditNoteIssued(
                credit_note_id=value.credit_note_id, credit_note_number=value.credit_note_number,
                invoice_id=value.invoice_id, invoice_number=value.invoice_number, order_id=value.order_id,
                order_number=value.order_number, customer_id=value.customer_id, refund_id=value.refund_id,
                order_refund_id=value.order_refund_id, currency=value.currency,
                totals=totals(value.totals, value.currency),
                invoice_credited=money(value.invoice_credited, value.currency),
                invoice_fully_credited=value.invoice_fully_credited, issued_at=timestamp(value.issued_at))}
