"""The back-office calls every service but carting and paying, for the staff member of the session: each call
carries their token from profiling, of role STAFF, or ADMIN for the settings and staff accounts (docs/security.md);
only signing in (and the refresh of a token) goes without one. Each check drives the site's real routes
(tests/contracts/sites.py, a staff session) and asserts what the page shows of the answer."""

from __future__ import annotations

from typing import Any

from billing.v1 import billing_service_pb2 as billing_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from profiling.v1 import profile_service_pb2 as profile_api
from shop.common.v1 import paging_pb2
from stocking.v1 import events_pb2 as stock_events
from stocking.v1 import stock_service_pb2 as stock_api

from sites.backoffice.orders import SHIPMENT, STATUS, STEPS
from sites.backoffice.stock import ALERT_KINDS, KINDS, REASON_NAMES
from tests.contracts import sites
from tests.contracts.sites import STAFF_ID, STAFF_NAME, Site
from tests.contracts.values import ADDRESS, AT, eur
from tools.contracts import Consumer, one_of

CONSUMER = Consumer("backoffice", sites.build)
STAFF, ADMIN = "staff", "admin"
SKU, ORDER_ID, SHIPMENT_ID = "MUG-RED", "order-1", "shipment-1"
PDF = b"%PDF-1.7 a staff member's document"

# --- what the pages read of each answer ---------------------------------------------------------------------------

ORDER = order_pb2.Order(
    order_id=ORDER_ID, order_number="ORD-2026-000001", status=order_pb2.ORDER_STATUS_PENDING,
    customer_id="customer-1", created_at=AT,
    lines=[order_pb2.OrderLine(sku=SKU, name="Red mug", quantity=2, unit_price=eur(1250), line_total=eur(2500))],
    totals=order_pb2.OrderTotals(subtotal=eur(2500), shipping=eur(695), tax=eur(500), total=eur(3695)),
    shipping_address=ADDRESS, shipping_option=order_pb2.OrderShippingOption(carrier_name="Colissimo"))
ORDER_STATUSES = one_of(*STATUS)
SHIPMENT_STATUSES = one_of(*SHIPMENT)
LISTED_ORDER = order_pb2.Order(order_id=ORDER_ID, order_number="ORD-2026-000001", customer_id="customer-1",
                               status=order_pb2.ORDER_STATUS_PENDING, created_at=AT,
                               totals=order_pb2.OrderTotals(total=eur(3695)))
SHIPMENT_SEEN = shipment_pb2.Shipment(carrier_name="Colissimo", tracking_number="6A00000000001",
                                      status=shipment_pb2.SHIPMENT_STATUS_LABEL_CREATED,
                                      parcel=shipment_pb2.Parcel(weight_grams=700))


def order(**fields: Any) -> order_pb2.Order:
    shown = order_pb2.Order()
    shown.CopyFrom(ORDER)
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(shown, name).extend(value)
        else:
            setattr(shown, name, value)
    return shown


def order_page(site: Site, shown_order: order_pb2.Order | None = None) -> None:
    """The other answers of an order's page."""
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=shown_order or ORDER))
    site.answer("ordering", "GetOrderTimeline", order_api.GetOrderTimelineResponse())
    site.answer("shipping", "GetShipment", shipping_api.GetShipmentResponse(shipment=SHIPMENT_SEEN))
    site.answer("shipping", "ListTrackingEvents", shipping_api.ListTrackingEventsResponse())


def shown(page: Any, *texts: str) -> None:
    missing = [text for text in texts if text not in page.text]
    assert not missing, f"{page.status_code} {page.request.url.path} does not show {missing}"


def redirected(page: Any, to: str) -> None:
    assert (page.status_code, page.headers.get("location")) == (303, to), (page.status_code, page.text[:300])


def flash(site: Site) -> list[str]:
    return list(site.session().get("flash", []))


# --- ordering -----------------------------------------------------------------------------------------------------


@CONSUMER.call("ordering.v1.OrderService/ListOrders", order_api.ListOrdersRequest(
    page=paging_pb2.PageRequest(page_size=25)), order_api.ListOrdersResponse(
    orders=[LISTED_ORDER], page=paging_pb2.PageResponse(total_size=1)),
    given="a customer's order was placed", caller=STAFF, handles={"orders[].status": ORDER_STATUSES})
async def lists_every_order(site: Site, answer: order_api.ListOrdersResponse) -> None:
    await site.sign_in_staff()
    shown(await site.get("/orders"), f'<a href="/orders/{ORDER_ID}">ORD-2026-000001</a>', "1 Jan 2026",
          '<a href="/customers/customer-1">customer-1</a>', ">Open</span>", "€36.95")


