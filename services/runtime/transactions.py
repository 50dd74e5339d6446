"""Units of work: a state change, the events it publishes and the offset it consumed, all or nothing.

A unit of work collects store changes, outgoing records and (for an event handler) the consumed
offset. On commit, the committer writes them in one Kafka transaction: changelog records, event
records and `send_offsets_to_transaction`. Only after Kafka committed are the changes applied to the
in-memory stores. A crash before that leaves neither the state nor the events visible anywhere
(changelogs and consumers read with read_committed).

Several units of work committing at the same moment share one Kafka transaction (group commit):
Kafka allows one open transaction per producer, and batching keeps throughput up under load.

In a pipelined store (store.py), a unit's record locks are released as soon as it is queued for
commit, not when Kafka answers, so the next unit on the same records (the next event of the same
order) need not wait a whole transaction: it reads the queued values, is queued behind, and commits
only if the units it read from did (in the same transaction, or an earlier one). A unit that
only reads answers once what it read is committed. The committer also waits a moment (JOIN_WAIT) for
units being built to join the transaction it is about to write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from services.runtime import watchdog
from services.runtime.store import Store, locked

log = logging.getLogger(__name__)


@dataclass
class OutgoingRecord:
    topic: str
    key: bytes
    value: bytes | None
    headers: list[tuple[str, str | bytes | None]] = field(default_factory=list)
    partition: int | None = None  # None: the partitioner's choice (by key)


@dataclass
class UnitOfWork:
    changes: list[tuple[Store[Any], str, Any]] = field(default_factory=list)
    records: list[OutgoingRecord] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    pending: dict[tuple[int, str], Any] = field(default_factory=dict)
    locks: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)  # until applied
    early_locks: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)  # until queued
    read_from: list[asyncio.Future[None]] = field(default_factory=list)  # queued units this one read

    async def lock(self, *records: tuple[Store[Any], str]) -> None:
        """Hold these records' locks until the unit's changes are applied (until it is queued, for
        pipelined stores). Name every record the unit will change in one call: they are then taken
        in a fixed order (pipelined stores' first), so units never deadlock."""
        await self.early_locks.enter_async_context(locked([r for r in records if r[0].pipelined]))
        await self.locks.enter_async_context(locked([r for r in records if not r[0].pipelined]))

    def get(self, store: Store[Any], key: str) -> Any:
        """A read that sees this unit's own writes first, then those queued for commit by others."""
        marker = (id(store), key)
        if marker in self.pending:
            return self.pending[marker]
        queued = store.queued(key)
        if queued is None:
            return store.get(key)
        done, value = queued
        self.read_from.append(done)
        return value

    @property
    def read_a_rolled_back_change(self) -> bool:
        """A queued change this unit read was in a transaction that failed: the unit must be redone."""
        return any(done.done() and done.exception() is not None for done in self.read_from)

    def put(self, store: Store[Any], key: str, value: Any) -> None:
        self.changes.append((store, key, value))
        self.pending[(id(store), key)] = value

    def delete(self, store: Store[Any], key: str) -> None:
        self.put(store, key, None)

    def send(self, record: OutgoingRecord) -> None:
        self.records.append(record)

    def consumed(self, topic: str, partition: int, offset: int) -> None:
        self.offsets[(topic, partition)] = max(self.offsets.get((topic, partition), -1), offset + 1)


class TransactionAborted(Exception):
    """Kafka refused or lost the transaction; nothing of the unit of work became visible."""


READ_A_ROLLED_BACK_CHANGE = "a change this unit of work read was not committed"

# --- Hanging transactions ----------------------------------------------------------------------
#
# A broker killed between a transaction's PrepareCommit (when commit_transaction returns) and its
# commit markers completes the commit when it comes back, but it can skip the markers of partitions
# whose leader it does not know yet: "Couldn't find leader endpoint for partitions ... these
# partitions are likely deleted already and hence can be skipped", logged by the one-node test
# broker after most unclean restarts, while it fences its own previous incarnation. The coordinator
# then records CompleteCommit, yet those partitions hold the records with no marker: their last
# stable offset (LSO) stays there for good, and read_committed readers see nothing from it on. A
# restore stopped there and served the state of before (ordering lost the orders it had confirmed
# to their shoppers: GetOrder NOT_FOUND, their events dead-lettered), and a consumer waits there
# until the same producer writes that partition again (an order stuck with its StockCommitted
# unread, another stuck CONFIRMED).
#
# The partition's leader completes such a transaction with the next marker of the same producer id
# there, whatever its epoch. So a service seals its partitions: it commits a record with the header
# SEAL_HEADER and no value to each one it writes whose LSO stays below the high watermark (at
# start-up, after init_transactions, any such; later, one whose LSO has not moved between two looks),
# and every reader skips those records. The offsets such a transaction committed stay pending in
# the group the same way; the bus commits the group's stable offsets again before its consumer
# handles an event (EventBus._seal_group_offsets). Committed, because commit is the decision a kill
# leaves unmarked: the markers are skipped only for a transaction the broker completes on loading,
# one in PrepareCommit or PrepareAbort at the kill, and an abort is prepared only after a failure.
# (One left so after an abort would be committed by the seal: its units were reported failed and
# redone, so its changelog records are overwritten by the redone ones, and its events come twice,
# which the handlers, idempotent by business key, absorb.)

SEAL_HEADER = "shop.seal"


def is_seal(message: Message) -> bool:
    """A record written only to complete a hanging transaction (see above): every reader skips it."""
    return message.value() is None and any(header[0] == SEAL_HEADER for header in message.headers() or ())


def seal_record(topic: str, partition: int, transactional_id: str) -> OutgoingRecord:
    # The key reads as "<store>/<key>" of a store no service keeps, so a changelog's restore skips it too.
    return OutgoingRecord(topic, f"_seal/{transactional_id}".encode(), None,
                          [(SEAL_HEADER, transactional_id.encode())], partition)


async def _committed(done: asyncio.Future[None]) -> None:
    try:
        await asyncio.shield(done)
    except TransactionAborted as exc:
        raise TransactionAborted(READ_A_ROLLED_BACK_CHANGE) from exc


PRODUCER_SETTINGS = {
    "enable.idempotence": True,
    "linger.ms": 2,
    "transaction.timeout.ms": 60_000,
    # A transaction begun while the previous one's commit markers are still being written is answered
    # CONCURRENT_TRANSACTIONS, and librdkafka retries after retry.backoff.ms: at the default 100 ms,
    # back-to-back commits took ~105 ms each (10 a second); at 5 ms, 7 to 15 ms. The backoff still
    # grows exponentially to retry.backoff.max.ms (1 s) while Kafka is really unreachable.
    "retry.backoff.ms": 5,
}
JOIN_WAIT = 0.003  # seconds the committer waits for units being built to join its transaction
# The timeout given to each blocking transactional call. A commit takes milliseconds; one that times
# out is retried (or its units redone), so 15 s costs nothing, while the watchdog (watchdog.deadline),
# which ends the process when a call has not returned 10 s past it, then fires 25 s into a wedge
# rather than 40. An environment variable so that the wedge test can make it shorter still.
CALL_TIMEOUT = float(os.environ.get("KAFKA_TRANSACTION_CALL_TIMEOUT_SECONDS", "15"))
# Units waiting this long with no transaction committed, or transactions failing this long with none
# committed: the committer is stuck and health says so.
STALL_SECONDS = 20.0
# Transactions failing this long with none committed: the producer is broken for good (seen after a
# broker restart: every write of a SERVING carting answered INTERNAL for minutes); a fresh process
# is the cure, as for a hung call. Longer than a broker restart usually takes.
FAILING_EXIT_SECONDS = 90.0
# Test hook for the wedge test: the named transactional call (e.g. "send_offsets_to_transaction")
# blocks for good, as librdkafka's does in #5456, so that the watchdog's answer can be seen.
_HANG_IN = os.environ.get("SHOP_TEST_HANG_IN_KAFKA_CALL", "")


def _exit_if_fatal(exc: KafkaException) -> None:
    error: KafkaError = exc.args[0]
    if error.fatal():
        # Fenced by a newer instance, or the producer is broken: this process must not go on.
        watchdog.fatal(f"fatal Kafka producer error: {error.str()}", watchdog.EXIT_FATAL_KAFKA)


class Committer:
    """Owns the service's transactional producer and commits units of work in batches."""

    _waiting_since: float | None = None  # the first unit queued since the last commit (see stalled_for)
    _failing_since: float | None = None  # the first failed transaction since the last commit

    def __init__(self, bootstrap: str, transactional_id: str, crash_before_commit: bool = False) -> None:
        self.transactional_id = transactional_id
        self.producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id,
                                  "error_cb": watchdog.on_kafka_error("producer"), **PRODUCER_SETTINGS})
        self._queue: asyncio.Queue[tuple[UnitOfWork, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._building = 0  # units of work begun and not yet queued
        self._built = asyncio.Event()
        self._group_metadata: Callable[[], Any] = lambda: None
        # Offsets of events this service reads but does not handle: they ride along with the next
        # transaction instead of costing one of their own (see defer_offset).
        self._deferred: dict[tuple[str, int], int] = {}
        self._deferred_lock = threading.Lock()  # revocations arrive on the consumer's thread
        # Test hook for the crash-between-change-and-publish test: die with the transaction open.
        self._crash_before_commit = crash_before_commit

    def _call(self, what: str, call: Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT) -> Any:
        """A blocking transactional call under the watchdog: `timeout` is passed to the call and
        the process ends if it has not returned by then (plus the watchdog's margin)."""
        with watchdog.deadline(f"producer.{what}", timeout):
            if what == _HANG_IN:
                threading.Event().wait()
            return call(*args, timeout) if what != "begin_transaction" else call(*args)

    def stalled_for(self) -> float:
        """Seconds units of work have been waiting with no transaction committed (0 when none waits)."""
        now = time.monotonic()
        return max((now - since for since in (self._waiting_since, self._failing_since) if since is not None),
                   default=0.0)

    async def progressing(self) -> bool:
        """A readiness check: no unit has waited, and no transaction has failed, for STALL_SECONDS
        without a commit."""
        if (stalled := self.stalled_for()) > STALL_SECONDS:
            raise RuntimeError(f"no transaction committed for {stalled:.0f} s while units of work wait")
        return True

    def init(self) -> None:
        """Blocking. Fences any earlier instance with the same transactional id and aborts what it left open."""
        self._call("init_transactions", self.producer.init_transactions, timeout=60)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="committer")

    def attach_consumer(self, group_metadata: Callable[[], Any]) -> None:
        """How to get the consumer's group metadata; asked at each commit, since it changes with
        every rebalance and a stale one gets the offsets refused."""
        self._group_metadata = group_metadata

    def defer_offset(self, topic: str, partition: int, offset: int) -> None:
        """Mark an event consumed without a transaction of its own: its offset is committed with the
        next unit of work (or by flush_deferred). Redelivered after a crash, it is skipped again."""
        self._defer({(topic, partition): offset + 1})

    def _defer(self, offsets: dict[tuple[str, int], int]) -> None:
        with self._deferred_lock:
            for tp, offset in offsets.items():
                self._deferred[tp] = max(self._deferred.get(tp, -1), offset)

    def forget_deferred(self, partitions: list[tuple[str, int]]) -> None:
        """Partitions taken away by a rebalance: their new owner skips those events itself."""
        with self._deferred_lock:
            for tp in partitions:
                self._deferred.pop(tp, None)

    async def seal(self, partitions: list[tuple[str, int]]) -> None:
        """Commit a seal record to each partition: it completes whatever transaction of this producer
        id the partition still holds open (see the hanging transactions above)."""
        async with self.unit_of_work() as work:
            for topic, partition in partitions:
                work.send(seal_record(topic, partition, self.transactional_id))

    async def flush_deferred(self) -> None:
        if self._deferred:
            await asyncio.shield(self._enqueue(UnitOfWork()))

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Run a block as one unit of work; its locks (UnitOfWork.lock) are held until its changes are
        applied, or until it is queued for those of pipelined stores. Returns once they are applied.

        If the block raises, nothing is written. If Kafka refuses the transaction, or a unit this one
        read from was not committed, TransactionAborted."""
        work = UnitOfWork()
        done: asyncio.Future[None] | None = None
        async with work.locks:
            self._building += 1
            try:
                async with work.early_locks:
                    yield work
                    if work.changes or work.records or work.offsets:
                        done = self._enqueue(work)
            finally:
                self._building -= 1
                self._built.set()
            if done is not None:
                # Shielded: a caller that gives up (a cancelled RPC) must not cancel the future that
                # later units which read this one's changes look at; the unit is written either way.
                try:
                    await asyncio.shield(done)
                except asyncio.CancelledError:
                    # ... and so its locks are held until it is applied (or dropped), as for any unit.
                    # Released at the cancel, they let the caller's retry (a CreateOrder past its
                    # deadline while the broker was down) read the store without this unit's changes
                    # and make them again: a second order under one idempotency key, both committed.
                    await asyncio.wait([done])
                    raise
        if done is None:
            for earlier in work.read_from:  # answer nothing that may yet be undone
                await _committed(earlier)

    def _enqueue(self, work: UnitOfWork) -> asyncio.Future[None]:
        if work.read_a_rolled_back_change:
            raise TransactionAborted(READ_A_ROLLED_BACK_CHANGE)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()
        for store, key, value in work.changes:
            if store.pipelined:
                store.queue(key, value, done)
        self._queue.put_nowait((work, done))
        return done

    async def _let_units_join(self) -> None:
        deadline = asyncio.get_running_loop().time() + JOIN_WAIT
        while self._building and (left := deadline - asyncio.get_running_loop().time()) > 0:
            self._built.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._built.wait(), left)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await self._let_units_join()
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            for work, done in batch:
                if work.read_a_rolled_back_change:  # an earlier transaction failed under it: redo it
                    self._settle(work, done, TransactionAborted(READ_A_ROLLED_BACK_CHANGE))
            batch = [(work, done) for work, done in batch if not work.read_a_rolled_back_change]
            if not batch:
                continue
            with self._deferred_lock:
                deferred, self._deferred = self._deferred, {}
            try:
                await asyncio.to_thread(self._write, [work for work, _ in batch], deferred)
            except Exception as exc:
                log.warning("transaction of %d units of work failed: %s", len(batch), exc)
                self._defer(deferred)  # they ride with the next try
                now = time.monotonic()
                self._failing_since = self._failing_since or now
                if now - self._failing_since > FAILING_EXIT_SECONDS:
                    watchdog.fatal(f"no transaction committed for {now - self._failing_since:.0f} s, every one "
                                   f"failing (last: {exc}): producer broken, restarting", watchdog.EXIT_HUNG)
                for work, done in batch:
                    self._settle(work, done, TransactionAborted(str(exc)))
                if self._queue.empty():
                    self._waiting_since = None  # nothing waits: the units retry (or fail) on their own
                continue
            self._waiting_since = None if self._queue.empty() else time.monotonic()
            self._failing_since = None
            for work, done in batch:
                self._settle(work, done, None)

    @staticmethod
    def _settle(work: UnitOfWork, done: asyncio.Future[None], error: Exception | None) -> None:
        for store, key, value in work.changes:
            store.settle(key, value, done, committed=error is None)
        if not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    def _write(self, batch: list[UnitOfWork], deferred: dict[tuple[str, int], int]) -> None:
        producer = self.producer
        try:
            self._call("begin_transaction", producer.begin_transaction)
        except KafkaException as exc:
            _exit_if_fatal(exc)
            raise
        try:
            offsets = dict(deferred)
            for work in batch:
                for store, key, value in work.changes:
                    producer.produce(store.topic, key=store.record_key(key),
                                     value=None if value is None else store.codec.encode(value))
                for record in work.records:
                    producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers,
                                     partition=-1 if record.partition is None else record.partition)
                for tp, offset in work.offsets.items():
                    offsets[tp] = max(offsets.get(tp, -1), offset)
            if offsets:
                self._call("send_offsets_to_transaction", producer.send_offsets_to_transaction,
                           [TopicPartition(t, p, o) for (t, p), o in offsets.items()], self._group_metadata())
            if self._crash_before_commit:
                producer.flush(10)
                os._exit(99)
            self._commit_with_retries()
        except KafkaException as exc:
            _exit_if_fatal(exc)
            try:
                self._call("abort_transaction", producer.abort_transaction)
            except KafkaException as abort_exc:
                log.warning("abort_transaction failed after %s: %s", exc, abort_exc)
                # The abort's own error can be the fatal one: after a broker restart, an abort of a
                # transaction the coordinator never registered is answered INVALID_TXN_STATE, which
                # librdkafka makes fatal. Every later transaction would fail until FAILING_EXIT_SECONDS.
                _exit_if_fatal(abort_exc)
            raise

    def _commit_with_retries(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                self._call("commit_transaction", self.producer.commit_transaction)
                return
            except KafkaException as exc:
                if not exc.args[0].retriable() or attempt == attempts - 1:
                    raise
                log.warning("commit_transaction failed (attempt %d, retrying): %s", attempt + 1, exc)

    async def close(self) -> None:
        if self._task is not None:
            while not self._queue.empty():
                await asyncio.sleep(0.05)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.producer.flush, 10)
