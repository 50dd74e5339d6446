"""The back-office calls every service but carting and paying, for the staff member of the session: each call
carries their token from profiling, of role STAFF, or ADMIN for the settings and staff accounts (docs/security.md);
only signing in (and the refresh of a token) goes without one. Each check drives the site's real routes
(tests/contracts/sites.py, a staff session) and asserts what the page shows of the answer."""

from __future__ import annotations

from typing import Any

from administering.v1 import admin_service_pb2 as admin_api
from administering.v1 import events_pb2 as admin_events
from billing.v1 import billing_service_pb2 as billing_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from google.protobuf.timestamp_pb2 import Timestamp
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from profiling.v1 import events_pb2 as profiling_events
from profiling.v1 import profile_service_pb2 as profile_api
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shop.common.v1 import paging_pb2
from stocking.v1 import events_pb2 as stock_events
from stocking.v1 import stock_service_pb2 as stock_api

from sites.backoffice.admin import KINDS as SETTING_KINDS
from sites.backoffice.catalog import STATUS_NAMES
from sites.backoffice.orders import SHIPMENT, STATUS, STEPS
from sites.backoffice.people import CUSTOMER_NAMES, SELLER_NAMES
from sites.backoffice.staff import ROLES
from sites.backoffice.stock import ALERT_KINDS, KINDS, REASON_NAMES
from tests.contracts import sites
from tests.contracts.sites import REFRESH_TOKEN, STAFF_ID, STAFF_NAME, Site
from tests.contracts.values import ADDRESS, AT, eur
from tools.contracts import Consumer, one_of

CONSUMER = Consumer("backoffice", sites.build)
STAFF, ADMIN, ANONYMOUS = "staff", "admin", "anonymous"
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

LEVEL = stock_events.StockLevel(sku=SKU, on_hand=10, available=10, low_stock_threshold=5)  # reserved: 0 when unset
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
          '<td class="num">10</td><td class="num">0</td><td class="num">10</td><td class="num">5</td>',
          '<span class="flag ok">In stock</span>')


@CONSUMER.call("stocking.v1.StockService/GetStockLevel", stock_api.GetStockLevelRequest(sku=SKU),
               stock_api.GetStockLevelResponse(level=LEVEL), given="a SKU is in stock", caller=STAFF)
