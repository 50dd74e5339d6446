"""The dashboard: orders and revenue today, orders by saga state (a saga still pending past a bound is
'stuck'), open low-stock and out-of-stock alerts. Each figure is one list call (a total_size), all made
at once; a service that is down leaves its panel saying so, the rest of the page stays.

The alerts arrive live: the panel listens (Server-Sent Events) to the site's Kafka consumer for
stocking's level events (low stock, out of stock, back in stock) and is drawn again on each, and every
15 seconds when it changed (a restock above the threshold resolves an alert without an event)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

from administering.v1 import admin_service_pb2 as admin_api
from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, format_sse_event
from google.protobuf.timestamp_pb2 import Timestamp
from jinja2_fragments import render_block
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from shop.common.v1 import money_pb2, paging_pb2
from starlette.responses import Response
from stocking.v1 import stock_service_pb2 as stock_api

from sites.backoffice.staff import signed_in_staff
from sites.runtime.calls import Calls, ServiceUnavailable
from sites.runtime.live import EventFeed
from sites.runtime.pages import page

router = APIRouter(dependencies=[Depends(signed_in_staff)])
STUCK_AT_LEAST = timedelta(minutes=5)
STEP_TIMEOUT_SETTING = "saga.step_timeout"
LEVELS_TOPIC = "stocking.levels.v1"  # low stock, out of stock, back in stock: what raises and resolves alerts
STREAM_SECONDS = 300  # a dashboard open longer reconnects (EventSource does it by itself)
# A stock level back above its threshold resolves its alert without an event: the panel looks this often too.
RECHECK_SECONDS = 15
TODAY_PAGES = 20  # 2,000 orders a day are read for the revenue; past that the tile says "at least"
# The states the dashboard counts: (label, statuses, the orders list's filter value)
STATES = [("Open (saga under way)", [order_pb2.ORDER_STATUS_PENDING], "open"),
          ("Confirmed", [order_pb2.ORDER_STATUS_CONFIRMED], "confirmed"),
          ("Shipped", [order_pb2.ORDER_STATUS_SHIPPED], "shipped"),
          ("Delivered", [order_pb2.ORDER_STATUS_DELIVERED], "delivered"),
          ("Cancelled", [order_pb2.ORDER_STATUS_CANCELLED], "cancelled"),
          ("Refunded", [order_pb2.ORDER_STATUS_PARTIALLY_REFUNDED, order_pb2.ORDER_STATUS_REFUNDED], "refunded")]


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def stuck_bound(calls: Calls) -> timedelta:
    """How long a saga may stay pending before it counts as stuck: four of its step timeouts (a step that
    times out is compensated, so a saga past that is waiting on something that will not come), at least
    five minutes."""
    try:
        setting = (await calls.administering.GetSetting(admin_api.GetSettingRequest(name=STEP_TIMEOUT_SETTING))).setting
        step = setting.value.duration_value.ToTimedelta()
    except ServiceUnavailable:
        step = timedelta(seconds=30)
    return max(STUCK_AT_LEAST, 4 * step)


async def count_orders(calls: Calls, **filters: Any) -> int:
    answer = await calls.ordering.ListOrders(order_api.ListOrdersRequest(page=paging_pb2.PageRequest(page_size=1),
                                                                         **filters))
    return int(answer.page.total_size)


async def today(calls: Calls, since: datetime) -> dict[str, Any]:
    """Orders placed since midnight (UTC) and what they brought in: their totals, less cancelled orders and
    refunds."""
    count, revenue, currency, token, complete = 0, 0, "", "", True
    for _ in range(TODAY_PAGES):
        answer = await calls.ordering.ListOrders(order_api.ListOrdersRequest(
            created_after=timestamp(since), page=paging_pb2.PageRequest(page_size=100, page_token=token)))
        count = int(answer.page.total_size)
        for order in answer.orders:
            currency = currency or order.totals.total.currency
            if order.status != order_pb2.ORDER_STATUS_CANCELLED:
                revenue += order.totals.total.amount_minor - order.totals.refunded.amount_minor
        if not (token := answer.page.next_page_token):
            break
    else:
        complete = False
    return {"count": count, "complete": complete,
            "revenue": money_pb2.Money(amount_minor=revenue, currency=currency) if currency else None}


async def _or_none(work: Awaitable[Any]) -> Any:
    """A panel's figures, or None when the service behind it is down (the panel says so)."""
    try:
        return await work
    except ServiceUnavailable:
        return None


