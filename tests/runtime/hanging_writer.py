"""A service that commits units of work back to back and prints each one Kafka acknowledged.

Run by test_hanging.py: `python -m tests.runtime.hanging_writer BOOTSTRAP SERVICE`. Each unit changes
the service's store and commits an offset of the group on INPUT (as an event's handling does); each
line on stdout is `acked <key>` once the unit that wrote <key> committed. The test kills the broker,
then this process.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from services.runtime.bus import EventBus, EventContext
from services.runtime.store import JsonCodec
from services.runtime.topic_map import Topic

WRITERS = 8  # units in flight at once, so that transactions carry several (group commit)


def input_topic(service: str) -> dict[str, Topic]:
    """A topic the service consumes, on which nothing is published: only its group's offsets matter."""
    return {"input": Topic(name=f"{service}.input", producer="nobody", envelope="ordering.v1.OrderEvent",
                           key="order_id", partitions=1, compacted=False, events=("order_created",),
                           consumers={service: ("order_created",)})}


async def ignore(event: EventContext) -> None:
    pass


def bus_of(service: str, bootstrap: str) -> EventBus:
    # Nothing is published or read, so the registry is never asked.
    bus = EventBus(service, bootstrap, "http://127.0.0.1:9", topics=input_topic(service))
    bus.on("input", "order_created", ignore)
    return bus


async def start(bus: EventBus) -> None:
    """As a service's process starts its bus (server.start_bus): retried while the broker is not ready
    (the partitions of topics just created, or of a broker just restarted, have no leader yet)."""
    async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.5, max=3), stop=stop_after_delay(120),
                                       reraise=True):
        with attempt:
            await bus.start()


async def main(bootstrap: str, service: str) -> None:
    bus = bus_of(service, bootstrap)
    items = bus.store("items", JsonCodec(int))
    await start(bus)
    counter = itertools.count()
    topic = bus.topics["input"].name

    async def write() -> None:
        while True:
            n = next(counter)
            try:
                async with bus.unit_of_work() as work:
                    work.put(items, f"k{n}", 1)
                    work.consumed(topic, 0, n)
            except Exception:
                await asyncio.sleep(0.1)  # the broker is gone: the test kills this process next
                continue
            print(f"acked k{n}", flush=True)

    await asyncio.gather(*(write() for _ in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
