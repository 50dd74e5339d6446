"""Cataloging's reads and stocking's reservations, against a bare grpc.aio echo server measured in the same run.

    .venv/bin/python -m tools.testenv -- .venv/bin/python bench/catalog_stock_bench.py \
        [--products 2000] [--seconds 4] [--concurrency 32] [--callers 50] [--hot-skus 10]

Starts cataloging and stocking as real processes (tools.platform.Platform, in a namespace of its
own on the broker and registry testenv provides) and a bare `grpc.aio.server()` echoing the request
in a child process. One client (this process) drives each with the same load in turn:

1. GetProduct of random products, and ListProducts' default storefront page (20 published products,
   newest first) over `products` published products, against the echo: calls per second, the
   server's CPU time per call, and the ratio of each to the echo.
2. ReserveOrderStock by `callers` concurrent callers, each reserving 1 unit of one of `hot-skus`
   SKUs under a fresh order id, for `seconds`: reservations per second, p50 and p99 latency.
   Every reservation is a Kafka transaction (group-committed with whatever else is ready), and the
   reservations of one SKU queue on its lock until the one before them committed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from administering.v1 import events_pb2 as admin_pb  # noqa: E402
from cataloging.v1 import catalog_service_pb2 as catalog_pb  # noqa: E402
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub  # noqa: E402
from shop.common.v1 import money_pb2  # noqa: E402
from stocking.v1 import events_pb2 as stock_events_pb  # noqa: E402
from stocking.v1 import stock_service_pb2 as stock_pb  # noqa: E402
from stocking.v1.stock_service_pb2_grpc import StockServiceStub  # noqa: E402

from tools.platform import Platform  # noqa: E402
from tools.processes import free_port, spawn, stop  # noqa: E402

ECHO = "/bench.Echo/Echo"


async def serve_echo(port: int) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def drive(call: Callable[[], Awaitable[Any]], seconds: float, concurrency: int, pid: int) -> tuple[float, float]:
    """Calls per second and the server's CPU microseconds per call, after a one-second warm-up."""
    async def run(for_seconds: float) -> int:
        deadline = time.monotonic() + for_seconds
        calls = 0

        async def worker() -> None:
            nonlocal calls
            while time.monotonic() < deadline:
                await call()
                calls += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return calls

    await run(1.0)
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    calls = await run(seconds)
    elapsed, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_before
    return calls / elapsed, cpu / calls * 1e6


async def bounded(count: int, concurrency: int, make: Callable[[int], Awaitable[Any]]) -> list[Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with semaphore:
            return await make(i)

    return await asyncio.gather(*(one(i) for i in range(count)))


async def seed_catalog(platform: Platform, catalog: Any, products: int) -> list[str]:
    """A seller, a small category tree and `products` published products; returns their ids."""
    seller_id = f"seller-{uuid.uuid4().hex[:8]}"
    await platform.publish("administering.sellers.v1", seller_id, seller_onboarded=admin_pb.SellerOnboarded(
        seller=admin_pb.Seller(seller_id=seller_id, name="Bench & Co", status=admin_pb.SELLER_STATUS_ACTIVE,
                               version=1)))
    roots = [(await catalog.CreateCategory(catalog_pb.CreateCategoryRequest(name=f"Department {i}"))).category
             for i in range(4)]
    leaves = [(await catalog.CreateCategory(catalog_pb.CreateCategoryRequest(
        name=f"Aisle {i}", parent_id=roots[i % 4].category_id))).category for i in range(16)]
    rng = random.Random(1)
    words = ["steel", "oak", "linen", "blue", "compact", "deluxe", "travel", "kitchen", "garden", "classic"]

    async def create(i: int) -> str:
        request = catalog_pb.CreateProductRequest(
            seller_id=seller_id, sku=f"BENCH-{i:05d}", name=f"{' '.join(rng.sample(words, 2)).title()} {i}",
            description=" ".join(rng.sample(words, 5)), category_id=rng.choice(leaves).category_id,
            price=money_pb2.Money(amount_minor=rng.randrange(100, 50_000), currency="EUR"), weight_grams=500,
            attributes={"colour": rng.choice(words), "material": rng.choice(words)})
        for _ in range(100):  # the seller arrives through an event: retry until the catalogue knows it
            try:
                product = (await catalog.CreateProduct(request)).product
                break
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                await asyncio.sleep(0.2)
        await catalog.PublishProduct(catalog_pb.PublishProductRequest(product_id=product.product_id))
        return str(product.product_id)

    first = await create(0)  # waits for the seller alone
    return [first, *await bounded(products - 1, 64, lambda i: create(i + 1))]


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def reserve_load(stock: Any, skus: list[str], seconds: float, callers: int) -> tuple[float, list[float], int]:
    """Reservations per second, each reservation's latency (ms) and how many were refused."""
    latencies: list[float] = []
    refused = 0

    async def caller(n: int) -> None:
        nonlocal refused
        rng = random.Random(n)
        while time.monotonic() < deadline:
            request = stock_pb.ReserveOrderStockRequest(order_id=str(uuid.uuid4()), lines=[
                stock_events_pb.StockLine(sku=rng.choice(skus), quantity=1)])
            started = time.perf_counter()
            answer = await stock.ReserveOrderStock(request)
            latencies.append((time.perf_counter() - started) * 1000)
            refused += answer.reservation.state != stock_pb.RESERVATION_STATE_ACTIVE

    deadline = time.monotonic() + 1.0  # warm-up
    await asyncio.gather(*(caller(n) for n in range(callers)))
    latencies.clear()
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(caller(n) for n in range(callers)))
    return len(latencies) / (time.monotonic() - started), sorted(latencies), refused


