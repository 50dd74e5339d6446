"""Products and categories.

Products: the list (active search, status, category and seller filters, paging); a new product through
administering's OnboardProduct (the product, its initial stock and, if asked, its publication in one
step); a product's page to edit its details and price, publish it, or archive it with a reason.

Categories: the tree, with create, rename, move and delete; a refusal (a move into its own subtree, a
delete of a category that still holds products) is shown with cataloging's own sentence."""

from __future__ import annotations

import asyncio
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import grpc
from administering.v1 import admin_service_pb2 as admin_api
from administering.v1 import events_pb2 as admin_events
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from shop.common.v1 import money_pb2, paging_pb2
from starlette.responses import RedirectResponse, Response

from sites.backoffice.staff import said, signed_in_staff
from sites.backoffice.stock import EVERY_STATUS
from sites.runtime.calls import Calls
from sites.runtime.pages import page
from sites.runtime.sessions import session_of

router = APIRouter(dependencies=[Depends(signed_in_staff)])
Id = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Text = Annotated[str, Form(max_length=200)]
PAGE_SIZE = 30
STATUSES = {"draft": catalog_events.PRODUCT_STATUS_DRAFT, "published": catalog_events.PRODUCT_STATUS_PUBLISHED,
            "archived": catalog_events.PRODUCT_STATUS_ARCHIVED}
STATUS_NAMES = {number: name for name, number in STATUSES.items()}
TAX_CLASSES = ["standard", "reduced", "super_reduced", "zero"]
REFUSED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS,
           grpc.StatusCode.NOT_FOUND)


def cents(text: str) -> int | None:
    """An amount typed as 12.50 (or 12,50) in minor units; None when it is not one."""
    try:
        minor = Decimal(text.strip().replace(",", ".")) * 100
    except InvalidOperation:
        return None
    return int(minor) if minor == minor.to_integral_value() and minor >= 0 else None


async def tree(request: Request) -> list[Any]:
    """The category tree, each category with its depth, in tree order (a parent before its children)."""
    found = list((await Calls.of(request).cataloging.GetCategoryTree(catalog_api.GetCategoryTreeRequest())).categories)
    children: dict[str, list[Any]] = {}
    for category in found:
        children.setdefault(category.parent_id, []).append(category)
    ordered: list[Any] = []

    def walk(parent: str) -> None:
        for category in sorted(children.get(parent, []), key=lambda c: (c.position, c.name)):
            ordered.append(category)
            walk(category.category_id)

    walk("")
    return ordered


def paths(categories: list[Any]) -> dict[str, str]:
    """Each category as the path of names staff read: Books & Food › Grocery › Chocolate."""
    names = {c.category_id: c.name for c in categories}
    return {c.category_id: " › ".join([*(names.get(a, "…") for a in c.ancestor_ids), c.name]) for c in categories}


async def sellers(request: Request) -> list[Any]:
    return list((await Calls.of(request).administering.ListSellers(admin_api.ListSellersRequest(
        page=paging_pb2.PageRequest(page_size=100)))).sellers)


# --- products ------------------------------------------------------------------------------------

@router.get("/products", summary="Products: active search, filters, paging")
async def products(request: Request, q: Annotated[str, Query(max_length=100)] = "",
                   status: Annotated[str, Query(pattern="^(|draft|published|archived)$")] = "",
                   category: Annotated[str, Query(max_length=64)] = "",
                   seller: Annotated[str, Query(max_length=64)] = "",
                   page_token: Annotated[str, Query(alias="page", max_length=500)] = "") -> Response:
    calls = Calls.of(request)
    answer, categories, known_sellers = await asyncio.gather(
        calls.cataloging.ListProducts(catalog_api.ListProductsRequest(
            query=q.strip(), category_id=category, seller_id=seller,
            statuses=[STATUSES[status]] if status else EVERY_STATUS, sort=catalog_api.PRODUCT_SORT_NEWEST,
            page=paging_pb2.PageRequest(page_size=PAGE_SIZE, page_token=page_token))),
        tree(request), sellers(request))
    kept = {k: v for k, v in {"q": q, "status": status, "category": category, "seller": seller}.items() if v}
    flash = session_of(request).pop("flash", []) or []
    return page(request, "products.html", {
        "products": answer.products, "total": answer.page.total_size, "query": {"q": q, "status": status,
                                                                               "category": category, "seller": seller},
        "categories": categories, "names": paths(categories),
        "sellers": known_sellers, "seller_names": {s.seller_id: s.name for s in known_sellers},
        "status_names": STATUS_NAMES, "flash": flash,
        "next_url": "/products?" + urllib.parse.urlencode({**kept, "page": answer.page.next_page_token})
        if answer.page.next_page_token else "",
        "first_url": "/products?" + urllib.parse.urlencode(kept) if page_token else ""}, block="results", private=True)


