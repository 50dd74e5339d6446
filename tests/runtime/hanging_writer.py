"""A service that commits units of work back to back and prints each one Kafka acknowledged.

Run by test_hanging.py: `python -m tests.runtime.hanging_writer BOOTSTRAP SERVICE`. Each line on stdout
is `acked <key>` once the unit that wrote <key> committed; the test kills the broker, then this process.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

from services.runtime.bus import EventBus
from services.runtime.store import JsonCodec

WRITERS = 8  # units in flight at once, so that transactions carry several (group commit)


async def main(bootstrap: str, service: str) -> None:
    bus = EventBus(service, bootstrap, "http://127.0.0.1:9", topics={})  # no topics: the registry is never asked
    items = bus.store("items", JsonCodec(int))
    await bus.start()
    counter = itertools.count()

    async def write() -> None:
        while True:
            key = f"k{next(counter)}"
            try:
                async with bus.unit_of_work() as work:
                    work.put(items, key, 1)
            except Exception:
                await asyncio.sleep(0.1)  # the broker is gone: the test kills this process next
                continue
            print(f"acked {key}", flush=True)

    await asyncio.gather(*(write() for _ in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
