"""Cataloging's entry point: `python -m services.cataloging` (port CATALOGING_PORT, default 9002)."""

from __future__ import annotations

import asyncio

from cataloging.v1.catalog_service_pb2_grpc import add_CatalogServiceServicer_to_server

from services.cataloging.handlers import Handlers
from services.cataloging.servicer import Catalog, CatalogServicer
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.server import run_service


async def main() -> None:
    settings = ServiceSettings.load("cataloging")
    bus = EventBus("cataloging", settings.kafka_bootstrap, settings.schema_registry_url,
                   namespace=settings.namespace)
    catalog = Catalog(bus)
    Handlers(catalog)
    await run_service(settings, servicers=[(add_CatalogServiceServicer_to_server, CatalogServicer(catalog))],
                      bus=bus)


if __name__ == "__main__":
    asyncio.run(main())