async def _new_form(request: Request, *, values: dict[str, str] | None = None, error: str = "",
                    status: int = 200) -> Response:
    categories, known_sellers = await asyncio.gather(tree(request), sellers(request))
    return page(request, "product_new.html", {
        "categories": categories,
        "sellers": [s for s in known_sellers if s.status == admin_events.SELLER_STATUS_ACTIVE],
        "tax_classes": TAX_CLASSES, "values": values or {"tax_class": "standard", "publish": "true"}, "error": error},
        status=status, private=True)


@router.get("/products/new", summary="The form for a new product")
async def new_product(request: Request) -> Response:
    return await _new_form(request)


@router.post("/products", summary="Create a product with its initial stock, published if asked")
async def create_product(request: Request, seller_id: Annotated[str, Form(max_length=64)],
                         sku: Annotated[str, Form(max_length=64)], name: Text,
                         category_id: Annotated[str, Form(max_length=64)], price: Annotated[str, Form(max_length=20)],
                         tax_class: Annotated[str, Form(max_length=20)],
                         weight_grams: Annotated[str, Form(max_length=10)] = "0",
                         initial_stock: Annotated[str, Form(max_length=12)] = "0",
                         description: Annotated[str, Form(max_length=5000)] = "",
                         image_url: Annotated[str, Form(max_length=500)] = "",
                         publish: Annotated[bool, Form()] = False) -> Response:
    values = {"seller_id": seller_id, "sku": sku, "name": name, "category_id": category_id, "price": price,
              "tax_class": tax_class, "weight_grams": weight_grams, "initial_stock": initial_stock,
              "description": description, "image_url": image_url, "publish": "true" if publish else ""}
    amount = cents(price)
    problem = "Give the price as an amount such as 12.50." if amount is None else \
        "The weight and the initial stock are whole numbers." if not (
            weight_grams.strip().isdigit() and initial_stock.strip().isdigit()) else ""
    if not problem:
        try:
            made = await Calls.of(request).administering.OnboardProduct(admin_api.OnboardProductRequest(
                seller_id=seller_id, sku=sku.strip().upper(), name=name.strip(), description=description.strip(),
                category_id=category_id, price=money_pb2.Money(amount_minor=amount or 0, currency="EUR"),
                tax_class=tax_class, weight_grams=int(weight_grams), image_url=image_url.strip(),
                initial_stock_quantity=int(initial_stock), publish=publish))
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in REFUSED:
                raise
            problem = said(exc, "That product was refused.")
    if problem:
        return await _new_form(request, values=values, error=problem, status=422)
    session_of(request)["flash"] = [f"{made.product.name} ({made.product.sku}) is created"
                                    f"{' and published' if publish else ' as a draft'}."]
    return RedirectResponse(f"/products/{made.product.product_id}", status_code=303)


async def _product_page(request: Request, product_id: str, *, error: str = "", status: int = 200) -> Response:
    calls = Calls.of(request)
    product = (await calls.cataloging.GetProduct(catalog_api.GetProductRequest(product_id=product_id))).product
    categories, known_sellers = await asyncio.gather(tree(request), sellers(request))
    flash = session_of(request).pop("flash", []) or []
    return page(request, "product.html", {
        "product": product, "categories": categories, "tax_classes": TAX_CLASSES, "status_names": STATUS_NAMES,
        "seller_names": {s.seller_id: s.name for s in known_sellers}, "error": error, "flash": flash,
        "price_text": f"{Decimal(product.price.amount_minor) / 100:.2f}"}, status=status, private=True)


@router.get("/products/{product_id}", summary="A product: edit, price, publish, archive")
async def product_detail(request: Request, product_id: Id) -> Response:
    return await _product_page(request, product_id)


async def _change(request: Request, product_id: str, done: str, call: Any) -> Response:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in REFUSED or exc.code() == grpc.StatusCode.NOT_FOUND:
            raise
        return await _product_page(request, product_id, error=said(exc, "That change was refused."), status=422)
    session_of(request)["flash"] = [done]
    return RedirectResponse(f"/products/{product_id}", status_code=303)


