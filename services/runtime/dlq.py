"""Look into a dead-letter topic and send chosen events back to where they came from.

    python -m services.runtime.dlq list ordering.orders.v1.dlq
    python -m services.runtime.dlq replay ordering.orders.v1.dlq --offset 3 --offset 7
    python -m services.runtime.dlq replay ordering.orders.v1.dlq --all

KAFKA_BOOTSTRAP names the broker (default 127.0.0.1:9092). A replayed event keeps its key, value and
event id, so a consumer that has since handled it ignores it; one that has not handles it now.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition


@dataclass
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def original_topic(self) -> str:
        return self.headers.get("dlq.original.topic", "")


def read_all(bootstrap: str, dlq_topic: str) -> list[DeadLetter]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-reader", "enable.auto.commit": False,
                         "enable.partition.eof": True, "isolation.level": "read_committed"})
    try:
        metadata = consumer.list_topics(dlq_topic, timeout=10).topics.get(dlq_topic)
        if metadata is None or metadata.error is not None:
            raise SystemExit(f"dlq: topic {dlq_topic!r} does not exist")
        partitions = list(metadata.partitions)
        consumer.assign([TopicPartition(dlq_topic, p, OFFSET_BEGINNING) for p in partitions])
        letters: list[DeadLetter] = []
        at_end: set[int] = set()
        while len(at_end) < len(partitions):
            for message in consumer.consume(500, timeout=1.0):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())  # type: ignore[arg-type]
                elif error is None:
                    raw_headers: list[tuple[str, bytes | None]] = message.headers() or []  # type: ignore[assignment]
                    headers = {k: (v or b"").decode(errors="replace") for k, v in raw_headers}
                    letters.append(DeadLetter(message.offset(), message.key(), message.value(), headers))  # type: ignore[arg-type]
        return letters
    finally:
        consumer.close()


def replay(bootstrap: str, letters: list[DeadLetter]) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for letter in letters:
        producer.produce(letter.original_topic, key=letter.key, value=letter.value,
                         headers=[("dlq.replayed-from-offset", str(letter.offset).encode())])
    remaining = producer.flush(30)
    return len(letters) - remaining


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.runtime.dlq")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="show the events parked in a dead-letter topic")
    listing.add_argument("topic")
    again = sub.add_parser("replay", help="send events back to their original topic")
    again.add_argument("topic")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--offset", type=int, action="append", help="a DLQ offset (repeatable)")
    which.add_argument("--all", action="store_true")
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")

    letters = read_all(bootstrap, args.topic)
    if args.command == "list":
        for letter in letters:
            print(f"{letter.offset:>6}  {letter.original_topic}[{letter.headers.get('dlq.original.partition')}]"
                  f"@{letter.headers.get('dlq.original.offset')}  {letter.headers.get('dlq.stage', '?')}: "
                  f"{letter.headers.get('dlq.error', '')}")
        print(f"{len(letters)} event(s) in {args.topic}")
        return 0
    chosen = letters if args.all else [x for x in letters if x.offset in set(args.offset)]
    missing = set(args.offset or []) - {x.offset for x in chosen}
    if missing:
        print(f"dlq: no event at offset(s) {', '.join(map(str, sorted(missing)))} in {args.topic}", file=sys.stderr)
        return 2
    sent = replay(bootstrap, chosen)
    print(f"replayed {sent} event(s) from {args.topic}")
    return 0 if sent == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
