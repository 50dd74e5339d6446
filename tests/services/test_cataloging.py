"""Cataloging as a real process on the real broker and registry: the category tree, the product life
and its events, listing (filters, sorts, paging, descendants), stocking's in-stock flags,
administering's sellers, and bad input over every RPC. One cataloging process serves the whole
module; each test uses sellers, categories and SKUs of its own.

The last test checks, without any process, that the listing index answers what the domain's pure
list_products answers.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from administering.v1 import events_pb2 as admin_pb
from cataloging.v1 import catalog_service_pb2 as pb
from cataloging.v1 import events_pb2 as events_pb
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from shop.common.v1 import money_pb2, paging_pb2
from stocking.v1 import events_pb2 as stocking_pb

from services.cataloging import domain
from services.cataloging.stores import ProductListing
from services.runtime.inprocess import Service
from services.runtime.store import Store
from tests.services.support import SELLERS, eur, in_process, onboarded_seller, refused, seller_message, sku
from tools.platform import Platform, eventually

PRODUCTS = "cataloging.products.v1"
LEVELS = "stocking.levels.v1"
DRAFT, PUBLISHED, ARCHIVED = (events_pb.PRODUCT_STATUS_DRAFT, events_pb.PRODUCT_STATUS_PUBLISHED,
                              events_pb.PRODUCT_STATUS_ARCHIVED)


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                   schema_registry_url: str) -> AsyncIterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("cataloging"), kafka_bootstrap, schema_registry_url,
                       f"t{uuid.uuid4().hex[:12]}")
    try:
        await running.start("cataloging")
        yield running
    finally:
        await running.close()


@pytest.fixture
def catalog(platform: Platform) -> CatalogServiceStub:
    return platform.stub("cataloging", CatalogServiceStub)



async def new_product(catalog: CatalogServiceStub, seller_id: str, category_id: str = "", name: str = "Kettle",
                      price: int = 1000, publish: bool = True, **fields: Any) -> Any:
    created = (await catalog.CreateProduct(pb.CreateProductRequest(
        seller_id=seller_id, sku=fields.pop("sku", None) or sku(), name=name, category_id=category_id,
        price=eur(price), **fields))).product
    if publish:
        return (await catalog.PublishProduct(pb.PublishProductRequest(product_id=created.product_id))).product
    return created


async def category(catalog: CatalogServiceStub, name: str, parent_id: str = "", position: int = 0) -> Any:
    return (await catalog.CreateCategory(pb.CreateCategoryRequest(name=name, parent_id=parent_id,
                                                                  position=position))).category


def of(event: str, aggregate_id: str) -> Any:
    return lambda envelope: envelope.WhichOneof("event") == event and envelope.metadata.aggregate_id == aggregate_id


# --- the category tree ----------------------------------------------------------------------------


async def test_category_tree(catalog: CatalogServiceStub) -> None:
    root = await category(catalog, f"Home {uuid.uuid4().hex[:6]}")
    kitchen = await category(catalog, "Kitchen", root.category_id, position=2)
    garden = await category(catalog, "Garden", root.category_id, position=1)
    knives = await category(catalog, "Knives & Blades", kitchen.category_id)
    assert (knives.path, knives.depth, list(knives.ancestor_ids)) == (
        f"{root.slug}/kitchen/knives-blades", 2, [root.category_id, kitchen.category_id])
    assert (await catalog.GetCategory(pb.GetCategoryRequest(category_id=knives.category_id))).category == knives

    renamed = (await catalog.RenameCategory(pb.RenameCategoryRequest(category_id=kitchen.category_id,
                                                                     name="Cuisine"))).category
    assert renamed.slug == "cuisine"
    knives = (await catalog.GetCategory(pb.GetCategoryRequest(category_id=knives.category_id))).category
    assert knives.path == f"{root.slug}/cuisine/knives-blades"  # descendants' paths follow the name

    # Never under itself or one of its descendants.
    for new_parent in (kitchen.category_id, knives.category_id):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await catalog.MoveCategory(pb.MoveCategoryRequest(category_id=kitchen.category_id,
                                                              new_parent_id=new_parent))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "Cuisine" in (refused.value.details() or "")
    moved = (await catalog.MoveCategory(pb.MoveCategoryRequest(category_id=kitchen.category_id,
                                                               new_parent_id=garden.category_id))).category
    assert (moved.parent_id, moved.depth) == (garden.category_id, 2)

    tree = (await catalog.GetCategoryTree(pb.GetCategoryTreeRequest(root_category_id=root.category_id))).categories
    assert [(c.name, c.depth) for c in tree] == [(root.name, 0), ("Garden", 1), ("Cuisine", 2),
                                                 ("Knives & Blades", 3)]
    shallow = await catalog.GetCategoryTree(pb.GetCategoryTreeRequest(root_category_id=root.category_id,
                                                                      max_depth=1))
    assert [c.name for c in shallow.categories] == [root.name, "Garden"]
    whole = (await catalog.GetCategoryTree(pb.GetCategoryTreeRequest())).categories
    assert root.category_id in {c.category_id for c in whole}

    await catalog.DeleteCategory(pb.DeleteCategoryRequest(category_id=knives.category_id))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await catalog.GetCategory(pb.GetCategoryRequest(category_id=knives.category_id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


# --- products and their events --------------------------------------------------------------------


async def test_product_life_and_its_events(platform: Platform, catalog: CatalogServiceStub) -> None:
    seller_id = await onboarded_seller(platform, catalog)
    shelf = await category(catalog, f"Shelf {uuid.uuid4().hex[:6]}")
    draft = (await catalog.CreateProduct(pb.CreateProductRequest(
        seller_id=seller_id, sku=sku(), name="Tea pot", description="Cast iron", price=eur(0), tax_class="reduced",
        weight_grams=900, attributes={"colour": "black"}, image_url="https://img.example/teapot.png"))).product
    assert (draft.status, draft.version, draft.tax_class, dict(draft.attributes)) == (DRAFT, 1, "reduced",
                                                                                      {"colour": "black"})
    # A draft changes quietly.
    draft = (await catalog.UpdateProduct(pb.UpdateProductRequest(product_id=draft.product_id,
                                                                 category_id=shelf.category_id))).product
    draft = (await catalog.SetProductPrice(pb.SetProductPriceRequest(product_id=draft.product_id,
                                                                     price=eur(2500)))).product
    published = (await catalog.PublishProduct(pb.PublishProductRequest(product_id=draft.product_id))).product
    assert (published.status, published.version) == (PUBLISHED, 4) and published.HasField("published_at")
    again = (await catalog.PublishProduct(pb.PublishProductRequest(product_id=draft.product_id))).product
    assert again == published  # nothing changes, nothing is published

    updated = (await catalog.UpdateProduct(pb.UpdateProductRequest(
        product_id=draft.product_id, name="Tea pot, large", set_attributes={"size": "1.2 l"},
        remove_attribute_keys=["colour"]))).product
    assert (updated.name, dict(updated.attributes)) == ("Tea pot, large", {"size": "1.2 l"})
    repriced = (await catalog.SetProductPrice(pb.SetProductPriceRequest(product_id=draft.product_id,
                                                                        price=eur(2900)))).product
    archived = (await catalog.ArchiveProduct(pb.ArchiveProductRequest(product_id=draft.product_id,
                                                                      reason="discontinued"))).product
    assert archived.status == ARCHIVED
    assert (await catalog.GetProduct(pb.GetProductRequest(product_id=draft.product_id))).product == archived

    events = await platform.events(PRODUCTS, at_least=4, where=lambda e: e.metadata.aggregate_id == draft.product_id)
    assert [e.WhichOneof("event") for e in events] == ["product_published", "product_updated",
                                                       "product_price_changed", "product_archived"]
    assert [e.metadata.aggregate_version for e in events] == [4, 5, 6, 7]
    assert events[0].product_published.product == published
    assert list(events[1].product_updated.changed_fields) == ["name", "attributes"]
    assert events[1].product_updated.product == updated
    changed = events[2].product_price_changed
    assert (changed.old_price.amount_minor, changed.new_price.amount_minor, changed.version) == (2500, 2900,
                                                                                               repriced.version)
    assert (events[3].product_archived.sku, events[3].product_archived.reason) == (draft.sku, "discontinued")


async def test_batch_gets(platform: Platform, catalog: CatalogServiceStub) -> None:
    seller_id = await onboarded_seller(platform, catalog)
    one, two = await new_product(catalog, seller_id, publish=False), await new_product(catalog, seller_id,
                                                                                       publish=False)
    by_id = await catalog.BatchGetProducts(pb.BatchGetProductsRequest(
        product_ids=[two.product_id, "missing", one.product_id, two.product_id]))
    assert [p.product_id for p in by_id.products] == [two.product_id, one.product_id]
    assert list(by_id.missing_product_ids) == ["missing"]
    by_sku = await catalog.BatchGetProductsBySku(pb.BatchGetProductsBySkuRequest(skus=[one.sku, "NOPE"]))
    assert [p.sku for p in by_sku.products] == [one.sku] and list(by_sku.missing_skus) == ["NOPE"]


# --- listing --------------------------------------------------------------------------------------


async def test_listing_filters_sorts_pages_and_includes_descendants(platform: Platform,
                                                                    catalog: CatalogServiceStub) -> None:
    seller_id = await onboarded_seller(platform, catalog)
    root = await category(catalog, f"Outdoor {uuid.uuid4().hex[:6]}")
    child = await category(catalog, "Tents", root.category_id)
    grandchild = await category(catalog, "Pegs", child.category_id)
    in_root = await new_product(catalog, seller_id, root.category_id, "Lantern", 3000)
    in_child = await new_product(catalog, seller_id, child.category_id, "Dome tent", 20000,
                                 description="Sleeps two")
    in_grandchild = await new_product(catalog, seller_id, grandchild.category_id, "Steel pegs", 500)
    await new_product(catalog, seller_id, grandchild.category_id, "Draft pegs", 400, publish=False)

    async def listed(**filters: Any) -> list[str]:
        answer = await catalog.ListProducts(pb.ListProductsRequest(**filters))
        return [p.name for p in answer.products]

    # A category lists its descendants' products too, unless asked not to.
    assert await listed(category_id=root.category_id, sort=pb.PRODUCT_SORT_PRICE_ASC) == [
        "Steel pegs", "Lantern", "Dome tent"]
    assert await listed(category_id=child.category_id, sort=pb.PRODUCT_SORT_NAME_ASC) == ["Dome tent", "Steel pegs"]
    assert await listed(category_id=root.category_id, direct_category_only=True) == ["Lantern"]
    assert await listed(category_id=root.category_id, sort=pb.PRODUCT_SORT_NEWEST) == [
        "Steel pegs", "Dome tent", "Lantern"]
    assert await listed(category_id=root.category_id, sort=pb.PRODUCT_SORT_PRICE_DESC,
                        statuses=[DRAFT, PUBLISHED]) == ["Dome tent", "Lantern", "Steel pegs", "Draft pegs"]
    assert await listed(seller_id=seller_id, query="SLEEPS") == ["Dome tent"]
    assert await listed(seller_id=seller_id, min_price=eur(500), max_price=eur(3000),
                        sort=pb.PRODUCT_SORT_PRICE_ASC) == ["Steel pegs", "Lantern"]
    # Nothing is in stock until stocking says so.
    assert await listed(seller_id=seller_id, in_stock_only=True) == []

    pages, token = [], ""
    while True:
        answer = await catalog.ListProducts(pb.ListProductsRequest(
            category_id=root.category_id, sort=pb.PRODUCT_SORT_NAME_ASC,
            page=paging_pb2.PageRequest(page_size=2, page_token=token)))
        pages.append([p.product_id for p in answer.products])
        assert answer.page.total_size == 3
        if not (token := answer.page.next_page_token):
            break
    assert pages == [[in_child.product_id, in_root.product_id], [in_grandchild.product_id]]


# --- consumed events ------------------------------------------------------------------------------


async def publish_level(platform: Platform, sku_: str, version: int, **event: Any) -> None:
    """A stock-level event as stocking publishes it, with the level's version as aggregate_version."""
    envelope = stocking_pb.StockLevelEvent(**event)
    metadata = envelope.metadata
    metadata.event_id, metadata.aggregate_id, metadata.correlation_id = str(uuid.uuid4()), sku_, sku_
    metadata.producer, metadata.aggregate_version = "stocking", version
    metadata.occurred_at.GetCurrentTime()
    await asyncio.to_thread(platform.produce_envelope, LEVELS, envelope)


