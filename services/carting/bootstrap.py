"""Carting put together: its settings, the services it calls, `wire()`, and its declaration."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from carting.v1.cart_service_pb2_grpc import add_CartServiceServicer_to_server
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from pydantic import Field
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.carting import domain
from services.carting.handlers import CartingHandlers, expire_abandoned_carts
from services.carting.servicer import SETTING_DEFAULTS, CartServicer
from services.carting.stores import CustomerStatusView
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.process import ServiceProcess, Wired
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import JsonCodec

# The services carting calls, and the stub each is called through (wire() gets one of each in `callees`).
CALLS: dict[str, Callable[[grpc.aio.Channel], Any]] = {
    "cataloging": CatalogServiceStub, "stocking": StockServiceStub, "shipping": ShippingServiceStub}


class CartingSettings(ServiceSettings):
    expiry_sweep_seconds: float = Field(60.0, gt=0, validation_alias="CARTING_EXPIRY_SWEEP_SECONDS",
                                        description="a number of seconds > 0")


def wire(bus: EventBus, callees: Mapping[str, Any], settings: CartingSettings) -> Wired:
    """Carting's stores, handlers, servicer and sweeps on `bus`; `callees` holds a stub for each of CALLS."""
    carts = bus.store("carts", JsonCodec(domain.Cart))
    customer_carts = bus.store("customer-carts", JsonCodec(str))
    statuses = bus.store("customer-statuses", JsonCodec(CustomerStatusView))
    CartingHandlers(bus, carts, statuses).register(bus)
    shop_settings = ShopSettings(bus, defaults=SETTING_DEFAULTS)
    servicer = CartServicer(bus, shop_settings, carts, customer_carts, statuses, catalog=callees["cataloging"],
                            stock=callees["stocking"], shipping=callees["shipping"])
    bus.every(settings.expiry_sweep_seconds, functools.partial(expire_abandoned_carts, bus, carts))
    return Wired(servicer, add_CartServiceServicer_to_server,
                 parts={"carts": carts, "customer_carts": customer_carts, "statuses": statuses,
                        "settings": shop_settings})


PROCESS = ServiceProcess("carting", port=9004, wire=wire, settings=CartingSettings, calls=CALLS)