@CONSUMER.call("ordering.v1.OrderService/GetOrder", order_api.GetOrderRequest(order_id=ORDER_ID),
               order_api.GetOrderResponse(order=ORDER), given="a customer's order was placed", caller=STAFF,
               handles={"order.status": ORDER_STATUSES})
async def shows_the_order(site: Site, answer: order_api.GetOrderResponse) -> None:
    await site.sign_in_staff()
    order_page(site)
    shown(await site.get(f"/orders/{ORDER_ID}"), "<h1>Order ORD-2026-000001</h1>", 'data-status="Open"',
          f'<a href="/stock/{SKU}">{SKU}</a></td><td>Red mug</td><td class="num">2</td>', "€12.50", "€25.00",
          "<strong>€36.95</strong>", "€6.95 (Colissimo)", "Ada Lovelace, 12 rue des Lilas, 75011 Paris, FR",
          f'action="/orders/{ORDER_ID}/cancel"')


@CONSUMER.call("ordering.v1.OrderService/GetOrderTimeline", order_api.GetOrderTimelineRequest(order_id=ORDER_ID),
               order_api.GetOrderTimelineResponse(entries=[order_api.TimelineEntry(
                   step=order_api.TIMELINE_STEP_ORDER_CREATED, occurred_at=AT, source="ordering")]),
               given="a customer's order was placed", caller=STAFF, handles={"entries[].step": one_of(*STEPS)})
async def shows_the_saga(site: Site, answer: order_api.GetOrderTimelineResponse) -> None:
    await site.sign_in_staff()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=ORDER))
    shown(await site.get(f"/orders/{ORDER_ID}"), 'id="e-step-0"><span class="what">Order created</span>',
          "<time>1 Jan 2026, 00:00:00</time> · ordering")


@CONSUMER.call("ordering.v1.OrderService/CancelOrder", order_api.CancelOrderRequest(
    order_id=ORDER_ID, reason=order_pb2.CANCELLATION_REASON_FRAUD_SUSPECTED, note="stolen card"),
    order_api.CancelOrderResponse(), given="a customer's order was placed", caller=STAFF)
async def cancels_the_order(site: Site, answer: order_api.CancelOrderResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/orders/{ORDER_ID}/cancel", {"reason": "fraud", "note": "stolen card"}),
               f"/orders/{ORDER_ID}")
    assert flash(site) == ["Cancellation asked: the timeline shows the saga undoing each step."]


@CONSUMER.call("ordering.v1.OrderService/RequestRefund", order_api.RequestRefundRequest(
    order_id=ORDER_ID, idempotency_key="refund-0001", lines=[order_api.RefundLineSelection(sku=SKU, quantity=1)],
    reason="broken"), order_api.RequestRefundResponse(), given="a customer's order was delivered", caller=STAFF)
async def refunds_some_lines(site: Site, answer: order_api.RequestRefundResponse) -> None:
    await site.sign_in_staff()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(
        status=order_pb2.ORDER_STATUS_DELIVERED, currency="EUR")))
    redirected(await site.post(f"/orders/{ORDER_ID}/refund", {"key": "refund-0001", "reason": "broken",
                                                              f"qty-{SKU}": "1"}), f"/orders/{ORDER_ID}")
    assert flash(site) == ["Refund asked: the timeline shows the money going back and the credit note."]


# --- billing: the documents, streamed -------------------------------------------------------------------------


@CONSUMER.call("billing.v1.BillingService/GetInvoicePdf", billing_api.GetInvoicePdfRequest(invoice_id="invoice-1"),
               [billing_api.GetInvoicePdfResponse(header=billing_api.PdfHeader(filename="INV-2026-000001.pdf")),
                billing_api.GetInvoicePdfResponse(chunk=PDF)],
               given="a customer's order's invoice was finalized", caller=STAFF)
async def downloads_the_invoice(site: Site, answer: list[billing_api.GetInvoicePdfResponse]) -> None:
    await site.sign_in_staff()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(invoice_id="invoice-1")))
    page = await site.get(f"/orders/{ORDER_ID}/invoice.pdf")
    assert page.content == b"".join(part.chunk for part in answer), page.text[:300]
    assert page.headers["content-disposition"] == f'attachment; filename="{answer[0].header.filename}"'


