"""A service on the shared runtime *with* the event bus, run as a real process by test_bus.py.

It keeps two changelog-backed stores: `entries` (written by the Write RPC, which also publishes a
LowStockDetected event in the same unit of work) and `seen` (how many times its own handler took
each event's SKU). SKUs starting with "blocked-" are refused by the handler until Unblock is called:
that is how a test parks an event in the DLQ and replays it.

LEDGER_TOPIC names its topic (envelope stocking.v1.StockLevelEvent, produced and consumed by itself),
LEDGER_NAME its consumer group and changelog prefix, so parallel tests never share anything.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
from pydantic import Field
from stocking.v1 import events_pb2

from services.runtime import auth, errors
from services.runtime.bus import EventBus, EventContext
from services.runtime.config import ServiceSettings
from services.runtime.server import run_service
from services.runtime.store import JsonCodec
from services.runtime.topic_map import Topic

SERVICE = "ledger.Ledger"
Json = dict[str, Any]


class LedgerSettings(ServiceSettings):
    topic: str = Field(validation_alias="LEDGER_TOPIC")
    name: str = Field(validation_alias="LEDGER_NAME")


def ledger_topic(name: str, service: str) -> Topic:
    return Topic(name=name, producer=service, envelope="stocking.v1.StockLevelEvent", key="sku", partitions=3,
                 compacted=False, events=("low_stock_detected", "out_of_stock", "back_in_stock"),
                 consumers={service: ("low_stock_detected",)})


class Ledger:
    def __init__(self, bus: EventBus, topic: str) -> None:
        self.bus = bus
        self.topic = topic
        self.entries = bus.store("entries", JsonCodec(int))
        self.seen = bus.store("seen", JsonCodec(int))
        self.blocking = True
        bus.on(topic, "low_stock_detected", self.count_event)

    async def count_event(self, event: EventContext) -> None:
        sku = event.event.sku
        if sku.startswith("blocked-") and self.blocking:
            raise errors.FailedPrecondition(f"{sku} is blocked")
        await event.work.lock((self.seen, sku))
        event.work.put(self.seen, sku, (event.work.get(self.seen, sku) or 0) + 1)

    async def Write(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        key = request["key"]
        async with self.bus.unit_of_work() as work:
            await work.lock((self.entries, key))
            count = (work.get(self.entries, key) or 0) + 1
            work.put(self.entries, key, count)
            detected = events_pb2.LowStockDetected()
            detected.sku = key
            self.bus.publish(work, self.topic, key, low_stock_detected=detected)
        return {"key": key, "count": count}

    async def Count(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        return {"entries": len(self.entries), "seen": dict(self.seen.items())}

    async def Unblock(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        self.blocking = False
        return {}


def add_LedgerServicer_to_server(servicer: Ledger, server: grpc.aio.Server) -> None:
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name), request_deserializer=json.loads,
            response_serializer=lambda message: json.dumps(message).encode())
        for name in ("Write", "Count", "Unblock")
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


async def main() -> None:
    settings = LedgerSettings.load("ledger")
    bus = EventBus(settings.name, settings.kafka_bootstrap, settings.schema_registry_url,
                   topics={settings.topic: ledger_topic(settings.topic, settings.name)})
    ledger = Ledger(bus, settings.topic)
    await run_service(settings, servicers=[(add_LedgerServicer_to_server, ledger)], bus=bus,
                      rules={SERVICE: {name: auth.anyone() for name in ("Write", "Count", "Unblock")}})


if __name__ == "__main__":
    asyncio.run(main())
