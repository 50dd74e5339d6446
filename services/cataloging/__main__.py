"""Cataloging's entry point: `python -m services.cataloging` (port CATALOGING_PORT, default 9002)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cataloging.v1.catalog_service_pb2_grpc import add_CatalogServiceServicer_to_server

from services.cataloging.handlers import Handlers
from services.cataloging.servicer import Catalog, CatalogServicer
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.server import AddServicer, run_service


@dataclass
class Wired:
    """Cataloging wired to its bus: what main() serves, and the parts a test drives and looks into."""

    servicer: CatalogServicer
    catalog: Catalog

    @property
    def servicers(self) -> list[tuple[AddServicer, object]]:
        return [(add_CatalogServiceServicer_to_server, self.servicer)]


def wire(bus: EventBus, callees: Mapping[str, Any], settings: ServiceSettings) -> Wired:
    """Cataloging's catalog, handlers and servicer on `bus` (cataloging calls no other service: `callees` is empty)."""
    catalog = Catalog(bus)
    Handlers(catalog)
    return Wired(servicer=CatalogServicer(catalog), catalog=catalog)


async def main() -> None:
    settings = ServiceSettings.load("cataloging")
    bus = EventBus("cataloging", settings.kafka_bootstrap, settings.schema_registry_url,
                   namespace=settings.namespace)
    await run_service(settings, servicers=wire(bus, {}, settings).servicers, bus=bus)


if __name__ == "__main__":
    asyncio.run(main())
