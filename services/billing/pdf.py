"""Invoices and credit notes as A4 PDF documents (reportlab).

Rendering is deterministic: the same document always gives the same bytes (reportlab's invariant
mode fixes the file's dates and id), so a PDF can be rendered again whenever it is asked for.
Text is set in Helvetica, whose encoding (WinAnsi) covers the Western European alphabets and "€".
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.billing.domain import (
    Address,
    CreditNote,
    Invoice,
    InvoiceStatus,
    LineKind,
    Party,
    TaxBreakdown,
    Totals,
    format_rate,
)

ACCENT = colors.HexColor("#1F3A5F")
RULE = colors.HexColor("#C9D2DC")
ZEBRA = colors.HexColor("#F4F6F9")
MUTED = colors.HexColor("#5B6573")
PAGE_MARGIN = 18 * mm
CONTENT_WIDTH = A4[0] - 2 * PAGE_MARGIN

_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND"})

_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=9, leading=12)
_SMALL = ParagraphStyle("small", parent=_BODY, fontSize=7.5, leading=9.5, textColor=MUTED)
_LABEL = ParagraphStyle("label", parent=_BODY, fontName="Helvetica-Bold", fontSize=7.5, leading=10,
                        textColor=MUTED)
_SELLER = ParagraphStyle("seller", parent=_BODY, fontName="Helvetica-Bold", fontSize=16, leading=20,
                         textColor=ACCENT)
_TITLE = ParagraphStyle("title", parent=_BODY, fontName="Helvetica-Bold", fontSize=22, leading=26,
                        textColor=ACCENT, alignment=TA_RIGHT)
_TITLE_INFO = ParagraphStyle("title-info", parent=_BODY, alignment=TA_RIGHT)
_CELL = ParagraphStyle("cell", parent=_BODY, fontSize=8.5, leading=10.5)


def format_amount(amount: int, currency: str) -> str:
    """123456, "EUR" -> "€1,234.56"; currencies without a symbol here read "1,234.56 CHF"."""
    digits = 0 if currency in _ZERO_DECIMAL_CURRENCIES else 2
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**digits)
    number = f"{units:,}" + (f".{minor:0{digits}d}" if digits else "")
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as an A4 PDF: seller, customer, addresses, lines, tax breakdown, totals. A draft
    or void invoice is marked as such across each page; only a final one is a legal document."""
    title = f"Invoice {invoice.invoice_number}" if invoice.invoice_number else "Draft invoice"
    dates = [("Invoice date", _date(invoice.issued_at) if invoice.issued_at else "not issued yet"),
             ("Order", invoice.order_number), ("Order date", _date(invoice.order_date))]
    if invoice.payment_method:
        dates.append(("Payment", f"paid by {invoice.payment_method.replace('_', ' ')}"))
    currency = invoice.currency
    line_rows = [[str(line.line_number), _description(line.description, line.sku), str(line.quantity),
                  format_amount(line.unit_price, currency),
                  format_amount(-line.discount, currency) if line.discount else "",
                  format_rate(line.tax_rate_bps), format_amount(line.net_amount, currency),
                  format_amount(line.tax_amount, currency), format_amount(line.gross_amount, currency)]
                 for line in invoice.lines]
    story: list[Flowable] = [
        *_heading(invoice.seller, "INVOICE", invoice.invoice_number or "DRAFT", dates),
        _parties(invoice.customer, invoice.billing_address, invoice.shipping_address),
        Spacer(1, 7 * mm),
        _table(["#", "Description", "Qty", "Unit price", "Discount", "Tax", "Net", "Tax amount", "Total"],
               line_rows, [8 * mm, None, 10 * mm, 20 * mm, 18 * mm, 12 * mm, 20 * mm, 20 * mm, 22 * mm]),
        Spacer(1, 6 * mm),
        KeepTogether(_summary(invoice.tax_breakdown, invoice.totals, currency, "Total paid")),
    ]
    if invoice.credited:
        story += [Spacer(1, 5 * mm), Paragraph(
            f"Credit notes issued against this invoice: {format_amount(invoice.credited, currency)} in total.",
            _BODY)]
    watermark = {InvoiceStatus.DRAFT: "DRAFT", InvoiceStatus.VOID: "VOID"}.get(invoice.status, "")
    return _build(story, title=title, seller=invoice.seller, watermark=watermark)


