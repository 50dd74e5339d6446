"""The services in-process, wired by each service's own `wire()` (services/<name>/__main__.py, which main()
calls too), on a local bus (tools.contracts.local_bus), with a FakeStub for each service it calls."""

from __future__ import annotations

import functools
from types import ModuleType

from services.administering import __main__ as administering
from services.billing import __main__ as billing
from services.carting import __main__ as carting
from services.cataloging import __main__ as cataloging
from services.ordering import __main__ as ordering
from services.paying import __main__ as paying
from services.profiling import __main__ as profiling
from services.runtime.config import ServiceSettings
from services.shipping import __main__ as shipping
from services.stocking import __main__ as stocking
from tools.contracts import FakeStub, Service, local_bus

# Each service's wiring, and the settings it reads from the environment (as its main() does).
WIRINGS: dict[str, tuple[ModuleType, type[ServiceSettings]]] = {
    "administering": (administering, ServiceSettings), "billing": (billing, billing.BillingSettings),
    "carting": (carting, carting.CartingSettings), "cataloging": (cataloging, ServiceSettings),
    "ordering": (ordering, ServiceSettings), "paying": (paying, ServiceSettings),
    "profiling": (profiling, profiling.ProfilingSettings), "shipping": (shipping, shipping.ShippingSettings),
    "stocking": (stocking, stocking.StockingSettings),
}


@functools.cache
def settings(name: str) -> ServiceSettings:
    return WIRINGS[name][1].load(name)


def build(name: str) -> Service:
    """A fresh `name`: its real stores, handlers and servicer; its callees' FakeStubs in `stubs`, keyed by callee;
    the other parts its wire() returns (stores, views, settings ...) in `parts`."""
    module = WIRINGS[name][0]
    bus = local_bus(name)
    stubs = {callee: FakeStub(f"{stub.__module__.rsplit('.', 1)[0]}.{stub.__name__.removesuffix('Stub')}")
             for callee, stub in getattr(module, "CALLS", {}).items()}
    wired = module.wire(bus, stubs, settings(name))
    return Service(name, bus, wired.servicer, stubs, vars(wired))
