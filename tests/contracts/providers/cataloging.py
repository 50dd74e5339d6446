"""Cataloging's states: a seller's products made, published, repriced, updated and archived by the real
servicer (the seller known from the onboarding event cataloging's own contract describes)."""

from __future__ import annotations

import functools
from typing import Any

from cataloging.v1 import catalog_service_pb2 as catalog_api

from services.runtime.inprocess import build
from tests.contracts.consumers.cataloging import SELLER, SELLER_ONBOARDED, SELLERS, SKU, product
from tests.contracts.values import eur
from tools.contracts import Provider, Service

PROVIDER = Provider("cataloging", functools.partial(build, "cataloging"))


@PROVIDER.state("a product was published")
async def published(service: Service) -> None:
    await product(service, publish=True)


@PROVIDER.state("a product is published")
async def listed(service: Service) -> dict[str, Any]:
    return {"product_id": await product(service, publish=True), "skus": [SKU]}


@PROVIDER.state("a seller's draft product is ready to publish")
async def draft(service: Service) -> dict[str, Any]:
    return {"product_id": await product(service, publish=False), "skus": [SKU]}


@PROVIDER.state("a seller may sell in a category")
async def seller_and_category(service: Service) -> dict[str, Any]:
    await service.deliver(SELLERS, SELLER_ONBOARDED)
    category = await service.call("cataloging.v1.CatalogService/CreateCategory",
                                  catalog_api.CreateCategoryRequest(name="Kitchen"))
    return {"seller_id": SELLER, "category_id": category.category.category_id}


@PROVIDER.state("a product's price changed")
async def repriced(service: Service) -> None:
    await service.call("cataloging.v1.CatalogService/SetProductPrice", catalog_api.SetProductPriceRequest(
        product_id=await product(service, publish=True), price=eur(1500)))


@PROVIDER.state("a published product was updated")
async def updated(service: Service) -> None:
    await service.call("cataloging.v1.CatalogService/UpdateProduct", catalog_api.UpdateProductRequest(
        product_id=await product(service, publish=True), name="Red mug, large"))


@PROVIDER.state("a product was archived")
async def archived(service: Service) -> None:
    await service.call("cataloging.v1.CatalogService/ArchiveProduct", catalog_api.ArchiveProductRequest(
        product_id=await product(service, publish=True), reason="discontinued"))


@PROVIDER.state("the catalogue has a category")
async def category(service: Service) -> dict[str, Any]:
    made = await service.call("cataloging.v1.CatalogService/CreateCategory",
                              catalog_api.CreateCategoryRequest(name="Kitchen"))
    return {"category_id": made.category.category_id}


# --- the back-office's staff: the catalogue they change ---------------------------------------------------------


@PROVIDER.state("the catalogue has two categories")
async def two_categories(service: Service) -> dict[str, Any]:
    moved = await category(service) or {}
    under = await service.call("cataloging.v1.CatalogService/CreateCategory",
                               catalog_api.CreateCategoryRequest(name="Dining"))
    return {**moved, "new_parent_id": under.category.category_id}


@PROVIDER.state("a product is published in a category")
async def in_a_category(service: Service) -> dict[str, Any]:
    product_id = await product(service, publish=True)
    found = await service.call("cataloging.v1.CatalogService/GetProduct",
                               catalog_api.GetProductRequest(product_id=product_id))
    return {"product_id": product_id, "category_id": found.product.category_id}
