"""Administering's entry point (`python -m services.administering`): sellers, product onboarding, settings."""

from __future__ import annotations

import asyncio

from administering.v1.admin_service_pb2_grpc import add_AdminServiceServicer_to_server
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.administering.handlers import StockLevelHandlers
from services.administering.servicer import AdminServicer, Stores
from services.runtime.bus import EventBus
from services.runtime.clients import channel_to
from services.runtime.config import ServiceSettings
from services.runtime.server import run_service

SEED_RETRY_SECONDS = 5.0  # the defaults are published once the bus has started; again if Kafka refused
SWEEP_SECONDS = 10.0  # how often left-behind product onboardings are looked for


async def main() -> None:
    settings = ServiceSettings.load("administering", calls=["profiling", "cataloging", "stocking"])
    bus = EventBus("administering", settings.kafka_bootstrap, settings.schema_registry_url,
                   namespace=settings.namespace)
    stores = Stores.on(bus)
    servicer = AdminServicer(
        bus, stores,
        profiles=ProfileServiceStub(channel_to("profiling", settings.address("profiling"))),
        catalog=CatalogServiceStub(channel_to("cataloging", settings.address("cataloging"))),
        stock=StockServiceStub(channel_to("stocking", settings.address("stocking"))),
    )
    StockLevelHandlers(stores).register(bus)
    bus.every(SEED_RETRY_SECONDS, servicer.seed_settings)
    bus.every(SWEEP_SECONDS, servicer.finish_left_behind_onboardings)

    async def settings_seeded() -> bool:
        return servicer.settings_seeded()

    await run_service(settings, servicers=[(add_AdminServiceServicer_to_server, servicer)], bus=bus,
                      readiness=[settings_seeded])


if __name__ == "__main__":
    asyncio.run(main())
