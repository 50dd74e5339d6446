"""The event bus: publishing and consuming the topic map's envelopes through the Schema Registry.

Publishing: the topic, the key (the envelope's aggregate id) and the envelope type all come from
schemas/topics.yaml; values are framed by confluent-kafka's ProtobufSerializer with
auto-registration off, so a service can only publish a schema the publish workflow registered.
Records leave inside the unit of work's Kafka transaction (transactions.py).

Consuming: one consumer group per service, read_committed, offsets committed inside the same
transaction as the handler's effects. A handler runs at most once per event id (the ids handled
are a store of their own), events of one partition are handled in order, transient failures are
retried with backoff, and an event that cannot be decoded or handled goes to `<topic>.dlq` with
the error in its headers while the consumer moves on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import functools
import importlib
import logging
import time
import traceback
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from services.runtime import errors, topic_map, watchdog
from services.runtime.proto import timestamp
from services.runtime.store import (
    Store,
    ensure_changelog_topics,
    open_transactions,
    open_transactions_once_known,
    restore,
)
from services.runtime.transactions import Committer, OutgoingRecord, TransactionAborted, UnitOfWork, is_seal

log = logging.getLogger(__name__)

Handler = Callable[["EventContext"], Awaitable[None]]
Publish = Callable[..., Any]  # bus.publish bound to a unit of work, or EventContext.publish
DEFERRED_OFFSETS_AT_MOST = 2.0  # seconds a skipped event's offset may wait for a transaction to ride with
# Seconds between two looks for a hanging transaction on the partitions the service writes (see
# transactions.py): one whose LSO has not moved from one look to the next is sealed.
HANGING_CHECK_SECONDS = 10.0
T = TypeVar("T")


def envelope_class(full_name: str) -> Any:
    """The generated class of an envelope named in the topic map ("ordering.v1.OrderEvent")."""
    package, name = full_name.rsplit(".", 1)
    module = importlib.import_module(f"{package}.events_pb2")
    return getattr(module, name)


class PoisonEvent(Exception):
    """An event that can never be handled: it goes to the dead-letter topic at once."""


class Stopping(Exception):
    """The service is shutting down while an outage lasts: the event stays uncommitted for next time."""


def is_outage(exc: BaseException) -> bool:
    """Kafka, the registry or a called service is unreachable or refused for now: wait, don't park."""
    if isinstance(exc, TransactionAborted | KafkaException | httpx.TransportError):
        return True
    if isinstance(exc, SchemaRegistryError):
        return exc.http_status_code is None or exc.http_status_code >= 500
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return False


def is_worth_retrying(exc: BaseException) -> bool:
    # A handler's unexpected error may pass on a second try; domain refusals and poison never will,
    # and outages are waited out by the caller without using up attempts.
    return not isinstance(exc, errors.DomainError | PoisonEvent) and not is_outage(exc)


@dataclass
class EventContext:
    """What a handler gets: the event, its metadata, and the unit of work to change state and publish in."""

    bus: EventBus
    work: UnitOfWork
    topic: str
    name: str  # the envelope's oneof field, e.g. "order_created"
    event: Any  # the event message itself
    metadata: Any  # shop.common.v1.EventMetadata

    def publish(self, topic: str, aggregate_id: str, aggregate_version: int = 0, **event: ProtoMessage) -> Any:
        """Publish an event caused by this one: same correlation id, this event as its cause."""
        return self.bus.publish(self.work, topic, aggregate_id, correlation_id=self.metadata.correlation_id,
                                causation_id=self.metadata.event_id, aggregate_version=aggregate_version, **event)


