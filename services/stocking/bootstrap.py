"""Stocking put together: its settings, the services it calls, `wire()`, and its declaration."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from stocking.v1.stock_service_pb2_grpc import add_StockServiceServicer_to_server

from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.process import ServiceProcess, Wired
from services.runtime.shop_settings import ShopSettings
from services.stocking.handlers import StockingHandlers
from services.stocking.servicer import StockServicer
from services.stocking.stores import SETTING_DEFAULTS, Stock


class StockingSettings(ServiceSettings):
    # Shifts the service's clock: lets a test or a drill see reservations expire without waiting
    # out the shortest time-to-live (1 minute). 0 in a real deployment.
    clock_offset_seconds: float = Field(0.0, validation_alias="STOCKING_CLOCK_OFFSET_SECONDS",
                                        description="a number of seconds")
    expiry_sweep_seconds: float = Field(1.0, gt=0, validation_alias="STOCKING_EXPIRY_SWEEP_SECONDS",
                                        description="a number of seconds > 0")


def wire(bus: EventBus, callees: Mapping[str, Any], settings: StockingSettings) -> Wired:
    """Stocking's stock, handlers, servicer and sweep on `bus` (stocking calls no other service: `callees` is empty)."""
    offset = timedelta(seconds=settings.clock_offset_seconds)
    stock = Stock(bus, ShopSettings(bus, defaults=SETTING_DEFAULTS), clock=lambda: datetime.now(UTC) + offset)
    StockingHandlers(stock).register(bus)
    bus.every(settings.expiry_sweep_seconds, stock.expire_due_reservations)
    return Wired(StockServicer(stock), add_StockServiceServicer_to_server, parts={"stock": stock})


PROCESS = ServiceProcess("stocking", port=9003, wire=wire, settings=StockingSettings)