@CONSUMER.call("billing.v1.BillingService/GetCreditNotePdf", billing_api.GetCreditNotePdfRequest(
    credit_note_id="credit-note-1"),
    [billing_api.GetCreditNotePdfResponse(header=billing_api.PdfHeader(filename="CN-2026-000001.pdf")),
     billing_api.GetCreditNotePdfResponse(chunk=PDF)],
    given="a customer's refund's credit note was issued", caller=STAFF)
async def downloads_the_credit_note(site: Site, answer: list[billing_api.GetCreditNotePdfResponse]) -> None:
    await site.sign_in_staff()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(
        refunds=[order_pb2.OrderRefund(credit_note_id="credit-note-1")])))
    page = await site.get(f"/orders/{ORDER_ID}/credit-notes/credit-note-1.pdf")
    assert page.content == b"".join(part.chunk for part in answer), page.text[:300]
    assert page.headers["content-disposition"] == f'attachment; filename="{answer[0].header.filename}"'


# --- shipping -----------------------------------------------------------------------------------------------------


@CONSUMER.call("shipping.v1.ShippingService/GetShipment", shipping_api.GetShipmentRequest(shipment_id=SHIPMENT_ID),
               shipping_api.GetShipmentResponse(shipment=SHIPMENT_SEEN),
               given="a customer's order's shipment was created", caller=STAFF,
               handles={"shipment.status": SHIPMENT_STATUSES})
async def shows_the_shipment(site: Site, answer: shipping_api.GetShipmentResponse) -> None:
    await site.sign_in_staff()
    order_page(site, order(status=order_pb2.ORDER_STATUS_CONFIRMED, shipment_id=SHIPMENT_ID))
    shown(await site.get(f"/orders/{ORDER_ID}"), "<dt>Carrier</dt><dd>Colissimo</dd>",
          "<dt>Tracking</dt><dd>6A00000000001</dd>", "<strong>label created</strong>", "<dd>700 g</dd>",
          f'action="/orders/{ORDER_ID}/scans"')


@CONSUMER.call("shipping.v1.ShippingService/ListTrackingEvents", shipping_api.ListTrackingEventsRequest(
    shipment_id=SHIPMENT_ID), shipping_api.ListTrackingEventsResponse(tracking_events=[shipment_pb2.TrackingEvent(
        status=shipment_pb2.SHIPMENT_STATUS_PICKED_UP, occurred_at=AT, description="Picked up")]),
    given="a customer's parcel was scanned", caller=STAFF, handles={"tracking_events[].status": SHIPMENT_STATUSES})
async def shows_the_carrier_scans(site: Site, answer: shipping_api.ListTrackingEventsResponse) -> None:
    await site.sign_in_staff()
    order_page(site, order(status=order_pb2.ORDER_STATUS_CONFIRMED, shipment_id=SHIPMENT_ID))
    shown(await site.get(f"/orders/{ORDER_ID}"), "<time>1 Jan 2026, 00:00</time> · picked up · Picked up</li>")


@CONSUMER.call("shipping.v1.ShippingService/GetShippingLabel", shipping_api.GetShippingLabelRequest(
    shipment_id=SHIPMENT_ID),
    [shipping_api.GetShippingLabelResponse(header=shipping_api.LabelHeader(filename="label.pdf")),
     shipping_api.GetShippingLabelResponse(chunk=PDF)],
    given="a customer's order's shipment was created", caller=STAFF)
async def downloads_the_label(site: Site, answer: list[shipping_api.GetShippingLabelResponse]) -> None:
    await site.sign_in_staff()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(shipment_id=SHIPMENT_ID)))
    page = await site.get(f"/orders/{ORDER_ID}/label.pdf")
    assert page.content == b"".join(part.chunk for part in answer), page.text[:300]
    assert page.headers["content-disposition"] == f'attachment; filename="{answer[0].header.filename}"'


@CONSUMER.call("shipping.v1.ShippingService/RecordCarrierScan", shipping_api.RecordCarrierScanRequest(
    shipment_id=SHIPMENT_ID, scan_id="scan-0001", status=shipment_pb2.SHIPMENT_STATUS_PICKED_UP, location="Lyon",
    description="Picked up"), shipping_api.RecordCarrierScanResponse(shipment=shipment_pb2.Shipment(
        status=shipment_pb2.SHIPMENT_STATUS_PICKED_UP)),
    given="a customer's order's shipment was created", caller=STAFF,
    handles={"shipment.status": SHIPMENT_STATUSES})