def render_credit_note_pdf(note: CreditNote) -> bytes:
    """The credit note as an A4 PDF: which invoice it corrects, what it credits, at which rates."""
    currency = note.currency
    dates = [("Date", _date(note.issued_at)),
             ("Credits invoice", f"{note.invoice_number} of {_date(note.invoice_issued_at)}"),
             ("Order", note.order_number)]
    line_rows = [[str(line.line_number), _description(line.description, line.sku), str(line.quantity),
                  str(line.invoice_line_number) if line.kind is not LineKind.ADJUSTMENT else "",
                  format_rate(line.tax_rate_bps), format_amount(line.net_amount, currency),
                  format_amount(line.tax_amount, currency), format_amount(line.gross_amount, currency)]
                 for line in note.lines]
    story: list[Flowable] = [
        *_heading(note.seller, "CREDIT NOTE", note.credit_note_number, dates),
        _parties(note.customer, note.customer.address, None),
        Spacer(1, 5 * mm),
    ]
    if note.reason:
        story += [Paragraph(f"<b>Reason:</b> {escape(note.reason)}", _BODY), Spacer(1, 4 * mm)]
    story += [
        _table(["#", "Description", "Qty", "Invoice line", "Tax", "Net", "Tax amount", "Total"], line_rows,
               [8 * mm, None, 10 * mm, 20 * mm, 12 * mm, 22 * mm, 22 * mm, 24 * mm]),
        Spacer(1, 6 * mm),
        KeepTogether(_summary(note.tax_breakdown, note.totals, currency, "Total credited")),
        Spacer(1, 5 * mm),
        Paragraph(f"This credit note reduces invoice {escape(note.invoice_number)} by "
                  f"{format_amount(note.totals.gross, currency)}; the amount was refunded to the original "
                  "means of payment.", _BODY),
    ]
    return _build(story, title=f"Credit note {note.credit_note_number}", seller=note.seller, watermark="")


# Building blocks.

def _heading(seller: Party, kind: str, number: str, facts: Sequence[tuple[str, str]]) -> list[Flowable]:
    seller_lines = _address_lines(seller.address, with_name=False)
    if seller.vat_number:
        seller_lines.append(f"VAT number {escape(seller.vat_number)}")
    if seller.email:
        seller_lines.append(escape(seller.email))
    fact_rows = [[Paragraph(label, _LABEL), Paragraph(escape(value), _BODY)] for label, value in facts]
    facts_table = Table(fact_rows, colWidths=[28 * mm, 52 * mm], hAlign="RIGHT")
    facts_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                     ("BOTTOMPADDING", (0, 0), (-1, -1), 1), ("TOPPADDING", (0, 0), (-1, -1), 1)]))
    left = [Paragraph(escape(seller.name), _SELLER), Paragraph("<br/>".join(seller_lines), _SMALL)]
    right = [Paragraph(kind, _TITLE), Paragraph(f"<b>{escape(number)}</b>", _TITLE_INFO), Spacer(1, 3 * mm),
             facts_table]
    heading = Table([[left, right]], colWidths=[CONTENT_WIDTH - 82 * mm, 82 * mm])
    heading.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                 ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                                 ("LINEBELOW", (0, 0), (-1, 0), 1.2, ACCENT), ("BOTTOMPADDING", (0, 0), (-1, -1), 8)]))
    return [heading, Spacer(1, 7 * mm)]


def _parties(customer: Party, billing: Address, shipping: Address | None) -> Table:
    bill_to = [Paragraph("BILL TO", _LABEL), Paragraph("<br/>".join(
        [f"<b>{escape(billing.full_name or customer.name)}</b>", *_address_lines(billing, with_name=False),
         *([escape(customer.email)] if customer.email else []),
         *([f"VAT number {escape(customer.vat_number)}"] if customer.vat_number else []),
         f"Customer {escape(customer.party_id)}"]), _BODY)]
    cells: list[list[Flowable]] = [bill_to]
    if shipping is not None:
        cells.append([Paragraph("SHIP TO", _LABEL), Paragraph("<br/>".join(
            [f"<b>{escape(shipping.full_name)}</b>", *_address_lines(shipping, with_name=False)]), _BODY)])
    else:
        cells.append([])
    table = Table([cells], colWidths=[CONTENT_WIDTH / 2] * 2)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("LINEBEFORE", (1, 0), (1, 0), 0.6, RULE if shipping else colors.white),
                               ("LEFTPADDING", (1, 0), (1, 0), 10)]))
    return table


