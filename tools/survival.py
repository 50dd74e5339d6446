"""What tests/e2e/test_survival.py and bench/recovery_bench.py share: a broker and a registry of their
own to kill, and the platform watched as `make up` watches it.

The suite's shared broker and registry (tools/testenv.py) serve every suite at once: a test that kills
or restarts one of them must have its own. `OwnInfra` starts a KafkaBroker on free ports and a
registry on it, seeded with the published schemas, and restarts either with the same data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from google.protobuf import text_format
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from stocking.v1 import stock_service_pb2 as stock_api

from registry.launcher import start_registry
from services.runtime import topic_map
from services.runtime.process import declared
from services.runtime.transactions import is_seal
from tools.kafka import KafkaBroker
from tools.platform import SERVICES, Platform, health_status
from tools.processes import free_port, spawn, stop
from tools.shop import HOME, Shop, Shopper, Status

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
RETRIED_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL)


class OwnInfra:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.broker = KafkaBroker(run_dir / "kafka", free_port(), free_port())
        self.registry_port = free_port()
        self.registry: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry_port}"

    def start(self) -> OwnInfra:
        self.broker.start()
        self.start_registry()
        subprocess.run([sys.executable, "-m", "registry", "seed"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "SCHEMA_REGISTRY_URL": self.registry_url})
        return self

    def start_registry(self) -> None:
        self.registry = start_registry(self.bootstrap, self.registry_port, self.run_dir / "registry.log")

    def kill_registry(self) -> None:
        assert self.registry is not None
        self.registry.send_signal(signal.SIGKILL)
        self.registry.wait()
        self.registry = None

    def kill_broker(self) -> None:
        """kill -9 the broker's JVM: no clean shutdown, the data directory as a crash leaves it."""
        assert self.broker.process is not None
        self.broker.process.send_signal(signal.SIGKILL)
        self.broker.process.wait()

    def restart_broker(self) -> float:
        """Start the broker again on the same ports and data; returns when a client can create a topic
        (time.monotonic() of that moment)."""
        self.broker = KafkaBroker(self.broker.run_dir, self.broker.port, self.broker.controller_port)
        self.broker.start(timeout=180)
        return time.monotonic()

    def stop(self) -> None:
        if self.registry is not None:
            stop(self.registry)
        self.broker.stop()


async def health_of_all(platform: Platform) -> dict[str, str]:
    statuses = await asyncio.gather(*(health_status(f"127.0.0.1:{platform.ports[s]}") for s in SERVICES))
    return dict(zip(SERVICES, statuses, strict=True))


@contextlib.asynccontextmanager
async def supervised(platform: Platform) -> AsyncIterator[list[str]]:
    """While the block runs, a service that exits (the watchdog's exit 75, say) is started again, as
    `make up`'s supervisor does; yields the lines saying which were."""
    restarted: list[str] = []

    async def restart_the_dead() -> None:
        while True:
            for service in SERVICES:
                process = platform.processes.get(service)
                if process is not None and process.poll() is not None:
                    restarted.append(f"{service} exited with code {process.returncode}")
                    platform.processes.pop(service)
                    platform.processes[service] = spawn([sys.executable, "-m", declared()[service].module],
                                                        platform.log_path(service), env=platform.env(service),
                                                        cwd=ROOT)
            await asyncio.sleep(0.5)

    task = asyncio.create_task(restart_the_dead())
    try:
        yield restarted
    finally:
        task.cancel()


