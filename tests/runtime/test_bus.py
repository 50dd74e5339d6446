"""The event bus and the changelog-backed stores in a real service process (tests/runtime/ledger_service.py),
on the real broker and the real registry: restart safety, dead letters, idempotency."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from stocking.v1 import events_pb2

from services.runtime.bus import EventBus
from services.runtime.dlq import read_all
from tests.runtime.ledger_service import SERVICE, ledger_topic
from tests.runtime.sample_service import wait_for_health
from tools.processes import free_port, spawn, stop

ROOT = Path(__file__).resolve().parents[2]


class Ledger:
    """One ledger service process, restartable, and the names it uses."""

    def __init__(self, tmp_path: Path, name: str, kafka: str, registry: str) -> None:
        self.name, self.topic, self.port = name, f"{name}.levels", free_port()
        self.log_path = tmp_path / f"{name}.log"
        self.env = {**os.environ, "LEDGER_PORT": str(self.port), "LEDGER_TOPIC": self.topic, "LEDGER_NAME": name,
                    "KAFKA_BOOTSTRAP": kafka, "SCHEMA_REGISTRY_URL": registry, "SHUTDOWN_GRACE_SECONDS": "5"}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = spawn([sys.executable, "-m", "tests.runtime.ledger_service"], self.log_path, env=self.env,
                             cwd=ROOT)

    async def serving(self) -> None:
        await wait_for_health(self.address, "SERVING", within=60)

    async def call(self, method: str, body: dict[str, Any] | None = None) -> Any:
        async with grpc.aio.insecure_channel(self.address) as channel:
            rpc = channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=lambda m: json.dumps(m).encode(),
                                      response_deserializer=json.loads)
            return await rpc(body or {}, timeout=20)

    async def seen_eventually(self, expected: dict[str, int], within: float = 30) -> dict[str, int]:
        deadline = time.monotonic() + within
        while True:
            seen = (await self.call("Count"))["seen"]
            if seen == expected or time.monotonic() > deadline:
                return seen  # type: ignore[no-any-return]
            await asyncio.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def ledger(tmp_path: Path, unique_name: str, kafka_bootstrap: str, schema_registry_url: str) -> Iterator[Ledger]:
    service = Ledger(tmp_path, f"ledger-{unique_name}", kafka_bootstrap, schema_registry_url)
    # What the publish workflow does for a real topic: register the subject (and its references).
    serializer = ProtobufSerializer(events_pb2.StockLevelEvent, SchemaRegistryClient({"url": schema_registry_url}))
    serializer(events_pb2.StockLevelEvent(), SerializationContext(service.topic, MessageField.VALUE))
    service.start()
    try:
        yield service
    finally:
        if service.process is not None:
            stop(service.process, grace_seconds=10)


def _produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(15) == 0


def _all_values(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every committed record of a topic, in partition order."""
    partitions = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10).topics[topic].partitions
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.partition.eof": True,
                         "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    records: list[tuple[bytes, bytes]] = []
    ended: set[int] = set()
    try:
        while len(ended) < len(partitions):
            message = consumer.poll(10)
            assert message is not None
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                ended.add(message.partition())  # type: ignore[arg-type]
            elif error is None:
                records.append((message.key(), message.value()))  # type: ignore[arg-type]
    finally:
        consumer.close()
    return records


async def test_kill_9_loses_no_acknowledged_write_and_serving_waits_for_the_restore(ledger: Ledger) -> None:
    await ledger.serving()
    writes = 60
    await asyncio.gather(*(ledger.call("Write", {"key": f"SKU-{i % 20}"}) for i in range(writes)))
    ledger.kill()

    ledger.start()
    # While it restores, a call is refused with UNAVAILABLE (which clients retry), never answered from
    # a half-restored store.
    refusals: set[str] = set()
    while True:
        try:
            entries = (await ledger.call("Count"))["entries"]
            break
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
            refusals.add(exc.details() or "")
            await asyncio.sleep(0.05)
    assert entries == 20
    assert any("still restoring its state" in why for why in refusals), refusals
    await ledger.serving()
    # The first answer after SERVING already has every write: health waited for the restore.
    assert (await ledger.call("Count"))["entries"] == 20
    seen = await ledger.seen_eventually({f"SKU-{i}": 3 for i in range(20)})
    assert seen == {f"SKU-{i}": 3 for i in range(20)}
    # And the service's changelog holds every write to the entries store (keys `entries/<key>`): 60
    # records, whose last value per key is 3.
    changelog = [(key, value) for key, value in _all_values(ledger.env["KAFKA_BOOTSTRAP"], f"{ledger.name}.changelog")
                 if key.startswith(b"entries/")]
    assert len(changelog) == writes and {json.loads(v) for _, v in changelog[-20:]} <= {1, 2, 3}


