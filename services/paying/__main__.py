"""paying: `python -m services.paying`."""

from __future__ import annotations

import asyncio

from paying.v1.payment_service_pb2_grpc import add_PaymentServiceServicer_to_server

from services.paying.handlers import PaymentHandlers
from services.paying.servicer import Payments, PaymentServicer
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.server import run_service


async def main() -> None:
    settings = ServiceSettings.load("paying")
    bus = EventBus("paying", settings.kafka_bootstrap, settings.schema_registry_url, namespace=settings.namespace)
    payments = Payments(bus)
    PaymentHandlers(bus, payments)
    await run_service(settings, servicers=[(add_PaymentServiceServicer_to_server, PaymentServicer(bus, payments))],
                      bus=bus)


if __name__ == "__main__":
    asyncio.run(main())
