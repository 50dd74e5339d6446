"""Paying put together: its settings, the services it calls, `wire()`, and its declaration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paying.v1.payment_service_pb2_grpc import add_PaymentServiceServicer_to_server

from services.paying.handlers import PayingHandlers
from services.paying.servicer import PaymentServicer
from services.paying.stores import Payments
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.process import ServiceProcess, Wired


def wire(bus: EventBus, callees: Mapping[str, Any], settings: ServiceSettings) -> Wired:
    """Paying's payments, handlers and servicer on `bus` (paying calls no other service: `callees` is empty)."""
    payments = Payments(bus)
    PayingHandlers(payments).register(bus)
    return Wired(PaymentServicer(bus, payments), add_PaymentServiceServicer_to_server, parts={"payments": payments})


PROCESS = ServiceProcess("paying", port=9006, wire=wire)
