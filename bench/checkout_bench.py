"""The checkout saga's latency (CreateOrder to OrderConfirmed) and throughput, against the raw hops it needs.

    .venv/bin/python -m tools.testenv -- .venv/bin/python bench/checkout_bench.py [--orders 60] [--levels 1,10,50]

Starts the nine services (tools.shop.Shop, in a namespace of its own on testenv's broker and
registry) and, at each concurrency level, has that many shoppers check out one after another: the
clock starts when CreateOrder is sent and stops when OrderConfirmed is read from the orders topic
(read_committed, as every consumer reads). Cart building is not timed.

The baseline, measured in the same run at the same concurrency, is the chain the saga cannot do
without: one unary gRPC call to a bare grpc.aio server, then three Kafka produce -> consume round
trips (OrderCreated to a participant, its answer to ordering, OrderConfirmed to its readers), each
produced in a transaction by a transactional, idempotent producer with the services' settings
(services.runtime.transactions.PRODUCER_SETTINGS) and consumed read_committed by a relay that
produces the next hop in a transaction with the consumed offsets, as the services' units of work
do. Goal: saga p50 <= 1.5x and p99 <= 3x.

A second baseline, the same chain after three sequential calls instead of one, is the floor set by the
saga's own steps: CreateOrder waits for carting.GetCart and then shipping.ValidateShippingOption
before it can publish OrderCreated. Last, the CPU each process spends per checkout (cart building
included) and the broker's per raw chain run: on a small machine it is CPU, not waiting, that
bounds the saga under load (by Little's law, shoppers / p50 checkouts a second must fit in the cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from ordering.v1 import order_service_pb2 as order_api  # noqa: E402

from bench.catalog_stock_bench import cpu_seconds, percentile  # noqa: E402
from services.runtime.transactions import PRODUCER_SETTINGS  # noqa: E402
from tools.platform import Platform  # noqa: E402
from tools.processes import free_port, spawn, stop  # noqa: E402
from tools.shop import HOME, Shop  # noqa: E402

CONSUMER_SETTINGS = {"isolation.level": "read_committed", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest"}


class Arrivals:
    """A consumer thread noting when each key first arrives on a topic; waiters are woken on their loop."""

    def __init__(self, bootstrap: str, topic: str, wanted: Callable[[Any], bool] = lambda message: True) -> None:
        self.bootstrap, self.topic, self.wanted = bootstrap, topic, wanted
        self.seen: dict[str, float] = {}
        self.waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[float]]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.started.wait(30)

    def _run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:6]}",
                             **CONSUMER_SETTINGS, "auto.offset.reset": "latest"})
        consumer.subscribe([self.topic], on_assign=lambda *_: self.started.set())
        while not self.stopping.is_set():
            first = consumer.poll(0.1)
            for message in [first, *consumer.consume(499, 0)] if first is not None else []:
                if message.error() is not None or message.key() is None:
                    continue
                if not self.wanted(message):
                    continue
                key, now = message.key().decode(), time.perf_counter()  # type: ignore[union-attr]
                with self.lock:
                    self.seen.setdefault(key, now)
                    waiter = self.waiting.pop(key, None)
                if waiter is not None:
                    loop, future = waiter
                    loop.call_soon_threadsafe(lambda f=future, t=now: f.done() or f.set_result(t))
        consumer.close()

    async def arrival(self, key: str) -> float:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        with self.lock:
            if key in self.seen:
                return self.seen[key]
            self.waiting[key] = (loop, future)
        return await asyncio.wait_for(future, 120)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()


class Relay:
    """A participant reduced to its Kafka part: consume read_committed, produce the next hop in a
    transaction that carries the consumed offsets."""

    def __init__(self, bootstrap: str, source: str, target: str) -> None:
        self.bootstrap, self.source, self.target = bootstrap, source, target
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(30)

    def _run(self) -> None:
        group = f"relay-{uuid.uuid4().hex[:6]}"
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, **CONSUMER_SETTINGS})
        producer = Producer({"bootstrap.servers": self.bootstrap, "transactional.id": group, **PRODUCER_SETTINGS})
        producer.init_transactions()
        consumer.subscribe([self.source], on_assign=lambda *_: self.ready.set())
        while not self.stopping.is_set():
            first = consumer.poll(0.1)  # as the services' bus: wait for one event, then drain what is fetched
            batch = [m for m in ([first, *consumer.consume(499, 0)] if first is not None else [])
                     if m.error() is None]
            if not batch:
                continue
            producer.begin_transaction()
            for message in batch:
                producer.produce(self.target, key=message.key(), value=message.value())
            offsets: dict[tuple[str, int], int] = {}
            for message in batch:
                offsets[(message.topic(), message.partition())] = message.offset() + 1  # type: ignore[index,operator]
            producer.send_offsets_to_transaction([TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                                 consumer.consumer_group_metadata())
            producer.commit_transaction()
        consumer.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()


class RawChain:
    """`calls` sequential gRPC calls, then three transactional produce -> read_committed consume hops."""

    def __init__(self, bootstrap: str, echo_address: str, calls: int = 1) -> None:
        self.calls = calls
        prefix = f"bench-chain-{uuid.uuid4().hex[:6]}"
        self.topics = [f"{prefix}-{i}" for i in range(3)]
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(t, 3, 1) for t in self.topics]).values():
            future.result(30)
        self.relays = [Relay(bootstrap, self.topics[0], self.topics[1]), Relay(bootstrap, self.topics[1],
                                                                               self.topics[2])]
        self.arrivals = Arrivals(bootstrap, self.topics[2])
        self.producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": prefix, **PRODUCER_SETTINGS})
        self.producer.init_transactions()
        self.producer_lock = threading.Lock()
        self.channel = grpc.aio.insecure_channel(echo_address)
        self.echo = self.channel.unary_unary("/bench.Echo/Echo")

    def _produce(self, key: str, value: bytes) -> None:
        with self.producer_lock:  # one open transaction per producer, as in a service
            self.producer.begin_transaction()
            self.producer.produce(self.topics[0], key=key.encode(), value=value)
            self.producer.commit_transaction()

    async def once(self) -> float:
        key = str(uuid.uuid4())
        started = time.perf_counter()
        payload = b"x" * 200
        for _ in range(self.calls):
            payload = await self.echo(payload)
        await asyncio.to_thread(self._produce, key, payload)
        return await self.arrivals.arrival(key) - started

    async def close(self) -> None:
        await self.channel.close()
        self.arrivals.close()
        for relay in self.relays:
            relay.close()


async def run_level(concurrency: int, orders: int, once: Any) -> tuple[list[float], float]:
    """`orders` runs of `once`, `concurrency` at a time: latencies (ms, sorted) and runs per second."""
    done: list[float] = []
    queue = list(range(orders))

    async def worker() -> None:
        while queue:
            queue.pop()
            done.append(await once() * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sorted(done), orders / (time.perf_counter() - started)


def broker_pid(bootstrap: str) -> int | None:
    """The pid of the Kafka broker listening on `bootstrap` (its config file names the listener)."""
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            if b"kafka.Kafka" in args and f"PLAINTEXT://{bootstrap}".encode() in Path(args[-2].decode()).read_bytes():
                return int(proc.name)
        except OSError:
            continue
    return None


def cpu_by_process(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


async def main(args: argparse.Namespace) -> None:
    kafka, registry = os.environ.get("KAFKA_BOOTSTRAP"), os.environ.get("SCHEMA_REGISTRY_URL")
    if not kafka or not registry:
        raise SystemExit("bench: run under testenv: python -m tools.testenv -- python bench/checkout_bench.py")
    levels = [int(level) for level in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as run_dir:
        platform = Platform(Path(run_dir), kafka, registry, f"bench{uuid.uuid4().hex[:8]}")
        echo_port = free_port()
        echo = spawn([sys.executable, "-c", f"import asyncio, sys; sys.path.insert(0, {str(ROOT)!r}); "
                      f"from bench.catalog_stock_bench import serve_echo; asyncio.run(serve_echo({echo_port}))"],
                     Path(run_dir) / "echo.log", cwd=ROOT)
        try:
            shop = await Shop.open(platform)
            skus = [await shop.product(price=1990 + 100 * i, stock=1_000_000) for i in range(10)]
            confirmed = Arrivals(kafka, platform.kafka_topic("ordering.orders.v1"), wanted=lambda message:
                                 platform.decode(message).WhichOneof("event") == "order_confirmed")
            chain = RawChain(kafka, f"127.0.0.1:{echo_port}")
            floor = RawChain(kafka, f"127.0.0.1:{echo_port}", calls=3)
            shoppers = [await shop.shopper() for _ in range(max(levels))]
            free = list(shoppers)
            counter = iter(range(10**9))

            async def checkout() -> float:
                shopper = free.pop()
                try:
                    cart = await shopper.cart({skus[next(counter) % len(skus)]: 1})
                    started = time.perf_counter()
                    order = (await shop.orders.CreateOrder(order_api.CreateOrderRequest(
                        cart_id=cart.cart_id, shipping_address=HOME, billing_address=HOME, payment_method="card",
                        shipping_option_id="colissimo.standard", idempotency_key=str(uuid.uuid4()),
                        customer_email=shopper.email), metadata=shopper.me)).order
                    return await confirmed.arrival(order.order_id) - started
                finally:
                    free.append(shopper)

            await run_level(4, 8, checkout)  # warm-up: connections, caches, the JIT of the broker
            await run_level(4, 8, chain.once)
            await run_level(4, 8, floor.once)
            print(f"checkout saga vs raw chain (1 gRPC call + 3 transactional Kafka hops) and vs the floor of the "
                  f"saga's steps (3 sequential calls + the same hops), {args.orders} runs a level")
            print(f"{'shoppers':>8} | {'saga p50':>9} {'p99':>9} {'/s':>7} | {'raw p50':>8} {'p99':>8} {'/s':>7} |"
                  f" {'p50 x':>6} {'p99 x':>6} | {'floor p50':>9} {'p99':>8} | {'p50 x':>6} {'p99 x':>6}")
            cpu_per_checkout: dict[int, dict[str, float]] = {}
            broker_per_raw: dict[int, float] = {}
            pids = {name: process.pid for name, process in platform.processes.items()}
            if (broker := broker_pid(kafka)) is not None:
                pids["kafka broker"] = broker
            for level in levels:
                cpu_before = cpu_by_process(pids)
                saga, saga_rate = await run_level(level, args.orders, checkout)
                cpu_after = cpu_by_process(pids)
                cpu_per_checkout[level] = {name: (cpu_after[name] - cpu_before[name]) * 1000 / args.orders
                                           for name in pids}
                raw, raw_rate = await run_level(level, args.orders, chain.once)
                broker_per_raw[level] = (cpu_by_process(pids).get("kafka broker", 0.0)
                                         - cpu_after.get("kafka broker", 0.0)) * 1000 / args.orders
                least, _ = await run_level(level, args.orders, floor.once)
                s50, s99, r50, r99, f50, f99 = (percentile(saga, 0.5), percentile(saga, 0.99), percentile(raw, 0.5),
                                                percentile(raw, 0.99), percentile(least, 0.5), percentile(least, 0.99))
                print(f"{level:>8} | {s50:>7.1f}ms {s99:>7.1f}ms {saga_rate:>7.1f} | {r50:>6.1f}ms {r99:>6.1f}ms "
                      f"{raw_rate:>7.1f} | {s50 / r50:>6.2f} {s99 / r99:>6.2f} | {f50:>7.1f}ms {f99:>6.1f}ms | "
                      f"{s50 / f50:>6.2f} {s99 / f99:>6.2f}", flush=True)
            print(f"(mean saga {statistics.mean(saga):.1f} ms at the last level)")
            print("CPU ms per checkout (cart building included), by process:")
            names = sorted(cpu_per_checkout[levels[0]], key=lambda name: -cpu_per_checkout[levels[0]][name])
            print(f"{'shoppers':>8} | " + " ".join(f"{name[:12]:>12}" for name in names) + f" | {'all':>7}")
            for level, cpu in cpu_per_checkout.items():
                print(f"{level:>8} | " + " ".join(f"{cpu[name]:>12.1f}" for name in names)
                      + f" | {sum(cpu.values()):>7.1f}   (broker per raw chain run: {broker_per_raw[level]:.1f})")
            await chain.close()
            await floor.close()
            confirmed.close()
        finally:
            await platform.close()
            stop(echo)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--levels", default="1,10,50")
    asyncio.run(main(parser.parse_args()))
