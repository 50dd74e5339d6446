"""Administering's state: its stores, the view it keeps of stocking's alerts, and the topics it names.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.administering import domain
from services.runtime.bus import EventBus
from services.runtime.store import JsonCodec, Store

SELLERS_TOPIC = "administering.sellers.v1"
SETTINGS_TOPIC = "administering.settings.v1"
LEVELS_TOPIC = "stocking.levels.v1"


@dataclass(frozen=True)
class StockAlertView:
    """The latest stock-level condition stocking reported for a SKU, for the back-office."""

    sku: str
    condition: str  # LOW_STOCK, OUT_OF_STOCK or BACK_IN_STOCK (the event that set it)
    alert_id: str  # stocking's alert (empty for BACK_IN_STOCK)
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int
    as_of: datetime  # the level's time: an older event never overwrites a newer one
    received_at: datetime


@dataclass
class Stores:
    sellers: Store[domain.Seller]
    seller_emails: Store[str]  # normalised email -> seller id
    seller_vat_numbers: Store[str]  # normalised VAT number -> seller id
    onboardings: Store[domain.ProductOnboarding]  # by SKU
    settings: Store[domain.Setting]  # by name
    stock_alerts: Store[StockAlertView]  # by SKU

    @classmethod
    def on(cls, bus: EventBus) -> Stores:
        return cls(
            sellers=bus.store("sellers", JsonCodec(domain.Seller)),
            seller_emails=bus.store("seller-emails", JsonCodec(str)),
            seller_vat_numbers=bus.store("seller-vat-numbers", JsonCodec(str)),
            onboardings=bus.store("onboardings", JsonCodec(domain.ProductOnboarding)),
            settings=bus.store("settings", JsonCodec(domain.Setting)),
            stock_alerts=bus.store("stock-alerts", JsonCodec(StockAlertView)),
        )


