"""The event bus's costs, each against a baseline measured in the same run on the same broker.

    .venv/bin/python -m tools.testenv -- .venv/bin/python bench/bus_bench.py [--events 20000] [--keys 100000]

1. Publish + consume of OrderCreated envelopes in the Confluent wire format against our registry,
   versus the same Protobuf bytes produced and consumed raw: events per second end to end, and the
   ratio (goal >= 0.7). Two framed runs: the bus's serdes (services/runtime/bus.py: the frame from
   ProtobufSerializer reused, the writer schema checked once per id), and confluent-kafka's
   ProtobufSerializer/ProtobufDeserializer called for every event, for reference.
2. Restore of a changelog-backed store of `keys` keys into a fresh store: keys per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402
from ordering.v1 import events_pb2  # noqa: E402

from services.runtime.bus import EventBus  # noqa: E402
from services.runtime.store import JsonCodec, Store, ensure_changelog_topics, restore  # noqa: E402
from services.runtime.topic_map import Topic  # noqa: E402
from services.runtime.transactions import Committer  # noqa: E402


def order_created(i: int) -> Any:
    envelope = events_pb2.OrderEvent()
    envelope.metadata.event_id = str(uuid.uuid4())
    envelope.metadata.aggregate_id = f"order-{i}"
    created = envelope.order_created
    created.order_id, created.customer_email, created.currency = f"order-{i}", "ada@example.com", "EUR"
    for n in range(3):
        line = created.lines.add()
        line.sku, line.name, line.quantity = f"SKU-{n}", f"Product {n}", n + 1
    created.shipping_address.city = "Lyon"
    return envelope


def run_through(bootstrap: str, topic: str, events: list[Any], encode: Callable[[Any], bytes],
                decode: Callable[[bytes], Any]) -> float:
    """Produce every event and consume them all back; returns events per second end to end."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    consumer.poll(2)  # join the group before the clock starts
    started = time.perf_counter()
    for event in events:
        while True:
            try:
                producer.produce(topic, key=event.metadata.aggregate_id.encode(), value=encode(event))
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)
    received = 0
    while received < len(events):
        for message in consumer.consume(1000, timeout=1.0):
            if message.error() is None:
                decode(message.value())  # type: ignore[arg-type]
                received += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return len(events) / elapsed


def bench_serdes(bootstrap: str, registry_url: str, count: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    run = uuid.uuid4().hex[:8]
    raw_topic, bus_topic, framed_topic = f"bench-{run}.raw", f"bench-{run}.bus", f"bench-{run}.framed"
    for future in admin.create_topics([NewTopic(t, 3, 1) for t in (raw_topic, bus_topic, framed_topic)]).values():
        future.result(30)
    registry = SchemaRegistryClient({"url": registry_url})
    serializer = ProtobufSerializer(events_pb2.OrderEvent, registry)  # registers the bench's own subjects
    deserializer = ProtobufDeserializer(events_pb2.OrderEvent, {"use.deprecated.format": False}, registry)
    context = SerializationContext(framed_topic, MessageField.VALUE)
    serializer(events_pb2.OrderEvent(), SerializationContext(bus_topic, MessageField.VALUE))
    spec = Topic(bus_topic, "bench", "ordering.v1.OrderEvent", "order_id", 3, False, ("order_created",), {})
    bus = EventBus("bench", bootstrap, registry_url, topics={bus_topic: spec})
    events = [order_created(i) for i in range(count)]

    raw = run_through(bootstrap, raw_topic, events, lambda e: e.SerializeToString(), events_pb2.OrderEvent.FromString)
    through_bus = run_through(bootstrap, bus_topic, events, lambda e: bus.serialize(spec, e),
                              lambda data: bus.deserialize(bus_topic, data))
    confluent = run_through(bootstrap, framed_topic, events, lambda e: serializer(e, context),
                            lambda data: deserializer(data, context))
    print(f"publish+consume, {count} OrderCreated events")
    print(f"  raw Protobuf bytes                  {raw:10.0f} events/s")
    print(f"  bus serdes (Confluent wire format)  {through_bus:10.0f} events/s   ratio {through_bus / raw:.2f} "
          "(goal >= 0.7)")
    print(f"  confluent serdes on every event     {confluent:10.0f} events/s   ratio {confluent / raw:.2f}")


async def bench_restore(bootstrap: str, keys: int) -> None:
    service = f"bench-{uuid.uuid4().hex[:8]}"
    store: Store[dict[str, Any]] = Store(service, "records", JsonCodec(dict[str, Any]))
    ensure_changelog_topics(AdminClient({"bootstrap.servers": bootstrap}), [store])
    committer = Committer(bootstrap, f"{service}-0")
    await asyncio.to_thread(committer.init)
    committer.start()
    for start in range(0, keys, 2000):
        async with committer.unit_of_work() as work:
            for i in range(start, min(start + 2000, keys)):
                work.put(store, f"key-{i}", {"sku": f"SKU-{i}", "on_hand": i, "reserved": 0})
    await committer.close()

    fresh: Store[dict[str, Any]] = Store(service, "records", JsonCodec(dict[str, Any]))
    started = time.perf_counter()
    read = await asyncio.to_thread(restore, bootstrap, [fresh])
    elapsed = time.perf_counter() - started
    assert len(fresh) == keys, (len(fresh), keys)
    print(f"restore of a store of {keys} keys ({read} changelog records)")
    print(f"  {elapsed:.2f} s, {keys / elapsed:,.0f} keys/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    registry_url = os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081")
    bench_serdes(bootstrap, registry_url, args.events)
    asyncio.run(bench_restore(bootstrap, args.keys))


if __name__ == "__main__":
    main()