async def shows_the_level(site: Site, answer: stock_api.GetStockLevelResponse) -> None:
    await site.sign_in_staff()
    sku_page(site)
    shown(await site.get(f"/stock/{SKU}"), f"<h1>{SKU} · Red mug</h1>", '<span class="flag ok">In stock</span>',
          'On hand</span><span class="value">10</span>', 'Reserved for orders</span><span class="value">0</span>',
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


# --- cataloging ---------------------------------------------------------------------------------------------------

PRODUCT_ID, CATEGORY_ID, SELLER_ID = "product-1", "category-1", "seller-1"
PRODUCT_STATUSES = one_of(*STATUS_NAMES)
CATEGORY = catalog_api.Category(category_id=CATEGORY_ID, name="Kitchen")
PRODUCT = catalog_events.Product(
    product_id=PRODUCT_ID, sku=SKU, name="Red mug", seller_id=SELLER_ID, category_id=CATEGORY_ID,
    status=catalog_events.PRODUCT_STATUS_PUBLISHED, price=eur(1250), tax_class="standard", weight_grams=350,
    created_at=AT)
LISTED_PRODUCT = catalog_events.Product(product_id=PRODUCT_ID, sku=SKU, name="Red mug", seller_id=SELLER_ID,
                                        category_id=CATEGORY_ID, status=catalog_events.PRODUCT_STATUS_PUBLISHED,
                                        price=eur(1250))
SELLER_LISTED = admin_events.Seller(seller_id=SELLER_ID, name="Mugs & Co", status=admin_events.SELLER_STATUS_ACTIVE)


def catalogue(site: Site) -> None:
    """The other answers of the catalogue's pages."""
    site.answer("cataloging", "GetCategoryTree", catalog_api.GetCategoryTreeResponse(categories=[CATEGORY]))
    site.answer("cataloging", "GetProduct", catalog_api.GetProductResponse(product=PRODUCT))
    site.answer("administering", "ListSellers", admin_api.ListSellersResponse(sellers=[SELLER_LISTED]))


@CONSUMER.call("cataloging.v1.CatalogService/GetCategoryTree", catalog_api.GetCategoryTreeRequest(),
               catalog_api.GetCategoryTreeResponse(categories=[CATEGORY]), given="the catalogue has a category",
               caller=STAFF)
async def shows_the_category_tree(site: Site, answer: catalog_api.GetCategoryTreeResponse) -> None:
    await site.sign_in_staff()
    page = await site.get("/categories")
    shown(page, f'<a href="/products?category={CATEGORY_ID}">Kitchen</a>', f'action="/categories/{CATEGORY_ID}/rename"',
          'aria-label="Delete Kitchen"')


@CONSUMER.call("cataloging.v1.CatalogService/ListProducts", catalog_api.ListProductsRequest(
    statuses=[catalog_events.PRODUCT_STATUS_DRAFT, catalog_events.PRODUCT_STATUS_PUBLISHED,
              catalog_events.PRODUCT_STATUS_ARCHIVED], sort=catalog_api.PRODUCT_SORT_NEWEST,
    page=paging_pb2.PageRequest(page_size=30)),
    catalog_api.ListProductsResponse(products=[LISTED_PRODUCT], page=paging_pb2.PageResponse(total_size=1)),
    given="a product is published", caller=STAFF, handles={"products[].status": PRODUCT_STATUSES})
async def lists_every_product(site: Site, answer: catalog_api.ListProductsResponse) -> None:
    await site.sign_in_staff()
    catalogue(site)
    shown(await site.get("/products"), f'<a href="/products/{PRODUCT_ID}">{SKU}</a></td><td>Red mug</td>'
          f'<td>Kitchen</td><td><a href="/sellers/{SELLER_ID}">Mugs &amp; Co</a></td><td>Published',
          '<td class="num">€12.50</td>')


@CONSUMER.call("cataloging.v1.CatalogService/GetProduct", catalog_api.GetProductRequest(product_id=PRODUCT_ID),
               catalog_api.GetProductResponse(product=PRODUCT), given="a product is published", caller=STAFF,
               handles={"product.status": PRODUCT_STATUSES})
async def shows_the_product(site: Site, answer: catalog_api.GetProductResponse) -> None:
    await site.sign_in_staff()
    catalogue(site)
    shown(await site.get(f"/products/{PRODUCT_ID}"), "<h1>Red mug</h1>", '<span class="status">Published</span>',
          f'<a href="/stock/{SKU}">Stock of {SKU}</a>', f'<a href="/sellers/{SELLER_ID}">Mugs &amp; Co</a> · SKU {SKU}',
          "created 1 Jan 2026", f'<option value="{CATEGORY_ID}" selected>Kitchen</option>',
          "<option selected>standard</option>", 'name="weight_grams" value="350"', 'name="price" value="12.50"',
          f'action="/products/{PRODUCT_ID}/archive"')


@CONSUMER.call("cataloging.v1.CatalogService/BatchGetProductsBySku", catalog_api.BatchGetProductsBySkuRequest(
    skus=[SKU]), catalog_api.BatchGetProductsBySkuResponse(products=[catalog_events.Product(name="Red mug")]),
    given="a product is published", caller=STAFF)
async def names_the_skus_product(site: Site, answer: catalog_api.BatchGetProductsBySkuResponse) -> None:
    await site.sign_in_staff()
    sku_page(site)
    shown(await site.get(f"/stock/{SKU}"), f"<h1>{SKU} · Red mug</h1>")


@CONSUMER.call("cataloging.v1.CatalogService/UpdateProduct", catalog_api.UpdateProductRequest(
    product_id=PRODUCT_ID, name="Red mug, large", description="Holds 40 cl.", category_id=CATEGORY_ID,
    tax_class="standard", weight_grams=420), catalog_api.UpdateProductResponse(),
    given="a product is published in a category", caller=STAFF)
async def saves_the_details(site: Site, answer: catalog_api.UpdateProductResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/products/{PRODUCT_ID}", {
        "name": "Red mug, large", "description": "Holds 40 cl.", "category_id": CATEGORY_ID, "tax_class": "standard",
        "weight_grams": "420"}), f"/products/{PRODUCT_ID}")
    assert flash(site) == ["The product is saved."]


