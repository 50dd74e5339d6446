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
from typing import TypeVar

import grpc
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api

from registry.launcher import start_registry
from services.runtime.process import declared
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