async def main(args: argparse.Namespace) -> None:
    kafka, registry = os.environ.get("KAFKA_BOOTSTRAP"), os.environ.get("SCHEMA_REGISTRY_URL")
    if not kafka or not registry:
        raise SystemExit("bench: run under testenv: python -m tools.testenv -- python bench/catalog_stock_bench.py")
    with tempfile.TemporaryDirectory(prefix="bench-catalog-stock-") as run_dir:
        platform = Platform(Path(run_dir), kafka, registry, f"bench{uuid.uuid4().hex[:8]}")
        echo_port = free_port()
        echo = spawn([sys.executable, __file__, "--serve-echo", str(echo_port)], Path(run_dir) / "echo.log")
        try:
            await platform.start("cataloging", "stocking")
            catalog = platform.stub("cataloging", CatalogServiceStub)
            stock = platform.stub("stocking", StockServiceStub)
            started = time.monotonic()
            product_ids = await seed_catalog(platform, catalog, args.products)
            print(f"seeded {len(product_ids)} published products in {time.monotonic() - started:.1f}s")

            async with grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}") as channel:
                echo_call = channel.unary_unary(ECHO)
                for _ in range(100):
                    try:
                        await echo_call(b"ping", timeout=1)
                        break
                    except grpc.aio.AioRpcError:
                        await asyncio.sleep(0.1)
                payload = catalog_pb.GetProductRequest(product_id=product_ids[0]).SerializeToString()
                rng = random.Random(2)
                page = catalog_pb.ListProductsRequest()
                page.page.page_size = 20
                catalog_pid = platform.processes["cataloging"].pid
                measured = {
                    "echo (bare grpc.aio)": await drive(lambda: echo_call(payload), args.seconds, args.concurrency,
                                                        echo.pid),
                    "GetProduct": await drive(lambda: catalog.GetProduct(catalog_pb.GetProductRequest(
                        product_id=rng.choice(product_ids))), args.seconds, args.concurrency, catalog_pid),
                    f"ListProducts (20 of {len(product_ids)})": await drive(
                        lambda: catalog.ListProducts(page), args.seconds, args.concurrency, catalog_pid),
                }
            echo_rate, echo_cpu = measured["echo (bare grpc.aio)"]
            print(f"\nreads, {args.concurrency} calls in flight, {args.seconds:.0f}s each:")
            for name, (rate, cpu_us) in measured.items():
                ratio = "" if name.startswith("echo") else (
                    f"   ratio to echo {rate / echo_rate:.2f} by calls/s, {echo_cpu / cpu_us:.2f} by server CPU")
                print(f"  {name:27} {rate:7.0f} calls/s   server CPU {cpu_us:7.1f} µs/call{ratio}")

            skus = [f"HOT-{i:02d}" for i in range(args.hot_skus)]
            for hot in skus:
                await stock.SetStock(stock_pb.SetStockRequest(sku=hot, on_hand=10_000_000, staff_id="bench",
                                                              reason=stock_pb.STOCK_CHANGE_REASON_INITIAL_STOCK))
            rate, latencies, refused = await reserve_load(stock, skus, args.seconds, args.callers)
            print(f"\nReserveOrderStock, {args.callers} concurrent callers on {len(skus)} hot SKUs, "
                  f"{args.seconds:.0f}s:")
            print(f"  {rate:7.0f} reservations/s   p50 {percentile(latencies, 0.5):6.1f} ms   "
                  f"p99 {percentile(latencies, 0.99):6.1f} ms   mean {statistics.fmean(latencies):6.1f} ms   "
                  f"({len(latencies)} reservations, {refused} refused)")
        finally:
            stop(echo, grace_seconds=5)
            await platform.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--hot-skus", type=int, default=10)
    parser.add_argument("--serve-echo", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve_echo:
        asyncio.run(serve_echo(arguments.serve_echo))
    else:
        asyncio.run(main(arguments))