def _table(headers: Sequence[str], rows: list[list[str]], widths: Sequence[float | None]) -> Table:
    """A lines table: accent header, zebra rows, numbers right-aligned, the description wrapping."""
    fixed = sum(w for w in widths if w is not None)
    col_widths = [w if w is not None else CONTENT_WIDTH - fixed for w in widths]
    description = list(widths).index(None)
    body = [[Paragraph(cell, _CELL) if i == description else cell for i, cell in enumerate(row)] for row in rows]
    table = Table([list(headers), *body], colWidths=col_widths, repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8), ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("BACKGROUND", (0, 0), (-1, 0), ACCENT), ("FONT", (0, 1), (-1, -1), "Helvetica", 8.5),
        ("ALIGN", (2, 0), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, -1), (-1, -1), 0.8, ACCENT), ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
    style += [("BACKGROUND", (0, row), (-1, row), ZEBRA) for row in range(2, len(rows) + 1, 2)]
    table.setStyle(TableStyle(style))
    return table


def _summary(breakdown: Sequence[TaxBreakdown], totals: Totals, currency: str, total_label: str) -> Table:
    """Tax breakdown on the left, totals on the right."""
    rate_rows = [["Tax rate", "Net", "Tax", "Gross"]] + [
        [f"{format_rate(entry.tax_rate_bps)} ({entry.tax_class.replace('_', ' ')})",
         format_amount(entry.net, currency), format_amount(entry.tax, currency),
         format_amount(entry.net + entry.tax, currency)] for entry in breakdown]
    rates = Table(rate_rows, colWidths=[30 * mm, 20 * mm, 18 * mm, 20 * mm], hAlign="LEFT")
    rates.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5), ("TEXTCOLOR", (0, 0), (-1, 0), MUTED),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8), ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE), ("LEFTPADDING", (0, 0), (0, -1), 0)]))
    sums = Table([["Net total", format_amount(totals.net, currency)],
                  ["Tax", format_amount(totals.tax, currency)],
                  [total_label, format_amount(totals.gross, currency)]], colWidths=[32 * mm, 30 * mm])
    sums.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -2), "Helvetica", 9), ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 11),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"), ("LINEABOVE", (0, -1), (-1, -1), 1.2, ACCENT),
        ("TEXTCOLOR", (0, -1), (-1, -1), ACCENT), ("TOPPADDING", (0, -1), (-1, -1), 6)]))
    summary = Table([[rates, sums]], colWidths=[CONTENT_WIDTH - 66 * mm, 66 * mm])
    summary.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                 ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("ALIGN", (1, 0), (1, 0), "RIGHT")]))
    return summary


def _build(story: list[Flowable], *, title: str, seller: Party, watermark: str) -> bytes:
    def decorate(canvas: Canvas, document: SimpleDocTemplate) -> None:
        canvas.saveState()
        if watermark:
            canvas.setFont("Helvetica-Bold", 110)
            canvas.setFillColor(colors.Color(0.85, 0.2, 0.2, alpha=0.12))
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(35)
            canvas.drawCentredString(0, -35, watermark)
            canvas.rotate(-35)
            canvas.translate(-A4[0] / 2, -A4[1] / 2)
        canvas.setStrokeColor(RULE)
        canvas.line(PAGE_MARGIN, 14 * mm, A4[0] - PAGE_MARGIN, 14 * mm)
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(MUTED)
        legal = " · ".join(part for part in (seller.name, _one_line(seller.address),
                                              seller.vat_number and f"VAT {seller.vat_number}") if part)
        canvas.drawString(PAGE_MARGIN, 10 * mm, legal)
        canvas.drawRightString(A4[0] - PAGE_MARGIN, 10 * mm, f"{title} · page {document.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=PAGE_MARGIN, rightMargin=PAGE_MARGIN,
                                 topMargin=PAGE_MARGIN, bottomMargin=22 * mm, title=title, author=seller.name,
                                 subject=title, creator="shop-platform billing", invariant=True)
    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _address_lines(address: Address, *, with_name: bool = True) -> list[str]:
    lines = [address.full_name] if with_name else []
    lines += [address.company, address.line1, address.line2,
              " ".join(part for part in (address.postal_code, address.city) if part), address.region,
              address.country_code, address.phone]
    return [escape(line) for line in lines if line]


def _one_line(address: Address) -> str:
    return ", ".join(part for part in (address.line1, " ".join(p for p in (address.postal_code, address.city) if p),
                                       address.country_code) if part)


def _description(description: str, sku: str) -> str:
    text = escape(description)
    return f"{text}<br/><font size=7 color='#5B6573'>SKU {escape(sku)}</font>" if sku else text


def _date(moment: datetime) -> str:
    return moment.strftime("%d %B %Y")
