"""The topic map (schemas/topics.yaml), read once: which event goes on which topic, keyed how, read by whom."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

TOPICS_FILE = Path(__file__).resolve().parents[2] / "schemas" / "topics.yaml"


@dataclass(frozen=True)
class Topic:
    name: str
    producer: str
    envelope: str  # fully qualified message name, e.g. "ordering.v1.OrderEvent"
    key: str
    partitions: int
    compacted: bool
    events: tuple[str, ...]
    consumers: dict[str, tuple[str, ...]]  # service -> events it handles

    @property
    def subject(self) -> str:
        """The registry subject of the topic's values (Confluent's TopicNameStrategy)."""
        return f"{self.name}-value"

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


@functools.cache
def load() -> dict[str, Topic]:
    """The repository's topic map, read once per process."""
    return read(TOPICS_FILE)


def read(path: Path) -> dict[str, Topic]:
    """A topic map file (the repository's, or a copy in a test or the publish workflow's tree)."""
    raw = yaml.safe_load(path.read_text())["topics"]
    return {
        name: Topic(
            name=name, producer=spec["producer"], envelope=spec["envelope"], key=spec["key"],
            partitions=int(spec.get("partitions", 3)), compacted=bool(spec.get("compacted", False)),
            events=tuple(spec["events"]),
            consumers={svc: tuple(evts) for svc, evts in (spec.get("consumers") or {}).items()},
        )
        for name, spec in raw.items()
    }


def in_namespace(topics: dict[str, Topic], namespace: str) -> dict[str, Topic]:
    """The same map, keyed by the names code uses, whose topics live under `<namespace>.` on Kafka.
    Namespaces let several copies of the platform (parallel tests) share one broker and registry."""
    if not namespace:
        return topics
    return {name: dataclasses.replace(topic, name=f"{namespace}.{topic.name}") for name, topic in topics.items()}