async def records_a_scan(site: Site, answer: shipping_api.RecordCarrierScanResponse) -> None:
    await site.sign_in_staff()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(shipment_id=SHIPMENT_ID)))
    redirected(await site.post(f"/orders/{ORDER_ID}/scans", {"scan_id": "scan-0001", "status": "picked_up",
                                                             "location": "Lyon"}), f"/orders/{ORDER_ID}#shipment")
    assert flash(site) == ["Scan recorded: picked up."]


# --- stocking -----------------------------------------------------------------------------------------------------

LEVEL = stock_events.StockLevel(sku=SKU, on_hand=12, reserved=2, available=10, low_stock_threshold=5)
THRESHOLD = stock_api.GetLowStockThresholdResponse(threshold=stock_api.LowStockThreshold(
    effective_threshold=5, default_threshold=5))
STOCKED = catalog_events.Product(sku=SKU, name="Red mug")


def sku_page(site: Site) -> None:
    """The other answers of a SKU's page."""
    site.answer("stocking", "GetStockLevel", stock_api.GetStockLevelResponse(level=LEVEL))
    site.answer("stocking", "GetLowStockThreshold", THRESHOLD)
    site.answer("stocking", "ListStockMovements", stock_api.ListStockMovementsResponse())
    site.answer("stocking", "ListReservations", stock_api.ListReservationsResponse())
    site.answer("stocking", "ListStockAlerts", stock_api.ListStockAlertsResponse())
    site.answer("cataloging", "BatchGetProductsBySku", catalog_api.BatchGetProductsBySkuResponse(products=[STOCKED]))
    site.answer("profiling", "GetStaffMember", profile_api.GetStaffMemberResponse(
        staff_member=profile_api.StaffMember(display_name=STAFF_NAME)))


@CONSUMER.call("stocking.v1.StockService/BatchGetStockLevels", stock_api.BatchGetStockLevelsRequest(skus=[SKU]),
               stock_api.BatchGetStockLevelsResponse(levels=[LEVEL]), given="a SKU is in stock", caller=STAFF)
async def flags_the_levels(site: Site, answer: stock_api.BatchGetStockLevelsResponse) -> None:
    await site.sign_in_staff()
    site.answer("cataloging", "ListProducts", catalog_api.ListProductsResponse(
        products=[STOCKED], page=paging_pb2.PageResponse(total_size=1)))
    shown(await site.get("/stock"), f'<a href="/stock/{SKU}">{SKU}</a></td><td>Red mug</td>',
          '<td class="num">12</td><td class="num">2</td><td class="num">10</td><td class="num">5</td>',
          '<span class="flag ok">In stock</span>')


@CONSUMER.call("stocking.v1.StockService/GetStockLevel", stock_api.GetStockLevelRequest(sku=SKU),
               stock_api.GetStockLevelResponse(level=LEVEL), given="a SKU is in stock", caller=STAFF)
async def shows_the_level(site: Site, answer: stock_api.GetStockLevelResponse) -> None:
    await site.sign_in_staff()
    sku_page(site)
    shown(await site.get(f"/stock/{SKU}"), f"<h1>{SKU} · Red mug</h1>", '<span class="flag ok">In stock</span>',
          'On hand</span><span class="value">12</span>', 'Reserved for orders</span><span class="value">2</span>',
          'Available</span><span class="value">10</span>')


@CONSUMER.call("stocking.v1.StockService/GetLowStockThreshold", stock_api.GetLowStockThresholdRequest(sku=SKU),
               THRESHOLD, given="a SKU is in stock", caller=STAFF)
async def shows_the_threshold(site: Site, answer: stock_api.GetLowStockThresholdResponse) -> None:
    await site.sign_in_staff()
    sku_page(site)
    shown(await site.get(f"/stock/{SKU}"), 'Low at or under</span><span class="value">5</span>'
          '<span class="hint">the shop\'s default</span>', "Use the shop's default (5) instead")


@CONSUMER.call("stocking.v1.StockService/ListStockMovements", stock_api.ListStockMovementsRequest(
    sku=SKU, page=paging_pb2.PageRequest(page_size=50)), stock_api.ListStockMovementsResponse(movements=[
        stock_api.StockMovement(occurred_at=AT, kind=stock_api.STOCK_MOVEMENT_KIND_SET, on_hand_delta=10,
                                on_hand_after=10, change_reason=stock_api.STOCK_CHANGE_REASON_RESTOCK,
                                staff_id=STAFF_ID)]),
    given="a SKU is in stock", caller=STAFF,
    handles={"movements[].kind": one_of(*KINDS), "movements[].change_reason": one_of(*REASON_NAMES)})
