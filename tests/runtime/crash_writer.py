"""A process that commits a unit of work (a store change plus an event) and dies before Kafka's commit.

Run by test_store.py: `python -m tests.runtime.crash_writer BOOTSTRAP SERVICE EVENT_TOPIC`.
"""

from __future__ import annotations

import asyncio
import sys

from services.runtime.store import JsonCodec, Store
from services.runtime.transactions import Committer, OutgoingRecord


async def main(bootstrap: str, service: str, event_topic: str) -> None:
    store: Store[int] = Store(service, "counters", JsonCodec(int))
    committer = Committer(bootstrap, f"{service}-0", crash_before_commit=True)
    await asyncio.to_thread(committer.init)
    committer.start()
    async with committer.unit_of_work() as work:
        work.put(store, "orders", 1)
        work.send(OutgoingRecord(event_topic, b"orders", b"counter-changed"))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
