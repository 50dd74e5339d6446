"""Cataloging put together: its settings, the services it calls, `wire()`, and its declaration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cataloging.v1.catalog_service_pb2_grpc import add_CatalogServiceServicer_to_server

from services.cataloging.handlers import CatalogingHandlers
from services.cataloging.servicer import CatalogServicer
from services.cataloging.stores import Catalog
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.process import ServiceProcess, Wired


def wire(bus: EventBus, callees: Mapping[str, Any], settings: ServiceSettings) -> Wired:
    """Cataloging's catalog, handlers and servicer on `bus` (cataloging calls no other service: `callees` is empty)."""
    catalog = Catalog(bus)
    CatalogingHandlers(catalog).register(bus)
    return Wired(CatalogServicer(catalog), add_CatalogServiceServicer_to_server, parts={"catalog": catalog})


PROCESS = ServiceProcess("cataloging", port=9002, wire=wire)
