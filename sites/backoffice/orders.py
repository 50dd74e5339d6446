"""Orders: the list with filters (state, customer, dates, number) and paging; an order's page with its saga
timeline following live, cancel, refund (everything left, some lines, or an amount; an idempotency key in
the form), the invoice, credit notes and shipping label as PDFs, and the shipment with a form to record
a carrier's scan.

The live page works as the storefront's (sites/storefront/orders.py, sites/runtime/live.py): a stream of
Server-Sent Events from the site's one Kafka consumer sends the status and the whole timeline first
(the timeline out of band inside the status event, so the list element keeps the listener that appends
each new step), then each step as ordering records it, with the event's id as the SSE id so a page that
reconnects resumes after the last step it has; after 10 seconds without an event it reads the order
anyway, so a step whose event went by unseen still shows. Without EventSource the page polls; without
JavaScript it refreshes itself while the saga is under way.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import grpc
from billing.v1 import billing_service_pb2 as billing_api
from fastapi import APIRouter, Depends, Form, Header, HTTPException, Path, Query, Request
from fastapi.sse import EventSourceResponse, format_sse_event
from jinja2_fragments import render_block
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from profiling.v1 import profile_service_pb2 as profile_api
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shop.common.v1 import money_pb2, paging_pb2
from starlette.responses import RedirectResponse, Response

from sites.backoffice.dashboard import STATES, stuck_bound, timestamp
from sites.backoffice.staff import new_key, signed_in_staff
from sites.runtime.calls import Calls, ServiceUnavailable
from sites.runtime.pages import page, pdf_response
from sites.runtime.sessions import session_of

router = APIRouter(dependencies=[Depends(signed_in_staff)])
Id = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PAGE_SIZE = 25
STATE_FILTER = "^(|" + "|".join(value for _, _, value in STATES) + "|stuck)$"
FINAL = {order_pb2.ORDER_STATUS_CANCELLED, order_pb2.ORDER_STATUS_REFUNDED}
STREAM_SECONDS = 300
STEP_WAIT = (0.0, 0.2, 0.5, 1.0, 2.0)
RECHECK_SECONDS = 10  # without an event for this long, the stream reads the order anyway

STATUS = {order_pb2.ORDER_STATUS_PENDING: "Open", order_pb2.ORDER_STATUS_CONFIRMED: "Confirmed",
          order_pb2.ORDER_STATUS_SHIPPED: "Shipped", order_pb2.ORDER_STATUS_DELIVERED: "Delivered",
          order_pb2.ORDER_STATUS_CANCELLED: "Cancelled",
          order_pb2.ORDER_STATUS_PARTIALLY_REFUNDED: "Partly refunded", order_pb2.ORDER_STATUS_REFUNDED: "Refunded"}
STOCK = {1: "pending", 2: "reserved", 3: "failed", 4: "released", 5: "committed"}
PAYMENT = {1: "pending", 2: "captured", 3: "failed", 4: "voided", 5: "partly refunded", 6: "refunded"}
INVOICE = {1: "pending", 2: "drafted", 3: "finalized", 4: "voided", 5: "credited"}
ACTORS = {order_pb2.ACTOR_CUSTOMER: "customer", order_pb2.ACTOR_STAFF: "staff", order_pb2.ACTOR_SYSTEM: "system"}
REFUNDS = {order_pb2.REFUND_STATUS_REQUESTED: "requested", order_pb2.REFUND_STATUS_COMPLETED: "completed",
           order_pb2.REFUND_STATUS_FAILED: "failed"}
CANCEL_REASONS = {"staff": (order_pb2.CANCELLATION_REASON_STAFF_DECISION, "Staff decision"),
                  "fraud": (order_pb2.CANCELLATION_REASON_FRAUD_SUSPECTED, "Fraud suspected"),
                  "customer": (order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST, "The customer asked")}
SHIPMENT = {1: "label created", 2: "picked up", 3: "in transit", 4: "out for delivery", 5: "delivered",
            6: "exception", 7: "returned to sender", 8: "cancelled"}
SCANS = {"picked_up": shipment_pb2.SHIPMENT_STATUS_PICKED_UP, "in_transit": shipment_pb2.SHIPMENT_STATUS_IN_TRANSIT,
         "out_for_delivery": shipment_pb2.SHIPMENT_STATUS_OUT_FOR_DELIVERY,
         "delivered": shipment_pb2.SHIPMENT_STATUS_DELIVERED, "exception": shipment_pb2.SHIPMENT_STATUS_EXCEPTION,
         "returned": shipment_pb2.SHIPMENT_STATUS_RETURNED_TO_SENDER}
# Each saga step as staff read it, and whether it moved the order on (ok), failed it (bad) or is a saga's
# compensation undoing an earlier step (undo). A refund is no compensation: it follows a delivery.
STEPS = {
    order_api.TIMELINE_STEP_ORDER_CREATED: ("Order created", "ok"),
    order_api.TIMELINE_STEP_STOCK_RESERVED: ("Stock reserved", "ok"),
    order_api.TIMELINE_STEP_STOCK_RESERVATION_FAILED: ("Stock reservation failed", "bad"),
    order_api.TIMELINE_STEP_PAYMENT_SUCCEEDED: ("Payment captured", "ok"),
    order_api.TIMELINE_STEP_PAYMENT_FAILED: ("Payment failed", "bad"),
    order_api.TIMELINE_STEP_INVOICE_DRAFTED: ("Invoice drafted", "ok"),
    order_api.TIMELINE_STEP_ORDER_CONFIRMED: ("Order confirmed", "ok"),
    order_api.TIMELINE_STEP_STOCK_COMMITTED: ("Stock committed", "ok"),
    order_api.TIMELINE_STEP_INVOICE_FINALIZED: ("Invoice finalized", "ok"),
    order_api.TIMELINE_STEP_SHIPMENT_CREATED: ("Shipment created", "ok"),
    order_api.TIMELINE_STEP_SHIPMENT_STATUS_CHANGED: ("Carrier scan", "ok"),
    order_api.TIMELINE_STEP_ORDER_SHIPPED: ("Order shipped", "ok"),
    order_api.TIMELINE_STEP_ORDER_DELIVERED: ("Order delivered", "ok"),
    order_api.TIMELINE_STEP_ORDER_CANCELLED: ("Order cancelled", "bad"),
    order_api.TIMELINE_STEP_STOCK_RELEASED: ("Stock released", "undo"),
    order_api.TIMELINE_STEP_PAYMENT_VOIDED: ("Payment voided", "undo"),
    order_api.TIMELINE_STEP_INVOICE_VOIDED: ("Invoice voided", "undo"),
    order_api.TIMELINE_STEP_SHIPMENT_CANCELLED: ("Shipment cancelled", "undo"),
    order_api.TIMELINE_STEP_REFUND_REQUESTED: ("Refund requested", "ok"),
    order_api.TIMELINE_STEP_PAYMENT_REFUNDED: ("Payment refunded", "ok"),
    order_api.TIMELINE_STEP_CREDIT_NOTE_ISSUED: ("Credit note issued", "ok"),
    order_api.TIMELINE_STEP_REFUND_COMPLETED: ("Refund completed", "ok"),
    order_api.TIMELINE_STEP_REFUND_FAILED: ("Refund failed", "bad"),
}


# --- the list -------------------------------------------------------------------------------------

def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    if text == "today":
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"The {field} date must be written as 2026-03-31.") from None


async def _customer_id(request: Request, typed: str) -> tuple[str, str]:
    """The customer id a filter names: an id as it is, an email looked up (exactly). ('', sentence) when no
    customer has that email."""
    typed = typed.strip()
    if "@" not in typed:
        return typed, ""
    found = (await Calls.of(request).profiling.SearchCustomers(profile_api.SearchCustomersRequest(
        query=typed, page=paging_pb2.PageRequest(page_size=20)))).customers
    exact = [c for c in found if c.email.lower() == typed.lower()]
    return (exact[0].customer_id, "") if exact else ("", f"No customer has the email {typed}.")


@router.get("/orders", summary="Every order, with filters and paging")
async def orders(request: Request,
                 state: Annotated[str, Query(pattern=STATE_FILTER)] = "",
                 customer: Annotated[str, Query(max_length=254)] = "",
                 number: Annotated[str, Query(max_length=40)] = "",
                 since: Annotated[str, Query(max_length=10)] = "", until: Annotated[str, Query(max_length=10)] = "",
                 page_token: Annotated[str, Query(alias="page", max_length=500)] = "") -> Response:
    calls = Calls.of(request)
    first, last = _day(since, "from"), _day(until, "to")
    filters: dict[str, Any] = {"order_number": number.strip()}
    statuses = {value: s for _, s, value in STATES}
    if state == "stuck":
        filters["statuses"] = [order_pb2.ORDER_STATUS_PENDING]
        cutoff = datetime.now(UTC) - await stuck_bound(calls)
        filters["created_before"] = timestamp(cutoff)
    elif state:
        filters["statuses"] = statuses[state]
    if first:
        filters["created_after"] = timestamp(datetime(first.year, first.month, first.day, tzinfo=UTC))
    if last:
        end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
        if "created_before" not in filters or end < filters["created_before"].ToDatetime(UTC):
            filters["created_before"] = timestamp(end)
    if first and last and last < first:
        raise HTTPException(400, "The 'to' date is before the 'from' date.")
    note = ""
    if customer.strip():
        filters["customer_id"], note = await _customer_id(request, customer)
    query = {"state": state, "customer": customer, "number": number, "since": since, "until": until}
    found: list[Any] = []
    total, next_token = 0, ""
    if not note:
        try:
            answer = await calls.ordering.ListOrders(order_api.ListOrdersRequest(
                page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token), **filters))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT or not page_token:
                raise
            # a page token from other filters (a link kept from before): the first page of these
            return RedirectResponse("/orders?" + urllib.parse.urlencode({k: v for k, v in query.items() if v}),
                                    status_code=303)
        found, total, next_token = list(answer.orders), int(answer.page.total_size), answer.page.next_page_token
    kept = {k: v for k, v in query.items() if v}
    return page(request, "orders.html", {
        "orders": found, "total": total, "statuses": STATUS, "states": STATES, "query": query, "note": note,
        "next_url": "/orders?" + urllib.parse.urlencode({**kept, "page": next_token}) if next_token else "",
        "first_url": "/orders?" + urllib.parse.urlencode(kept) if page_token else "",
        "saga": {"stock": STOCK, "payment": PAYMENT, "invoice": INVOICE}}, block="results", private=True)


# --- one order ------------------------------------------------------------------------------------

def entry_id(entry: Any, index: int) -> str:
    return str(entry.event_id or f"step-{index}")


async def _order(request: Request, order_id: str) -> Any:
    return (await Calls.of(request).ordering.GetOrder(order_api.GetOrderRequest(order_id=order_id))).order


async def _timeline(request: Request, order_id: str) -> list[Any]:
    return list((await Calls.of(request).ordering.GetOrderTimeline(
        order_api.GetOrderTimelineRequest(order_id=order_id))).entries)


async def _shipment(request: Request, order: Any, *, with_scans: bool = True) -> tuple[Any, list[Any], bool]:
    """The order's shipment and its scans; (None, [], True) when shipping is down: the page says so."""
    if not order.shipment_id:
        return None, [], False
    shipping = Calls.of(request).shipping
    try:
        shipment = (await shipping.GetShipment(shipping_api.GetShipmentRequest(shipment_id=order.shipment_id))).shipment
        scans = list((await shipping.ListTrackingEvents(shipping_api.ListTrackingEventsRequest(
            shipment_id=order.shipment_id))).tracking_events) if with_scans else []
    except ServiceUnavailable:
        return None, [], True
    return shipment, scans, False


