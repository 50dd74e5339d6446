"""Transactions left hanging by a broker restart (services/runtime/transactions.py), on the real broker.

A broker killed while a commit's markers are being written completes the commit when it comes back,
but can skip the markers of partitions whose leader it does not know yet: the records stay behind
the partition's last stable offset, unseen by read_committed readers, though commit_transaction
said yes, and the group offsets the transaction committed stay pending. The first test kills a
broker of its own under committing services; the second shows the restore waiting for an open
transaction instead of stopping at it.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from services.runtime.store import JsonCodec, Store, ensure_changelog_topics, open_transactions, restore
from tests.runtime.hanging_writer import bus_of, start
from tools.kafka import KafkaBroker
from tools.processes import free_port, spawn, stop

ROOT = Path(__file__).resolve().parents[2]
SERVICES = 4  # committing at the moment of the kill: at least one is between PrepareCommit and its markers


def _acked(log: Path) -> set[str]:
    return {line.split()[1] for line in log.read_text().splitlines() if line.startswith("acked ")}


async def test_a_commit_left_hanging_by_a_broker_restart_is_sealed_and_restored(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka", free_port(), free_port()).start()
    writers: list[subprocess.Popen[bytes]] = []
    try:
        names = [f"hang{i}" for i in range(SERVICES)]
        writers = [spawn([sys.executable, "-m", "tests.runtime.hanging_writer", broker.bootstrap, name],
                         tmp_path / f"{name}.log", cwd=ROOT) for name in names]
        deadline = time.monotonic() + 120
        while not all(len(_acked(tmp_path / f"{name}.log")) > 50 for name in names):
            assert time.monotonic() < deadline, "the writers did not get going"
            assert all(w.poll() is None for w in writers), "a writer died"
            await asyncio.sleep(0.2)
        # kill -9 the broker in the middle of their commits, and the services with it: none writes
        # again with its old producer (which would complete what the broker left hanging).
        assert broker.process is not None
        broker.process.send_signal(signal.SIGKILL)
        for writer in writers:
            writer.send_signal(signal.SIGKILL)
        broker.process.wait()
        for writer in writers:
            writer.wait()
        broker = KafkaBroker(broker.run_dir, broker.port, broker.controller_port)
        broker.start(timeout=180)

        for name in names:
            # A new instance of the service, as the supervisor starts it: it must restore every change
            # Kafka acknowledged to the one before.
            bus = bus_of(name, broker.bootstrap)
            items: Store[int] = bus.store("items", JsonCodec(int))
            await start(bus)
            try:
                # Its consumer gets its group's offsets (none left pending) and reads to the end.
                deadline = time.monotonic() + 60
                while not bus.caught_up:
                    assert time.monotonic() < deadline, f"{name}'s consumer never started: offsets left pending?"
                    await asyncio.sleep(0.2)
                missing = _acked(tmp_path / f"{name}.log") - {key for key, _ in items.items()}
                assert not missing, (f"{name} restored without {len(missing)} acknowledged changes, e.g. "
                                     f"{sorted(missing)[:5]}; broker: {_marker_lines(broker)}")
                # Nothing left behind the LSO, where every read_committed reader would stop.
                admin = AdminClient({"bootstrap.servers": broker.bootstrap})
                hanging = await asyncio.to_thread(open_transactions, admin, [(f"{name}.changelog", 0)])
                assert not hanging, f"a transaction hangs on {hanging}; broker: {_marker_lines(broker)}"
            finally:
                await bus.stop()
    finally:
        for writer in writers:
            stop(writer)
        broker.stop()


def _marker_lines(broker: KafkaBroker) -> list[str]:
    return [line for line in broker.log_file.read_text(errors="replace").splitlines() if "transaction markers" in line]


async def test_the_restore_waits_for_a_transaction_open_on_the_changelog_instead_of_stopping_at_it(
        kafka_bootstrap: str, unique_name: str) -> None:
    store: Store[int] = Store(unique_name, "items", JsonCodec(int))
    await asyncio.to_thread(ensure_changelog_topics, AdminClient({"bootstrap.servers": kafka_bootstrap}), [store])
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"{unique_name}-0"})
    await asyncio.to_thread(producer.init_transactions, 30)
    producer.begin_transaction()
    producer.produce(store.topic, key=store.record_key("a"), value=store.codec.encode(1))
    assert await asyncio.to_thread(producer.flush, 10) == 0  # on the partition, behind its LSO

    rebuilt: Store[int] = Store(unique_name, "items", JsonCodec(int))
    restoring = asyncio.ensure_future(asyncio.to_thread(restore, kafka_bootstrap, [rebuilt]))
    await asyncio.sleep(2)
    assert not restoring.done(), "the restore ended at the open transaction, without what it may commit"
    await asyncio.to_thread(producer.commit_transaction, 30)
    assert await asyncio.wait_for(restoring, 60) == 1
    assert rebuilt.get("a") == 1