async def test_stock_levels_set_the_in_stock_flag(platform: Platform, catalog: CatalogServiceStub) -> None:
    seller_id = await onboarded_seller(platform, catalog)
    product = await new_product(catalog, seller_id, (await category(catalog, f"Stocked {uuid.uuid4().hex[:6]}"))
                                .category_id)
    assert not product.in_stock

    async def in_stock(product_id: str, wanted: bool) -> bool:
        found = (await catalog.GetProduct(pb.GetProductRequest(product_id=product_id))).product
        return found.in_stock == wanted

    await publish_level(platform, product.sku, 1, back_in_stock=stocking_pb.BackInStock(sku=product.sku))
    await eventually(lambda: in_stock(product.product_id, True))
    await publish_level(platform, product.sku, 2, low_stock_detected=stocking_pb.LowStockDetected(sku=product.sku))
    await publish_level(platform, product.sku, 4, out_of_stock=stocking_pb.OutOfStock(sku=product.sku))
    await eventually(lambda: in_stock(product.product_id, False))
    listed = await catalog.ListProducts(pb.ListProductsRequest(seller_id=seller_id, in_stock_only=True))
    assert not listed.products

    # A SKU's flag arrives before its product: the product starts with it.
    early = sku()
    await publish_level(platform, early, 7, back_in_stock=stocking_pb.BackInStock(sku=early))
    later = await new_product(catalog, seller_id, publish=False, sku=early)
    await eventually(lambda: in_stock(later.product_id, True))
    assert (await catalog.GetProduct(pb.GetProductRequest(product_id=later.product_id))).product.version == 1

    # A late event (version 3 after 4) changes nothing: a SKU's events are ordered by the level's version.
    await publish_level(platform, product.sku, 3, back_in_stock=stocking_pb.BackInStock(sku=product.sku))
    await asyncio.sleep(2)
    assert await in_stock(product.product_id, False)


