"""A declared service in this process, with no broker: the fast layer between unit tests and real processes.

    service = build("stocking")                       # its real wire(): stores, handlers, servicer
    async with service.serving() as channel:          # a real gRPC server with the runtime's interceptor
        stub = StockServiceStub(channel)
        ...                                           # statuses exactly as a caller of the process sees them
    await service.deliver("ordering.orders.v1", envelope)   # an event through its real handler
    service.published("stocking.levels.v1")           # what it published, through the real deserializer

Units of work commit in memory (MemoryCommitter); events are framed by the real ProtobufSerializer against
SCHEMA_REGISTRY_URL, where the working tree's envelopes are registered under a namespace of this run's own;
each callee is a FakeStub that answers what a test gives it. The contract tests, and the bad-input tables of
every service, run here; restarts, kill -9, transactions and the saga need real processes (tools/platform.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf.message import Message

from services.runtime import auth, inputs
from services.runtime.bus import EventBus, EventContext, envelope_class
from services.runtime.config import ServiceSettings
from services.runtime.interceptors import CallInterceptor
from services.runtime.process import ServiceProcess, declaration
from services.runtime.transactions import Committer, OutgoingRecord, UnitOfWork

NAMESPACE = f"inprocess-{uuid.uuid4().hex[:8]}"
_registered: set[tuple[str, str]] = set()


class MemoryCommitter(Committer):
    """Units of work applied to the stores in memory; what they publish is kept in `sent`."""

    def __init__(self) -> None:  # no producer, no commit task: nothing reaches Kafka
        self.sent: list[OutgoingRecord] = []
        self._building, self._built = 0, asyncio.Event()  # what Committer.unit_of_work keeps

    def _enqueue(self, work: UnitOfWork) -> asyncio.Future[None]:
        for store, key, value in work.changes:
            store.apply(key, value)
        self.sent += work.records
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def local_bus(service: str, registry_url: str | None = None) -> EventBus:
    """An EventBus that is never started: units of work commit in memory, events are framed by the real
    serializer against the registry (SCHEMA_REGISTRY_URL by default), where the working tree's envelopes are
    registered under a namespace of this run's own (so an unpublished, compatible schema change is seen as it is)."""
    url = registry_url or os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081")
    bus = EventBus(service, os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"), url, namespace=NAMESPACE,
                   committer=MemoryCommitter())
    if (url, NAMESPACE) not in _registered:
        client = SchemaRegistryClient({"url": url})
        for topic in bus.topics.values():
            serializer = ProtobufSerializer(envelope_class(topic.envelope), client, {"auto.register.schemas": True})
            serializer(envelope_class(topic.envelope)(), SerializationContext(topic.name, MessageField.VALUE))
        _registered.add((url, NAMESPACE))
    return bus


class FakeStub:
    """A gRPC stub standing in for a callee: `answers[method]` is a response, an exception to raise, or a
    function of the request; every call is kept in `calls` as (method, request), and the metadata it carried
    in `metadata` as (method, {key: value})."""

    def __init__(self, service: str, **answers: Any) -> None:
        self.service, self.answers = service, answers
        self.calls: list[tuple[str, Message]] = []
        self.metadata: list[tuple[str, dict[str, str]]] = []

    def credentials(self, method: str) -> list[dict[str, str]]:
        """The metadata of each call of `method`, in order."""
        return [sent for name, sent in self.metadata if name == method]

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if not name[:1].isupper():
            raise AttributeError(name)

        async def call(request: Message, *, metadata: Any = None, **_: Any) -> Any:
            self.calls.append((name, request))
            self.metadata.append((name, dict(metadata or ())))
            if name not in self.answers:
                raise AssertionError(f"{self.service}/{name} was called, but the test gave it no answer")
            answer = self.answers[name]
            if isinstance(answer, BaseException):
                raise answer
            return answer(request) if callable(answer) else answer
        return call


class Context:
    """The grpc.aio.ServicerContext a servicer reads: the call's metadata."""

    def __init__(self, **metadata: str) -> None:
        self.metadata = tuple(metadata.items())

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata


