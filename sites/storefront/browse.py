"""Browsing: home, category pages (a category's descendants included), search with filters, sort and
paging, the product page with its price (the VIP price for a VIP) and stock status."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from administering.v1 import admin_service_pb2 as admin_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from fastapi import APIRouter, HTTPException, Path, Query, Request
from shop.common.v1 import money_pb2, paging_pb2
from starlette.responses import Response
from stocking.v1 import stock_service_pb2 as stock_api

from sites.runtime.calls import Calls, ServiceUnavailable
from sites.runtime.pages import page
from sites.storefront.shop import categories, person, vip_discount_bps, vip_price

router = APIRouter()
PAGE_SIZE = 12
SORTS = {"relevance": catalog_api.PRODUCT_SORT_UNSPECIFIED, "price-asc": catalog_api.PRODUCT_SORT_PRICE_ASC,
         "price-desc": catalog_api.PRODUCT_SORT_PRICE_DESC, "name": catalog_api.PRODUCT_SORT_NAME_ASC,
         "newest": catalog_api.PRODUCT_SORT_NEWEST}
Sort = Literal["relevance", "price-asc", "price-desc", "name", "newest"]
# A form sends an empty box as "": no bound. Euros with up to two decimals otherwise.
Price = Annotated[str, Query(max_length=10, pattern=r"^(\d{1,7}(\.\d{1,2})?)?$")]
Text = Annotated[str, Query(max_length=200)]
Id = Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")]
PathId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/", summary="Home: featured products and the category tree")
async def home(request: Request) -> Response:
    tree = await categories(request)
    featured = (await Calls.of(request).cataloging.ListProducts(catalog_api.ListProductsRequest(
        sort=catalog_api.PRODUCT_SORT_NEWEST, page=paging_pb2.PageRequest(page_size=8)))).products
    return page(request, "home.html", {"featured": featured, "tree": tree})


@router.get("/search", summary="Search products with filters, sort and paging")
async def search(request: Request, q: Text = "", category: Id = "", seller: Id = "", min_price: Price = "",
                 max_price: Price = "", in_stock: bool = False, sort: Sort = "relevance",
                 page_token: Annotated[str, Query(max_length=200)] = "") -> Response:
    return await _listing(request, q=q, category_id=category, seller=seller, min_price=min_price,
                          max_price=max_price, in_stock=in_stock, sort=sort, page_token=page_token)


@router.get("/c/{category_id}", summary="A category and everything below it")
async def category(request: Request, category_id: PathId, q: Text = "", seller: Id = "", min_price: Price = "",
                   max_price: Price = "", in_stock: bool = False, sort: Sort = "relevance",
                   page_token: Annotated[str, Query(max_length=200)] = "") -> Response:
    return await _listing(request, q=q, category_id=category_id, seller=seller, min_price=min_price,
                          max_price=max_price, in_stock=in_stock, sort=sort, page_token=page_token, own_page=True)


async def _listing(request: Request, *, q: str, category_id: str, seller: str, min_price: str,
                   max_price: str, in_stock: bool, sort: str, page_token: str,
                   own_page: bool = False) -> Response:
    tree = await categories(request)
    by_id = {c.category_id: c for c in tree}
    current = by_id.get(category_id) if category_id else None
    if category_id and current is None:
        raise HTTPException(404)
    currency = "EUR"
    listing = catalog_api.ListProductsRequest(
        query=q.strip(), category_id=category_id, seller_id=seller, in_stock_only=in_stock, sort=SORTS[sort],
        page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token))
    if min_price:
        listing.min_price.CopyFrom(money_pb2.Money(amount_minor=int(Decimal(min_price) * 100), currency=currency))
    if max_price:
        listing.max_price.CopyFrom(money_pb2.Money(amount_minor=int(Decimal(max_price) * 100), currency=currency))
    answer = await Calls.of(request).cataloging.ListProducts(listing)
    filters = {"q": q, "category": category_id, "seller": seller, "in_stock": in_stock, "sort": sort,
               "min_price": min_price, "max_price": max_price}
    return page(request, "search.html", {
        "products": answer.products, "next_token": answer.page.next_page_token, "total": answer.page.total_size,
        "page_token": page_token, "filters": filters, "query": q, "current": current,
        "trail": [by_id[i] for i in current.ancestor_ids if i in by_id] if current else [],
        "children": [c for c in tree if current and c.parent_id == current.category_id],
        "sellers": await _sellers(request), "sorts": list(SORTS), "action": request.url.path,
    }, block="results")


async def _sellers(request: Request) -> list[Any]:
    try:
        return list((await Calls.of(request).administering.ListSellers(admin_api.ListSellersRequest(
            page=paging_pb2.PageRequest(page_size=50)))).sellers)
    except ServiceUnavailable:  # the filter goes; the results stay
        return []


@router.get("/p/{product_id}", summary="A product: pictures, price, stock status")
async def product(request: Request, product_id: PathId) -> Response:
    calls = Calls.of(request)
    item = (await calls.cataloging.GetProduct(catalog_api.GetProductRequest(product_id=product_id))).product
    if item.status != catalog_events.PRODUCT_STATUS_PUBLISHED:
        raise HTTPException(404)
    try:  # without stocking the page still sells: it only cannot say how many are left
        level: Any = (await calls.stocking.GetStockLevel(stock_api.GetStockLevelRequest(sku=item.sku))).level
    except ServiceUnavailable:
        level = None
    bps = await vip_discount_bps(request)
    shopper = person(request)
    tree = await categories(request)
    by_id = {c.category_id: c for c in tree}
    here = by_id.get(item.category_id)
    trail = ([by_id[i] for i in here.ancestor_ids if i in by_id] + [here]) if here else []
    return page(request, "product.html", {
        "product": item, "level": level, "vip_bps": bps, "vip_price": vip_price(item.price, bps) if bps else None,
        "is_vip": bool(shopper and shopper.vip), "trail": trail,
        "attributes": sorted(item.attributes.items()),
    })
