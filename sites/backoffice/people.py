"""Sellers and customers.

Sellers: the list (search, status), onboarding, a seller's page to edit them, suspend them with a reason
or reinstate them, and their products. Customers: search (name or email, VIP or not), a customer's page
with their orders, addresses and confirmed spend, and their status changed (VIP and back) with the
reason, pinned or left to the spending rule."""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Annotated, Any

import grpc
from administering.v1 import admin_service_pb2 as admin_api
from administering.v1 import events_pb2 as admin_events
from cataloging.v1 import catalog_service_pb2 as catalog_api
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from ordering.v1 import order_service_pb2 as order_api
from profiling.v1 import events_pb2 as profiling_events
from profiling.v1 import profile_service_pb2 as profile_api
from shop.common.v1 import paging_pb2
from starlette.responses import RedirectResponse, Response

from sites.backoffice.orders import STATUS as ORDER_STATUS
from sites.backoffice.staff import said, signed_in_staff
from sites.backoffice.stock import EVERY_STATUS
from sites.runtime.calls import Calls
from sites.runtime.pages import page
from sites.runtime.sessions import session_of

router = APIRouter(dependencies=[Depends(signed_in_staff)])
Id = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Token = Annotated[str, Query(alias="page", max_length=500)]
Text = Annotated[str, Form(max_length=200)]
PAGE_SIZE = 30
SELLER_STATUSES = {"active": admin_events.SELLER_STATUS_ACTIVE, "suspended": admin_events.SELLER_STATUS_SUSPENDED}
SELLER_NAMES = {number: name for name, number in SELLER_STATUSES.items()}
CUSTOMER_STATUSES = {"standard": profiling_events.CUSTOMER_STATUS_STANDARD, "vip": profiling_events.CUSTOMER_STATUS_VIP}
CUSTOMER_NAMES = {profiling_events.CUSTOMER_STATUS_STANDARD: "Standard", profiling_events.CUSTOMER_STATUS_VIP: "VIP"}
SOURCES = {profiling_events.STATUS_CHANGE_SOURCE_RULE: "by the spending rule",
           profiling_events.STATUS_CHANGE_SOURCE_STAFF: "by staff"}
REFUSED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS)


def _pages(base: str, kept: dict[str, str], token: str, next_token: str) -> dict[str, str]:
    kept = {k: v for k, v in kept.items() if v}
    return {"next_url": f"{base}?" + urllib.parse.urlencode({**kept, "page": next_token}) if next_token else "",
            "first_url": f"{base}?" + urllib.parse.urlencode(kept) if token else ""}


# --- sellers -------------------------------------------------------------------------------------

async def _sellers_page(request: Request, q: str = "", status: str = "", page_token: str = "", *,
                        error: str = "", values: dict[str, str] | None = None, code: int = 200) -> Response:
    answer = await Calls.of(request).administering.ListSellers(admin_api.ListSellersRequest(
        query=q.strip(), statuses=[SELLER_STATUSES[status]] if status else [],
        page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token)))
    flash = session_of(request).pop("flash", []) or []
    return page(request, "sellers.html", {
        "sellers": answer.sellers, "total": answer.page.total_size, "query": {"q": q, "status": status},
        "statuses": SELLER_NAMES, "error": error, "values": values or {}, "flash": flash,
        **_pages("/sellers", {"q": q, "status": status}, page_token, answer.page.next_page_token)},
        block="results", status=code, private=True)


@router.get("/sellers", summary="Sellers: search, status, onboarding")
async def sellers(request: Request, q: Annotated[str, Query(max_length=100)] = "",
                  status: Annotated[str, Query(pattern="^(|active|suspended)$")] = "",
                  page_token: Token = "") -> Response:
    return await _sellers_page(request, q, status, page_token)


@router.post("/sellers", summary="Onboard a seller")
async def onboard(request: Request, name: Text, email: Annotated[str, Form(max_length=254)],
                  vat_number: Annotated[str, Form(max_length=30)]) -> Response:
    try:
        made = (await Calls.of(request).administering.OnboardSeller(admin_api.OnboardSellerRequest(
            name=name.strip(), email=email.strip(), vat_number=vat_number.strip()))).seller
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in REFUSED:
            raise
        return await _sellers_page(request, error=said(exc, "That seller was refused."), code=422,
                                   values={"name": name, "email": email, "vat_number": vat_number})
    session_of(request)["flash"] = [f"{made.name} is onboarded and can sell."]
    return RedirectResponse(f"/sellers/{made.seller_id}", status_code=303)


async def _seller_page(request: Request, seller_id: str, *, error: str = "", code: int = 200) -> Response:
    calls = Calls.of(request)
    seller, products = await asyncio.gather(
        calls.administering.GetSeller(admin_api.GetSellerRequest(seller_id=seller_id)),
        calls.cataloging.ListProducts(catalog_api.ListProductsRequest(
            seller_id=seller_id, statuses=EVERY_STATUS, page=paging_pb2.PageRequest(page_size=50))))
    flash = session_of(request).pop("flash", []) or []
    return page(request, "seller.html", {
        "seller": seller.seller, "products": products.products, "product_total": products.page.total_size,
        "statuses": SELLER_NAMES, "error": error, "flash": flash}, status=code, private=True)