async def test_seller_suspension_archives_and_hides_products(platform: Platform, catalog: CatalogServiceStub) -> None:
    seller_id = await onboarded_seller(platform, catalog)
    shelf = await category(catalog, f"Suspended {uuid.uuid4().hex[:6]}")
    on_sale = await new_product(catalog, seller_id, shelf.category_id)
    draft = await new_product(catalog, seller_id, shelf.category_id, publish=False)
    await platform.publish(SELLERS, seller_id, seller_suspended=admin_pb.SellerSuspended(
        seller=seller_message(seller_id, 2, suspended=True), reason="unpaid fees", suspended_by="admin-1"))

    async def archived(product_id: str) -> bool:
        found = (await catalog.GetProduct(pb.GetProductRequest(product_id=product_id))).product
        return found.status == ARCHIVED

    await eventually(lambda: archived(on_sale.product_id))
    assert await archived(draft.product_id)
    [event] = await platform.events(PRODUCTS, where=of("product_archived", on_sale.product_id))
    assert event.product_archived.reason == "seller suspended: unpaid fees"
    assert not await platform.events(PRODUCTS, at_least=0, within=0, where=of("product_archived", draft.product_id))
    assert not (await catalog.ListProducts(pb.ListProductsRequest(category_id=shelf.category_id))).products

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await new_product(catalog, seller_id, publish=False)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "suspended" in (refused.value.details() or "")

    # A stale onboarding event (version 1) does not reinstate the seller; an update to version 3 does.
    await platform.publish(SELLERS, seller_id, seller_updated=admin_pb.SellerUpdated(
        seller=seller_message(seller_id, 1), changed_fields=["status"]))
    await platform.publish(SELLERS, seller_id, seller_updated=admin_pb.SellerUpdated(
        seller=seller_message(seller_id, 3), changed_fields=["status"]))

    async def reinstated() -> bool:
        try:
            await new_product(catalog, seller_id, shelf.category_id)
        except grpc.aio.AioRpcError:
            return False
        return True

    await eventually(reinstated)


