"""Run real service processes for a test, in a namespace of their own on the shared broker and registry.

    async def test_something(platform: Platform) -> None:
        await platform.start("stocking", "cataloging")
        stock = StockServiceStub(platform.channel("stocking"))
        ...
        platform.kill("stocking"); await platform.start("stocking")    # kill -9 and back
        await platform.publish("ordering.orders.v1", order_id, order_created=...)  # stand in for a producer

Every service of the namespace gets its port up front, so each knows where the others are before
they start. Topics, consumer groups and changelogs are prefixed with the namespace (see
services/runtime/topic_map.in_namespace) and the namespace's subjects are registered from the
published ones, so tests run in parallel without seeing each other's events.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime import auth, topic_map
from services.runtime.bus import EventBus, envelope_class
from services.runtime.process import declared
from services.runtime.transactions import is_seal
from tools.processes import free_port, spawn, stop

ROOT = Path(__file__).resolve().parents[1]
SERVICES = tuple(declared())  # every declared process (services/*/bootstrap.py)

# One keys directory for every test of a run (its service processes inherit it): tests sign people's tokens
# with profiling's key, as profiling would, and calls of their own with the key of a "test-harness" service.
os.environ.setdefault("SHOP_KEYS_DIR", str(ROOT / ".run" / "test-keys"))
HARNESS = "test-harness"
for _issuer in (*SERVICES, HARNESS):
    auth.ensure_key(_issuer)
_people, _harness = auth.Signer(auth.PEOPLE_ISSUER), auth.Signer(HARNESS)

Credentials = tuple[tuple[str, str], ...]


def as_customer(customer_id: str) -> Credentials:
    """The metadata of a call made by a signed-in customer."""
    return auth.bearer(_people.sign(customer_id, auth.Kind.CUSTOMER))


def as_staff(staff_id: str = "staff-1", role: auth.Role = auth.Role.STAFF) -> Credentials:
    return auth.bearer(_people.sign(staff_id, auth.Kind.STAFF, roles=[role]))


def as_service() -> Credentials:
    """A service calling on its own account (what the saga's participants do)."""
    return auth.bearer(_harness.own_token())


class _AsService(grpc.aio.UnaryUnaryClientInterceptor):
    """Calls from Platform.channel that set no credentials of their own go as a service: the tests of a
    service's behaviour are not about who calls (tests/e2e/test_trust_boundary.py is)."""

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        if auth.AUTHORIZATION not in metadata:
            for key, value in as_service():
                metadata.add(key, value)
        return await continuation(client_call_details._replace(metadata=metadata), request)


class _AsServiceStreams(grpc.aio.UnaryStreamClientInterceptor):
    """The same for server-streaming calls (grpc.aio files an interceptor under one kind only)."""

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        if auth.AUTHORIZATION not in metadata:
            for key, value in as_service():
                metadata.add(key, value)
        return await continuation(client_call_details._replace(metadata=metadata), request)



def register_namespace(registry_url: str, namespace: str) -> None:
    """Register each event subject's latest published schema under the namespace's subject name."""
    client = SchemaRegistryClient({"url": registry_url})
    for topic in topic_map.in_namespace(topic_map.load(), namespace).values():
        published = client.get_latest_version(topic.subject.removeprefix(f"{namespace}."))
        client.register_schema(topic.subject, published.schema)


async def health_status(address: str, timeout: float = 1.0) -> str:
    """SERVING, NOT_SERVING, or the gRPC code when health itself does not answer."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                                       timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return str(exc.code().name)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


T = TypeVar("T")


async def eventually(read: Callable[[], Awaitable[T]], holds: Callable[[T], object] = bool, what: str = "it",
                     within: float = 30) -> T:
    """Read until `holds` says yes (by default: until the value is truthy) and return that value: the
    platform settles through events, never at once. Fails after `within` seconds with the last value read."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if holds(value):
            return value
        assert time.monotonic() < deadline, f"{what} still not so after {within}s; last seen:\n{value}"
        await asyncio.sleep(0.2)


class Platform:
    def __init__(self, run_dir: Path, kafka_bootstrap: str, registry_url: str, namespace: str) -> None:
        self.run_dir, self.namespace = run_dir, namespace
        self.kafka_bootstrap, self.registry_url = kafka_bootstrap, registry_url
        self.ports = {name: free_port() for name in SERVICES}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._bus = EventBus(f"test-{namespace}", kafka_bootstrap, registry_url, namespace=namespace)
        self._producer: Producer | None = None
        register_namespace(registry_url, namespace)

    def env(self, service: str, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.endswith(("_PORT", "_ADDR"))}
        env.update({f"{name.upper()}_ADDR": f"127.0.0.1:{port}" for name, port in self.ports.items()})
        env.update({
            f"{service.upper()}_PORT": str(self.ports[service]), "SHOP_NAMESPACE": self.namespace,
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap, "SCHEMA_REGISTRY_URL": self.registry_url,
            "SHUTDOWN_GRACE_SECONDS": "5", "PYTHONUNBUFFERED": "1", **extra,
        })
        return env

    def log_path(self, service: str) -> Path:
        return self.run_dir / f"{service}.log"

    async def start(self, *services: str, within: float = 90, **extra_env: str) -> None:
        """Start the services (in parallel) and wait until each one's health says SERVING."""
        for service in services:
            self.processes[service] = spawn([sys.executable, "-m", declared()[service].module], self.log_path(service),
                                            env=self.env(service, **extra_env), cwd=ROOT)
        await asyncio.gather(*(self.wait_serving(service, within) for service in services))

    async def wait_serving(self, service: str, within: float = 90) -> None:
        deadline = time.monotonic() + within
        status = "not asked"
        while time.monotonic() < deadline:
            process = self.processes[service]
            if process.poll() is not None:
                raise AssertionError(f"{service} exited with code {process.returncode}:\n{self.tail(service)}")
            if (status := await health_status(f"127.0.0.1:{self.ports[service]}")) == "SERVING":
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{service} still {status} after {within}s:\n{self.tail(service)}")

    def tail(self, service: str, lines: int = 40) -> str:
        path = self.log_path(service)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def kill(self, service: str) -> None:
        """kill -9: no shutdown hook, no flush, no commit."""
        process = self.processes.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def terminate(self, service: str) -> int:
        return stop(self.processes.pop(service), grace_seconds=15)

    def channel(self, service: str) -> grpc.aio.Channel:
        """A channel whose calls go as a service unless they carry credentials (as_customer, as_staff)."""
        if service not in self._channels:
            self._channels[service] = grpc.aio.insecure_channel(f"127.0.0.1:{self.ports[service]}",
                                                                interceptors=[_AsService(), _AsServiceStreams()])
        return self._channels[service]

    def bare_channel(self, service: str) -> grpc.aio.Channel:
        """A channel that sends only the credentials each call carries: none unless it says so."""
        key = f"bare:{service}"
        if key not in self._channels:
            self._channels[key] = grpc.aio.insecure_channel(f"127.0.0.1:{self.ports[service]}")
        return self._channels[key]

    def stub(self, service: str, stub_class: type[Any]) -> Any:
        return stub_class(self.channel(service))

    async def publish(self, topic: str, aggregate_id: str, *, correlation_id: str = "", **event: Any) -> Any:
        """Produce one event as its producer would (same envelope, metadata, serializer): for a test that
        stands in for a service it does not start. Returns the envelope sent."""
        envelope = self._bus.envelope(topic, aggregate_id, correlation_id=correlation_id, **event)
        await asyncio.to_thread(self.produce_envelope, topic, envelope)
        return envelope

    def produce_envelope(self, topic: str, envelope: Any) -> None:
        spec = self._bus.topics[topic]
        serializer = ProtobufSerializer(envelope_class(spec.envelope), SchemaRegistryClient({"url": self.registry_url}),
                                        {"auto.register.schemas": False})
        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.kafka_bootstrap, "enable.idempotence": True})
        value = serializer(envelope, SerializationContext(spec.name, MessageField.VALUE))
        self._producer.produce(spec.name, key=envelope.metadata.aggregate_id.encode(), value=value)
        assert self._producer.flush(15) == 0

    async def events(self, topic: str, *, at_least: int = 1, within: float = 30,
                     where: Callable[[Any], bool] = lambda envelope: True) -> list[Any]:
        """The decoded envelopes on a topic of the map (from its start) that satisfy `where`; waits until
        there are `at_least` of them or `within` seconds pass, then returns what there is."""
        deadline = time.monotonic() + within
        while True:
            found = [e for e in await asyncio.to_thread(self._read_topic, topic) if where(e)]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.3)

    def _read_topic(self, topic: str) -> list[Any]:
        name = self.kafka_topic(topic)
        consumer = Consumer({"bootstrap.servers": self.kafka_bootstrap, "group.id": "test-reader",
                             "enable.auto.commit": False, "enable.partition.eof": True,
                             "isolation.level": "read_committed"})
        try:
            partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
            consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
            envelopes: list[Any] = []
            at_end: set[int | None] = set()
            while len(at_end) < len(partitions):
                for message in consumer.consume(500, timeout=1.0):
                    error = message.error()
                    if error is not None and error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                    elif error is None and not is_seal(message):  # a seal carries no event
                        envelopes.append(self.decode(message))
            return envelopes
        finally:
            consumer.close()

    async def drained(self, service: str, *topics: str, within: float = 30) -> None:
        """Wait until `service` has handled (committed) everything on the topics so far: the barrier
        after events whose point is that they change nothing."""
        reader = Consumer({"bootstrap.servers": self.kafka_bootstrap, "group.id": f"{self.namespace}.{service}",
                           "enable.auto.commit": False})
        try:
            for topic in topics:
                name = self.kafka_topic(topic)
                partitions = reader.list_topics(name, timeout=10).topics[name].partitions
                ends = {p: reader.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions}
                deadline = time.monotonic() + within
                while True:
                    committed = reader.committed([TopicPartition(name, p) for p in partitions], timeout=10)
                    if all(tp.offset >= ends[tp.partition] for tp in committed if ends[tp.partition] > 0):
                        break
                    assert time.monotonic() < deadline, f"{service} did not get through {topic} in {within}s"
                    await asyncio.sleep(0.2)
        finally:
            reader.close()

    def decode(self, message: Any) -> Any:
        """A Kafka message of one of the namespace's topics, decoded to its envelope."""
        return self._bus.decode(message)

    def kafka_topic(self, topic: str) -> str:
        """The name on Kafka of a topic of the map, in this namespace."""
        return self._bus.topics[topic].name

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        for service in list(self.processes):
            self.terminate(service)
