"""The topic map (schemas/topics.yaml), read once: which event goes on which topic, keyed how, read by whom."""

from __future__ import annotations

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


def produced_by(service: str) -> list[Topic]:
    return [t for t in load().values() if t.producer == service]


def consumed_by(service: str) -> list[Topic]:
    return [t for t in load().values() if service in t.consumers]