class EventBus:
    def __init__(self, service: str, bootstrap: str, registry_url: str, *, namespace: str = "", instance: str = "0",
                 topics: dict[str, topic_map.Topic] | None = None, crash_before_commit: bool = False,
                 committer: Committer | None = None) -> None:
        """`topics` is keyed by the names the code uses; with a namespace, every topic, changelog,
        consumer group and transactional id on Kafka is prefixed `<namespace>.` (see topic_map).
        `committer` replaces the Kafka one (the in-process harness commits in memory)."""
        self.service = service
        self.topics = topic_map.in_namespace(topics if topics is not None else topic_map.load(), namespace)
        self._by_kafka_name = {topic.name: topic for topic in self.topics.values()}
        self.kafka_id = f"{namespace}.{service}" if namespace else service
        self.bootstrap = bootstrap
        self.registry = SchemaRegistryClient({"url": registry_url})
        self.committer = committer or Committer(bootstrap, f"{self.kafka_id}-{instance}", crash_before_commit)
        self.stores: list[Store[Any]] = []
        self.processed: Store[str] = self.store("processed-events", _TextCodec())
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._startup_steps: list[Callable[[], None]] = []
        self._periodic: list[tuple[float, Callable[[], Awaitable[None]], bool]] = []
        self._periodic_tasks: list[asyncio.Task[None]] = []
        self._serializers: dict[str, ProtobufSerializer] = {}
        self._frames: dict[str, bytes] = {}
        self._writer_types: dict[tuple[int, tuple[int, ...]], str] = {}
        self._consumer: Consumer | None = None
        self._consume_task: asyncio.Task[None] | None = None
        self._last_flush = time.monotonic()
        self._stopping = asyncio.Event()
        self.assigned = False
        self.restored = False
        self.started = False  # start() done: the schemas of what we publish are cached
        # Assigned partitions whose end the consumer has not reached since their last event (or since
        # they were assigned); see caught_up.
        self._behind: set[tuple[str, int]] = set()
        self._assignment: set[tuple[str, int]] = set()
        self._initialised = False  # init_transactions done (it is refused a second time)
        self._admin: AdminClient | None = None
        self._open_at: dict[tuple[str, int], int] = {}  # LSO of the partitions open at the last look
        self._group_offsets_sealed = False  # see _seal_group_offsets
        if committer is None:  # a Kafka committer: its transactions can be left hanging by a broker
            self.every(HANGING_CHECK_SECONDS, self._seal_hanging_transactions)

    # --- wiring -------------------------------------------------------------------------------

    def store(self, name: str, codec: Any, *, pipelined: bool = False) -> Store[Any]:
        """A changelog-backed store; `pipelined`: see Store."""
        store: Store[Any] = Store(self.kafka_id, name, codec, pipelined=pipelined)
        self.stores.append(store)
        return store

    def on(self, topic: str, event: str, handler: Handler) -> None:
        spec = self.topics[topic]
        if event not in spec.consumers.get(self.service, ()):
            raise ValueError(f"the topic map does not list {self.service} as a consumer of {topic}/{event}")
        self._handlers[(spec.name, event)] = handler

    def on_start(self, step: Callable[[], None]) -> None:
        """A blocking step to run (in a thread) after the stores are restored, before the bus is ready."""
        self._startup_steps.append(step)

    def every(self, seconds: float, task: Callable[[], Awaitable[None]], *, when_caught_up: bool = False) -> None:
        """Run `task` every `seconds` once the bus has started (sweeps: expiries, timeouts), until it
        stops. A failing run is logged and the next one happens as planned. `when_caught_up`: a run is
        skipped while the consumer has not read to the end of its partitions (see caught_up), for a
        sweep that must not act on what the events waiting there would change (a saga's timeouts)."""
        self._periodic.append((seconds, task, when_caught_up))

    @property
    def caught_up(self) -> bool:
        """The consumer holds its partitions and has handled every event on them, as far as the last
        fetch saw: after a restart, once the events that arrived meanwhile are handled."""
        return self.assigned and not self._behind

    async def _run_periodically(self, seconds: float, task: Callable[[], Awaitable[None]],
                                when_caught_up: bool) -> None:
        while not self._stopping.is_set():
            try:
                if self.caught_up or not when_caught_up:
                    await task()
            except Exception:
                log.exception("periodic task %s failed", getattr(task, "__qualname__", task))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    def unit_of_work(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        return self.committer.unit_of_work()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Fence earlier instances, rebuild the stores, check our schemas are registered, start consuming."""
        admin = self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        await asyncio.to_thread(self._ensure_topics, admin)
        await asyncio.to_thread(ensure_changelog_topics, admin, self.stores)
        # A retried start (the registry not seeded yet, say) resumes here: the producer's transactions are
        # initialised once (a second init_transactions is refused) and the stores are not restored twice.
        if not self.restored:
            if not self._initialised:
                await asyncio.to_thread(self.committer.init)
                self._initialised = True
            self.committer.start()
            # After init_transactions no transaction of ours is open: one that still is was left hanging
            # by a broker restart, and the restore would stop at it (transactions.py). Sealed first.
            await self._seal_open_transactions(await asyncio.to_thread(
                open_transactions_once_known, admin, self._written_partitions()))
            count = await asyncio.to_thread(restore, self.bootstrap, self.stores)
            log.info("restored %d changelog records into %d stores", count, len(self.stores))
            for step in self._startup_steps:
                await asyncio.to_thread(step)
            self.restored = True
        for topic in self.topics.values():
            if topic.producer != self.service:
                continue
            await asyncio.to_thread(self.serialize, topic, envelope_class(topic.envelope)())
        self.committer.start()
        self._start_consuming()
        self._periodic_tasks = [asyncio.create_task(self._run_periodically(*periodic)) for periodic in self._periodic]
        self.started = True

    def _start_consuming(self) -> None:
        topics = sorted({topic for topic, _ in self._handlers})
        if topics:
            self._consumer = Consumer({
                "bootstrap.servers": self.bootstrap, "group.id": self.kafka_id,
                # Static membership: a restarted instance (even after kill -9) takes its partitions
                # back at once instead of waiting for the dead member's session to time out.
                "group.instance.id": self.committer.transactional_id,
                "isolation.level": "read_committed", "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "partition.assignment.strategy": "cooperative-sticky",
                # An event at a partition's end tells caught_up that everything before it is handled.
                "enable.partition.eof": True,
                # Fenced (a second instance took our group.instance.id): exit, never serve a frozen store.
                "error_cb": watchdog.on_kafka_error("consumer"),
                # Learn of such fencing within a second or so, not the default 3.
                "heartbeat.interval.ms": 1000,
            })
            self.committer.attach_consumer(self._consumer.consumer_group_metadata)
            self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
            self._consume_task = asyncio.create_task(self._consume(), name="consumer")
        else:
            self.assigned = True

    async def ready(self) -> bool:
        """A readiness check: the stores are rebuilt and the consumer group gave us our partitions."""
        return self.restored and self.assigned

    async def committing(self) -> bool:
        """A readiness check: the committer is not stuck with units of work waiting (see Committer)."""
        return await self.committer.progressing()

    def _written_partitions(self) -> list[tuple[str, int]]:
        """The partitions this service's transactions write: its changelog and the topics it publishes.
        (The dead-letter topics are written by every consumer of a topic, and read by no service.)"""
        changelogs = sorted({(store.topic, 0) for store in self.stores})
        return changelogs + [(topic.name, partition) for topic in self.topics.values()
                             if topic.producer == self.service for partition in range(topic.partitions)]

    async def _seal_open_transactions(self, hanging: dict[tuple[str, int], int]) -> None:
        if hanging:
            log.warning("sealing hanging transactions (LSO below the high watermark) on %s",
                        ", ".join(f"{topic}[{partition}]@{lso}" for (topic, partition), lso in sorted(hanging.items())))
            await self.committer.seal(sorted(hanging))

    async def _seal_hanging_transactions(self) -> None:
        """The periodic look: a partition we write whose LSO sits below its high watermark, at the same
        offset as at the last look, holds a transaction left hanging (ours commit in milliseconds)."""
        if self._admin is None:
            return
        try:
            open_now = await asyncio.to_thread(open_transactions, self._admin, self._written_partitions())
        except (KafkaException, TimeoutError) as exc:  # Kafka unreachable: the committer says so already
            log.debug("could not look for hanging transactions: %s", exc)
            return
        stuck = {tp: lso for tp, lso in open_now.items() if self._open_at.get(tp) == lso}
        self._open_at = open_now
        await self._seal_open_transactions(stuck)

    async def _seal_group_offsets(self) -> None:
        """Once the consumer first holds partitions, before it handles an event: commit the group's
        stable offsets of them again, in a transaction. A transaction left hanging by a broker restart
        (transactions.py) leaves its offset commit pending in the group too, and a read_committed
        consumer (require_stable) then never gets its offsets: a restarted paying consumed nothing
        more. This transaction's marker on the group's partition completes it (the offsets the hung
        one committed are replaced by the stable ones: its events come again, and are skipped as
        handled). Before any event is handled, so it moves no offset back."""
        offsets = await asyncio.to_thread(self._stable_offsets, sorted(self._assignment))
        async with self.unit_of_work() as work:
            for (topic, partition), offset in offsets.items():
                work.consumed(topic, partition, offset - 1)  # consumed(n) commits n + 1

    def _stable_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Blocking. The group's committed offsets of these partitions, leaving out pending ones (a
        read_uncommitted reader does not require stable offsets); a partition's start where none is."""
        reader = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.kafka_id,
                           "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
        try:
            committed = reader.committed([TopicPartition(t, p) for t, p in partitions], timeout=10)
            return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0
                    else reader.get_watermark_offsets(tp, timeout=10)[0] for tp in committed}
        finally:
            reader.close()

    def _on_assign(self, _consumer: Consumer, partitions: list[Any]) -> None:
        self._assignment.update((p.topic, p.partition) for p in partitions)
        self._behind.update((p.topic, p.partition) for p in partitions)
        self.assigned = True

    def _on_revoke(self, _consumer: Consumer, partitions: list[Any]) -> None:
        self._assignment.difference_update((p.topic, p.partition) for p in partitions)
        self._behind.difference_update((p.topic, p.partition) for p in partitions)
        self.committer.forget_deferred([(p.topic, p.partition) for p in partitions])

    def _ensure_topics(self, admin: AdminClient) -> None:
        wanted = [t for t in self.topics.values()
                  if t.producer == self.service or self.service in t.consumers]
        existing = set(admin.list_topics(timeout=10).topics)
        new = []
        for t in wanted:
            config = {"cleanup.policy": "compact"} if t.compacted else {}
            new += [NewTopic(t.name, t.partitions, 1, config=config), NewTopic(t.dlq, 1, 1)]
        new = [t for t in new if t.topic not in existing]
        for future in admin.create_topics(new).values() if new else []:
            with contextlib.suppress(KafkaException):  # another service created it first
                future.result(timeout=30)

    async def stop(self) -> None:
        """Finish the batch in hand (its offsets commit with it), then close consumer and producer."""
        self._stopping.set()
        for task in self._periodic_tasks:
            await task
        if self._consume_task is not None:
            await self._consume_task
        await self.committer.flush_deferred()
        await self.committer.close()
        if self._consumer is not None:
            await asyncio.to_thread(self._consumer.close)

    # --- publishing ---------------------------------------------------------------------------

    def serialize(self, topic: topic_map.Topic, envelope: Any) -> bytes:
        """The envelope in the Confluent wire format. The first one of a topic goes through
        ProtobufSerializer, which looks the schema up in the registry (auto-registration off) and
        frames it; its frame (magic byte, schema id, message indexes) is then reused, since it is the
        same for every envelope of the topic: the serializer itself caches the id the same way."""
        frame = self._frames.get(topic.name)
        if frame is not None:
            return frame + envelope.SerializeToString()
        framed = self._serializer(topic)(envelope, SerializationContext(topic.name, MessageField.VALUE))
        assert framed is not None  # only None for a None message
        payload = envelope.SerializeToString()
        if framed.endswith(payload):
            self._frames[topic.name] = framed[:len(framed) - len(payload)]
        return framed

    def _serializer(self, topic: topic_map.Topic) -> ProtobufSerializer:
        if topic.name not in self._serializers:
            self._serializers[topic.name] = ProtobufSerializer(
                envelope_class(topic.envelope), self.registry,
                {"auto.register.schemas": False, "use.deprecated.format": False})
        return self._serializers[topic.name]

    def envelope(self, topic: str, aggregate_id: str, *, correlation_id: str = "", causation_id: str = "",
                 aggregate_version: int = 0, **event: ProtoMessage) -> Any:
        """Build the topic's envelope around one event, with fresh metadata."""
        spec = self.topics[topic]
        if len(event) != 1 or next(iter(event)) not in spec.events:
            raise ValueError(f"{topic} carries one of {', '.join(spec.events)}; got {', '.join(event)}")
        envelope: Any = envelope_class(spec.envelope)(**event)
        envelope.metadata.event_id = str(uuid.uuid4())
        envelope.metadata.occurred_at.CopyFrom(timestamp(datetime.datetime.now(datetime.UTC)))
        envelope.metadata.aggregate_id = aggregate_id
        envelope.metadata.correlation_id = correlation_id or aggregate_id
        envelope.metadata.causation_id = causation_id
        envelope.metadata.producer = self.service
        envelope.metadata.aggregate_version = aggregate_version
        return envelope

    def publish(self, work: UnitOfWork, topic: str, aggregate_id: str, *, correlation_id: str = "",
                causation_id: str = "", aggregate_version: int = 0, **event: ProtoMessage) -> Any:
        """Add an event to the unit of work; it is sent when (and only if) the unit commits."""
        envelope = self.envelope(topic, aggregate_id, correlation_id=correlation_id, causation_id=causation_id,
                                 aggregate_version=aggregate_version, **event)
        spec = self.topics[topic]
        work.send(OutgoingRecord(spec.name, aggregate_id.encode(), self.serialize(spec, envelope)))
        return envelope

    # --- consuming ----------------------------------------------------------------------------

    async def _consume(self) -> None:
        assert self._consumer is not None
        while not self._stopping.is_set():
            try:
                batch = await asyncio.to_thread(self._next_batch)
            except KafkaException as exc:
                watchdog.exit_if_fatal("consumer", exc.args[0])
                log.warning("consume failed, retrying: %s", exc)
                await asyncio.sleep(1)
                continue
            for message in batch:  # fenced: not one more event handled, not one more read answered
                watchdog.exit_if_fatal("consumer", message.error())
            if not self._group_offsets_sealed and self._assignment:
                try:
                    await self._keep_trying(self._seal_group_offsets)
                except Stopping:
                    return
                self._group_offsets_sealed = True
            events = [message for message in batch if message.error() is None]
            if not events or time.monotonic() - self._last_flush > DEFERRED_OFFSETS_AT_MOST:
                # Idle for a moment (or busy for long): commit the offsets of the events we skipped.
                self._last_flush = time.monotonic()
                await self._keep_trying(self.committer.flush_deferred)
            by_partition: dict[tuple[str, int], list[Message]] = defaultdict(list)
            for message in events:
                by_partition[(message.topic(), message.partition())].append(message)  # type: ignore[index]
            # Partitions in parallel; one partition's events (one aggregate's) strictly in order.
            await asyncio.gather(*(self._handle_in_order(msgs) for msgs in by_partition.values()))
            for message in batch:  # in fetch order: an end-of-partition marker follows that partition's events
                where = (message.topic(), message.partition())
                error = message.error()
                if error is None and where in self._assignment:
                    self._behind.add(where)  # type: ignore[arg-type]
                elif error is not None and error.code() == KafkaError._PARTITION_EOF:
                    self._behind.discard(where)  # type: ignore[arg-type]


    def _next_batch(self) -> list[Message]:
        """Blocking. Waits up to half a second for an event, then takes what else is already fetched:
        consume(n, timeout) alone waits for n events or the whole timeout, which would add up to 0.5 s
        to every hop of a saga under light load."""
        assert self._consumer is not None
        first = self._consumer.poll(0.5)
        return [] if first is None else [first, *self._consumer.consume(199, 0)]

    async def _handle_in_order(self, messages: list[Message]) -> None:
        for message in messages:
            try:
                await self.handle_message(message)
            except Stopping:
                return  # uncommitted: the next instance takes this event again

    async def handle_message(self, message: Message) -> None:
        """Handle one event, exactly once in effect. Poison and handler bugs go to the DLQ; outages of
        Kafka, the registry or a called service are waited out (the partition pauses), never parked."""
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        if is_seal(message):  # it completed a hanging transaction (transactions.py); no event
            self.committer.defer_offset(topic, partition, offset)
            return
        try:
            if self._writer_known(message.value()):
                envelope = self._decode(topic, message)  # no registry lookup: no thread needed
            else:
                envelope = await self._keep_trying(lambda: asyncio.to_thread(self._decode, topic, message))
        except Exception as exc:
            await self._keep_trying(functools.partial(self._dead_letter, message, "decode", exc))
            return
        name = envelope.WhichOneof("event")
        handler = self._handlers.get((topic, name))
        event_id = envelope.metadata.event_id
        if handler is None or not event_id or event_id in self.processed:
            self.committer.defer_offset(topic, partition, offset)  # not ours, or seen: no transaction of its own
            return

        async def run_handler() -> None:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(5), reraise=True,
                                               wait=wait_exponential(multiplier=0.1, max=3),
                                               retry=retry_if_exception(is_worth_retrying)):
                with attempt:
                    async with self.unit_of_work() as work:
                        work.consumed(topic, partition, offset)
                        work.put(self.processed, event_id, f"{topic}:{partition}:{offset}")
                        await handler(EventContext(self, work, topic, name, getattr(envelope, name),
                                                   envelope.metadata))

        try:
            await self._keep_trying(run_handler)
        except Exception as exc:
            await self._keep_trying(functools.partial(self._dead_letter, message, "handle", exc))

    async def _keep_trying(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run a step until it gets past outages (Kafka, registry, a called service), with backoff.
        Any other exception is the step's own answer and goes to the caller; so does stopping."""
        delay = 0.2
        while True:
            try:
                return await step()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                if self._stopping.is_set():
                    raise Stopping from exc
                log.warning("outage, retrying in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def decode(self, message: Message) -> Any:
        """The envelope of a record of one of the bus's topics; PoisonEvent if it cannot be one."""
        topic = message.topic()
        assert topic is not None
        return self._decode(topic, message)

    def _decode(self, topic: str, message: Message) -> Any:
        raw = message.value()
        if not raw:
            raise PoisonEvent("empty value")
        return self.deserialize(topic, raw)

    def deserialize(self, kafka_topic: str, raw: bytes) -> Any:
        """Confluent wire format -> the topic's envelope. The writer's schema is looked up in the
        registry by id (once per id) and must be the topic's envelope; the payload is then parsed as
        the reader's class, as ProtobufDeserializer does, minus its per-message descriptor copies."""
        spec = self._by_kafka_name[kafka_topic]
        writer, payload_at = self._writer_type(raw)
        if writer != spec.envelope:
            raise PoisonEvent(f"{kafka_topic} carries {spec.envelope}, but this event was written as {writer}")
        try:
            envelope: Any = envelope_class(spec.envelope).FromString(raw[payload_at:])
        except DecodeError as exc:
            raise PoisonEvent(f"the payload is not a valid {spec.envelope}: {exc}") from exc
        if envelope.WhichOneof("event") is None:
            raise PoisonEvent("the envelope holds no event this version of the schema knows")
        return envelope

    def _writer_known(self, raw: bytes | None) -> bool:
        """Whether the writer's schema of this record was already looked up (False for any malformed one)."""
        try:
            return raw is not None and (int.from_bytes(raw[1:5], "big"),
                                        tuple(_read_message_indexes(raw, 5)[0])) in self._writer_types
        except PoisonEvent:
            return False

    def _writer_type(self, raw: bytes) -> tuple[str, int]:
        """The full name of the message the producer wrote (from the framing and the registry), and
        where its payload starts."""
        if len(raw) < 6 or raw[0] != 0:
            raise PoisonEvent("not in the Confluent wire format (no magic byte)")
        schema_id = int.from_bytes(raw[1:5], "big")
        indexes, payload_at = _read_message_indexes(raw, 5)
        cache_key = (schema_id, tuple(indexes))
        if cache_key not in self._writer_types:
            try:
                schema = self.registry.get_schema(schema_id, fmt="serialized")
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:
                    raise PoisonEvent(f"schema id {schema_id} is unknown to the registry") from exc
                raise
            file = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(schema.schema_str or ""))
            try:
                message_type = file.message_type[indexes[0]]
                names = [message_type.name]
                for index in indexes[1:]:
                    message_type = message_type.nested_type[index]
                    names.append(message_type.name)
            except IndexError as exc:
                raise PoisonEvent(f"message indexes {indexes} point nowhere in schema {schema_id}") from exc
            self._writer_types[cache_key] = ".".join([file.package, *names])
        return self._writer_types[cache_key], payload_at

    async def _dead_letter(self, message: Message, stage: str, exc: BaseException) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        log.error("event %s[%d]@%d sent to %s.dlq (%s): %s", topic, partition, offset, topic, stage, exc)
        headers: list[tuple[str, str | bytes | None]] = [
            ("dlq.stage", stage.encode()),
            ("dlq.error", str(exc)[:2000].encode()),
            ("dlq.error.class", type(exc).__name__.encode()),
            ("dlq.error.trace", portable_trace(exc)[-4000:].encode()),
            ("dlq.original.topic", topic.encode()),
            ("dlq.original.partition", str(partition).encode()),
            ("dlq.original.offset", str(offset).encode()),
            ("dlq.consumer.group", self.kafka_id.encode()),
            ("dlq.failed.at", datetime.datetime.now(datetime.UTC).isoformat().encode()),
        ]
        async with self.unit_of_work() as work:
            work.consumed(topic, partition, offset)
            work.send(OutgoingRecord(f"{topic}.dlq", message.key() or b"", message.value(), headers))


def portable_trace(exc: BaseException) -> str:
    """The traceback with each file named from the repository root or its installed package
    ("services/runtime/bus.py", "confluent_kafka/serializing_producer.py"): a dead letter travels to other
    machines and people, who need the trace but not this machine's directories."""
    root = Path(__file__).resolve().parents[2]

    def portable(filename: str) -> str:
        path = Path(filename)
        if path.is_relative_to(root):
            return str(path.relative_to(root))
        parts = path.parts
        for at in range(len(parts) - 1, -1, -1):  # the innermost of site-packages, python3.11 (the standard library)
            if parts[at] in ("site-packages", "dist-packages") or parts[at].startswith("python3"):
                return str(Path(*parts[at + 1:]))
        return path.name  # <frozen ...> and anything else

    seen: set[int] = set()
    pending = [traceback.TracebackException.from_exception(exc)]
    first = pending[0]
    while pending:  # the exception and the ones it was raised from or during
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for frame in current.stack:
            frame.filename = portable(frame.filename)
        pending += [chained for chained in (current.__cause__, current.__context__) if chained is not None]
    return "".join(first.format())


def _read_message_indexes(raw: bytes, position: int) -> tuple[list[int], int]:
    """Confluent's message-index array: zigzag varints, a count then the path; a lone 0 means [0]."""
    def varint() -> int:
        nonlocal position
        shift = result = 0
        while True:
            if position >= len(raw):
                raise PoisonEvent("truncated message indexes")
            byte = raw[position]
            position += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7

    count = varint()
    if count == 0:
        return [0], position
    if count < 0 or count > 32:
        raise PoisonEvent("malformed message indexes")
    return [varint() for _ in range(count)], position


class _TextCodec:
    def encode(self, value: str) -> bytes:
        return value.encode()

    def decode(self, data: bytes) -> str:
        return data.decode()
