"""Administering put together: its settings, the services it calls, `wire()`, and its declaration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import grpc
from administering.v1.admin_service_pb2_grpc import add_AdminServiceServicer_to_server
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.administering.handlers import AdministeringHandlers
from services.administering.servicer import AdminServicer
from services.administering.stores import Stores
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.process import ServiceProcess, Wired

SEED_RETRY_SECONDS = 5.0  # the defaults are published once the bus has started; again if Kafka refused
SWEEP_SECONDS = 10.0  # how often left-behind product onboardings are looked for

# The services administering calls, and the stub each is called through (wire() gets one of each in `callees`).
CALLS: dict[str, Callable[[grpc.aio.Channel], Any]] = {
    "profiling": ProfileServiceStub, "cataloging": CatalogServiceStub, "stocking": StockServiceStub}


def wire(bus: EventBus, callees: Mapping[str, Any], settings: ServiceSettings) -> Wired:
    """Administering's stores, servicer, handlers and sweeps on `bus`; `callees` holds a stub for each of CALLS."""
    stores = Stores.on(bus)
    servicer = AdminServicer(bus, stores, profiles=callees["profiling"], catalog=callees["cataloging"],
                             stock=callees["stocking"])
    AdministeringHandlers(stores).register(bus)
    bus.every(SEED_RETRY_SECONDS, servicer.seed_settings)
    bus.every(SWEEP_SECONDS, servicer.finish_left_behind_onboardings)

    async def settings_seeded() -> bool:
        return servicer.settings_seeded()

    return Wired(servicer, add_AdminServiceServicer_to_server, parts={"stores": stores}, readiness=[settings_seeded])


PROCESS = ServiceProcess("administering", port=9009, wire=wire, calls=CALLS)