async def all_serving(platform: Platform, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        statuses = await health_of_all(platform)
        if all(status == "SERVING" for status in statuses.values()):
            return
        assert time.monotonic() < deadline, f"not all SERVING after {within}s: {statuses}"
        await asyncio.sleep(0.3)


async def place(shopper: Shopper, cart_id: str, key: str, within: float = 240) -> order_pb2.Order:
    """CreateOrder as the storefront sends it: retried under the same idempotency key through outages."""
    request = order_api.CreateOrderRequest(cart_id=cart_id, shipping_address=HOME, billing_address=HOME,
                                           payment_method="card", shipping_option_id="colissimo.standard",
                                           idempotency_key=key, customer_email=shopper.email)
    deadline = time.monotonic() + within
    while True:
        try:
            answer = await shopper.shop.orders.CreateOrder(request, metadata=shopper.me, timeout=10)
            return answer.order  # type: ignore[no-any-return]
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRIED_CODES:
                raise
            assert time.monotonic() < deadline, f"CreateOrder still failing after {within}s: {exc.details()}"
            await asyncio.sleep(1)


async def fresh_checkout(shop: Shop, sku: str, within: float = 180) -> order_pb2.Order:
    """A new shopper's checkout, retried while a service is down (one the watchdog ended may still
    be coming back): the order once CONFIRMED (or later)."""
    deadline = time.monotonic() + within
    while True:
        try:
            shopper = await shop.shopper()
            order = await place(shopper, (await shopper.cart({sku: 1})).cart_id, str(uuid.uuid4()))
            break
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRIED_CODES:
                raise
            assert time.monotonic() < deadline, f"no checkout placed in {within}s: {exc.details()}"
            await asyncio.sleep(1)
    return await shop.until(order.order_id, lambda o: o.status in (
        Status.ORDER_STATUS_CONFIRMED, Status.ORDER_STATUS_SHIPPED), "confirmed", within=within)


async def through_restarts(read: Callable[[], Awaitable[T]], within: float = 180) -> T:
    """A read retried while the service it asks is down (being restarted by `supervised`)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await read()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRIED_CODES or time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


# --- explaining an order that did not settle ---------------------------------------------------------

SAGA_TOPICS = ("ordering.orders.v1", "stocking.reservations.v1", "paying.payments.v1", "billing.invoices.v1",
               "shipping.shipments.v1")
LOGS_TO_READ = ("stocking", "ordering")
LOG_LINES_AT_MOST = 60


def _read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every committed record of a topic (read_committed), from its start."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "survival-explain", "enable.auto.commit": False,
                         "enable.partition.eof": True, "isolation.level": "read_committed"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records: list[Any] = []
        at_end: set[int | None] = set()
        while len(at_end) < len(partitions):
            for message in consumer.consume(500, timeout=1.0):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                elif error is None and not is_seal(message):
                    records.append(message)
        return records
    finally:
        consumer.close()


def _committed_offsets(bootstrap: str, group: str, topic: str) -> str:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        return ", ".join(f"[{tp.partition}] {tp.offset}/{ends[tp.partition]}" for tp in committed)
    finally:
        consumer.close()


def _saga_events(platform: Platform, order_id: str) -> list[str]:
    lines = []
    for topic in SAGA_TOPICS:
        name = platform.kafka_topic(topic)
        for message in _read_all(platform.kafka_bootstrap, name):
            envelope = platform.decode(message)
            meta = envelope.metadata
            if order_id in (meta.aggregate_id, meta.correlation_id):
                lines.append(f"  {meta.occurred_at.ToJsonString()} {topic}[{message.partition()}]@{message.offset()} "
                             f"{envelope.WhichOneof('event')} id={meta.event_id} cause={meta.causation_id}")
    return sorted(lines)


def _dead_letters(platform: Platform) -> list[str]:
    lines = []
    lister = Consumer({"bootstrap.servers": platform.kafka_bootstrap, "group.id": "survival-explain"})
    try:
        existing = set(lister.list_topics(timeout=10).topics)
    finally:
        lister.close()
    for topic in topic_map.load():
        dlq = f"{platform.kafka_topic(topic)}.dlq"
        if dlq not in existing:
            continue
        for message in _read_all(platform.kafka_bootstrap, dlq):
            headers = {k: (v or b"").decode(errors="replace") for k, v in message.headers() or []}
            lines.append(f"  {dlq}@{message.offset()} key={(message.key() or b'').decode(errors='replace')} "
                         f"group={headers.get('dlq.consumer.group')} from={headers.get('dlq.original.topic')}"
                         f"[{headers.get('dlq.original.partition')}]@{headers.get('dlq.original.offset')} "
                         f"{headers.get('dlq.stage')}: {headers.get('dlq.error.class')}: {headers.get('dlq.error')}")
    return lines


def _log_lines(platform: Platform, service: str, order_id: str) -> list[str]:
    """The service's log lines naming the order, and its warnings and errors (each run of the process)."""
    path = platform.log_path(service)
    if not path.exists():
        return []
    quiet = ('{"level": "INFO"', '{"level": "DEBUG"')
    wanted = [line for line in path.read_text(errors="replace").splitlines()
              if order_id in line or not (line.startswith(quiet) or "Connection refused" in line)]
    if len(wanted) > LOG_LINES_AT_MOST:
        half = LOG_LINES_AT_MOST // 2
        wanted = [*wanted[:half], f"... {len(wanted) - 2 * half} lines left out ...", *wanted[-half:]]
    return [f"  {line[:600]}" for line in wanted]


async def why_unsettled(shop: Shop, order_id: str, broker_log: Path | None = None) -> str:
    """For an order that did not settle: stocking's reservation for it, the saga's committed events
    about it, what the dead-letter topics hold, the consumers' committed offsets, what stocking's
    and ordering's logs say of it (and their warnings and errors), and the broker's lines about
    transaction markers (it may skip some after a restart: services/runtime/transactions.py)."""
    platform = shop.platform
    parts = [f"--- why order {order_id} did not settle"]
    try:
        reservation = (await shop.stock.GetReservation(stock_api.GetReservationRequest(order_id=order_id),
                                                      timeout=10)).reservation
        parts.append("stocking's reservation: " + text_format.MessageToString(reservation, as_one_line=True))
    except grpc.aio.AioRpcError as exc:
        parts.append(f"stocking's reservation: {exc.code().name}: {exc.details()}")
    try:
        parts.append("committed saga events about the order:")
        parts += await asyncio.to_thread(_saga_events, platform, order_id)
        parts.append("dead letters:")
        parts += await asyncio.to_thread(_dead_letters, platform) or ["  none"]
        for service, topic in (("stocking", "ordering.orders.v1"), ("ordering", "stocking.reservations.v1")):
            offsets = await asyncio.to_thread(_committed_offsets, platform.kafka_bootstrap,
                                              f"{platform.namespace}.{service}", platform.kafka_topic(topic))
            parts.append(f"{service}'s committed offsets on {topic} (committed/end): {offsets}")
    except Exception as exc:  # a diagnosis must not hide the failure it explains
        parts.append(f"(reading Kafka failed: {exc!r})")
    for service in LOGS_TO_READ:
        parts.append(f"{service}.log, lines naming the order and warnings or worse:")
        parts += _log_lines(platform, service, order_id)
    if broker_log is not None and broker_log.exists():
        parts.append("the broker's lines about transaction markers:")
        parts += [f"  {line[:600]}" for line in broker_log.read_text(errors="replace").splitlines()
                  if "transaction markers" in line][:LOG_LINES_AT_MOST]
    return "\n".join(parts)


async def settled_or_explained(shop: Shop, order_id: str, check: Callable[[order_pb2.Order], bool], what: str,
                               within: float, broker_log: Path | None = None) -> order_pb2.Order:
    """shop.until, whose failure says why the order is stuck, or unknown to ordering (why_unsettled)."""
    try:
        return await shop.until(order_id, check, what, within=within)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await why_unsettled(shop, order_id, broker_log)}") from exc
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise  # through_restarts retries the others
        raise AssertionError(f"ordering does not know order {order_id} it had placed: {exc.details()}\n"
                             f"{await why_unsettled(shop, order_id, broker_log)}") from exc
