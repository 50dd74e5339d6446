"""Orders: history, the order page that follows the saga live, invoice and credit-note PDFs, cancel and
refund. Every route first reads the order as the signed-in customer (ordering refuses another's), so
nothing of another shopper's order, invoice or credit note is reachable by changing an id in a URL.

The live page: Server-Sent Events from the site's one Kafka consumer (sites/runtime/live.py). A stream
sends a snapshot of the order first (its status, with the whole timeline swapped into the list out of
band, so the list element and the listener htmx keeps on it stay), then each new step as it happens,
appended to that list; a step's `id` is the id of the event it came from, so a page that reconnects
with `Last-Event-ID` gets only the steps after it. A final state ends the stream with a `done` event. Browsers without
EventSource poll (the server answers 286, which stops htmx's polling, once the order is final);
without JavaScript the page refreshes itself.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import grpc
from billing.v1 import billing_service_pb2 as billing_api
from fastapi import APIRouter, Form, Header, HTTPException, Path, Request
from fastapi.sse import EventSourceResponse, format_sse_event
from jinja2_fragments import render_block
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shop.common.v1 import paging_pb2
from starlette.responses import RedirectResponse, Response

from sites.runtime.calls import Calls, ServiceUnavailable
from sites.runtime.pages import page, pdf_response, sign_in_first
from sites.storefront.shop import person

router = APIRouter()
OrderId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# A status after which nothing more happens to the order: the stream closes, polling stops. (A delivered
# order is not final: a refund may still be asked for.)
FINAL = {order_pb2.ORDER_STATUS_CANCELLED, order_pb2.ORDER_STATUS_REFUNDED}
STREAM_SECONDS = 300  # a page open longer reconnects (EventSource does it by itself) and gets a fresh snapshot
STEP_WAIT = (0.0, 0.2, 0.5, 1.0, 2.0)  # ordering may take the event into account a moment after Kafka has it

STATUS = {order_pb2.ORDER_STATUS_PENDING: "Processing", order_pb2.ORDER_STATUS_CONFIRMED: "Confirmed",
          order_pb2.ORDER_STATUS_SHIPPED: "Shipped", order_pb2.ORDER_STATUS_DELIVERED: "Delivered",
          order_pb2.ORDER_STATUS_CANCELLED: "Cancelled",
          order_pb2.ORDER_STATUS_PARTIALLY_REFUNDED: "Partly refunded", order_pb2.ORDER_STATUS_REFUNDED: "Refunded"}
SCAN_LABELS = {  # a carrier scan's status, in a shopper's words
    shipment_pb2.SHIPMENT_STATUS_LABEL_CREATED: "Label created", shipment_pb2.SHIPMENT_STATUS_PICKED_UP: "Picked up",
    shipment_pb2.SHIPMENT_STATUS_IN_TRANSIT: "In transit",
    shipment_pb2.SHIPMENT_STATUS_OUT_FOR_DELIVERY: "Out for delivery",
    shipment_pb2.SHIPMENT_STATUS_DELIVERED: "Delivered", shipment_pb2.SHIPMENT_STATUS_EXCEPTION: "Delivery problem",
    shipment_pb2.SHIPMENT_STATUS_RETURNED_TO_SENDER: "Returned to us",
    shipment_pb2.SHIPMENT_STATUS_CANCELLED: "Cancelled",
}
STEPS = {
    order_api.TIMELINE_STEP_ORDER_CREATED: ("Order received", "ok"),
    order_api.TIMELINE_STEP_STOCK_RESERVED: ("Items reserved for you", "ok"),
    order_api.TIMELINE_STEP_STOCK_RESERVATION_FAILED: ("Some items are out of stock", "bad"),
    order_api.TIMELINE_STEP_PAYMENT_SUCCEEDED: ("Payment captured", "ok"),
    order_api.TIMELINE_STEP_PAYMENT_FAILED: ("Payment refused", "bad"),
    order_api.TIMELINE_STEP_INVOICE_DRAFTED: ("Invoice drafted", "ok"),
    order_api.TIMELINE_STEP_ORDER_CONFIRMED: ("Order confirmed", "ok"),
    order_api.TIMELINE_STEP_STOCK_COMMITTED: ("Items set aside for shipping", "ok"),
    order_api.TIMELINE_STEP_INVOICE_FINALIZED: ("Invoice issued", "ok"),
    order_api.TIMELINE_STEP_SHIPMENT_CREATED: ("Shipping label created", "ok"),
    order_api.TIMELINE_STEP_SHIPMENT_STATUS_CHANGED: ("Parcel update", "ok"),
    order_api.TIMELINE_STEP_ORDER_SHIPPED: ("Shipped", "ok"),
    order_api.TIMELINE_STEP_ORDER_DELIVERED: ("Delivered", "ok"),
    order_api.TIMELINE_STEP_ORDER_CANCELLED: ("Order cancelled", "bad"),
    order_api.TIMELINE_STEP_STOCK_RELEASED: ("Reserved items released", "undo"),
    order_api.TIMELINE_STEP_PAYMENT_VOIDED: ("Payment voided: you are not charged", "undo"),
    order_api.TIMELINE_STEP_INVOICE_VOIDED: ("Invoice voided", "undo"),
    order_api.TIMELINE_STEP_SHIPMENT_CANCELLED: ("Shipment cancelled", "undo"),
    order_api.TIMELINE_STEP_REFUND_REQUESTED: ("Refund requested", "ok"),
    order_api.TIMELINE_STEP_PAYMENT_REFUNDED: ("Money sent back", "undo"),
    order_api.TIMELINE_STEP_CREDIT_NOTE_ISSUED: ("Credit note issued", "undo"),
    order_api.TIMELINE_STEP_REFUND_COMPLETED: ("Refund completed", "ok"),
    order_api.TIMELINE_STEP_REFUND_FAILED: ("Refund failed", "bad"),
}


def entry_id(entry: Any, index: int) -> str:
    return str(entry.event_id or f"step-{index}")


async def _order(request: Request, order_id: str) -> Any:
    """The order as the signed-in customer sees it; 404 for an order of someone else (ordering refuses it)."""
    if len(order_id) > 64:
        raise HTTPException(404)
    return (await Calls.of(request).ordering.GetOrder(order_api.GetOrderRequest(order_id=order_id))).order


async def _timeline(request: Request, order_id: str) -> list[Any]:
    return list((await Calls.of(request).ordering.GetOrderTimeline(
        order_api.GetOrderTimelineRequest(order_id=order_id))).entries)


def _view(order: Any, timeline: list[Any], shipment: Any = None) -> dict[str, Any]:
    remaining = [(line.sku, line.quantity - line.refunded_quantity) for line in order.lines]
    return {"order": order, "timeline": [(entry_id(e, i), e) for i, e in enumerate(timeline)],
            "status": STATUS.get(order.status, "Processing"), "final": order.status in FINAL,
            # something is under way within seconds: a page without JavaScript refreshes itself meanwhile
            "busy": order.status == order_pb2.ORDER_STATUS_PENDING
            or any(r.status == order_pb2.REFUND_STATUS_REQUESTED for r in order.refunds),
            "steps": STEPS, "scan_labels": SCAN_LABELS, "can_cancel": order.status in (order_pb2.ORDER_STATUS_PENDING,
                                                          order_pb2.ORDER_STATUS_CONFIRMED)
            # ordering counts an order as shipped once its label is printed; until the carrier has the
            # parcel it can still be cancelled
            or (order.status == order_pb2.ORDER_STATUS_SHIPPED and shipment is not None
                and shipment.status == shipment_pb2.SHIPMENT_STATUS_LABEL_CREATED),
            "can_refund": order.status in (order_pb2.ORDER_STATUS_DELIVERED,
                                           order_pb2.ORDER_STATUS_PARTIALLY_REFUNDED)
            and any(q > 0 for _, q in remaining),
            "refund_key": str(uuid.uuid4())}


async def _shipment(request: Request, order: Any, *, with_scans: bool = False) -> tuple[Any, list[Any]]:
    """The order's shipment and its carrier scans; none when there is none yet or shipping is down
    (the order page stays, only the parcel's part is missing)."""
    if not order.shipment_id:
        return None, []
    shipping = Calls.of(request).shipping
    try:
        shipment = (await shipping.GetShipment(shipping_api.GetShipmentRequest(
            shipment_id=order.shipment_id))).shipment
        scans = list((await shipping.ListTrackingEvents(shipping_api.ListTrackingEventsRequest(
            shipment_id=order.shipment_id))).tracking_events) if with_scans else []
    except ServiceUnavailable:
        return None, []
    return shipment, scans


@router.get("/orders", summary="Order history")
async def history(request: Request) -> Response:
    shopper = person(request)
    if shopper is None:
        return sign_in_first(request)
    orders = (await Calls.of(request).ordering.ListCustomerOrders(order_api.ListCustomerOrdersRequest(
        customer_id=shopper.customer_id, page=paging_pb2.PageRequest(page_size=50)))).orders
    return page(request, "orders.html", {"orders": orders, "statuses": STATUS}, private=True)


@router.get("/orders/{order_id}", summary="An order, following its progress live")
async def detail(request: Request, order_id: OrderId) -> Response:
    if person(request) is None:
        return sign_in_first(request)
    order = await _order(request, order_id)
    shipment, tracking = await _shipment(request, order, with_scans=True)
    flash = request.query_params.get("done", "")[:40]
    return page(request, "order.html", {**_view(order, await _timeline(request, order_id), shipment),
                                        "tracking": tracking,
                                        "flash": flash}, private=True)


@router.get("/orders/{order_id}/progress", summary="The order's status and timeline (polling fallback)")
async def progress(request: Request, order_id: OrderId) -> Response:
    if person(request) is None:
        return sign_in_first(request)
    order = await _order(request, order_id)
    shipment, tracking = await _shipment(request, order, with_scans=True)
    view = {**_view(order, await _timeline(request, order_id), shipment), "tracking": tracking, "live": True}
    # 286 tells htmx to stop polling: nothing more will happen to this order on its own.
    return page(request, "order.html", view, block="progress", private=True, status=286 if view["final"] else 200,
                oob=("parcel", "actions"))


@router.get("/orders/{order_id}/live", summary="Server-Sent Events: the order's status and each new step")
async def live(request: Request, order_id: OrderId,
               last_event_id: Annotated[str | None, Header(max_length=200)] = None) -> Response:
    if person(request) is None:
        raise HTTPException(401, "Please sign in again.")
    await _order(request, order_id)  # ownership first: another's order is a 404, not a stream
    return EventSourceResponse(_events(request, order_id, last_event_id or ""),
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(request: Request, order_id: str, last_event_id: str) -> AsyncIterator[bytes]:
    templates = request.app.state.templates
    feed = request.app.state.feed

    csrftoken = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""

    def render(block: str, **context: Any) -> str:
        return str(render_block(templates.env, "order.html", block, {
            **context, "steps": STEPS, "request": request, "csrftoken": csrftoken, "live": True}))

    async def status_event(order: Any, timeline: list[Any], snapshot: str = "", last: str | None = None) -> bytes:
        """The status, and out of band the parcel (scans, documents) and the actions it allows (cancel,
        refund); with a snapshot, the whole timeline too (out of band into the list, whose own listener
        takes the steps after it)."""
        shipment, tracking = await _shipment(request, order, with_scans=True)
        view = {**_view(order, timeline, shipment), "tracking": tracking}
        steps = f'<ol id="timeline" hx-swap-oob="innerHTML">{snapshot}</ol>' if snapshot else ""
        return format_sse_event(event="status", id=last,
                                data_str="".join(render(block, **view) for block in ("status", "parcel", "actions"))
                                + steps)

    async with feed.watch(order_id) as changes:
        order = await _order(request, order_id)
        timeline = await _timeline(request, order_id)
        ids = [entry_id(e, i) for i, e in enumerate(timeline)]
        view = _view(order, timeline)
        if last_event_id in ids:  # a reconnecting page: only the steps it has not seen
            yield await status_event(order, timeline)
            start = ids.index(last_event_id) + 1
            for i in range(start, len(timeline)):
                yield format_sse_event(event="step", id=ids[i], data_str=render("step", id=ids[i], e=timeline[i]))
        else:  # a snapshot: the whole timeline in place of what the page shows
            yield await status_event(order, timeline, snapshot=render("steps", **view), last=ids[-1] if ids else None)
        sent = len(timeline)
        deadline = time.monotonic() + STREAM_SECONDS
        while order.status not in FINAL and time.monotonic() < deadline:
            try:
                event_id = await asyncio.wait_for(changes.get(), timeout=15)
            except TimeoutError:
                yield format_sse_event(comment="keep-alive")
                continue
            for delay in STEP_WAIT:
                await asyncio.sleep(delay)
                order, timeline = await _order(request, order_id), await _timeline(request, order_id)
                if any(e.event_id == event_id for e in timeline):
                    break
            for i in range(sent, len(timeline)):
                eid = entry_id(timeline[i], i)
                yield format_sse_event(event="step", id=eid, data_str=render("step", id=eid, e=timeline[i]))
            sent = len(timeline)
            yield await status_event(order, timeline)
        if order.status in FINAL:
            yield format_sse_event(event="done", data_str="")


@router.get("/orders/{order_id}/invoice.pdf", summary="The order's invoice as a PDF")
async def invoice_pdf(request: Request, order_id: OrderId) -> Response:
    if person(request) is None:
        return sign_in_first(request)
    order = await _order(request, order_id)
    if not order.invoice_id:
        raise HTTPException(404)
    return await pdf_response(Calls.of(request).billing.GetInvoicePdf(billing_api.GetInvoicePdfRequest(
        invoice_id=order.invoice_id)), f"invoice-{order.order_number}.pdf")


@router.get("/orders/{order_id}/credit-notes/{credit_note_id}.pdf", summary="A credit note of the order as a PDF")
async def credit_note_pdf(request: Request, order_id: OrderId, credit_note_id: OrderId) -> Response:
    if person(request) is None:
        return sign_in_first(request)
    order = await _order(request, order_id)
    if credit_note_id not in {r.credit_note_id for r in order.refunds if r.credit_note_id}:
        raise HTTPException(404)  # only this order's own credit notes
    return await pdf_response(Calls.of(request).billing.GetCreditNotePdf(billing_api.GetCreditNotePdfRequest(
        credit_note_id=credit_note_id)), f"credit-note-{order.order_number}.pdf")


@router.post("/orders/{order_id}/cancel", summary="Cancel an order before it leaves")
async def cancel(request: Request, order_id: OrderId) -> Response:
    if person(request) is None:
        return sign_in_first(request)
    await _order(request, order_id)
    try:
        await Calls.of(request).ordering.CancelOrder(order_api.CancelOrderRequest(
            order_id=order_id, reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST, note="cancelled by the shopper"))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        raise HTTPException(409, exc.details() or "This order can no longer be cancelled.") from exc
    return RedirectResponse(f"/orders/{order_id}?done=cancelled", status_code=303)


@router.post("/orders/{order_id}/refund", summary="Ask for a refund of everything not yet refunded")
async def refund(request: Request, order_id: OrderId, key: Annotated[str, Form(min_length=8, max_length=64)],
                 reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    if person(request) is None:
        return sign_in_first(request)
    order = await _order(request, order_id)
    lines = [order_api.RefundLineSelection(sku=line.sku, quantity=line.quantity - line.refunded_quantity)
             for line in order.lines if line.quantity > line.refunded_quantity]
    try:
        await Calls.of(request).ordering.RequestRefund(order_api.RequestRefundRequest(
            order_id=order_id, idempotency_key=key, lines=lines, reason=reason.strip() or "asked by the shopper"))
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.ALREADY_EXISTS:  # the same form sent twice: already asked
            return RedirectResponse(f"/orders/{order_id}?done=refund", status_code=303)
        if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        raise HTTPException(409, exc.details() or "This order cannot be refunded now.") from exc
    return RedirectResponse(f"/orders/{order_id}?done=refund", status_code=303)
