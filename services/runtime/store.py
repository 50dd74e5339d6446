"""In-memory stores backed by compacted changelog topics, the way Kafka Streams keeps state.

A store is a dict in memory. Every change is written, inside the Kafka transaction of the unit of
work that made it (see transactions.py), to the service's compacted changelog topic
`<service>.changelog` under the key `<store>/<key>`, and applied to the dict only once that
transaction committed. At start-up the dicts are rebuilt by reading the changelog from the
beginning with read_committed, so a `kill -9` loses nothing that was acknowledged and shows nothing
that was not.

All the stores of a service share one changelog (rather than one per store): every partition a
transaction writes costs the broker a commit marker, and a unit of work touching four stores paid
for four. Measured on the raw chain (bench/checkout_bench.py's relay), six extra changelog
partitions in each hop's transaction took the p50 from 13.5 to 22.7 ms and the p99 from 27 to 149 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from pydantic import TypeAdapter

T = TypeVar("T")


class Codec(Protocol[T]):
    def encode(self, value: T) -> bytes: ...
    def decode(self, data: bytes) -> T: ...


class JsonCodec(Generic[T]):
    """Any type pydantic understands (dataclasses, enums, datetimes, ...) as JSON bytes."""

    def __init__(self, kind: Any) -> None:
        self._adapter: TypeAdapter[T] = TypeAdapter(kind)

    def encode(self, value: T) -> bytes:
        return self._adapter.dump_json(value)

    def decode(self, data: bytes) -> T:
        return self._adapter.validate_json(data)


class ProtobufCodec(Generic[T]):
    """A generated Protobuf message class as its binary encoding."""

    def __init__(self, message_class: Any) -> None:
        self._message_class = message_class

    def encode(self, value: T) -> bytes:
        return value.SerializeToString()  # type: ignore[attr-defined, no-any-return]

    def decode(self, data: bytes) -> T:
        return self._message_class.FromString(data)  # type: ignore[no-any-return]


def changelog_topic(service: str) -> str:
    return f"{service}.changelog"


class Store(Generic[T]):
    """One service's map from key to value. Reads are plain dict reads; writes go through a unit of work.

    In a `pipelined` store a unit's locks on its records are released once the unit is queued for
    commit, and the next unit reads the queued values (see transactions.py). Only for stores whose
    every writer reads its records through `UnitOfWork.get` while holding their locks: a plain `get`
    sees committed values only, and would lose an update still queued."""

    def __init__(self, service: str, name: str, codec: Codec[T], *, pipelined: bool = False) -> None:
        if "/" in name:
            raise ValueError(f"a store's name is the prefix of its changelog keys and cannot hold '/': {name!r}")
        self.name = name
        self.pipelined = pipelined
        self.topic = changelog_topic(service)
        self.codec = codec
        self._data: dict[str, T] = {}
        # Changes of units of work queued for commit, not yet committed (see transactions.py): units
        # read them, plain reads (what an RPC answers) never do.
        self._queued: dict[str, tuple[asyncio.Future[None], T | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def record_key(self, key: str) -> bytes:
        """The changelog record's key for one of this store's keys."""
        return f"{self.name}/{key}".encode()

    def get(self, key: str) -> T | None:
        return self._data.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(list(self._data.items()))

    def values(self) -> Iterator[T]:
        return iter(list(self._data.values()))

    def apply(self, key: str, value: T | None) -> None:
        """Apply a committed change (None deletes). Only the unit of work and the restore call this."""
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value

    def queued(self, key: str) -> tuple[asyncio.Future[None], T | None] | None:
        """The latest uncommitted change to this key and the future of the unit that made it."""
        return self._queued.get(key)

    def queue(self, key: str, value: T | None, done: asyncio.Future[None]) -> None:
        self._queued[key] = (done, value)

    def settle(self, key: str, value: T | None, done: asyncio.Future[None], committed: bool) -> None:
        """A queued change's transaction ended: applied if it committed, forgotten either way."""
        if committed:
            self.apply(key, value)
        entry = self._queued.get(key)
        if entry is not None and entry[0] is done:
            del self._queued[key]

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())


