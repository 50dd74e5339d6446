"""The system settings administering publishes (tax rates, thresholds, time-to-lives ...), as a service sees them.

The settings topic is compacted and keyed by setting name, so it *is* the store: at start-up the
view reads it to the end (before the service reports SERVING), then the bus's handler keeps it
current, so a change reaches a running service without a restart. Names, kinds and defaults are in
schemas/administering/v1/events.proto; a service passes the defaults it relies on, used only until
administering has published a value.

    settings = ShopSettings(bus, defaults={"stock.low_stock_threshold": 5})
    settings.integer("stock.low_stock_threshold")
    settings.on_change("stock.low_stock_threshold", reevaluate_levels)   # runs in the event's unit of work
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from administering.v1 import events_pb2
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from services.runtime.bus import EventBus, EventContext

SETTINGS_TOPIC = "administering.settings.v1"
Listener = Callable[[EventContext, Any], Awaitable[None]]
log = logging.getLogger(__name__)


def python_value(value: events_pb2.SettingValue) -> Any:
    """int, str, (amount_minor, currency), basis points (int), timedelta or bool."""
    kind = value.WhichOneof("kind")
    if kind == "money_value":
        return (value.money_value.amount_minor, value.money_value.currency)
    if kind == "duration_value":
        return value.duration_value.ToTimedelta()
    return getattr(value, kind) if kind else None


class ShopSettings:
    def __init__(self, bus: EventBus, defaults: dict[str, Any]) -> None:
        self._bus = bus
        self._values: dict[str, Any] = dict(defaults)
        self._versions: dict[str, int] = {}
        self._listeners: dict[str, list[Listener]] = {}
        bus.on(SETTINGS_TOPIC, "setting_changed", self._changed)
        bus.on_start(self._read_all)

    def get(self, name: str) -> Any:
        if name not in self._values:
            raise KeyError(f"setting {name!r} has no value yet and the service gave no default")
        return self._values[name]

    def integer(self, name: str) -> int:
        return int(self.get(name))

    def duration(self, name: str) -> datetime.timedelta:
        value = self.get(name)
        assert isinstance(value, datetime.timedelta), f"setting {name} is not a duration"
        return value

    def on_change(self, name: str, listener: Listener) -> None:
        """Call listener(event, new_value) when the setting changes, inside that event's unit of work."""
        self._listeners.setdefault(name, []).append(listener)

    def _apply(self, changed: events_pb2.SettingChanged) -> bool:
        # Older than what we have (compaction and replays deliver those): skipped. The same version is
        # applied again, so that listeners run for a change the start-up read saw before the consumer
        # handled it (the bus de-duplicates by event id, so a change is never handled twice).
        if changed.version and changed.version < self._versions.get(changed.name, 0):
            return False
        self._versions[changed.name] = changed.version
        self._values[changed.name] = python_value(changed.value)
        return True

    async def _changed(self, event: EventContext) -> None:
        if self._apply(event.event):
            for listener in self._listeners.get(event.event.name, []):
                await listener(event, self._values[event.event.name])

    def _read_all(self) -> None:
        """Blocking: read the compacted topic to its end, with the bus's own deserializer."""
        topic = self._bus.topics[SETTINGS_TOPIC].name
        consumer = Consumer({"bootstrap.servers": self._bus.bootstrap, "group.id": "settings-reader",
                             "enable.auto.commit": False, "enable.partition.eof": True,
                             "isolation.level": "read_committed"})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            at_end: set[int] = set()
            while len(at_end) < len(partitions):
                for message in consumer.consume(500, timeout=1.0):
                    error = message.error()
                    if error is not None and error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())  # type: ignore[arg-type]
                    elif error is None and message.value():
                        try:
                            envelope = self._bus.decode(message)
                        except Exception as exc:  # poison is the consumer's to park; here, skip it
                            log.warning("skipping an undecodable setting event: %s", exc)
                            continue
                        if envelope.WhichOneof("event") == "setting_changed":
                            self._apply(envelope.setting_changed)
        finally:
            consumer.close()