def _view(order: Any, timeline: list[Any], shipment: Any = None) -> dict[str, Any]:
    remaining = {line.sku: line.quantity - line.refunded_quantity for line in order.lines}
    refundable = order.status in (order_pb2.ORDER_STATUS_DELIVERED, order_pb2.ORDER_STATUS_PARTIALLY_REFUNDED) and \
        order.totals.refunded.amount_minor < order.totals.total.amount_minor
    return {
        "order": order, "timeline": [(entry_id(e, i), e) for i, e in enumerate(timeline)],
        "status": STATUS.get(order.status, "Open"), "final": order.status in FINAL, "steps": STEPS, "actors": ACTORS,
        "busy": order.status == order_pb2.ORDER_STATUS_PENDING
        or any(r.status == order_pb2.REFUND_STATUS_REQUESTED for r in order.refunds),
        "saga": {"Stock": STOCK.get(order.stock_state, "—"), "Payment": PAYMENT.get(order.payment_state, "—"),
                 "Invoice": INVOICE.get(order.invoice_state, "—")},
        "can_cancel": order.status in (order_pb2.ORDER_STATUS_PENDING, order_pb2.ORDER_STATUS_CONFIRMED)
        or (order.status == order_pb2.ORDER_STATUS_SHIPPED and shipment is not None
            and shipment.status == shipment_pb2.SHIPMENT_STATUS_LABEL_CREATED),
        "can_refund": refundable, "remaining": remaining, "refund_key": new_key(),
        "cancel_reasons": CANCEL_REASONS, "refund_statuses": REFUNDS,
        "left_to_refund": money_pb2.Money(
            amount_minor=order.totals.total.amount_minor - order.totals.refunded.amount_minor
            - sum(r.amount.amount_minor for r in order.refunds if r.status == order_pb2.REFUND_STATUS_REQUESTED),
            currency=order.totals.total.currency),
    }


