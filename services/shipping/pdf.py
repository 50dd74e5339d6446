"""Shipping labels as 4 x 6 inch PDFs (the thermal-printer size carriers use), drawn with reportlab.

The label carries the carrier and service, the sender and recipient addresses, the tracking number
as a Code 128 barcode with the number printed under it, and the order's packing reference.
Rendering is deterministic (reportlab's invariant mode), so a label can be rendered again whenever
it is asked for and comes out byte for byte the same.
"""

from __future__ import annotations

import io

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.units import inch, mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from services.shipping.domain import Address, Shipment, ShipmentStatus

LABEL_SIZE = (4 * inch, 6 * inch)
MARGIN = 4 * mm
_WIDTH, _HEIGHT = LABEL_SIZE
_INNER = _WIDTH - 2 * MARGIN


def label_filename(shipment: Shipment) -> str:
    """"label-6A12345678901.pdf", as the label stream's header names it."""
    return f"label-{shipment.tracking_number}.pdf"


def render_shipping_label_pdf(shipment: Shipment, sender: Address) -> bytes:
    """The shipment's label. `sender` is the address parcels leave from (and come back to). A
    cancelled shipment's label is marked VOID: its tracking number must not be used."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=LABEL_SIZE, invariant=True)
    canvas.setTitle(f"Shipping label {shipment.tracking_number}")
    canvas.setAuthor(sender.company or sender.full_name)
    canvas.setCreator("shop-platform shipping")

    top = _HEIGHT - MARGIN
    top = _carrier_band(canvas, shipment, top)
    top = _sender_block(canvas, sender, top)
    top = _recipient_block(canvas, shipment.destination, top)
    top = _tracking_block(canvas, shipment, top)
    _contents_block(canvas, shipment, top)
    _reference_block(canvas, shipment)
    if shipment.status is ShipmentStatus.CANCELLED:
        _void_stamp(canvas)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _carrier_band(canvas: Canvas, shipment: Shipment, top: float) -> float:
    """Black band: carrier name on the left, service level in a white box on the right."""
    height = 14 * mm
    canvas.setFillColor(colors.black)
    canvas.rect(MARGIN, top - height, _INNER, height, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    canvas.setFont("Helvetica-Bold", 18)
    canvas.drawString(MARGIN + 3 * mm, top - height + 4.5 * mm, _fit(shipment.carrier_name.upper(),
                                                                      "Helvetica-Bold", 18, 50 * mm))
    service = shipment.service_level.value.replace("_", " ").upper()
    box_width = stringWidth(service, "Helvetica-Bold", 11) + 6 * mm
    canvas.rect(MARGIN + _INNER - box_width - 2 * mm, top - height + 2.5 * mm, box_width, height - 5 * mm,
                stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    canvas.setFont("Helvetica-Bold", 11)
    canvas.drawCentredString(MARGIN + _INNER - 2 * mm - box_width / 2, top - height + 5.3 * mm, service)
    return top - height


def _sender_block(canvas: Canvas, sender: Address, top: float) -> float:
    lines = _address_lines(sender)
    y = top - 4.5 * mm
    _caption(canvas, "FROM", y)
    canvas.setFont("Helvetica", 7.5)
    for line in lines:
        canvas.drawString(MARGIN + 12 * mm, y, _fit(line, "Helvetica", 7.5, _INNER - 12 * mm))
        y -= 3.2 * mm
    bottom = min(y, top - 12 * mm)
    _rule(canvas, bottom)
    return bottom


def _recipient_block(canvas: Canvas, destination: Address, top: float) -> float:
    """The recipient, large: it is what the sorting centres and the driver read."""
    y = top - 5 * mm
    _caption(canvas, "TO", y)
    x = MARGIN + 12 * mm
    width = _INNER - 12 * mm
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(x, y - 1 * mm, _fit(destination.full_name, "Helvetica-Bold", 14, width))
    y -= 7 * mm
    canvas.setFont("Helvetica", 11)
    for line in (destination.company, destination.line1, destination.line2):
        if line:
            canvas.drawString(x, y, _fit(line, "Helvetica", 11, width))
            y -= 5 * mm
    canvas.setFont("Helvetica-Bold", 13)
    town = " ".join(part for part in (destination.postal_code, destination.city.upper()) if part)
    canvas.drawString(x, y - 0.5 * mm, _fit(town, "Helvetica-Bold", 13, width - 14 * mm))
    canvas.setFont("Helvetica-Bold", 20)
    canvas.drawRightString(MARGIN + _INNER - 2 * mm, y - 1 * mm, destination.country_code)
    y -= 5.5 * mm
    canvas.setFont("Helvetica", 9)
    for line in (destination.region, destination.phone and f"Tel. {destination.phone}"):
        if line:
            canvas.drawString(x, y, _fit(line, "Helvetica", 9, width))
            y -= 4 * mm
    bottom = y - 1 * mm
    _rule(canvas, bottom, thick=True)
    return bottom


def _tracking_block(canvas: Canvas, shipment: Shipment, top: float) -> float:
    """The tracking number as a Code 128 barcode, scaled to the label's width, and in print under it."""
    bar_height = 24 * mm
    barcode = Code128(shipment.tracking_number, barHeight=bar_height, barWidth=0.5 * mm, humanReadable=False)
    scale = min(1.0, (_INNER - 6 * mm) / barcode.width)
    x = MARGIN + (_INNER - barcode.width * scale) / 2
    y = top - 4 * mm - bar_height
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(scale, 1)
    barcode.drawOn(canvas, 0, 0)
    canvas.restoreState()
    canvas.setFont("Helvetica-Bold", 13)
    canvas.drawCentredString(_WIDTH / 2, y - 6 * mm, shipment.tracking_number)
    _caption(canvas, "TRACKING NUMBER", y - 6 * mm)
    _rule(canvas, y - 9 * mm)
    return y - 9 * mm


