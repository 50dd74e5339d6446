"""Live pages: one Kafka consumer per site process, fanned out to the open pages.

The consumer reads the saga's topics from their end (a group of its own per process, nothing
committed: a page that opens later takes its snapshot from the services, not from Kafka) and tells
every page watching an order that an event of that order arrived:

    async with feed.watch(order_id) as changes:      # an asyncio.Queue of event ids
        event_id = await changes.get()

The page then reads the order again from ordering, whose timeline names the event each step came
from, so it shows the step once ordering has taken it into account. A page about a whole topic (the
back-office's stock alerts) watches the topic instead, by its name in the topic map:

    async with feed.watch(EventFeed.topic_key("stocking.levels.v1")) as changes:
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from confluent_kafka import Consumer, KafkaError
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from services.runtime import topic_map
from services.runtime.bus import envelope_class

log = logging.getLogger(__name__)


class EventFeed:
    """Events of the given topics, by the id of the order (or other aggregate) they concern."""

    def __init__(self, site: str, bootstrap: str, registry_url: str, topics: list[str], *, namespace: str = "",
                 key_field: str = "order_id") -> None:
        specs = topic_map.in_namespace(topic_map.load(), namespace)
        self.topics = {specs[name].name: specs[name] for name in topics}
        self.names = {specs[name].name: name for name in topics}  # Kafka's name (namespaced) -> the map's
        registry = SchemaRegistryClient({"url": registry_url})
        self.deserializers = {
            kafka_name: ProtobufDeserializer(envelope_class(spec.envelope), {"use.deprecated.format": False},
                                             registry)
            for kafka_name, spec in self.topics.items()}
        self.key_field = key_field
        self.consumer_config = {
            "bootstrap.servers": bootstrap, "isolation.level": "read_committed",
            "group.id": f"{namespace + '.' if namespace else ''}{site}-live-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "latest", "enable.auto.commit": False,
        }
        self.watchers: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.assigned = threading.Event()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="event-feed", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)

    @contextlib.asynccontextmanager
    async def watch(self, key: str) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100)
        self.watchers[key].add(queue)
        try:
            yield queue
        finally:
            self.watchers[key].discard(queue)
            if not self.watchers[key]:
                del self.watchers[key]

    def _run(self) -> None:
        consumer = Consumer(self.consumer_config)
        consumer.subscribe(list(self.topics), on_assign=lambda *_: self.assigned.set())
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if (error := message.error()) is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("live feed: %s", error)
                    continue
                self._dispatch(message)
        finally:
            consumer.close()

    def _dispatch(self, message: Any) -> None:
        topic = message.topic()
        try:
            envelope = self.deserializers[topic](message.value(), SerializationContext(topic, MessageField.VALUE))
        except Exception as exc:  # an event the site cannot read is only a missed refresh: polling covers it
            log.warning("live feed: cannot decode an event of %s: %s", topic, exc)
            return
        which = envelope.WhichOneof("event")
        if which is None:
            return
        event = getattr(envelope, which)
        key = getattr(event, self.key_field, "") if self.key_field in event.DESCRIPTOR.fields_by_name else ""
        key = key or (message.key() or b"").decode(errors="replace")
        for watched in (key, self.topic_key(self.names.get(topic, topic))):
            if watched in self.watchers and self._loop is not None:
                self._loop.call_soon_threadsafe(self._notify, watched, envelope.metadata.event_id)

    @staticmethod
    def topic_key(topic: str) -> str:
        """The key a page watches to hear of every event of a topic (its name in the topic map)."""
        return f"topic:{topic}"

    def _notify(self, key: str, event_id: str) -> None:
        for queue in list(self.watchers.get(key, ())):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled page catches up from its next snapshot
                queue.put_nowait(event_id)