async def test_poison_goes_to_the_dlq_with_headers_and_the_next_event_is_handled(ledger: Ledger) -> None:
    await ledger.serving()
    bootstrap = ledger.env["KAFKA_BOOTSTRAP"]
    _produce(bootstrap, ledger.topic, [
        (b"garbage", b"\x00\x7f\xff\xff\xf0\x00not protobuf at all"),   # framing of an unknown schema id
        (b"nomagic", b"plain text, no Confluent framing"),
    ])
    await ledger.call("Write", {"key": "SKU-after"})  # a good event behind the poison, on some partition
    await ledger.call("Write", {"key": "blocked-1"})  # refused by the handler: parked, not retried forever

    assert await ledger.seen_eventually({"SKU-after": 1}) == {"SKU-after": 1}
    deadline = time.monotonic() + 30
    while len(letters := read_all(bootstrap, f"{ledger.topic}.dlq")) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    by_key = {letter.key: letter for letter in letters}
    assert set(by_key) == {b"garbage", b"nomagic", b"blocked-1"}
    garbage = by_key[b"garbage"].headers
    assert garbage["dlq.stage"] == "decode" and garbage["dlq.original.topic"] == ledger.topic
    assert garbage["dlq.consumer.group"] == ledger.name and garbage["dlq.original.offset"].isdigit()
    assert "dlq.original.partition" in garbage and "unknown to the registry" in garbage["dlq.error"]
    assert "Confluent wire format" in by_key[b"nomagic"].headers["dlq.error"]
    blocked = by_key[b"blocked-1"].headers
    assert blocked["dlq.stage"] == "handle" and blocked["dlq.error"] == "blocked-1 is blocked"
    # The trace names files from the repository root, never by this machine's absolute paths.
    assert 'File "tests/runtime/ledger_service.py"' in blocked["dlq.error.trace"]
    assert str(ROOT) not in blocked["dlq.error.trace"] and 'File "/' not in blocked["dlq.error.trace"]

    # Once the cause is fixed, the replay command sends the parked event back and it is handled.
    await ledger.call("Unblock")
    offset = by_key[b"blocked-1"].offset
    replay = subprocess.run([sys.executable, "-m", "services.runtime.dlq", "replay", f"{ledger.topic}.dlq",
                             "--offset", str(offset)], cwd=ROOT, env=ledger.env, capture_output=True, text=True)
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1 event" in replay.stdout
    assert await ledger.seen_eventually({"SKU-after": 1, "blocked-1": 1}) == {"SKU-after": 1, "blocked-1": 1}


async def test_duplicates_and_a_full_topic_replay_change_nothing(ledger: Ledger) -> None:
    await ledger.serving()
    for i in range(10):
        await ledger.call("Write", {"key": f"SKU-{i}"})
    expected = {f"SKU-{i}": 1 for i in range(10)}
    assert await ledger.seen_eventually(expected) == expected

    bootstrap = ledger.env["KAFKA_BOOTSTRAP"]
    everything = _all_values(bootstrap, ledger.topic)
    assert len(everything) == 10
    _produce(bootstrap, ledger.topic, everything + everything[:3])  # the whole topic again, some thrice
    marker = await ledger.call("Write", {"key": "SKU-marker"})  # handled after the replayed ones
    assert marker["count"] == 1
    assert await ledger.seen_eventually({**expected, "SKU-marker": 1}) == {**expected, "SKU-marker": 1}
    # The skipped duplicates cost no transaction of their own, yet their offsets are committed (riding
    # with the next unit of work, or flushed once the consumer is idle): the group reaches every end.
    deadline = time.monotonic() + 15
    while (lag := _lag(bootstrap, ledger.name, ledger.topic)) and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    assert lag == {}, f"offsets left behind: {lag}"


def _lag(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Partition -> records the group has not committed past (only partitions that lag). Counted to
    the last record, not the end offset: a transaction's commit marker sits after its last record."""
    partitions = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10).topics[topic].partitions
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    try:
        committed = {tp.partition: tp.offset for tp in consumer.committed(
            [TopicPartition(topic, p) for p in partitions], timeout=10)}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        behind: dict[int, int] = {}
        ended: set[int] = set()
        while len(ended) < len(partitions):
            message = consumer.poll(10)
            assert message is not None
            error, partition, offset = message.error(), message.partition(), message.offset()
            assert partition is not None and offset is not None
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                ended.add(partition)
            elif error is None and offset >= committed[partition]:
                behind[partition] = behind.get(partition, 0) + 1
        return behind
    finally:
        consumer.close()


async def test_a_service_cannot_publish_a_schema_the_workflow_did_not_register(
        kafka_bootstrap: str, schema_registry_url: str, unique_name: str) -> None:
    topic = f"{unique_name}.unregistered"
    bus = EventBus(unique_name, kafka_bootstrap, schema_registry_url, topics={topic: ledger_topic(topic, unique_name)})
    with pytest.raises(Exception, match=r"40401|not found"):
        await bus.start()
