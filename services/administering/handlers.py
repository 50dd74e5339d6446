"""Administering's event handlers: stocking's stock-level events kept as an alerts view for the back-office.

One record per SKU holds the latest condition stocking reported. Events of one SKU share a partition,
so they normally arrive in order; the level's time still decides, so a stale event changes nothing.
"""

from __future__ import annotations

from services.administering.stores import LEVELS_TOPIC, StockAlertView, Stores
from services.runtime.bus import EventBus, EventContext
from services.runtime.clock import now
from services.runtime.errors import InvalidArgument
from services.runtime.proto import to_datetime

CONDITIONS = {"low_stock_detected": "LOW_STOCK", "out_of_stock": "OUT_OF_STOCK", "back_in_stock": "BACK_IN_STOCK"}


class AdministeringHandlers:
    def __init__(self, stores: Stores) -> None:
        self.alerts = stores.stock_alerts

    def register(self, bus: EventBus) -> None:
        for event_name in CONDITIONS:
            bus.on(LEVELS_TOPIC, event_name, self.level_crossed)

    async def level_crossed(self, event: EventContext) -> None:
        crossed, level = event.event, event.event.level
        if not crossed.sku:
            raise InvalidArgument(f"{event.name} without a SKU")
        stamp = level.updated_at if level.HasField("updated_at") else event.metadata.occurred_at
        view = StockAlertView(
            sku=crossed.sku, condition=CONDITIONS[event.name], alert_id=getattr(crossed, "alert_id", ""),
            on_hand=level.on_hand, reserved=level.reserved, available=level.available,
            low_stock_threshold=level.low_stock_threshold, as_of=to_datetime(stamp),
            received_at=now())
        await event.work.lock((self.alerts, crossed.sku))
        current = event.work.get(self.alerts, crossed.sku)
        # Equal times keep the later event: BackInStock and the LowStockDetected that follows it
        # describe the same level, in that order.
        if current is not None and view.as_of < current.as_of:
            return
        event.work.put(self.alerts, crossed.sku, view)