async def orders_panel(calls: Calls, now: datetime) -> dict[str, Any]:
    bound = await stuck_bound(calls)
    counts = await asyncio.gather(
        today(calls, now.replace(hour=0, minute=0, second=0, microsecond=0)),
        *(count_orders(calls, statuses=statuses) for _, statuses, _ in STATES),
        count_orders(calls, statuses=[order_pb2.ORDER_STATUS_PENDING], created_before=timestamp(now - bound)))
    return {"today": counts[0], "states": [(label, value, n) for (label, _, value), n in zip(STATES, counts[1:-1],
                                                                                             strict=True)],
            "stuck": counts[-1], "bound_minutes": int(bound.total_seconds() // 60)}


async def open_alerts(calls: Calls, *, pages: int = 10) -> tuple[list[Any], bool]:
    """The unresolved stock alerts (stocking's lists do not tell their total: they are read to the end, up
    to `pages` pages of 100), newest first; and whether that was all of them."""
    alerts: list[Any] = []
    token = ""
    for _ in range(pages):
        answer = await calls.stocking.ListStockAlerts(stock_api.ListStockAlertsRequest(
            unresolved_only=True, page=paging_pb2.PageRequest(page_size=100, page_token=token)))
        alerts += answer.alerts
        if not (token := answer.page.next_page_token):
            return sorted(alerts, key=lambda a: a.raised_at.ToDatetime(), reverse=True), True
    return sorted(alerts, key=lambda a: a.raised_at.ToDatetime(), reverse=True), False


async def alerts_panel(calls: Calls) -> dict[str, Any]:
    alerts, complete = await open_alerts(calls)
    return {"recent": alerts[:8], "complete": complete,
            "low": sum(1 for a in alerts if a.kind == stock_api.STOCK_ALERT_KIND_LOW_STOCK),
            "out": sum(1 for a in alerts if a.kind == stock_api.STOCK_ALERT_KIND_OUT_OF_STOCK),
            "unacknowledged": sum(1 for a in alerts if not a.acknowledged_at.seconds)}


@router.get("/", summary="The dashboard")
async def dashboard(request: Request) -> Response:
    calls = Calls.of(request)
    now = datetime.now(UTC)
    orders, alerts = await asyncio.gather(_or_none(orders_panel(calls, now)), _or_none(alerts_panel(calls)))
    return page(request, "dashboard.html", {"orders": orders, "alerts": alerts, "now": timestamp(now),
                                            "alert_kinds": ALERT_KINDS}, private=True)


@router.get("/dashboard/alerts/live", summary="Server-Sent Events: the stock alerts panel, drawn again on each "
                                              "stock level event")
async def alerts_live(request: Request) -> Response:
    return EventSourceResponse(_alert_events(request), headers={"Cache-Control": "no-store",
                                                                "X-Accel-Buffering": "no"})


async def _alert_events(request: Request) -> AsyncIterator[bytes]:
    env, calls = request.app.state.templates.env, Calls.of(request)

    def render(alerts: Any) -> str:
        context = {"alerts": alerts, "alert_kinds": ALERT_KINDS, "live": True, "request": request}
        return str(render_block(env, "dashboard.html", "alerts", context)) + \
            str(render_block(env, "dashboard.html", "alerts_tile", context))

    async with request.app.state.feed.watch(EventFeed.topic_key(LEVELS_TOPIC)) as changes:
        deadline = time.monotonic() + STREAM_SECONDS
        shown = ""
        while time.monotonic() < deadline:
            try:
                await asyncio.wait_for(changes.get(), timeout=RECHECK_SECONDS)
                await asyncio.sleep(0.3)  # a burst of events (a big order) is drawn once
                while not changes.empty():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        changes.get_nowait()
            except TimeoutError:
                pass  # no event; an alert resolved by a restock above the threshold has none: look anyway
            drawn = render(await _or_none(alerts_panel(calls)))
            if drawn != shown:
                shown = drawn
                yield format_sse_event(event="alerts", data_str=drawn)
            else:
                yield format_sse_event(comment="keep-alive")


ALERT_KINDS: dict[int, tuple[str, str]] = {stock_api.STOCK_ALERT_KIND_LOW_STOCK: ("Low stock", "low"),
               stock_api.STOCK_ALERT_KIND_OUT_OF_STOCK: ("Out of stock", "out")}
