"""Stock: levels with low and out flags, a SKU's page (adjust with a reason, the low-stock threshold, the
ledger of every movement with who, when and why, its open reservations and alerts), the open
reservations, and the alerts to acknowledge.

Who moved stock comes from the token: stocking overwrites the request's staff_id with the caller's
(docs/security.md), so the ledger names the staff member who was signed in here. Names are looked up
with profiling's GetStaffMember (any staff may; listing every staff account is ADMIN's)."""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Annotated, Any

import grpc
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from profiling.v1 import profile_service_pb2 as profile_api
from shop.common.v1 import paging_pb2
from starlette.responses import RedirectResponse, Response
from stocking.v1 import stock_service_pb2 as stock_api

from sites.backoffice.staff import said, signed_in_staff
from sites.runtime.calls import Calls, ServiceUnavailable
from sites.runtime.pages import page
from sites.runtime.sessions import session_of

router = APIRouter(dependencies=[Depends(signed_in_staff)])
Sku = Annotated[str, Path(max_length=64, pattern=r"^[A-Z0-9_-]+$")]
Token = Annotated[str, Query(alias="page", max_length=500)]
PAGE_SIZE = 50
# Staff see every product, drafts and archived ones too (a listing without statuses shows the published only).
EVERY_STATUS = [catalog_events.PRODUCT_STATUS_DRAFT, catalog_events.PRODUCT_STATUS_PUBLISHED,
                catalog_events.PRODUCT_STATUS_ARCHIVED]
REASONS = {"restock": (stock_api.STOCK_CHANGE_REASON_RESTOCK, "Restock"),
           "count": (stock_api.STOCK_CHANGE_REASON_COUNT_CORRECTION, "Count correction"),
           "damaged": (stock_api.STOCK_CHANGE_REASON_DAMAGED, "Damaged"),
           "return": (stock_api.STOCK_CHANGE_REASON_CUSTOMER_RETURN, "Customer return"),
           "other": (stock_api.STOCK_CHANGE_REASON_OTHER, "Other (say why in the note)")}
REASON_NAMES = {number: label for number, label in REASONS.values()} | {
    stock_api.STOCK_CHANGE_REASON_INITIAL_STOCK: "Initial stock"}
KINDS = {stock_api.STOCK_MOVEMENT_KIND_SET: "Set", stock_api.STOCK_MOVEMENT_KIND_ADJUSTED: "Adjusted",
         stock_api.STOCK_MOVEMENT_KIND_RESERVED: "Reserved for an order",
         stock_api.STOCK_MOVEMENT_KIND_RELEASED: "Released", stock_api.STOCK_MOVEMENT_KIND_COMMITTED: "Shipped out"}
RELEASES = {1: "order cancelled", 2: "reservation expired", 3: "released by staff"}
ALERT_KINDS = {stock_api.STOCK_ALERT_KIND_LOW_STOCK: ("Low stock", "low"),
               stock_api.STOCK_ALERT_KIND_OUT_OF_STOCK: ("Out of stock", "out")}
BACK = r"^/stock[A-Za-z0-9/?=&_-]*$"  # where an acknowledgement returns to: a stock page
RESERVATION_STATES = {1: "active", 2: "committed", 3: "released", 4: "failed"}


def flag(level: Any) -> tuple[str, str]:
    """(label, css class) of a level: out of stock, low (at or under its threshold), or fine."""
    if level is None:
        return "Not tracked", "low"
    if level.available <= 0:
        return "Out of stock", "out"
    if level.available <= level.low_stock_threshold:
        return "Low", "low"
    return "In stock", "ok"


async def staff_names(request: Request, ids: set[str]) -> dict[str, str]:
    """Staff ids as names (GetStaffMember for each); an id profiling does not know stays an id."""
    profiling = Calls.of(request).profiling

    async def name(staff_id: str) -> tuple[str, str]:
        try:
            member = (await profiling.GetStaffMember(profile_api.GetStaffMemberRequest(staff_id=staff_id))).staff_member
        except (grpc.aio.AioRpcError, ServiceUnavailable):
            return staff_id, staff_id
        return staff_id, member.display_name or member.email

    return dict(await asyncio.gather(*(name(i) for i in ids if i)))


async def _levels(request: Request, skus: list[str]) -> dict[str, Any]:
    if not skus:
        return {}
    answer = await Calls.of(request).stocking.BatchGetStockLevels(stock_api.BatchGetStockLevelsRequest(skus=skus))
    return {level.sku: level for level in answer.levels}


