"""Cataloging's event handlers: what the catalogue learns from stocking and administering.

- stocking.levels.v1: a SKU's in-stock flag (kept per SKU, whether or not a product holds it yet,
  and copied onto the product holding it). The level's version orders the events, so replays and
  late arrivals change nothing.
- administering.sellers.v1: the sellers the catalogue knows; a suspension archives the seller's
  draft and published products (ProductArchived for the published ones). The seller's version
  orders the events.

Each handler works in the event's unit of work, so its changes, the events it publishes and the
consumed offset commit together.
"""

from __future__ import annotations

from services.cataloging import domain, messages
from services.cataloging.stores import LEVELS_TOPIC, SELLERS_TOPIC, Catalog, publish_product_events
from services.runtime.bus import EventBus, EventContext
from services.runtime.clock import now


class Raced(Exception):
    """What a handler read before taking its locks changed meanwhile (a product was created for the
    SKU or the seller in between): the bus runs the handler again, in a fresh unit of work."""


class CatalogingHandlers:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def register(self, bus: EventBus) -> None:
        for signal in domain.StockSignal:
            bus.on(LEVELS_TOPIC, signal.value, self.stock_signal)
        for event in ("seller_onboarded", "seller_updated", "seller_suspended"):
            bus.on(SELLERS_TOPIC, event, self.seller_changed)

    async def stock_signal(self, event: EventContext) -> None:
        catalog, work = self.catalog, event.work
        sku = event.event.sku or event.metadata.aggregate_id
        product_id = catalog.skus.get(sku)  # a SKU's product never changes once it has one
        product_lock = [(catalog.products, product_id)] if product_id else []
        await work.lock((catalog.stock_flags, sku), (catalog.skus, sku), *product_lock)
        if work.get(catalog.skus, sku) != product_id:
            raise Raced(f"product created for SKU {sku!r} while its stock event was handled")
        flag = domain.record_stock_signal(work.get(catalog.stock_flags, sku), sku=sku,
                                          signal=domain.StockSignal(event.name),
                                          level_version=event.metadata.aggregate_version)
        if flag is None:
            return  # not newer than what the catalogue has
        work.put(catalog.stock_flags, sku, flag)
        if product_id and (flagged := domain.apply_stock_flag(work.get(catalog.products, product_id), flag)):
            work.put(catalog.products, product_id, flagged)

    async def seller_changed(self, event: EventContext) -> None:
        catalog, work = self.catalog, event.work
        seller = event.event.seller
        seller_id = seller.seller_id or event.metadata.aggregate_id
        status = messages.seller_status_record(seller)
        live = self._live_products_of(seller_id) if status is domain.SellerStatus.SUSPENDED else set()
        await work.lock((catalog.sellers, seller_id), *((catalog.products, product_id) for product_id in live))
        recorded = domain.record_seller(work.get(catalog.sellers, seller_id), seller_id=seller_id, status=status,
                                        suspension_reason=seller.suspension_reason,
                                        version=seller.version or event.metadata.aggregate_version)
        if recorded is None:
            return  # a replay, or overtaken by a newer change of the seller
        if status is domain.SellerStatus.SUSPENDED and not self._live_products_of(seller_id) <= live:
            raise Raced(f"product created for seller {seller_id!r} while its suspension was handled")
        work.put(catalog.sellers, seller_id, recorded)
        archived, events = domain.archive_products_of_suspended_seller(
            recorded, [work.get(catalog.products, product_id) for product_id in sorted(live)], now=now())
        for product in archived:
            work.put(catalog.products, product.product_id, product)
        publish_product_events(event.publish, archived, events)

    def _live_products_of(self, seller_id: str) -> set[str]:
        return {product.product_id for product in self.catalog.products.values()
                if product.seller_id == seller_id and product.status is not domain.ProductStatus.ARCHIVED}
