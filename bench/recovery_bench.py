"""How long the platform takes to recover from a broker `kill -9` (issue 19), over several runs.

    .venv/bin/python -m tools.testenv -- .venv/bin/python bench/recovery_bench.py [--runs 5]

The nine services run as real processes on a broker and a registry of the bench's own
(tools/survival.py). Each run: 5 checkouts in flight, the broker killed with SIGKILL, started again 5 s
later on the same data; then, counted from the moment the broker is ready (a client can create a
topic): every service SERVING, and a fresh checkout CONFIRMED. A service that exits meanwhile (the
watchdog's exit 75) is started again, as `make up` would, and counted. The baseline is the same fresh
checkout on the running platform before any kill, so the figures read as "recovery costs X".
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.platform import Platform
from tools.shop import Shop
from tools.survival import OwnInfra, all_serving, fresh_checkout, place, supervised


async def confirmed_checkout(shop: Shop, sku: str) -> float:
    """Seconds from a new shopper's first call to the order CONFIRMED (or later), retried through outages."""
    started = time.monotonic()
    await fresh_checkout(shop, sku)
    return time.monotonic() - started


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="recovery-bench-") as tmp:
        infra = await asyncio.to_thread(OwnInfra(Path(tmp)).start)
        platform = Platform(Path(tmp), infra.bootstrap, infra.registry_url, f"rb{uuid.uuid4().hex[:8]}")
        try:
            shop = await Shop.open(platform)
            sku = await shop.product(price=1000, stock=10_000)
            await confirmed_checkout(shop, sku)  # warm-up
            baseline = statistics.median([await confirmed_checkout(shop, sku) for _ in range(3)])
            print(f"baseline: a checkout confirmed in {baseline:.2f}s on the running platform", flush=True)
            serving: list[float] = []
            confirmed: list[float] = []
            async with supervised(platform) as restarted:
                for run in range(1, runs + 1):
                    await one_run(infra, platform, shop, sku, run, serving, confirmed, restarted)
            print(f"\n{runs} runs. broker ready -> all SERVING: median {statistics.median(serving):.1f}s, "
                  f"max {max(serving):.1f}s; -> first checkout confirmed: median {statistics.median(confirmed):.1f}s, "
                  f"max {max(confirmed):.1f}s; services that exited and were restarted: {restarted or 'none'}")
        finally:
            await platform.close()
            await asyncio.to_thread(infra.stop)


async def one_run(infra: OwnInfra, platform: Platform, shop: Shop, sku: str, run: int, serving: list[float],
                  confirmed: list[float], restarted: list[str]) -> None:
    before = len(restarted)
    shoppers = [await shop.shopper() for _ in range(5)]
    carts = [await s.cart({sku: 1}) for s in shoppers]
    in_flight = [asyncio.create_task(place(s, c.cart_id, str(uuid.uuid4()))) for s, c in zip(shoppers, carts,
                                                                                             strict=True)]
    await asyncio.sleep(0.3)
    infra.kill_broker()
    await asyncio.sleep(5)
    ready_at = await asyncio.to_thread(infra.restart_broker)
    await all_serving(platform, within=300)
    serving.append(time.monotonic() - ready_at)
    await confirmed_checkout(shop, sku)
    confirmed.append(time.monotonic() - ready_at)
    await asyncio.gather(*in_flight)
    print(f"run {run}: broker ready -> all SERVING {serving[-1]:.1f}s -> first checkout confirmed "
          f"{confirmed[-1]:.1f}s; exited and restarted: {restarted[before:] or 'none'}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
