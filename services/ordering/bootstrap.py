"""Ordering put together: its settings, the services it calls, `wire()`, and its declaration."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from carting.v1.cart_service_pb2_grpc import CartServiceStub
from ordering.v1.order_service_pb2_grpc import add_OrderServiceServicer_to_server
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub

from services.ordering import domain
from services.ordering.handlers import SETTING_DEFAULTS, OrderingHandlers, time_out_stalled_orders
from services.ordering.servicer import OrderServicer
from services.ordering.stores import CartClaim
from services.ordering.usecases import Checkout
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.process import ServiceProcess, Wired
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import JsonCodec

TIMEOUT_SWEEP_SECONDS = 1.0
CART_CLOSE_RETRY_SECONDS = 5.0

# The services ordering calls, and the stub each is called through (wire() gets one of each in `callees`).
CALLS: dict[str, Callable[[grpc.aio.Channel], Any]] = {"carting": CartServiceStub, "shipping": ShippingServiceStub}


def wire(bus: EventBus, callees: Mapping[str, Any], settings: ServiceSettings) -> Wired:
    """Ordering's stores, saga handlers, servicer and sweeps on `bus`; `callees` holds a stub for each of CALLS."""
    orders = bus.store("orders", JsonCodec(domain.Order), pipelined=True)  # every writer reads it through work.get
    keys = bus.store("idempotency-keys", JsonCodec(str))
    claims = bus.store("cart-claims", JsonCodec(CartClaim))
    shop_settings = ShopSettings(bus, defaults=SETTING_DEFAULTS)
    OrderingHandlers(orders).register(bus)
    checkout = Checkout(bus, orders, keys, claims, carting=callees["carting"], shipping=callees["shipping"])
    servicer = OrderServicer(bus, orders, checkout)
    # Only once caught up: after a restart, answers already on the topics must be read before any
    # order is declared unanswered (issue 19: a restart cancelled paid orders).
    bus.every(TIMEOUT_SWEEP_SECONDS, functools.partial(time_out_stalled_orders, bus, orders, shop_settings),
              when_caught_up=True)
    bus.every(CART_CLOSE_RETRY_SECONDS, checkout.retry_cart_closes)
    return Wired(servicer, add_OrderServiceServicer_to_server,
                 parts={"orders": orders, "keys": keys, "claims": claims, "settings": shop_settings})


PROCESS = ServiceProcess("ordering", port=9005, wire=wire, calls=CALLS)