# --- bad input ------------------------------------------------------------------------------------

INVALID, NOT_FOUND, FAILED, EXISTS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                                      grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS)
UNSPECIFIED: Any = 0  # enum numbers as a client may send them
UNKNOWN_9: Any = 9


async def test_bad_input_over_every_rpc(schema_registry_url: str) -> None:
    async with in_process("cataloging", schema_registry_url) as (service, channel):
        await refuses_bad_input(service, CatalogServiceStub(channel))


async def refuses_bad_input(platform: Service, catalog: CatalogServiceStub) -> None:
    seller_id = await onboarded_seller(platform, catalog)
    suspended_id = f"seller-{uuid.uuid4().hex[:8]}"
    await platform.publish(SELLERS, suspended_id, seller_suspended=admin_pb.SellerSuspended(
        seller=seller_message(suspended_id, 1, suspended=True)))
    root = await category(catalog, f"Bad {uuid.uuid4().hex[:6]}")
    child = await category(catalog, "Child", root.category_id)
    await category(catalog, "Sibling", root.category_id)
    taken = await new_product(catalog, seller_id, child.category_id)
    draft = await new_product(catalog, seller_id, publish=False, price=0)
    gone = await new_product(catalog, seller_id, child.category_id, publish=False)
    await catalog.ArchiveProduct(pb.ArchiveProductRequest(product_id=gone.product_id))
    page = await catalog.ListProducts(pb.ListProductsRequest(statuses=[DRAFT, PUBLISHED, ARCHIVED],
                                                             page=paging_pb2.PageRequest(page_size=1)))
    other_filters_token = page.page.next_page_token

    async def suspension_known() -> bool:
        try:
            await catalog.CreateProduct(pb.CreateProductRequest(seller_id=suspended_id, sku=sku(), name="x",
                                                                price=eur(1)))
        except grpc.aio.AioRpcError as error:
            return error.code() == FAILED
        return False

    await eventually(suspension_known)

    good: dict[str, Any] = {"seller_id": seller_id, "sku": "GOOD-1", "name": "Good", "price": eur(100)}
    cases: list[tuple[str, Any, grpc.StatusCode, str]] = [
        ("CreateCategory", pb.CreateCategoryRequest(name=" "), INVALID, "category name must not be empty"),
        ("CreateCategory", pb.CreateCategoryRequest(name="x" * 101), INVALID, "at most 100 characters, got 101"),
        ("CreateCategory", pb.CreateCategoryRequest(name="!!!"), INVALID, "at least one letter or digit"),
        ("CreateCategory", pb.CreateCategoryRequest(name="A", parent_id="nope"), NOT_FOUND,
         "parent category 'nope' does not exist"),
        ("CreateCategory", pb.CreateCategoryRequest(name="CHILD!", parent_id=root.category_id), EXISTS,
         "already has the slug 'child'"),
        ("GetCategory", pb.GetCategoryRequest(), INVALID, "category_id must not be empty"),
        ("GetCategory", pb.GetCategoryRequest(category_id="nope"), NOT_FOUND, "category 'nope' does not exist"),
        ("RenameCategory", pb.RenameCategoryRequest(name="X"), INVALID, "category_id must not be empty"),
        ("RenameCategory", pb.RenameCategoryRequest(category_id=child.category_id), INVALID,
         "category name must not be empty"),
        ("RenameCategory", pb.RenameCategoryRequest(category_id="nope", name="X"), NOT_FOUND, "does not exist"),
        ("RenameCategory", pb.RenameCategoryRequest(category_id=child.category_id, name="sibling"), EXISTS,
         "already has the slug 'sibling'"),
        ("MoveCategory", pb.MoveCategoryRequest(), INVALID, "category_id must not be empty"),
        ("MoveCategory", pb.MoveCategoryRequest(category_id="nope"), NOT_FOUND, "category 'nope' does not exist"),
        ("MoveCategory", pb.MoveCategoryRequest(category_id=child.category_id, new_parent_id="nope"), NOT_FOUND,
         "new parent category 'nope' does not exist"),
        ("MoveCategory", pb.MoveCategoryRequest(category_id=root.category_id, new_parent_id=root.category_id),
         FAILED, "cannot be moved under itself"),
        ("MoveCategory", pb.MoveCategoryRequest(category_id=root.category_id, new_parent_id=child.category_id),
         FAILED, "one of its own descendants"),
        ("DeleteCategory", pb.DeleteCategoryRequest(), INVALID, "category_id must not be empty"),
        ("DeleteCategory", pb.DeleteCategoryRequest(category_id="nope"), NOT_FOUND, "does not exist"),
        ("DeleteCategory", pb.DeleteCategoryRequest(category_id=root.category_id), FAILED,
         "still has 2 subcategories"),
        ("DeleteCategory", pb.DeleteCategoryRequest(category_id=child.category_id), FAILED,
         "still holds 1 draft or published products"),
        ("GetCategoryTree", pb.GetCategoryTreeRequest(root_category_id="nope"), NOT_FOUND, "does not exist"),
        ("GetCategoryTree", pb.GetCategoryTreeRequest(max_depth=-1), INVALID, "max_depth must be 0"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "seller_id": ""}), INVALID,
         "seller_id must not be empty"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "sku": "bad sku"}), INVALID, "SKU must be 1 to 64"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "name": ""}), INVALID, "product name must not be empty"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "price": eur(-1)}), INVALID,
         "price must not be negative"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "price": money_pb2.Money(amount_minor=1,
                                                                                      currency="eur")}),
         INVALID, "three-letter ISO 4217 code"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "tax_class": "luxury"}), INVALID,
         "tax class must be one of"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "weight_grams": -5}), INVALID,
         "weight must not be negative"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "attributes": {"Bad Key": "x"}}), INVALID,
         "lower_snake_case"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "image_url": "ftp://x/y.png"}), INVALID,
         "absolute http(s) URL"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "sku": taken.sku}), EXISTS,
         f"already used by product {taken.product_id!r}"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "category_id": "nope"}), NOT_FOUND,
         "category 'nope' does not exist"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "seller_id": "stranger"}), NOT_FOUND,
         "not known to the catalogue"),
        ("CreateProduct", pb.CreateProductRequest(**{**good, "seller_id": suspended_id}), FAILED, "is suspended"),
        ("UpdateProduct", pb.UpdateProductRequest(name="x"), INVALID, "product_id must not be empty"),
        ("UpdateProduct", pb.UpdateProductRequest(product_id="nope"), NOT_FOUND, "product 'nope' does not exist"),
        ("UpdateProduct", pb.UpdateProductRequest(product_id=draft.product_id, name=""), INVALID,
         "product name must not be empty"),
        ("UpdateProduct", pb.UpdateProductRequest(product_id=draft.product_id, category_id="nope"), NOT_FOUND,
         "category 'nope' does not exist"),
        ("UpdateProduct", pb.UpdateProductRequest(product_id=taken.product_id, category_id=""), INVALID,
         "must stay in a category"),
        ("UpdateProduct", pb.UpdateProductRequest(product_id=draft.product_id, replace_attributes=True,
                                                  remove_attribute_keys=["a"]), INVALID,
         "remove_attribute_keys must be empty"),
        ("UpdateProduct", pb.UpdateProductRequest(product_id=gone.product_id, name="x"), FAILED, "is archived"),
        ("SetProductPrice", pb.SetProductPriceRequest(product_id=draft.product_id), INVALID, "price must be set"),
        ("SetProductPrice", pb.SetProductPriceRequest(product_id=draft.product_id, price=eur(-3)), INVALID,
         "must not be negative"),
        ("SetProductPrice", pb.SetProductPriceRequest(product_id="nope", price=eur(3)), NOT_FOUND, "does not exist"),
        ("SetProductPrice", pb.SetProductPriceRequest(product_id=taken.product_id, price=eur(0)), INVALID,
         "price must be above zero"),
        ("SetProductPrice", pb.SetProductPriceRequest(product_id=gone.product_id, price=eur(3)), FAILED,
         "is archived"),
        ("PublishProduct", pb.PublishProductRequest(), INVALID, "product_id must not be empty"),
        ("PublishProduct", pb.PublishProductRequest(product_id="nope"), NOT_FOUND, "does not exist"),
        ("PublishProduct", pb.PublishProductRequest(product_id=draft.product_id), FAILED, "needs a category"),
        ("PublishProduct", pb.PublishProductRequest(product_id=gone.product_id), FAILED, "is archived"),
        ("ArchiveProduct", pb.ArchiveProductRequest(), INVALID, "product_id must not be empty"),
        ("ArchiveProduct", pb.ArchiveProductRequest(product_id="nope"), NOT_FOUND, "does not exist"),
        ("ArchiveProduct", pb.ArchiveProductRequest(product_id=draft.product_id, reason="r" * 501), INVALID,
         "at most 500 characters"),
        ("GetProduct", pb.GetProductRequest(), INVALID, "product_id must not be empty"),
        ("GetProduct", pb.GetProductRequest(product_id="nope"), NOT_FOUND, "product 'nope' does not exist"),
        ("BatchGetProducts", pb.BatchGetProductsRequest(product_ids=[str(i) for i in range(101)]), INVALID,
         "at most 100 product ids per call, got 101"),
        ("BatchGetProductsBySku", pb.BatchGetProductsBySkuRequest(skus=[str(i) for i in range(101)]), INVALID,
         "at most 100 SKUs per call"),
        ("ListProducts", pb.ListProductsRequest(min_price=eur(500), max_price=eur(100)), INVALID,
         "must not be above max_price"),
        ("ListProducts", pb.ListProductsRequest(min_price=eur(1), max_price=money_pb2.Money(currency="USD")),
         INVALID, "must share a currency"),
        ("ListProducts", pb.ListProductsRequest(page=paging_pb2.PageRequest(page_token="garbage!")), INVALID,
         "page_token 'garbage!' is not one this list issued for these filters and this order"),
        ("ListProducts", pb.ListProductsRequest(page=paging_pb2.PageRequest(page_token=other_filters_token)),
         INVALID, "is not one this list issued for these filters and this order"),
        ("ListProducts", pb.ListProductsRequest(page=paging_pb2.PageRequest(page_size=-1)), INVALID,
         "page_size must be 0 (the default) or more"),
        ("ListProducts", pb.ListProductsRequest(category_id="nope"), NOT_FOUND, "category 'nope' does not exist"),
        ("ListProducts", pb.ListProductsRequest(statuses=[UNSPECIFIED]), INVALID, "got PRODUCT_STATUS_UNSPECIFIED"),
        ("ListProducts", pb.ListProductsRequest(sort=UNKNOWN_9), INVALID, "sort must be one of"),
    ]
    assert {method for method, *_ in cases} == set(pb.DESCRIPTOR.services_by_name["CatalogService"].methods_by_name)
    for method, request, code, fragment in cases:
        await refused(getattr(catalog, method)(request, timeout=10), code, fragment, by=platform)