@router.post("/products/{product_id}", summary="Change a product's details")
async def update_product(request: Request, product_id: Id, name: Text,
                         category_id: Annotated[str, Form(max_length=64)],
                         tax_class: Annotated[str, Form(max_length=20)],
                         weight_grams: Annotated[int, Form(ge=0, le=1_000_000)],
                         description: Annotated[str, Form(max_length=5000)] = "",
                         image_url: Annotated[str, Form(max_length=500)] = "") -> Response:
    return await _change(request, product_id, "The product is saved.", Calls.of(request).cataloging.UpdateProduct(
        catalog_api.UpdateProductRequest(product_id=product_id, name=name.strip(), description=description.strip(),
                                         category_id=category_id, tax_class=tax_class, weight_grams=weight_grams,
                                         image_url=image_url.strip())))


@router.post("/products/{product_id}/price", summary="Change a product's price")
async def set_price(request: Request, product_id: Id, price: Annotated[str, Form(max_length=20)]) -> Response:
    amount = cents(price)
    if amount is None:
        return await _product_page(request, product_id, error="Give the price as an amount such as 12.50.",
                                   status=422)
    return await _change(request, product_id, "The price is changed.", Calls.of(request).cataloging.SetProductPrice(
        catalog_api.SetProductPriceRequest(product_id=product_id,
                                           price=money_pb2.Money(amount_minor=amount, currency="EUR"))))


@router.post("/products/{product_id}/publish", summary="Publish a product")
async def publish_product(request: Request, product_id: Id) -> Response:
    return await _change(request, product_id, "The product is published: the storefront shows it.",
                         Calls.of(request).cataloging.PublishProduct(
                             catalog_api.PublishProductRequest(product_id=product_id)))


@router.post("/products/{product_id}/archive", summary="Archive a product (for good), with the reason")
async def archive_product(request: Request, product_id: Id, reason: Annotated[str, Form(max_length=500)]) -> Response:
    return await _change(request, product_id, "The product is archived: it is sold no more.",
                         Calls.of(request).cataloging.ArchiveProduct(
                             catalog_api.ArchiveProductRequest(product_id=product_id, reason=reason.strip())))


# --- categories -----------------------------------------------------------------------------------

async def _categories_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    categories = await tree(request)
    flash = session_of(request).pop("flash", []) or []
    return page(request, "categories.html", {"categories": categories, "error": error, "flash": flash},
                status=status, private=True)


@router.get("/categories", summary="The category tree: create, rename, move, delete")
async def categories(request: Request) -> Response:
    return await _categories_page(request)


async def _category_change(request: Request, done: str, call: Any) -> Response:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in REFUSED:
            raise
        status = 409 if exc.code() == grpc.StatusCode.FAILED_PRECONDITION else 422
        return await _categories_page(request, error=said(exc, "That change was refused."), status=status)
    session_of(request)["flash"] = [done]
    return RedirectResponse("/categories", status_code=303)


@router.post("/categories", summary="Create a category")
async def create_category(request: Request, name: Text,
                          parent_id: Annotated[str, Form(max_length=64)] = "") -> Response:
    return await _category_change(request, f"{name.strip()} is created.", Calls.of(request).cataloging.CreateCategory(
        catalog_api.CreateCategoryRequest(name=name.strip(), parent_id=parent_id)))


@router.post("/categories/{category_id}/rename", summary="Rename a category")
async def rename_category(request: Request, category_id: Id, name: Text) -> Response:
    return await _category_change(request, f"Renamed to {name.strip()}.", Calls.of(request).cataloging.RenameCategory(
        catalog_api.RenameCategoryRequest(category_id=category_id, name=name.strip())))


@router.post("/categories/{category_id}/move", summary="Move a category under another (or to the top)")
async def move_category(request: Request, category_id: Id,
                        parent_id: Annotated[str, Form(max_length=64)] = "") -> Response:
    return await _category_change(request, "The category is moved.", Calls.of(request).cataloging.MoveCategory(
        catalog_api.MoveCategoryRequest(category_id=category_id, new_parent_id=parent_id)))


@router.post("/categories/{category_id}/delete", summary="Delete an empty category")
async def delete_category(request: Request, category_id: Id) -> Response:
    return await _category_change(request, "The category is deleted.", Calls.of(request).cataloging.DeleteCategory(
        catalog_api.DeleteCategoryRequest(category_id=category_id)))
