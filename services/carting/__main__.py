"""Carting's entry point: `python -m services.carting`."""

from __future__ import annotations

import asyncio
import functools

from carting.v1.cart_service_pb2_grpc import add_CartServiceServicer_to_server
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from pydantic import Field
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.carting import domain
from services.carting.handlers import CustomerStatusView, Handlers, expire_abandoned_carts
from services.carting.servicer import SETTING_DEFAULTS, CartServicer
from services.runtime.bus import EventBus
from services.runtime.clients import channel_to
from services.runtime.config import ServiceSettings
from services.runtime.server import run_service
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import JsonCodec


class CartingSettings(ServiceSettings):
    expiry_sweep_seconds: float = Field(60.0, gt=0, validation_alias="CARTING_EXPIRY_SWEEP_SECONDS",
                                        description="a number of seconds > 0")


async def main() -> None:
    settings = CartingSettings.load("carting", calls=["cataloging", "stocking", "shipping"])
    bus = EventBus("carting", settings.kafka_bootstrap, settings.schema_registry_url, namespace=settings.namespace)
    carts = bus.store("carts", JsonCodec(domain.Cart))
    customer_carts = bus.store("customer-carts", JsonCodec(str))
    statuses = bus.store("customer-statuses", JsonCodec(CustomerStatusView))
    Handlers(bus, carts, statuses)
    servicer = CartServicer(
        bus, ShopSettings(bus, defaults=SETTING_DEFAULTS), carts, customer_carts, statuses,
        catalog=CatalogServiceStub(channel_to("cataloging", settings.address("cataloging"))),
        stock=StockServiceStub(channel_to("stocking", settings.address("stocking"))),
        shipping=ShippingServiceStub(channel_to("shipping", settings.address("shipping"))),
    )
    bus.every(settings.expiry_sweep_seconds, functools.partial(expire_abandoned_carts, bus, carts))
    await run_service(settings, servicers=[(add_CartServiceServicer_to_server, servicer)], bus=bus)


if __name__ == "__main__":
    asyncio.run(main())