def _contents_block(canvas: Canvas, shipment: Shipment, top: float) -> None:
    """The packing list, as many lines as fit above the references."""
    y = top - 4.5 * mm
    _caption(canvas, "CONTENTS", y)
    room = int((y - (MARGIN + 27 * mm)) // (3.4 * mm)) + 1
    shown = shipment.items if len(shipment.items) <= room else shipment.items[: room - 1]
    canvas.setFont("Helvetica", 7.5)
    for item in shown:
        canvas.drawString(MARGIN + 17 * mm, y, _fit(f"{item.quantity} x {item.sku}  {item.name}", "Helvetica", 7.5,
                                                    _INNER - 19 * mm))
        y -= 3.4 * mm
    if len(shown) < len(shipment.items):
        canvas.drawString(MARGIN + 17 * mm, y, f"... and {len(shipment.items) - len(shown)} more")


def _reference_block(canvas: Canvas, shipment: Shipment) -> None:
    """At the foot: order, weight, contents, date; what the packer and the shop's support look for."""
    units = sum(item.quantity for item in shipment.items)
    facts = [("ORDER", shipment.order_number or shipment.order_id),
             ("WEIGHT", f"{shipment.parcel.weight_grams / 1000:.2f} kg"),
             ("ITEMS", f"{units} unit{'s' if units != 1 else ''}, {len(shipment.items)} "
                       f"SKU{'s' if len(shipment.items) != 1 else ''}"),
             ("SHIPPED", shipment.created_at.strftime("%d %b %Y"))]
    column = _INNER / 2
    for index, (caption, value) in enumerate(facts):
        x = MARGIN + 2 * mm + (index % 2) * column
        y = MARGIN + 20 * mm - (index // 2) * 9 * mm
        canvas.setFont("Helvetica-Bold", 6)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(x, y + 3.2 * mm, caption)
        canvas.setFillColor(colors.black)
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawString(x, y, _fit(value, "Helvetica-Bold", 9, column - 2 * mm))
    canvas.setFont("Helvetica", 6)
    footnote = f"{shipment.shipping_option_id} · shipment {shipment.shipment_id}"
    canvas.drawString(MARGIN + 2 * mm, MARGIN + 1 * mm, _fit(footnote, "Helvetica", 6, _INNER - 4 * mm))
    canvas.setLineWidth(1.5)
    canvas.rect(MARGIN, MARGIN - 1 * mm, _INNER, _HEIGHT - 2 * MARGIN + 1 * mm, stroke=1, fill=0)


def _void_stamp(canvas: Canvas) -> None:
    canvas.saveState()
    canvas.setFillColor(colors.Color(0.8, 0.1, 0.1, alpha=0.35))
    canvas.setFont("Helvetica-Bold", 72)
    canvas.translate(_WIDTH / 2, _HEIGHT / 2)
    canvas.rotate(55)
    canvas.drawCentredString(0, -25, "VOID")
    canvas.restoreState()


def _caption(canvas: Canvas, text: str, y: float) -> None:
    canvas.setFont("Helvetica-Bold", 6)
    canvas.setFillColor(colors.HexColor("#555555"))
    canvas.drawString(MARGIN + 1 * mm, y, text)
    canvas.setFillColor(colors.black)


def _rule(canvas: Canvas, y: float, *, thick: bool = False) -> None:
    canvas.setLineWidth(1.5 if thick else 0.6)
    canvas.line(MARGIN, y, MARGIN + _INNER, y)


def _address_lines(address: Address) -> list[str]:
    town = " ".join(part for part in (address.postal_code, address.city) if part)
    return [line for line in (address.company or address.full_name, address.line1, address.line2,
                              f"{town} {address.country_code}".strip()) if line]


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Shortens a text that would run off the label, ending it with "..."."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "...", font, size) > width:
        text = text[:-1]
    return text + "..."
