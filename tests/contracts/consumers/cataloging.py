"""Cataloging keeps a SKU's in-stock flag from stocking's level events and the sellers it may list
from administering's seller events (a suspension archives the seller's products)."""

from __future__ import annotations

from typing import Any

from administering.v1 import events_pb2 as admin_events
from cataloging.v1 import catalog_service_pb2 as catalog_api
from stocking.v1 import events_pb2 as stock_events

from services.cataloging import domain
from tests.contracts.values import eur
from tools.contracts import Consumer, Service, metadata

CONSUMER = Consumer("cataloging")
LEVELS, SELLERS = "stocking.levels.v1", "administering.sellers.v1"
SKU, SELLER = "MUG-RED", "seller-1"

SELLER_ONBOARDED = admin_events.SellerEvent(metadata=metadata(), seller_onboarded=admin_events.SellerOnboarded(
    seller=admin_events.Seller(seller_id=SELLER, status=admin_events.SELLER_STATUS_ACTIVE, version=1)))
OUT_OF_STOCK = stock_events.StockLevelEvent(metadata=metadata(aggregate_version=3),
                                            out_of_stock=stock_events.OutOfStock(sku=SKU))


async def product(service: Service, *, publish: bool) -> str:
    """A product of SELLER in a new category, made by the real servicer; its id."""
    await service.deliver(SELLERS, SELLER_ONBOARDED)
    category = await service.call("cataloging.v1.CatalogService/CreateCategory",
                                  catalog_api.CreateCategoryRequest(name="Kitchen"))
    created = await service.call("cataloging.v1.CatalogService/CreateProduct", catalog_api.CreateProductRequest(
        seller_id=SELLER, sku=SKU, name="Red mug", category_id=category.category.category_id, price=eur(1250),
        tax_class="standard", weight_grams=350))
    if publish:
        await service.call("cataloging.v1.CatalogService/PublishProduct",
                           catalog_api.PublishProductRequest(product_id=created.product.product_id))
    return str(created.product.product_id)


def catalog(service: Service) -> Any:
    return service.parts["catalog"]


@CONSUMER.event(LEVELS, stock_events.StockLevelEvent(
    metadata=metadata(aggregate_version=2), low_stock_detected=stock_events.LowStockDetected(sku=SKU)),
    given="a SKU's stock ran low")
async def keeps_a_low_sku_in_stock(service: Service, envelope: Any) -> None:
    await service.deliver(LEVELS, envelope)
    assert catalog(service).stock_flags.get(SKU) == domain.StockFlag(sku=SKU, in_stock=True, level_version=2)


@CONSUMER.event(LEVELS, OUT_OF_STOCK, given="a SKU ran out of stock")
async def takes_the_product_out_of_stock(service: Service, envelope: Any) -> None:
    product_id = await product(service, publish=True)
    await service.deliver(LEVELS, envelope)
    assert not catalog(service).products.get(product_id).in_stock


@CONSUMER.event(LEVELS, stock_events.StockLevelEvent(
    metadata=metadata(aggregate_version=4), back_in_stock=stock_events.BackInStock(sku=SKU)),
    given="a SKU came back in stock")
async def puts_the_product_back_in_stock(service: Service, envelope: Any) -> None:
    product_id = await product(service, publish=True)
    await service.deliver(LEVELS, OUT_OF_STOCK)
    await service.deliver(LEVELS, envelope)
    assert catalog(service).products.get(product_id).in_stock


@CONSUMER.event(SELLERS, SELLER_ONBOARDED, given="a seller was onboarded")
async def lets_the_seller_list_products(service: Service, envelope: Any) -> None:
    await service.deliver(SELLERS, envelope)
    assert catalog(service).sellers.get(SELLER).status is domain.SellerStatus.ACTIVE


@CONSUMER.event(SELLERS, admin_events.SellerEvent(metadata=metadata(), seller_updated=admin_events.SellerUpdated(
    seller=admin_events.Seller(seller_id=SELLER, status=admin_events.SELLER_STATUS_ACTIVE, version=2))),
    given="a seller was updated")
async def follows_the_seller(service: Service, envelope: Any) -> None:
    await service.deliver(SELLERS, SELLER_ONBOARDED)
    await service.deliver(SELLERS, envelope)
    assert catalog(service).sellers.get(SELLER).version == 2


@CONSUMER.event(SELLERS, admin_events.SellerEvent(metadata=metadata(), seller_suspended=admin_events.SellerSuspended(
    seller=admin_events.Seller(seller_id=SELLER, status=admin_events.SELLER_STATUS_SUSPENDED,
                               suspension_reason="unpaid fees", version=2))),
    given="a seller was suspended")
async def archives_the_sellers_products(service: Service, envelope: Any) -> None:
    product_id = await product(service, publish=True)
    await service.deliver(SELLERS, envelope)
    assert catalog(service).sellers.get(SELLER).suspension_reason == "unpaid fees"
    assert catalog(service).products.get(product_id).status is domain.ProductStatus.ARCHIVED
    assert service.event("cataloging.products.v1", "product_archived").sku == SKU