@router.get("/orders/{order_id}", summary="An order: its saga live, its shipment, cancel and refund")
async def detail(request: Request, order_id: Id) -> Response:
    order = await _order(request, order_id)
    shipment, scans, shipping_down = await _shipment(request, order)
    flash = session_of(request).pop("flash", []) or []
    return page(request, "order.html", {
        **_view(order, await _timeline(request, order_id), shipment), "shipment": shipment, "scans": scans,
        "shipping_down": shipping_down, "shipment_statuses": SHIPMENT, "scan_key": new_key(), "flash": flash},
        private=True)


@router.get("/orders/{order_id}/progress", summary="The order's status and timeline (polling fallback)")
async def progress(request: Request, order_id: Id) -> Response:
    order = await _order(request, order_id)
    view = _view(order, await _timeline(request, order_id), (await _shipment(request, order, with_scans=False))[0])
    return page(request, "order.html", view, block="progress", private=True, status=286 if view["final"] else 200,
                oob=())


@router.get("/orders/{order_id}/live", summary="Server-Sent Events: the order's status and each new step")
async def live(request: Request, order_id: Id,
               last_event_id: Annotated[str | None, Header(max_length=200)] = None) -> Response:
    await _order(request, order_id)  # a 404 for an unknown order, not a stream
    return EventSourceResponse(_events(request, order_id, last_event_id or ""),
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(request: Request, order_id: str, last_event_id: str) -> AsyncIterator[bytes]:
    templates = request.app.state.templates
    feed = request.app.state.feed
    csrftoken = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""

    def render(block: str, **context: Any) -> str:
        return str(render_block(templates.env, "order.html", block, {
            **context, "request": request, "csrftoken": csrftoken, "live": True}))

    async def status_event(order: Any, timeline: list[Any], *, snapshot: bool = False) -> bytes:
        """The status and the saga's states, with the actions they allow swapped out of band; a snapshot
        carries the whole timeline out of band too (the list keeps its step listener)."""
        view = _view(order, timeline, (await _shipment(request, order, with_scans=False))[0])
        parts = render("status", **view) + render("actions", **view)
        if snapshot:  # the steps in place of the list's, the list element (and its step listener) kept
            parts += f'<ol hx-swap-oob="innerHTML:#timeline">{render("timeline", **view)}</ol>'

        return format_sse_event(event="status", data_str=parts)

    def step_event(entry_id_: str, entry: Any) -> bytes:
        return format_sse_event(event="step", id=entry_id_,
                                data_str=render("step", id=entry_id_, e=entry, steps=STEPS, actors=ACTORS))

    async with feed.watch(order_id) as changes:
        order, timeline = await _order(request, order_id), await _timeline(request, order_id)
        ids = [entry_id(e, i) for i, e in enumerate(timeline)]
        if last_event_id in ids:  # a reconnecting page: only the steps it has not seen
            yield await status_event(order, timeline)
            for i in range(ids.index(last_event_id) + 1, len(timeline)):
                yield step_event(ids[i], timeline[i])
        else:
            yield await status_event(order, timeline, snapshot=True)
        sent = len(timeline)
        deadline = time.monotonic() + STREAM_SECONDS
        while order.status not in FINAL and time.monotonic() < deadline:
            try:
                event_id = await asyncio.wait_for(changes.get(), timeout=RECHECK_SECONDS)
            except TimeoutError:
                # No event: look anyway, in case one went by unseen (the consumer joining its group just
                # after the page opened, a rebalance); nothing new is a keep-alive.
                order, timeline = await _order(request, order_id), await _timeline(request, order_id)
                if len(timeline) == sent:
                    yield format_sse_event(comment="keep-alive")
                    continue
                event_id = ""
            for delay in STEP_WAIT if event_id else ():  # ordering takes the event in a moment after Kafka has it
                await asyncio.sleep(delay)
                order, timeline = await _order(request, order_id), await _timeline(request, order_id)
                if any(e.event_id == event_id for e in timeline):
                    break
            for i in range(sent, len(timeline)):
                yield step_event(entry_id(timeline[i], i), timeline[i])
            sent = len(timeline)
            yield await status_event(order, timeline)
        if order.status in FINAL:
            yield format_sse_event(event="done", data_str="")


# --- documents ----------------------------------------------------------------------------------

@router.get("/orders/{order_id}/invoice.pdf", summary="The order's invoice as a PDF")
async def invoice_pdf(request: Request, order_id: Id) -> Response:
    order = await _order(request, order_id)
    if not order.invoice_id:
        raise HTTPException(404)
    return await pdf_response(Calls.of(request).billing.GetInvoicePdf(billing_api.GetInvoicePdfRequest(
        invoice_id=order.invoice_id)), f"invoice-{order.order_number}.pdf")


@router.get("/orders/{order_id}/credit-notes/{credit_note_id}.pdf", summary="A credit note of the order as a PDF")
async def credit_note_pdf(request: Request, order_id: Id, credit_note_id: Id) -> Response:
    order = await _order(request, order_id)
    if credit_note_id not in {r.credit_note_id for r in order.refunds if r.credit_note_id}:
        raise HTTPException(404)
    return await pdf_response(Calls.of(request).billing.GetCreditNotePdf(billing_api.GetCreditNotePdfRequest(
        credit_note_id=credit_note_id)), f"credit-note-{order.order_number}.pdf")


@router.get("/orders/{order_id}/label.pdf", summary="The shipment's label as a PDF")
async def label_pdf(request: Request, order_id: Id) -> Response:
    order = await _order(request, order_id)
    if not order.shipment_id:
        raise HTTPException(404)
    return await pdf_response(Calls.of(request).shipping.GetShippingLabel(shipping_api.GetShippingLabelRequest(
        shipment_id=order.shipment_id)), f"label-{order.order_number}.pdf")


# --- changing an order --------------------------------------------------------------------------

def _refused_as_409(exc: grpc.aio.AioRpcError, fallback: str) -> HTTPException:
    return HTTPException(409, exc.details() or fallback)


@router.post("/orders/{order_id}/cancel", summary="Cancel an order, with the reason")
async def cancel(request: Request, order_id: Id,
                 reason: Annotated[str, Form(pattern="^(staff|fraud|customer)$")],
                 note: Annotated[str, Form(max_length=500)] = "") -> Response:
    try:
        await Calls.of(request).ordering.CancelOrder(order_api.CancelOrderRequest(
            order_id=order_id, reason=CANCEL_REASONS[reason][0], note=note.strip()))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        raise _refused_as_409(exc, "This order can no longer be cancelled.") from exc
    session_of(request)["flash"] = ["Cancellation asked: the timeline shows the saga undoing each step."]
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


def _amount(text: str, currency: str) -> Any:
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        minor = Decimal(text) * 100
    except InvalidOperation:
        raise HTTPException(400, "The amount to refund must be a number such as 12.50.") from None
    if minor != minor.to_integral_value() or minor <= 0:
        raise HTTPException(400, "The amount to refund must be positive, with at most two decimals.")
    return money_pb2.Money(amount_minor=int(minor), currency=currency)


@router.post("/orders/{order_id}/refund", summary="Refund everything left, some lines, or an amount")
async def refund(request: Request, order_id: Id, key: Annotated[str, Form(min_length=8, max_length=64)],
                 reason: Annotated[str, Form(max_length=500)] = "",
                 amount: Annotated[str, Form(max_length=20)] = "") -> Response:
    order = await _order(request, order_id)
    form = await request.form()
    lines = []
    for line in order.lines:
        typed = str(form.get(f"qty-{line.sku}", "") or "0").strip()
        if not typed.isdigit() or int(typed) > line.quantity - line.refunded_quantity:
            raise HTTPException(400, f"The quantity of {line.sku} to refund must be a whole number from 0 to "
                                     f"{line.quantity - line.refunded_quantity}.")
        if int(typed):
            lines.append(order_api.RefundLineSelection(sku=line.sku, quantity=int(typed)))
    money = _amount(amount, order.currency)
    if money is not None and lines:
        raise HTTPException(400, "Refund either some lines or an amount, not both.")
    try:
        await Calls.of(request).ordering.RequestRefund(order_api.RequestRefundRequest(
            order_id=order_id, idempotency_key=key, lines=lines, amount=money,
            reason=reason.strip() or "refunded by staff"))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS):
            raise
        raise _refused_as_409(exc, "This order cannot be refunded now.") from exc
    session_of(request)["flash"] = ["Refund asked: the timeline shows the money going back and the credit note."]
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.post("/orders/{order_id}/scans", summary="Record a carrier's scan of the order's parcel")
async def record_scan(request: Request, order_id: Id, scan_id: Annotated[str, Form(min_length=8, max_length=64)],
                      status: Annotated[str, Form(pattern="^(" + "|".join(SCANS) + ")$")],
                      location: Annotated[str, Form(max_length=100)] = "",
                      description: Annotated[str, Form(max_length=200)] = "") -> Response:
    order = await _order(request, order_id)
    if not order.shipment_id:
        raise HTTPException(409, "This order has no shipment yet: it gets one once it is confirmed.")
    try:
        answer = await Calls.of(request).shipping.RecordCarrierScan(shipping_api.RecordCarrierScanRequest(
            shipment_id=order.shipment_id, scan_id=scan_id, status=SCANS[status], location=location.strip(),
            description=description.strip() or SHIPMENT[SCANS[status]].capitalize()))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        raise _refused_as_409(exc, "That scan cannot be recorded for this shipment now.") from exc
    session_of(request)["flash"] = [f"Scan recorded: {SHIPMENT.get(answer.shipment.status, 'updated')}."]
    return RedirectResponse(f"/orders/{order_id}#shipment", status_code=303)
