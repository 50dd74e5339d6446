"""The `_schemas` topic as an asyncio-friendly log: append (answered once Kafka acknowledged the
write) and a reader thread that hands every record, in order, to the event loop.

All state changes happen on the event loop thread (the reader posts records there), so HTTP
handlers read the state without locks. A writer waits until the reader has applied its own record,
which is how it learns whether its write won (see state.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger("registry")


class KafkaLog:
    def __init__(self, bootstrap: str, topic: str, on_record: Callable[[bytes | None, bytes | None], None],
                 timeout_ms: int = 10_000) -> None:
        self.bootstrap, self.topic, self.on_record = bootstrap, topic, on_record
        self.timeout_ms = timeout_ms
        self.position = 0  # every record below this offset has been applied
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        common: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _quiet_logger()}
        self._producer = Producer({**common, "enable.idempotence": True, "acks": "all", "linger.ms": 0,
                                   "message.timeout.ms": timeout_ms})
        # A second handle only for watermark queries, so the reader thread owns its consumer alone.
        self._meta = Consumer({**common, "group.id": f"registry-meta-{uuid.uuid4()}", "enable.auto.commit": False})
        self._meta_lock = threading.Lock()

    async def start(self) -> None:
        """Create the topic if needed and start reading it from the beginning."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._create_topic)
        for target in (self._read, self._poll_producer):
            thread = threading.Thread(target=target, name=f"registry-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._producer.flush(2)
        self._meta.close()

    def _create_topic(self) -> None:
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": _quiet_logger()}
        admin = AdminClient(conf)
        # replication_factor=-1: the broker's default, so a real cluster replicates the registry's state.
        topic = NewTopic(self.topic, num_partitions=1, replication_factor=-1, config={"cleanup.policy": "compact"})
        try:
            admin.create_topics([topic], operation_timeout=self.timeout_ms / 1000)[self.topic].result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    # -- writing -------------------------------------------------------------------------------

    async def append(self, key: bytes, value: bytes | None) -> int:
        """Write one record; returns its offset once Kafka acknowledged it (raises KafkaException)."""
        assert self._loop is not None
        loop = self._loop
        done: asyncio.Future[int] = loop.create_future()

        def delivered(err: KafkaError | None, msg: object) -> None:
            def settle() -> None:
                if done.done():
                    return
                if err is not None:
                    done.set_exception(KafkaException(err))
                else:
                    done.set_result(msg.offset())  # type: ignore[attr-defined]
            loop.call_soon_threadsafe(settle)

        self._producer.produce(self.topic, key=key, value=value, on_delivery=delivered)
        return await done

    def _poll_producer(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    # -- reading -------------------------------------------------------------------------------

    async def applied(self, offset: int) -> None:
        """Wait until the record at `offset` (and everything before it) has been applied."""
        if self.position > offset:
            return
        assert self._loop is not None
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append((offset, waiter))
        await waiter

    async def catch_up(self) -> None:
        """Wait until every record written before this call has been applied."""
        end = await asyncio.to_thread(self._end_offset)
        await self.applied(end - 1)

    def _end_offset(self) -> int:
        with self._meta_lock:
            _, high = self._meta.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=self.timeout_ms / 1000,
                                                       cached=False)
        return int(high)

    def _advance(self, position: int) -> None:
        self.position = max(self.position, position)
        still: list[tuple[int, asyncio.Future[None]]] = []
        for offset, waiter in self._waiters:
            if offset < self.position:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((offset, waiter))
        self._waiters = still

    def _deliver(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        self.on_record(key, value)
        self._advance(offset + 1)

    def _read(self) -> None:
        assert self._loop is not None
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"registry-{uuid.uuid4()}", "logger": _quiet_logger(),
            "enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 100,
        })
        consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        # Compaction leaves gaps in offsets: reaching the end is what proves we caught up.
                        self._loop.call_soon_threadsafe(self._advance, msg.offset() or 0)
                    else:
                        log.warning("reading %s: %s", self.topic, err.str())
                    continue
                self._loop.call_soon_threadsafe(self._deliver, msg.key(), msg.value(), msg.offset() or 0)
        finally:
            consumer.close()


def _quiet_logger() -> logging.Logger:
    # librdkafka reports every refused connection while a broker boots; our own messages say enough.
    quiet = logging.getLogger("registry.librdkafka")
    quiet.setLevel(logging.ERROR)
    return quiet