async def shows_the_ledger(site: Site, answer: stock_api.ListStockMovementsResponse) -> None:
    await site.sign_in_staff()
    sku_page(site)
    shown(await site.get(f"/stock/{SKU}"), "<td>1 Jan 2026, 00:00:00</td>", "<td>Set</td>",
          '<span class="delta-up">+10</span> → 10', "<td>Restock</td>", f"<td>{STAFF_NAME}</td>")
    assert ("GetStaffMember", profile_api.GetStaffMemberRequest(staff_id=STAFF_ID)) in site.stubs["profiling"].calls


@CONSUMER.call("stocking.v1.StockService/ListReservations", stock_api.ListReservationsRequest(
    states=[stock_api.RESERVATION_STATE_ACTIVE], page=paging_pb2.PageRequest(page_size=50)),
    stock_api.ListReservationsResponse(reservations=[stock_api.Reservation(
        order_id="order-1", lines=[stock_events.StockLine(sku=SKU, quantity=2)], created_at=AT, expires_at=AT)]),
    given="stock was reserved for an order", caller=STAFF)
async def lists_the_open_reservations(site: Site, answer: stock_api.ListReservationsResponse) -> None:
    await site.sign_in_staff()
    shown(await site.get("/stock/reservations"), '<a href="/orders/order-1">order-1…</a>',
          f'<a href="/stock/{SKU}">{SKU}</a> × 2', "<td>1 Jan 2026, 00:00:00</td>")


@CONSUMER.call("stocking.v1.StockService/ListStockAlerts", stock_api.ListStockAlertsRequest(
    unresolved_only=True, page=paging_pb2.PageRequest(page_size=50)),
    stock_api.ListStockAlertsResponse(alerts=[stock_api.StockAlert(
        alert_id=f"{SKU}:alert:2", sku=SKU, kind=stock_api.STOCK_ALERT_KIND_LOW_STOCK,
        level=stock_events.StockLevel(available=3), raised_at=AT)]),
    given="a SKU's stock ran low", caller=STAFF, handles={"alerts[].kind": one_of(*ALERT_KINDS)})
async def lists_the_open_alerts(site: Site, answer: stock_api.ListStockAlertsResponse) -> None:
    await site.sign_in_staff()
    alert = answer.alerts[0]
    shown(await site.get("/stock/alerts"), f'<a href="/stock/{SKU}">{SKU}</a>',
          '<span class="flag low">Low stock</span>', '<td class="num">3</td>', "<td>1 Jan 2026, 00:00</td>",
          f'action="/stock/alerts/{alert.alert_id}/acknowledge"')


@CONSUMER.call("stocking.v1.StockService/AcknowledgeStockAlert", stock_api.AcknowledgeStockAlertRequest(
    alert_id=f"{SKU}:alert:2", note="reordered"), stock_api.AcknowledgeStockAlertResponse(),
    given="a SKU's stock ran low", caller=STAFF)
async def acknowledges_an_alert(site: Site, answer: stock_api.AcknowledgeStockAlertResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/stock/alerts/{SKU}:alert:2/acknowledge", {"note": "reordered"}), "/stock/alerts")
    assert flash(site) == [f"Alert on {SKU} acknowledged."]


@CONSUMER.call("stocking.v1.StockService/AdjustStock", stock_api.AdjustStockRequest(
    sku=SKU, delta=12, reason=stock_api.STOCK_CHANGE_REASON_RESTOCK, note="delivery"),
    stock_api.AdjustStockResponse(level=stock_events.StockLevel(on_hand=22, available=22)),
    given="a SKU is in stock", caller=STAFF)
async def adjusts_the_stock(site: Site, answer: stock_api.AdjustStockResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/stock/{SKU}/adjust", {"delta": "12", "reason": "restock", "note": "delivery"}),
               f"/stock/{SKU}")
    assert flash(site) == ["Added 12 unit(s): 22 on hand, 22 available."]


@CONSUMER.call("stocking.v1.StockService/SetLowStockThreshold", stock_api.SetLowStockThresholdRequest(
    sku=SKU, threshold=3), stock_api.SetLowStockThresholdResponse(), given="a SKU is in stock", caller=STAFF)
async def sets_the_threshold(site: Site, answer: stock_api.SetLowStockThresholdResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/stock/{SKU}/threshold", {"value": "3"}), f"/stock/{SKU}")
    assert flash(site) == ["The low-stock threshold is changed."]