@contextlib.asynccontextmanager
async def locked(keys: Iterable[tuple[Store[Any], str]]) -> AsyncIterator[None]:
    """Hold the per-key locks of several records, always taken in (store, key) order so two
    operations over the same records never deadlock, whatever order their callers named them in."""
    ordered = sorted(set((store.name, key, id(store)) for store, key in keys))
    by_id = {id(store): store for store, _ in keys}
    async with contextlib.AsyncExitStack() as stack:
        for _name, key, store_id in ordered:
            await stack.enter_async_context(by_id[store_id].lock(key))
        yield


def ensure_changelog_topics(admin: AdminClient, stores: Iterable[Store[Any]]) -> None:
    existing = set(admin.list_topics(timeout=10).topics)
    new = [NewTopic(topic, 1, 1, config={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1",
                                          "segment.ms": "600000"})
           for topic in sorted({s.topic for s in stores}) if topic not in existing]
    for future in admin.create_topics(new).values() if new else []:
        with contextlib.suppress(Exception):  # created concurrently by another instance: fine
            future.result(timeout=30)


# How long the restore waits for a transaction open on a changelog to end: as long as Kafka lets one
# stay open (the producers' transaction.timeout.ms); one open longer was left hanging (transactions.py).
OPEN_TRANSACTION_WAIT_SECONDS = 60.0


def restore(bootstrap: str, stores: Iterable[Store[Any]]) -> int:
    """Rebuild every store from its changelog (blocking; run it in a thread). Returns records read."""
    by_topic: dict[str, dict[str, Store[Any]]] = {}
    for s in stores:
        by_topic.setdefault(s.topic, {})[s.name] = s
    if not by_topic:
        return 0
    _wait_for_open_transactions(bootstrap, sorted(by_topic))
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "restore-unused", "enable.auto.commit": False,
        "isolation.level": "read_committed", "enable.partition.eof": True,
        "fetch.max.bytes": 64 * 2**20, "max.partition.fetch.bytes": 16 * 2**20,
    })
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING) for topic in by_topic])
        pending = set(by_topic)
        read = 0
        while pending:
            for message in consumer.consume(10_000, timeout=1.0):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.topic())  # type: ignore[arg-type]
                        continue
                    raise RuntimeError(f"restoring {message.topic()}: {error.str()}")
                name, _, key = message.key().decode().partition("/")  # type: ignore[union-attr]
                store = by_topic[message.topic()].get(name)  # type: ignore[index]
                if store is None:
                    continue  # a store this version of the service no longer keeps
                raw = message.value()
                store.apply(key, None if raw is None else store.codec.decode(raw))
                read += 1
        return read
    finally:
        consumer.close()


def open_transactions(admin: AdminClient, partitions: list[tuple[str, int]],
                      timeout: float = 10) -> dict[tuple[str, int], int]:
    """Blocking. The partitions whose last stable offset is below their high watermark (a transaction
    is open there), each with its LSO."""
    if not partitions:
        return {}

    def ends(level: IsolationLevel) -> dict[tuple[str, int], int]:
        futures = admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions},
                                     isolation_level=level, request_timeout=timeout)
        return {(tp.topic, tp.partition): future.result(timeout).offset for tp, future in futures.items()}

    stable, written = ends(IsolationLevel.READ_COMMITTED), ends(IsolationLevel.READ_UNCOMMITTED)
    return {tp: lso for tp, lso in stable.items() if lso < written[tp]}


def open_transactions_once_known(admin: AdminClient, partitions: list[tuple[str, int]],
                                 within: float = 30.0) -> dict[tuple[str, int], int]:
    """open_transactions, for partitions that may have no leader yet (their topic was just created,
    here or by another service starting at the same time): asked again until they do."""
    deadline = time.monotonic() + within
    while True:
        try:
            return open_transactions(admin, partitions)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_for_open_transactions(bootstrap: str, topics: list[str]) -> None:
    """A read_committed reader ends at the changelog's last stable offset: a transaction still open
    there (the seal of a hanging one, its markers not yet written) would cut the restore short and
    serve the state of before it. Wait until it ends; fail (the start is retried) if it never does."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + OPEN_TRANSACTION_WAIT_SECONDS
    while open_now := open_transactions_once_known(admin, [(topic, 0) for topic in topics]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"a transaction stays open on {open_now} (LSO below the high watermark): "
                               "not restoring a part of the state")
        time.sleep(0.05)
