"""Stocking's event handlers: what stocking does on ordering's, cataloging's and administering's events.

- ordering.orders.v1: OrderCreated reserves the order's lines (StockReserved, or
  StockReservationFailed naming the short lines); OrderConfirmed commits the reservation;
  OrderCancelled releases it (a committed one too: ordering cancels only before the carrier picked
  the parcel up, so its goods go back on hand). The domain is idempotent per order id, so a replayed or repeated
  event changes nothing and publishes nothing.
- cataloging.products.v1: a published product's SKU is tracked (at zero); an archived one is
  closed to new reservations.
- administering.settings.v1 (read by ShopSettings): a new default low-stock threshold re-evaluates
  every level, announcing the crossings it makes; a new reservation time-to-live applies to the
  reservations made from then on.

Each handler works in the event's unit of work: its changes, its events and the consumed offset
commit together.
"""

from __future__ import annotations

from typing import Any

from services.runtime.bus import EventBus, EventContext
from services.stocking import domain, messages
from services.stocking.stores import ORDERS_TOPIC, PRODUCTS_TOPIC, Stock


class StockingHandlers:
    def __init__(self, stock: Stock) -> None:
        self.stock = stock

    def register(self, bus: EventBus) -> None:
        bus.on(ORDERS_TOPIC, "order_created", self.order_created)
        bus.on(ORDERS_TOPIC, "order_confirmed", self.order_confirmed)
        bus.on(ORDERS_TOPIC, "order_cancelled", self.order_cancelled)
        bus.on(PRODUCTS_TOPIC, "product_published", self.product_published)
        bus.on(PRODUCTS_TOPIC, "product_archived", self.product_archived)
        self.stock.shop_settings.on_change(domain.LOW_STOCK_THRESHOLD_SETTING, self.threshold_changed)

    def _order_id(self, event: EventContext) -> str:
        return str(event.event.order_id or event.metadata.aggregate_id)

    async def order_created(self, event: EventContext) -> None:
        await self.stock.reserve(event.work, event.publish, self._order_id(event),
                                 messages.lines_record(event.event.lines), ttl=None)

    async def order_confirmed(self, event: EventContext) -> None:
        await self.stock.commit(event.work, event.publish, self._order_id(event))

    async def order_cancelled(self, event: EventContext) -> None:
        await self.stock.release_cancelled_order(event.work, event.publish, self._order_id(event))

    async def product_published(self, event: EventContext) -> None:
        await self._change_level(event, event.event.product.sku, domain.track_sku)

    async def product_archived(self, event: EventContext) -> None:
        await self._change_level(event, event.event.sku, domain.discontinue_sku)

    async def _change_level(self, event: EventContext, sku: str, change: Any) -> None:
        levels = self.stock.levels
        await event.work.lock((levels, sku))
        changed = change(event.work.get(levels, sku), sku=sku, now=self.stock.clock())
        if changed is not None:
            event.work.put(levels, sku, changed)

    async def threshold_changed(self, event: EventContext, value: Any) -> None:
        stock = self.stock
        settings, now = stock.settings(), stock.clock()
        # Only the levels whose condition the new threshold changes are locked and changed; one
        # changed meanwhile by a stock movement was evaluated with the new threshold already.
        crossing = sorted(level.sku for level in stock.levels.values()
                          if domain.reevaluate_level(level, settings=settings, now=now) is not None)
        if not crossing:
            return
        await event.work.lock(*((stock.levels, sku) for sku in crossing))
        for sku in crossing:
            change = domain.reevaluate_level(event.work.get(stock.levels, sku), settings=settings, now=now)
            if change is not None:
                stock.record_level(event.work, event.publish, change)