@router.get("/stock", summary="Stock levels with low and out flags, searchable")
async def levels(request: Request, q: Annotated[str, Query(max_length=100)] = "", page_token: Token = "") -> Response:
    answer = await Calls.of(request).cataloging.ListProducts(catalog_api.ListProductsRequest(
        query=q.strip(), statuses=EVERY_STATUS, sort=catalog_api.PRODUCT_SORT_NAME_ASC,
        page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token)))
    products = list(answer.products)
    found = await _levels(request, [p.sku for p in products])
    rows = [(p, found.get(p.sku), flag(found.get(p.sku))) for p in products]
    kept = {"q": q} if q else {}
    return page(request, "stock.html", {
        "rows": rows, "q": q, "total": answer.page.total_size,
        "next_url": "/stock?" + urllib.parse.urlencode({**kept, "page": answer.page.next_page_token})
        if answer.page.next_page_token else "",
        "first_url": "/stock?" + urllib.parse.urlencode(kept) if page_token else ""}, block="results", private=True)


@router.get("/stock/reservations", summary="Open reservations (stock held for orders under way)")
async def reservations(request: Request, page_token: Token = "") -> Response:
    answer = await Calls.of(request).stocking.ListReservations(stock_api.ListReservationsRequest(
        states=[stock_api.RESERVATION_STATE_ACTIVE], page=paging_pb2.PageRequest(page_size=PAGE_SIZE,
                                                                                 page_token=page_token)))
    return page(request, "reservations.html", {
        "reservations": answer.reservations,
        "next_url": "/stock/reservations?page=" + urllib.parse.quote(answer.page.next_page_token)
        if answer.page.next_page_token else "", "first_url": "/stock/reservations" if page_token else ""},
        private=True)


@router.get("/stock/alerts", summary="Low-stock and out-of-stock alerts, to acknowledge")
async def alerts(request: Request, show: Annotated[str, Query(pattern="^(open|unacknowledged|all)$")] = "open",
                 page_token: Token = "") -> Response:
    answer = await Calls.of(request).stocking.ListStockAlerts(stock_api.ListStockAlertsRequest(
        unresolved_only=show == "open", unacknowledged_only=show == "unacknowledged",
        page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token)))
    names = await staff_names(request, {a.acknowledged_by for a in answer.alerts if a.acknowledged_by})
    flash = session_of(request).pop("flash", []) or []
    return page(request, "alerts.html", {
        "alerts": answer.alerts, "show": show, "kinds": ALERT_KINDS, "names": names, "flash": flash,
        "next_url": "/stock/alerts?" + urllib.parse.urlencode({"show": show, "page": answer.page.next_page_token})
        if answer.page.next_page_token else "", "first_url": f"/stock/alerts?show={show}" if page_token else ""},
        private=True)


@router.post("/stock/alerts/{alert_id}/acknowledge", summary="Acknowledge a stock alert, with a note")
async def acknowledge(request: Request,
                      alert_id: Annotated[str, Path(max_length=100, pattern=r"^[A-Z0-9_-]+:alert:[0-9]+$")],
                      note: Annotated[str, Form(max_length=500)] = "",
                      back: Annotated[str, Form(pattern=BACK, max_length=200)] = "/stock/alerts") -> Response:
    await Calls.of(request).stocking.AcknowledgeStockAlert(stock_api.AcknowledgeStockAlertRequest(
        alert_id=alert_id, note=note.strip()))
    session_of(request)["flash"] = [f"Alert on {alert_id.split(':')[0]} acknowledged."]
    return RedirectResponse(back, status_code=303)


# --- one SKU -------------------------------------------------------------------------------------

