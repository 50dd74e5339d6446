"""Ordering's entry point: `python -m services.ordering`."""

from __future__ import annotations

import asyncio
import functools

from carting.v1.cart_service_pb2_grpc import CartServiceStub
from ordering.v1.order_service_pb2_grpc import add_OrderServiceServicer_to_server
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub

from services.ordering import domain
from services.ordering.handlers import SETTING_DEFAULTS, SagaHandlers, time_out_stalled_orders
from services.ordering.servicer import CartClaim, OrderServicer
from services.runtime.bus import EventBus
from services.runtime.clients import channel_to
from services.runtime.config import ServiceSettings
from services.runtime.server import run_service
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import JsonCodec

TIMEOUT_SWEEP_SECONDS = 1.0
CART_CLOSE_RETRY_SECONDS = 5.0


async def main() -> None:
    settings = ServiceSettings.load("ordering", calls=["carting", "shipping"])
    bus = EventBus("ordering", settings.kafka_bootstrap, settings.schema_registry_url, namespace=settings.namespace)
    orders = bus.store("orders", JsonCodec(domain.Order))
    keys = bus.store("idempotency-keys", JsonCodec(str))
    claims = bus.store("cart-claims", JsonCodec(CartClaim))
    shop_settings = ShopSettings(bus, defaults=SETTING_DEFAULTS)
    SagaHandlers(bus, orders)
    servicer = OrderServicer(bus, orders, keys, claims,
                             carting=CartServiceStub(channel_to("carting", settings.address("carting"))),
                             shipping=ShippingServiceStub(channel_to("shipping", settings.address("shipping"))))
    bus.every(TIMEOUT_SWEEP_SECONDS, functools.partial(time_out_stalled_orders, bus, orders, shop_settings))
    bus.every(CART_CLOSE_RETRY_SECONDS, servicer.retry_cart_closes)
    await run_service(settings, servicers=[(add_OrderServiceServicer_to_server, servicer)], bus=bus)


if __name__ == "__main__":
    asyncio.run(main())
