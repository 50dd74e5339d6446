"""paying: `python -m services.paying`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paying.v1.payment_service_pb2_grpc import add_PaymentServiceServicer_to_server

from services.paying.handlers import PaymentHandlers
from services.paying.servicer import Payments, PaymentServicer
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.server import AddServicer, run_service


@dataclass
class Wired:
    """Paying wired to its bus: what main() serves, and the parts a test drives and looks into."""

    servicer: PaymentServicer
    payments: Payments

    @property
    def servicers(self) -> list[tuple[AddServicer, object]]:
        return [(add_PaymentServiceServicer_to_server, self.servicer)]


def wire(bus: EventBus, callees: Mapping[str, Any], settings: ServiceSettings) -> Wired:
    """Paying's payments, handlers and servicer on `bus` (paying calls no other service: `callees` is empty)."""
    payments = Payments(bus)
    PaymentHandlers(bus, payments)
    return Wired(servicer=PaymentServicer(bus, payments), payments=payments)


async def main() -> None:
    settings = ServiceSettings.load("paying")
    bus = EventBus("paying", settings.kafka_bootstrap, settings.schema_registry_url, namespace=settings.namespace)
    await run_service(settings, servicers=wire(bus, {}, settings).servicers, bus=bus)


if __name__ == "__main__":
    asyncio.run(main())