async def _sku_page(request: Request, sku: str, *, page_token: str = "", errors: dict[str, str] | None = None,
                    typed: dict[str, str] | None = None, status: int = 200) -> Response:
    calls = Calls.of(request)
    level_answer, threshold, ledger, held, alerts_of, products = await asyncio.gather(
        calls.stocking.GetStockLevel(stock_api.GetStockLevelRequest(sku=sku)),
        calls.stocking.GetLowStockThreshold(stock_api.GetLowStockThresholdRequest(sku=sku)),
        calls.stocking.ListStockMovements(stock_api.ListStockMovementsRequest(
            sku=sku, page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token))),
        calls.stocking.ListReservations(stock_api.ListReservationsRequest(
            sku=sku, states=[stock_api.RESERVATION_STATE_ACTIVE], page=paging_pb2.PageRequest(page_size=50))),
        calls.stocking.ListStockAlerts(stock_api.ListStockAlertsRequest(
            sku=sku, page=paging_pb2.PageRequest(page_size=10))),
        calls.cataloging.BatchGetProductsBySku(catalog_api.BatchGetProductsBySkuRequest(skus=[sku])))
    level = level_answer.level
    names = await staff_names(request, {m.staff_id for m in ledger.movements} |
                              {a.acknowledged_by for a in alerts_of.alerts})
    flash = session_of(request).pop("flash", []) or []
    return page(request, "stock_sku.html", {
        "sku": sku, "level": level, "flag": flag(level), "threshold": threshold.threshold,
        "product": products.products[0] if products.products else None,
        "movements": ledger.movements, "names": names, "kinds": KINDS, "reason_names": REASON_NAMES,
        "releases": RELEASES, "reasons": REASONS, "reservations": held.reservations, "alerts": alerts_of.alerts,
        "alert_kinds": ALERT_KINDS, "errors": errors or {}, "typed": typed or {}, "flash": flash,
        "next_url": f"/stock/{sku}?" + urllib.parse.urlencode({"page": ledger.page.next_page_token}) + "#ledger"
        if ledger.page.next_page_token else "", "first_url": f"/stock/{sku}#ledger" if page_token else ""},
        status=status, private=True)


@router.get("/stock/{sku}", summary="A SKU: its level, threshold, ledger, reservations and alerts")
async def sku_detail(request: Request, sku: Sku, page_token: Token = "") -> Response:
    return await _sku_page(request, sku, page_token=page_token)


@router.post("/stock/{sku}/adjust", summary="Add or remove units, with the reason")
async def adjust(request: Request, sku: Sku, delta: Annotated[str, Form(max_length=12)],
                 reason: Annotated[str, Form(pattern="^(" + "|".join(REASONS) + ")$")],
                 note: Annotated[str, Form(max_length=500)] = "") -> Response:
    typed = {"delta": delta, "reason": reason, "note": note}
    try:
        units = int(delta.strip())
    except ValueError:
        return await _sku_page(request, sku, errors={"delta": "Enter a whole number of units: 12 adds, -3 removes."},
                               typed=typed, status=422)
    if units == 0:
        return await _sku_page(request, sku, errors={"delta": "Enter how many units to add (12) or remove (-3)."},
                               typed=typed, status=422)
    if reason == "other" and not note.strip():
        return await _sku_page(request, sku, errors={"note": "Say why in the note: the ledger keeps it."},
                               typed=typed, status=422)
    try:
        answer = await Calls.of(request).stocking.AdjustStock(stock_api.AdjustStockRequest(
            sku=sku, delta=units, reason=REASONS[reason][0], note=note.strip()))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            raise
        return await _sku_page(request, sku, errors={"delta": said(exc, "That change was refused.")},
                               typed=typed, status=422)
    session_of(request)["flash"] = [f"{'Added' if units > 0 else 'Removed'} {abs(units)} unit(s): "
                                    f"{answer.level.on_hand} on hand, {answer.level.available} available."]
    return RedirectResponse(f"/stock/{sku}", status_code=303)


@router.post("/stock/{sku}/threshold", summary="The SKU's low-stock threshold, or the shop's default")
async def threshold(request: Request, sku: Sku, value: Annotated[str, Form(max_length=12)] = "",
                    use_default: Annotated[bool, Form()] = False) -> Response:
    units = 0
    if not use_default:
        try:
            units = int(value.strip())
        except ValueError:
            return await _sku_page(request, sku, errors={"threshold": "Enter a whole number of units, or use the "
                                                                      "shop's default."},
                                   typed={"threshold": value}, status=422)
    try:
        await Calls.of(request).stocking.SetLowStockThreshold(stock_api.SetLowStockThresholdRequest(
            sku=sku, threshold=units, use_default=use_default))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        return await _sku_page(request, sku, errors={"threshold": said(exc, "That threshold was refused.")},
                               typed={"threshold": value}, status=422)
    session_of(request)["flash"] = ["The low-stock threshold is changed."]
    return RedirectResponse(f"/stock/{sku}", status_code=303)


