"""Changelog-backed stores and transactional units of work, on the real broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from services.runtime.store import JsonCodec, Store, ensure_changelog_topics, restore
from services.runtime.transactions import Committer, UnitOfWork

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Level:
    sku: str
    units: int


def _store(service: str, name: str = "levels") -> Store[Level]:
    return Store(service, name, JsonCodec(Level))


async def _committer(bootstrap: str, service: str, stores: list[Store[Level]]) -> Committer:
    await asyncio.to_thread(ensure_changelog_topics, AdminClient({"bootstrap.servers": bootstrap}), stores)
    committer = Committer(bootstrap, f"{service}-0")
    await asyncio.to_thread(committer.init)
    committer.start()
    return committer


@pytest.mark.parametrize("pipelined", [False, True], ids=["locked-until-applied", "pipelined"])
async def test_every_committed_change_is_restored(kafka_bootstrap: str, unique_name: str, pipelined: bool) -> None:
    store: Store[Level] = Store(unique_name, "levels", JsonCodec(Level), pipelined=pipelined)
    committer = await _committer(kafka_bootstrap, unique_name, [store])

    async def add_one(i: int) -> None:
        sku = f"SKU-{i % 7}"
        async with committer.unit_of_work() as work:
            await work.lock((store, sku))
            current = work.get(store, sku)
            work.put(store, sku, Level(sku, (current.units if current else 0) + 1))

    await asyncio.gather(*(add_one(i) for i in range(300)))
    async with committer.unit_of_work() as work:
        work.delete(store, "SKU-0")
    await committer.close()
    expected = {f"SKU-{k}": len(range(k, 300, 7)) for k in range(1, 7)}  # SKU-0 was deleted
    assert {sku: level.units for sku, level in store.items()} == expected

    rebuilt = _store(unique_name)
    await asyncio.to_thread(restore, kafka_bootstrap, [rebuilt])
    assert {sku: level.units for sku, level in rebuilt.items()} == expected


async def test_two_units_locking_the_same_records_in_opposite_order_never_deadlock(
        kafka_bootstrap: str, unique_name: str) -> None:
    store = _store(unique_name)
    committer = await _committer(kafka_bootstrap, unique_name, [store])

    async def move(first: str, second: str) -> None:
        async with committer.unit_of_work() as work:
            await work.lock((store, first), (store, second))
            await asyncio.sleep(0.05)  # both units hold a lock when the other asks
            for sku in (first, second):
                current = work.get(store, sku)
                work.put(store, sku, Level(sku, (current.units if current else 0) + 1))

    await asyncio.wait_for(asyncio.gather(*[move("A", "B") if i % 2 else move("B", "A") for i in range(20)]), 30)
    await committer.close()
    assert store.get("A") == Level("A", 20) and store.get("B") == Level("B", 20)


def _read(bootstrap: str, topic: str, isolation: str) -> list[bytes | None]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.partition.eof": True,
                         "isolation.level": isolation, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes | None] = []
    try:
        while True:
            message = consumer.poll(10)
            assert message is not None, "no end of partition within 10 s"
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                return values
            assert error is None, error
            values.append(message.value())
    finally:
        consumer.close()


async def test_the_stores_of_a_service_share_one_changelog_and_restore_apart(kafka_bootstrap: str,
                                                                              unique_name: str) -> None:
    levels, floors = _store(unique_name), _store(unique_name, "floors")
    assert levels.topic == floors.topic == f"{unique_name}.changelog"
    committer = await _committer(kafka_bootstrap, unique_name, [levels, floors])
    async with committer.unit_of_work() as work:  # the same key in both stores: two records, not one
        work.put(levels, "SKU-1", Level("SKU-1", 5))
        work.put(floors, "SKU-1", Level("SKU-1", 2))
    await committer.close()

    # A later version that dropped the floors store restores what it keeps and skips the rest.
    levels_again = _store(unique_name)
    assert await asyncio.to_thread(restore, kafka_bootstrap, [levels_again]) == 1
    assert dict(levels_again.items()) == {"SKU-1": Level("SKU-1", 5)}
    both = [_store(unique_name), _store(unique_name, "floors")]
    assert await asyncio.to_thread(restore, kafka_bootstrap, both) == 2
    assert both[1].get("SKU-1") == Level("SKU-1", 2)


def test_a_crash_between_change_and_publish_leaves_neither_visible(kafka_bootstrap: str, unique_name: str) -> None:
    event_topic = f"{unique_name}.events"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(event_topic, 1, 1)])[event_topic].result(timeout=15)
    store: Store[int] = Store(unique_name, "counters", JsonCodec(int))
    ensure_changelog_topics(admin, [store])

    crashed = subprocess.run([sys.executable, "-m", "tests.runtime.crash_writer", kafka_bootstrap, unique_name,
                              event_topic], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 99, crashed.stderr

    # The records did reach the broker (an uncommitted reader sees them) ...
    assert _read(kafka_bootstrap, event_topic, "read_uncommitted") == [b"counter-changed"]
    # ... yet after the next instance fences the dead one, neither the change nor the event is visible.
    restarted = Committer(kafka_bootstrap, f"{unique_name}-0")
    restarted.init()
    assert _read(kafka_bootstrap, event_topic, "read_committed") == []
    restore(kafka_bootstrap, [store])
    assert "orders" not in store


async def test_restore_reads_to_the_end_of_a_changelog_of_many_batches(kafka_bootstrap: str, unique_name: str) -> None:
    store = _store(unique_name)
    committer = await _committer(kafka_bootstrap, unique_name, [store])
    for start in range(0, 5000, 500):
        async with committer.unit_of_work() as work:
            for i in range(start, start + 500):
                work.put(store, f"SKU-{i}", Level(f"SKU-{i}", i))
    await committer.close()

    rebuilt = _store(unique_name)
    assert await asyncio.to_thread(restore, kafka_bootstrap, [rebuilt]) == 5000
    assert len(rebuilt) == 5000 and rebuilt.get("SKU-4999") == Level("SKU-4999", 4999)


async def test_a_caller_giving_up_on_a_pipelined_unit_breaks_no_unit_that_read_it(kafka_bootstrap: str,
                                                                                    unique_name: str) -> None:
    store: Store[Level] = Store(unique_name, "levels", JsonCodec(Level), pipelined=True)
    committer = await _committer(kafka_bootstrap, unique_name, [store])

    async def add(units: int) -> None:
        async with committer.unit_of_work() as work:
            await work.lock((store, "SKU-1"))
            current = work.get(store, "SKU-1")
            work.put(store, "SKU-1", Level("SKU-1", (current.units if current else 0) + units))

    first = asyncio.create_task(add(1))
    while store.queued("SKU-1") is None:  # queued, not yet committed: its caller now gives up
        await asyncio.sleep(0)
    first.cancel()
    await asyncio.wait_for(add(10), 30)  # reads the queued 1, and still commits
    await committer.close()
    assert store.get("SKU-1") == Level("SKU-1", 11)
    rebuilt = _store(unique_name)
    await asyncio.to_thread(restore, kafka_bootstrap, [rebuilt])
    assert rebuilt.get("SKU-1") == Level("SKU-1", 11)


class _HeldCommitter(Committer):
    """Its transactions wait for `release`: a commit still in progress while the broker is away."""

    def __init__(self, bootstrap: str, transactional_id: str) -> None:
        super().__init__(bootstrap, transactional_id)
        self.writing, self.release = threading.Event(), threading.Event()

    def _write(self, batch: list[UnitOfWork], deferred: dict[tuple[str, int], int]) -> None:
        self.writing.set()
        self.release.wait(60)
        super()._write(batch, deferred)


async def test_a_caller_giving_up_on_a_unit_being_committed_keeps_its_records_locked_until_applied(
        kafka_bootstrap: str, unique_name: str) -> None:
    # As a CreateOrder whose deadline passed while its commit waited for the broker: the retry of the
    # same request must see the first one's changes, not make them a second time.
    store = _store(unique_name)
    await asyncio.to_thread(ensure_changelog_topics, AdminClient({"bootstrap.servers": kafka_bootstrap}), [store])
    committer = _HeldCommitter(kafka_bootstrap, f"{unique_name}-0")
    await asyncio.to_thread(committer.init)
    committer.start()

    async def add(units: int) -> None:
        async with committer.unit_of_work() as work:
            await work.lock((store, "SKU-1"))
            current = work.get(store, "SKU-1")
            work.put(store, "SKU-1", Level("SKU-1", (current.units if current else 0) + units))

    first = asyncio.create_task(add(1))
    while not committer.writing.is_set():  # its transaction is being written: its caller now gives up
        await asyncio.sleep(0.01)
    first.cancel()
    retry = asyncio.create_task(add(10))
    await asyncio.sleep(0.5)
    assert not retry.done(), "the retry went ahead while the first unit, still being committed, held the record"
    committer.release.set()
    await asyncio.wait_for(retry, 30)
    assert first.cancelled()
    await committer.close()
    assert store.get("SKU-1") == Level("SKU-1", 11)