@dataclass
class Service:
    """One service in-process: its bus, its servicer, and the stubs standing in for the services it calls."""

    name: str
    bus: EventBus
    servicer: Any = None
    stubs: dict[str, FakeStub] = field(default_factory=dict)  # callee -> stub
    parts: dict[str, Any] = field(default_factory=dict)  # whatever else a test needs (stores, views ...)

    @property
    def sent(self) -> list[OutgoingRecord]:
        committer = self.bus.committer
        assert isinstance(committer, MemoryCommitter)
        return committer.sent

    async def deliver(self, topic: str, envelope: Message) -> UnitOfWork:
        """The event as the bus hands it to the service's handler, in a unit of work that then commits."""
        spec = self.bus.topics[topic]
        name = envelope.WhichOneof("event")
        handler = self.bus._handlers.get((spec.name, name))
        if handler is None:
            raise AssertionError(f"{self.name} registers no handler for {topic} {name}")
        async with self.bus.unit_of_work() as work:
            await handler(EventContext(self.bus, work, spec.name, name, getattr(envelope, name),
                                       envelope.metadata))  # type: ignore[attr-defined]
        return work

    async def publish(self, topic: str, aggregate_id: str, **event: Any) -> Any:
        """Stand in for another service's producer: the event, in its envelope, straight to this service's
        handler (as Platform.publish does through Kafka for a real process). Returns the envelope."""
        envelope = self.bus.envelope(topic, aggregate_id, **event)
        await self.deliver(topic, envelope)
        return envelope

    async def call(self, rpc: str, request: Message, **metadata: str) -> Any:
        """The servicer's answer to a call, as a caller gets it (through the binary encoding)."""
        # The caller a token in the metadata names, as the runtime's check would set it (the rules themselves
        # are tested against real processes).
        bearer = metadata.get(auth.AUTHORIZATION, "")
        who = auth.caller.set(auth.Verifier().verify(bearer.partition(" ")[2]) if bearer else None)
        try:
            answer = await getattr(self.servicer, rpc.split("/")[1])(request, Context(**metadata))
        finally:
            auth.caller.reset(who)
        return type(answer).FromString(answer.SerializeToString())

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[grpc.aio.Channel]:
        """The service's servicers behind a real gRPC server on a free loopback port, with the runtime's
        interceptor (so a domain error reaches the caller as the status and message the process gives)."""
        # The caller a token names and the input floor, as a process has them before every handler; the access
        # rules themselves are tested on processes.
        def before_handler(method: str, metadata: Any, request: Any) -> None:
            bearer = dict(metadata).get(auth.AUTHORIZATION, "")
            auth.caller.set(auth.Verifier().verify(bearer.partition(" ")[2]) if bearer else None)
            inputs.check_request(request)

        checks = CallInterceptor(authorise=before_handler)
        server = grpc.aio.server(interceptors=[checks])
        for add_servicer, servicer in self.parts["servicers"]:
            add_servicer(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield channel
        finally:
            await server.stop(None)

    @contextlib.contextmanager
    def publishes_nothing(self, what: str) -> Iterator[None]:
        """The block publishes no event (a refused call must be refused before anything leaves)."""
        before = len(self.sent)
        yield
        assert len(self.sent) == before, f"{what} published {self.sent[before:]}"

    def published(self, topic: str, event: str | None = None) -> list[Any]:
        """The envelopes published so far on a topic (of one event), decoded by the real deserializer."""
        name = self.bus.topics[topic].name
        found = [self.bus.deserialize(r.topic, r.value) for r in self.sent if r.topic == name and r.value]
        return [e for e in found if event is None or e.WhichOneof("event") == event]

    def event(self, topic: str, event: str) -> Any:
        found = self.published(topic, event)
        assert found, f"{self.name} published no {event} on {topic}"
        return getattr(found[-1], event)


@functools.cache
def settings(name: str) -> ServiceSettings:
    """A service's settings as its process reads them from the environment."""
    process = declaration(name)
    assert isinstance(process, ServiceProcess), name
    return process.settings.load(name, calls=process.calls)


def build(name: str, registry_url: str | None = None) -> Service:
    """A fresh `name`, wired by its own wire() on a local bus: its real stores, handlers and servicer; a FakeStub
    for each service it calls in `stubs`, keyed by callee; the other parts wire() returns in `parts`."""
    process = declaration(name)
    assert isinstance(process, ServiceProcess), name
    bus = local_bus(name, registry_url)
    stubs = {callee: FakeStub(f"{stub.__module__.rsplit('.', 1)[0]}.{stub.__name__.removesuffix('Stub')}")
             for callee, stub in process.calls.items()}
    wired = process.wire(bus, stubs, settings(name))
    return Service(name, bus, wired.servicer, stubs, {**wired.parts, "servicers": wired.servicers})