@CONSUMER.call("cataloging.v1.CatalogService/SetProductPrice", catalog_api.SetProductPriceRequest(
    product_id=PRODUCT_ID, price=eur(1500)), catalog_api.SetProductPriceResponse(), given="a product is published",
    caller=STAFF)
async def changes_the_price(site: Site, answer: catalog_api.SetProductPriceResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/products/{PRODUCT_ID}/price", {"price": "15.00"}), f"/products/{PRODUCT_ID}")
    assert flash(site) == ["The price is changed."]


@CONSUMER.call("cataloging.v1.CatalogService/PublishProduct", catalog_api.PublishProductRequest(
    product_id=PRODUCT_ID), catalog_api.PublishProductResponse(),
    given="a seller's draft product is ready to publish", caller=STAFF)
async def publishes_the_product(site: Site, answer: catalog_api.PublishProductResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/products/{PRODUCT_ID}/publish"), f"/products/{PRODUCT_ID}")
    assert flash(site) == ["The product is published: the storefront shows it."]


@CONSUMER.call("cataloging.v1.CatalogService/ArchiveProduct", catalog_api.ArchiveProductRequest(
    product_id=PRODUCT_ID, reason="discontinued"), catalog_api.ArchiveProductResponse(),
    given="a product is published", caller=STAFF)
async def archives_the_product(site: Site, answer: catalog_api.ArchiveProductResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/products/{PRODUCT_ID}/archive", {"reason": "discontinued"}),
               f"/products/{PRODUCT_ID}")
    assert flash(site) == ["The product is archived: it is sold no more."]


@CONSUMER.call("cataloging.v1.CatalogService/CreateCategory", catalog_api.CreateCategoryRequest(name="Mugs"),
               catalog_api.CreateCategoryResponse(), given="the catalogue has a category", caller=STAFF)
async def creates_a_category(site: Site, answer: catalog_api.CreateCategoryResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post("/categories", {"name": "Mugs", "parent_id": ""}), "/categories")
    assert flash(site) == ["Mugs is created."]


@CONSUMER.call("cataloging.v1.CatalogService/RenameCategory", catalog_api.RenameCategoryRequest(
    category_id=CATEGORY_ID, name="Kitchen & table"), catalog_api.RenameCategoryResponse(),
    given="the catalogue has a category", caller=STAFF)
async def renames_a_category(site: Site, answer: catalog_api.RenameCategoryResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/categories/{CATEGORY_ID}/rename", {"name": "Kitchen & table"}), "/categories")
    assert flash(site) == ["Renamed to Kitchen & table."]


@CONSUMER.call("cataloging.v1.CatalogService/MoveCategory", catalog_api.MoveCategoryRequest(
    category_id=CATEGORY_ID, new_parent_id="category-2"), catalog_api.MoveCategoryResponse(),
    given="the catalogue has two categories", caller=STAFF)
async def moves_a_category(site: Site, answer: catalog_api.MoveCategoryResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/categories/{CATEGORY_ID}/move", {"parent_id": "category-2"}), "/categories")
    assert flash(site) == ["The category is moved."]


@CONSUMER.call("cataloging.v1.CatalogService/DeleteCategory", catalog_api.DeleteCategoryRequest(
    category_id=CATEGORY_ID), catalog_api.DeleteCategoryResponse(), given="the catalogue has a category",
    caller=STAFF)
async def deletes_a_category(site: Site, answer: catalog_api.DeleteCategoryResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/categories/{CATEGORY_ID}/delete"), "/categories")
    assert flash(site) == ["The category is deleted."]


# --- administering ------------------------------------------------------------------------------------------------

SELLER_STATUSES = one_of(*SELLER_NAMES)
SELLER = admin_events.Seller(seller_id=SELLER_ID, name="Mugs & Co", email="sales@mugs.example",
                             vat_number="FR40303265045", status=admin_events.SELLER_STATUS_ACTIVE, created_at=AT)
VIP_SETTING = "customer.vip_discount_bps"
SETTING = admin_api.Setting(name=VIP_SETTING, description="The VIP discount",
                            kind=admin_api.SETTING_VALUE_KIND_BASIS_POINTS,
                            value=admin_events.SettingValue(basis_points=1000), version=1)


def seller_page(site: Site, seller: admin_events.Seller = SELLER) -> None:
    site.answer("administering", "GetSeller", admin_api.GetSellerResponse(seller=seller))
    site.answer("cataloging", "ListProducts", catalog_api.ListProductsResponse(products=[LISTED_PRODUCT]))


@CONSUMER.call("administering.v1.AdminService/ListSellers", admin_api.ListSellersRequest(
    page=paging_pb2.PageRequest(page_size=30)), admin_api.ListSellersResponse(
    sellers=[SELLER], page=paging_pb2.PageResponse(total_size=1)), given="a seller was onboarded", caller=STAFF,
    handles={"sellers[].status": SELLER_STATUSES})
async def lists_the_sellers(site: Site, answer: admin_api.ListSellersResponse) -> None:
    await site.sign_in_staff()
    shown(await site.get("/sellers"), f'<a href="/sellers/{SELLER_ID}">Mugs &amp; Co</a></td>'
          '<td>sales@mugs.example</td><td>FR40303265045</td><td><span class="flag ok">Active</span></td>'
          '<td>1 Jan 2026')


@CONSUMER.call("administering.v1.AdminService/GetSeller", admin_api.GetSellerRequest(seller_id=SELLER_ID),
               admin_api.GetSellerResponse(seller=admin_events.Seller(
                   seller_id=SELLER_ID, name="Mugs & Co", email="sales@mugs.example", vat_number="FR40303265045",
                   status=admin_events.SELLER_STATUS_ACTIVE)),
               given="a seller was onboarded", caller=STAFF, handles={"seller.status": SELLER_STATUSES})
async def shows_the_seller(site: Site, answer: admin_api.GetSellerResponse) -> None:
    await site.sign_in_staff()
    seller_page(site)
    shown(await site.get(f"/sellers/{SELLER_ID}"), "<h1>Mugs &amp; Co</h1><span class=\"flag ok\">Active</span>",
          'name="email" type="email" value="sales@mugs.example"', 'name="vat_number" value="FR40303265045"',
          f'action="/sellers/{SELLER_ID}/suspend"')


@CONSUMER.call("administering.v1.AdminService/OnboardSeller", admin_api.OnboardSellerRequest(
    name="Mugs & Co", email="sales@mugs.example", vat_number="FR40303265045"),
    admin_api.OnboardSellerResponse(seller=admin_events.Seller(seller_id=SELLER_ID, name="Mugs & Co")),
    given="a staff member may onboard sellers", caller=STAFF)
async def onboards_a_seller(site: Site, answer: admin_api.OnboardSellerResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post("/sellers", {"name": "Mugs & Co", "email": "sales@mugs.example",
                                            "vat_number": "FR40303265045"}), f"/sellers/{answer.seller.seller_id}")
    assert flash(site) == ["Mugs & Co is onboarded and can sell."]


@CONSUMER.call("administering.v1.AdminService/UpdateSeller", admin_api.UpdateSellerRequest(
    seller_id=SELLER_ID, name="Mugs & Cups", email="sales@mugs.example", vat_number="FR40303265045"),
    admin_api.UpdateSellerResponse(), given="a seller was onboarded", caller=STAFF)
async def saves_the_seller(site: Site, answer: admin_api.UpdateSellerResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/sellers/{SELLER_ID}", {"name": "Mugs & Cups", "email": "sales@mugs.example",
                                                         "vat_number": "FR40303265045"}), f"/sellers/{SELLER_ID}")
    assert flash(site) == ["The seller is saved."]


@CONSUMER.call("administering.v1.AdminService/SuspendSeller", admin_api.SuspendSellerRequest(
    seller_id=SELLER_ID, reason="unpaid fees"), admin_api.SuspendSellerResponse(), given="a seller was onboarded",
    caller=STAFF)
async def suspends_the_seller(site: Site, answer: admin_api.SuspendSellerResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/sellers/{SELLER_ID}/suspend", {"reason": "unpaid fees"}), f"/sellers/{SELLER_ID}")
    assert flash(site) == ["The seller is suspended: the storefront no longer shows their products."]


@CONSUMER.call("administering.v1.AdminService/ReinstateSeller", admin_api.ReinstateSellerRequest(seller_id=SELLER_ID),
               admin_api.ReinstateSellerResponse(), given="a seller was suspended", caller=STAFF)
async def reinstates_the_seller(site: Site, answer: admin_api.ReinstateSellerResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/sellers/{SELLER_ID}/reinstate"), f"/sellers/{SELLER_ID}")
    assert flash(site) == ["The seller is reinstated: their published products are on sale again."]


@CONSUMER.call("administering.v1.AdminService/OnboardProduct", admin_api.OnboardProductRequest(
    seller_id=SELLER_ID, sku=SKU, name="Red mug", category_id=CATEGORY_ID, price=eur(1250), tax_class="standard",
    weight_grams=350, initial_stock_quantity=10, publish=True),
    admin_api.OnboardProductResponse(product=catalog_events.Product(product_id=PRODUCT_ID, sku=SKU, name="Red mug")),
    given="a seller may onboard a product", caller=STAFF)
async def creates_a_product(site: Site, answer: admin_api.OnboardProductResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post("/products", {
        "seller_id": SELLER_ID, "sku": SKU.lower(), "name": "Red mug", "category_id": CATEGORY_ID, "price": "12.50",
        "tax_class": "standard", "weight_grams": "350", "initial_stock": "10", "publish": "true"}),
        f"/products/{answer.product.product_id}")
    assert flash(site) == [f"Red mug ({SKU}) is created and published."]


@CONSUMER.call("administering.v1.AdminService/ListSettings", admin_api.ListSettingsRequest(),
               admin_api.ListSettingsResponse(settings=[admin_api.Setting(
                   name=VIP_SETTING, description="The VIP discount", kind=admin_api.SETTING_VALUE_KIND_BASIS_POINTS,
                   version=1)]),
               given="the VIP discount is set", caller=ADMIN, handles={"settings[].kind": one_of(*SETTING_KINDS)})
async def shows_the_settings(site: Site, answer: admin_api.ListSettingsResponse) -> None:
    """What every setting has: its value (one field of its kind's) and who changed it (once someone has) differ
    from one setting to the next, so the contract cannot ask them of each element of the list."""
    await site.sign_in_staff("ADMIN")
    site.answer("profiling", "ListStaffMembers", profile_api.ListStaffMembersResponse())
    shown(await site.get("/settings"), f'<section class="panel" id="setting-{VIP_SETTING}"',
          f"<code>{VIP_SETTING}</code>", '<p class="hint">The VIP discount</p>', "(basis points: 500 = 5 %)",
          'name="version" value="1"', "The default, never changed · version 1")


@CONSUMER.call("administering.v1.AdminService/UpdateSetting", admin_api.UpdateSettingRequest(
    name=VIP_SETTING, value=admin_events.SettingValue(basis_points=1500), expected_version=1),
    admin_api.UpdateSettingResponse(), given="the VIP discount is set", caller=ADMIN)
async def changes_a_setting(site: Site, answer: admin_api.UpdateSettingResponse) -> None:
    await site.sign_in_staff("ADMIN")
    site.answer("administering", "ListSettings", admin_api.ListSettingsResponse(settings=[SETTING]))
    site.answer("profiling", "ListStaffMembers", profile_api.ListStaffMembersResponse())
    redirected(await site.post(f"/settings/{VIP_SETTING}", {"value": "1500", "version": "1"}),
               f"/settings#setting-{VIP_SETTING}")
    assert flash(site) == [f"{VIP_SETTING} is changed."]


# --- profiling: staff sign-in, customers, staff accounts ---------------------------------------------------------

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@shop.example", "correct horse battery"  # the first admin profiling makes
LATER = Timestamp(seconds=4_102_444_800)  # 2100-01-01: an access token that does not need a refresh
CUSTOMER_ID = "customer-1"
CUSTOMER_STATUSES = one_of(*CUSTOMER_NAMES)
CUSTOMER_SEEN = profile_api.Customer(customer_id=CUSTOMER_ID, email="ada@example.com", first_name="Ada",
                                     last_name="Lovelace", status=profiling_events.CUSTOMER_STATUS_STANDARD,
                                     created_at=AT)
STAFF_ROLES = one_of(*ROLES)


def customer_page(site: Site) -> None:
    site.answer("profiling", "GetCustomer", profile_api.GetCustomerResponse(customer=CUSTOMER_SEEN))
    site.answer("profiling", "ListAddresses", profile_api.ListAddressesResponse())
    site.answer("ordering", "ListOrders", order_api.ListOrdersResponse(orders=[LISTED_ORDER],
                                                                       page=paging_pb2.PageResponse(total_size=1)))


@CONSUMER.call("profiling.v1.ProfileService/Authenticate", profile_api.AuthenticateRequest(
    email=ADMIN_EMAIL, password=ADMIN_PASSWORD, account_kind=profile_api.ACCOUNT_KIND_STAFF),
    profile_api.AuthenticateResponse(
        staff_member=profile_api.StaffMember(staff_id=STAFF_ID, email=ADMIN_EMAIL, display_name="Shop admin"),
        role=profile_api.ROLE_ADMIN, access_token="access-token-2", access_token_expires_at=LATER,
        refresh_token="refresh-token-2"),
    given="an admin can act", caller=ANONYMOUS, handles={"role": STAFF_ROLES})
async def signs_the_staff_member_in(site: Site, answer: profile_api.AuthenticateResponse) -> None:
    site.answer("stocking", "ListStockAlerts", stock_api.ListStockAlertsResponse())
    redirected(await site.post("/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                          "next": "/stock/alerts"}), "/stock/alerts")
    session = site.session()
    assert session["staff"] == {"staff_id": answer.staff_member.staff_id, "email": ADMIN_EMAIL,
                                "display_name": "Shop admin", "role": "ADMIN"}, session.data
    assert session["tokens"]["access"] == answer.access_token
    shown(await site.get("/stock/alerts"), "Shop admin")
    assert site.stubs["stocking"].credentials("ListStockAlerts")[-1]["authorization"] == \
        f"Bearer {answer.access_token}"


@CONSUMER.call("profiling.v1.ProfileService/RefreshToken", profile_api.RefreshTokenRequest(
    refresh_token=REFRESH_TOKEN), profile_api.RefreshTokenResponse(access_token="access-token-2",
                                                                   access_token_expires_at=LATER),
    given="a staff member is signed in", caller=ANONYMOUS)
async def calls_with_the_refreshed_token(site: Site, answer: profile_api.RefreshTokenResponse) -> None:
    await site.sign_in_staff(expires_in=10)  # about to expire: refreshed before the next call
    site.answer("stocking", "ListStockAlerts", stock_api.ListStockAlertsResponse())
    assert (await site.get("/stock/alerts")).status_code == 200
    assert site.stubs["stocking"].credentials("ListStockAlerts")[-1]["authorization"] == \
        f"Bearer {answer.access_token}"


@CONSUMER.call("profiling.v1.ProfileService/SignOut", profile_api.SignOutRequest(refresh_token=REFRESH_TOKEN),
               profile_api.SignOutResponse(), given="a staff member is signed in", caller=STAFF)
async def signs_the_staff_member_out(site: Site, answer: profile_api.SignOutResponse) -> None:
    await site.sign_in_staff()
    token = site.access_token()
    redirected(await site.post("/logout"), "/login")
    assert site.stubs["profiling"].credentials("SignOut")[-1]["authorization"] == f"Bearer {token}"
    shown(await site.get("/login"), "You are signed out.")


@CONSUMER.call("profiling.v1.ProfileService/SearchCustomers", profile_api.SearchCustomersRequest(
    page=paging_pb2.PageRequest(page_size=30)), profile_api.SearchCustomersResponse(
    customers=[CUSTOMER_SEEN], page=paging_pb2.PageResponse(total_size=1)),
    given="a customer is registered", caller=STAFF, handles={"customers[].status": CUSTOMER_STATUSES})
async def finds_the_customers(site: Site, answer: profile_api.SearchCustomersResponse) -> None:
    await site.sign_in_staff()
    shown(await site.get("/customers"), f'<a href="/customers/{CUSTOMER_ID}">Ada Lovelace</a></td>'
          "<td>ada@example.com</td><td>Standard</td>", "<td>1 Jan 2026")


@CONSUMER.call("profiling.v1.ProfileService/GetCustomer", profile_api.GetCustomerRequest(customer_id=CUSTOMER_ID),
               profile_api.GetCustomerResponse(customer=CUSTOMER_SEEN), given="a customer is registered",
               caller=STAFF, handles={"customer.status": CUSTOMER_STATUSES})
async def shows_the_customer(site: Site, answer: profile_api.GetCustomerResponse) -> None:
    await site.sign_in_staff()
    customer_page(site)
    shown(await site.get(f"/customers/{CUSTOMER_ID}"), "<h1>Ada Lovelace</h1>", "ada@example.com · since 1 Jan 2026",
          'Status</span><span class="value">Standard</span>', f'action="/customers/{CUSTOMER_ID}/status"',
          '<option value="vip" selected>VIP</option>', f'<a href="/orders/{ORDER_ID}">ORD-2026-000001</a>')


@CONSUMER.call("profiling.v1.ProfileService/ListAddresses", profile_api.ListAddressesRequest(customer_id=CUSTOMER_ID),
               profile_api.ListAddressesResponse(entries=[profile_api.AddressBookEntry(label="Home", address=ADDRESS)]),
               given="a customer has an address in their book", caller=STAFF)
async def shows_the_address_book(site: Site, answer: profile_api.ListAddressesResponse) -> None:
    await site.sign_in_staff()
    customer_page(site)
    shown(await site.get(f"/customers/{CUSTOMER_ID}"),
          "<strong>Home</strong><br>Ada Lovelace, 12 rue des Lilas, 75011 Paris, FR")


@CONSUMER.call("profiling.v1.ProfileService/SetCustomerStatus", profile_api.SetCustomerStatusRequest(
    customer_id=CUSTOMER_ID, status=profiling_events.CUSTOMER_STATUS_VIP, reason="loyal customer", pinned=True),
    profile_api.SetCustomerStatusResponse(), given="a customer is registered and a staff member can act",
    caller=STAFF)
async def makes_the_customer_vip(site: Site, answer: profile_api.SetCustomerStatusResponse) -> None:
    await site.sign_in_staff()
    redirected(await site.post(f"/customers/{CUSTOMER_ID}/status", {
        "status": "vip", "reason": "loyal customer", "pinned": "true"}), f"/customers/{CUSTOMER_ID}")
    assert flash(site) == ["The customer is now VIP, pinned."]


@CONSUMER.call("profiling.v1.ProfileService/GetStaffMember", profile_api.GetStaffMemberRequest(staff_id=STAFF_ID),
               profile_api.GetStaffMemberResponse(staff_member=profile_api.StaffMember(display_name="Shop admin")),
               given="an admin can act", caller=STAFF)
async def names_who_moved_the_stock(site: Site, answer: profile_api.GetStaffMemberResponse) -> None:
    await site.sign_in_staff()
    site.answer("stocking", "ListStockMovements", stock_api.ListStockMovementsResponse(movements=[
        stock_api.StockMovement(occurred_at=AT, kind=stock_api.STOCK_MOVEMENT_KIND_SET, on_hand_delta=10,
                                on_hand_after=10, change_reason=stock_api.STOCK_CHANGE_REASON_RESTOCK,
                                staff_id=STAFF_ID)]))
    sku_page(site)
    shown(await site.get(f"/stock/{SKU}"), "<td>Restock</td>\n      <td>Shop admin</td>")


@CONSUMER.call("profiling.v1.ProfileService/ListStaffMembers", profile_api.ListStaffMembersRequest(
    include_inactive=True, page=paging_pb2.PageRequest(page_size=100)), profile_api.ListStaffMembersResponse(
    staff_members=[profile_api.StaffMember(staff_id=STAFF_ID, email=ADMIN_EMAIL, display_name="Shop admin",
                                           role=profile_api.ROLE_ADMIN, active=True, created_at=AT)]),
    given="an admin can act", caller=ADMIN, handles={"staff_members[].role": STAFF_ROLES})
async def lists_the_staff_accounts(site: Site, answer: profile_api.ListStaffMembersResponse) -> None:
    await site.sign_in_staff("ADMIN")
    shown(await site.get("/staff"), '<td>Shop admin <span class="hint">(you)</span></td>', f"<td>{ADMIN_EMAIL}</td>",
          f'action="/staff/{STAFF_ID}"', "<option selected>ADMIN</option>", 'value="true" checked>',
          "<td>1 Jan 2026")


@CONSUMER.call("profiling.v1.ProfileService/CreateStaffMember", profile_api.CreateStaffMemberRequest(
    email="grace@shop.example", display_name="Grace Hopper", password="staple battery horse 42",
    role=profile_api.ROLE_STAFF), profile_api.CreateStaffMemberResponse(), given="an admin can act", caller=ADMIN)
async def creates_a_staff_account(site: Site, answer: profile_api.CreateStaffMemberResponse) -> None:
    await site.sign_in_staff("ADMIN")
    redirected(await site.post("/staff", {"email": "grace@shop.example", "display_name": "Grace Hopper",
                                          "password": "staple battery horse 42", "role": "STAFF"}), "/staff")
    assert flash(site) == ["grace@shop.example can now sign in with the STAFF role."]


@CONSUMER.call("profiling.v1.ProfileService/UpdateStaffMember", profile_api.UpdateStaffMemberRequest(
    staff_id="staff-2", active=True, role=profile_api.ROLE_ADMIN), profile_api.UpdateStaffMemberResponse(),
    given="an admin and a staff member have accounts", caller=ADMIN)
async def makes_a_staff_member_admin(site: Site, answer: profile_api.UpdateStaffMemberResponse) -> None:
    await site.sign_in_staff("ADMIN")
    redirected(await site.post("/staff/staff-2", {"role": "ADMIN", "active": "true"}), "/staff")
    assert flash(site) == ["The account is changed."]