@router.get("/sellers/{seller_id}", summary="A seller: edit, suspend, reinstate, their products")
async def seller(request: Request, seller_id: Id) -> Response:
    return await _seller_page(request, seller_id)


async def _seller_change(request: Request, seller_id: str, done: str, call: Any) -> Response:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in REFUSED:
            raise
        return await _seller_page(request, seller_id, error=said(exc, "That change was refused."), code=422)
    session_of(request)["flash"] = [done]
    return RedirectResponse(f"/sellers/{seller_id}", status_code=303)


@router.post("/sellers/{seller_id}", summary="Change a seller's details")
async def update_seller(request: Request, seller_id: Id, name: Text, email: Annotated[str, Form(max_length=254)],
                        vat_number: Annotated[str, Form(max_length=30)]) -> Response:
    administering = Calls.of(request).administering
    return await _seller_change(request, seller_id, "The seller is saved.", administering.UpdateSeller(
        admin_api.UpdateSellerRequest(seller_id=seller_id, name=name.strip(), email=email.strip(),
                                      vat_number=vat_number.strip())))


@router.post("/sellers/{seller_id}/suspend", summary="Suspend a seller, with the reason")
async def suspend(request: Request, seller_id: Id, reason: Annotated[str, Form(max_length=500)]) -> Response:
    return await _seller_change(
        request, seller_id, "The seller is suspended: the storefront no longer shows their products.",
        Calls.of(request).administering.SuspendSeller(admin_api.SuspendSellerRequest(seller_id=seller_id,
                                                                                     reason=reason.strip())))


@router.post("/sellers/{seller_id}/reinstate", summary="Reinstate a suspended seller")
async def reinstate(request: Request, seller_id: Id) -> Response:
    return await _seller_change(
        request, seller_id, "The seller is reinstated: their published products are on sale again.",
        Calls.of(request).administering.ReinstateSeller(admin_api.ReinstateSellerRequest(seller_id=seller_id)))


# --- customers -----------------------------------------------------------------------------------

@router.get("/customers", summary="Customers: search by name or email, VIP or not")
async def customers(request: Request, q: Annotated[str, Query(max_length=100)] = "",
                    status: Annotated[str, Query(pattern="^(|standard|vip)$")] = "",
                    page_token: Token = "") -> Response:
    answer = await Calls.of(request).profiling.SearchCustomers(profile_api.SearchCustomersRequest(
        query=q.strip(), statuses=[CUSTOMER_STATUSES[status]] if status else [],
        page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token)))
    return page(request, "customers.html", {
        "customers": answer.customers, "total": answer.page.total_size, "query": {"q": q, "status": status},
        "statuses": CUSTOMER_NAMES, **_pages("/customers", {"q": q, "status": status}, page_token,
                                            answer.page.next_page_token)}, block="results", private=True)


async def _customer_page(request: Request, customer_id: str, *, error: str = "", code: int = 200) -> Response:
    calls = Calls.of(request)
    customer, addresses, orders = await asyncio.gather(
        calls.profiling.GetCustomer(profile_api.GetCustomerRequest(customer_id=customer_id)),
        calls.profiling.ListAddresses(profile_api.ListAddressesRequest(customer_id=customer_id)),
        calls.ordering.ListOrders(order_api.ListOrdersRequest(customer_id=customer_id,
                                                              page=paging_pb2.PageRequest(page_size=50))))
    flash = session_of(request).pop("flash", []) or []
    return page(request, "customer.html", {
        "customer": customer.customer, "addresses": addresses.entries, "orders": orders.orders,
        "order_total": orders.page.total_size, "order_statuses": ORDER_STATUS, "statuses": CUSTOMER_NAMES,
        "sources": SOURCES, "vip": customer.customer.status == profiling_events.CUSTOMER_STATUS_VIP,
        "error": error, "flash": flash}, status=code, private=True)


@router.get("/customers/{customer_id}", summary="A customer: orders, addresses, spend, status")
async def customer(request: Request, customer_id: Id) -> Response:
    return await _customer_page(request, customer_id)


@router.post("/customers/{customer_id}/status", summary="Make a customer VIP or standard, with the reason")
async def set_status(request: Request, customer_id: Id, status: Annotated[str, Form(pattern="^(standard|vip)$")],
                     reason: Annotated[str, Form(max_length=500)], pinned: Annotated[bool, Form()] = False) -> Response:
    if not reason.strip():
        return await _customer_page(request, customer_id, error="Say why: the reason is kept with the change.",
                                    code=422)
    try:
        await Calls.of(request).profiling.SetCustomerStatus(profile_api.SetCustomerStatusRequest(
            customer_id=customer_id, status=CUSTOMER_STATUSES[status], reason=reason.strip(), pinned=pinned))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in REFUSED:
            raise
        return await _customer_page(request, customer_id, error=said(exc, "That change was refused."), code=422)
    session_of(request)["flash"] = [f"The customer is now {CUSTOMER_NAMES[CUSTOMER_STATUSES[status]]}"
                                    f"{', pinned' if pinned else ''}."]
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)