# --- the listing index against the domain ---------------------------------------------------------


def test_listing_index_answers_what_the_domain_answers() -> None:
    rng = random.Random(7)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    categories = [domain.Category(category_id=f"c{i}", parent_id="" if i < 3 else f"c{(i - 3) // 3}",
                                  name=f"Category {i}", slug=f"category-{i}", position=0, created_at=now,
                                  updated_at=now) for i in range(15)]
    tree = domain.CategoryTree(categories)
    sellers = [domain.Seller(seller_id=f"s{i}", status=domain.SellerStatus.SUSPENDED if i == 0 else
                             domain.SellerStatus.ACTIVE, suspension_reason="", version=1) for i in range(4)]
    words = ["Kettle", "Café", "tent", "lamp", "blue", "steel"]
    store: Store[domain.Product] = Store("test", "products", codec=None)  # type: ignore[arg-type]
    for i in range(400):
        created = now - timedelta(minutes=rng.randrange(10_000))
        status = rng.choice(list(domain.ProductStatus))
        store.apply(f"p{i}", domain.Product(
            product_id=f"p{i}", seller_id=rng.choice(sellers).seller_id, sku=f"SKU-{i}",
            name=" ".join(rng.sample(words, 2)), description=rng.choice(words), category_id=rng.choice(categories)
            .category_id, price=domain.Money(rng.randrange(100, 5000), rng.choice(["EUR", "EUR", "USD"])),
            tax_class="standard", weight_grams=10, attributes={"colour": rng.choice(words)}, image_url="",
            status=status, in_stock=rng.random() < 0.5, created_at=created, updated_at=created,
            published_at=None if status is domain.ProductStatus.DRAFT else created + timedelta(minutes=1),
            version=1))
    listing = ProductListing(store)
    searches = [domain.ProductSearch(sort=sort) for sort in domain.ProductSort] + [
        domain.ProductSearch(query="cafe KETTLE"),
        domain.ProductSearch(category_id="c1", sort=domain.ProductSort.NAME_ASC),
        domain.ProductSearch(category_id="c1", direct_category_only=True), domain.ProductSearch(seller_id="s2"),
        domain.ProductSearch(min_price=domain.Money(1000, "EUR"), max_price=domain.Money(3000, "EUR"),
                             sort=domain.ProductSort.PRICE_DESC),
        domain.ProductSearch(in_stock_only=True,
                             statuses=(domain.ProductStatus.DRAFT, domain.ProductStatus.ARCHIVED)),
    ]
    for search in searches:
        token = ""
        while True:
            expected = domain.list_products(store.values(), search, tree=tree, sellers=sellers, page_size=7,
                                            page_token=token)
            assert listing.page(search, tree=tree, sellers=sellers, page_size=7, page_token=token) == expected
            if not (token := expected.next_page_token):
                break
    # A changed product is seen at the next listing.
    store.apply("p1", replace(store.get("p1"), name="Zzz unique", version=2))  # type: ignore[type-var]
    assert [p.product_id for p in listing.page(domain.ProductSearch(query="zzz unique",
                                                                    statuses=tuple(domain.ProductStatus)),
                                               tree=tree, sellers=sellers).items] == ["p1"]
