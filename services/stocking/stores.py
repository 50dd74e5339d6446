"""Stocking's state and the operations on it that its servicer and its handlers share (reserve, release,
commit, expire), and the topics.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.runtime.bus import EventBus, Publish
from services.runtime.errors import InvalidArgument
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import JsonCodec, Store
from services.runtime.transactions import UnitOfWork
from services.stocking import domain, messages

RESERVATIONS_TOPIC = "stocking.reservations.v1"
LEVELS_TOPIC = "stocking.levels.v1"
ORDERS_TOPIC = "ordering.orders.v1"
PRODUCTS_TOPIC = "cataloging.products.v1"
SETTING_DEFAULTS: dict[str, Any] = {
    domain.LOW_STOCK_THRESHOLD_SETTING: domain.StockSettings().low_stock_threshold,
    domain.RESERVATION_TTL_SETTING: domain.StockSettings().reservation_ttl,
}
# A reservation has no version of its own; its events' aggregate_version is the step of its life.
RESERVATION_STEP = {domain.StockReserved: 1, domain.StockReservationFailed: 1, domain.StockReleased: 2,
                    domain.StockCommitted: 2}
Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


class Raced(Exception):
    """A reservation appeared for the order between the read of its lines and the locks: run again."""


class Stock:
    """The stores, the settings and the clock the servicer, the handlers and the sweep share, and
    the use cases they all run."""

    def __init__(self, bus: EventBus, shop_settings: ShopSettings, clock: Clock) -> None:
        self.bus, self.shop_settings, self.clock = bus, shop_settings, clock
        self.levels: Store[domain.StockLevel] = bus.store("levels", JsonCodec(domain.StockLevel))
        self.movements: Store[domain.StockMovement] = bus.store("movements", JsonCodec(domain.StockMovement))
        self.reservations: Store[domain.Reservation] = bus.store("reservations", JsonCodec(domain.Reservation))
        self._settings: tuple[tuple[Any, ...], domain.StockSettings] | None = None

    def settings(self) -> domain.StockSettings:
        """The administering settings through the domain's checks; a value it refuses is logged and
        the default kept (administering validates them, so this only guards against a bad publish)."""
        values = tuple(self.shop_settings.get(name) for name in SETTING_DEFAULTS)
        if self._settings is None or self._settings[0] != values:
            settings = domain.StockSettings()
            for name, value in zip(SETTING_DEFAULTS, values, strict=True):
                try:
                    settings = domain.apply_setting(settings, name, value)
                except InvalidArgument as exc:
                    log.warning("ignoring setting %s: %s", name, exc.message)
            self._settings = (values, settings)
        return self._settings[1]

    # --- recording what a use case did --------------------------------------------------------

    def record_level(self, work: UnitOfWork, publish: Publish, change: domain.LevelChange) -> None:
        work.put(self.levels, change.level.sku, change.level)
        if change.movement is not None:
            work.put(self.movements, change.movement.movement_id, change.movement)
        self.publish_level_events(publish, change.level_events)

    def record_reservation(self, work: UnitOfWork, publish: Publish, change: domain.ReservationChange) -> None:
        if change.replayed:
            return
        work.put(self.reservations, change.reservation.order_id, change.reservation)
        for level in change.levels:
            work.put(self.levels, level.sku, level)
        for movement in change.movements:
            work.put(self.movements, movement.movement_id, movement)
        for event in change.reservation_events:
            publish(RESERVATIONS_TOPIC, event.order_id, aggregate_version=RESERVATION_STEP[type(event)],
                    **messages.reservation_event(event))
        self.publish_level_events(publish, change.level_events)

    @staticmethod
    def publish_level_events(publish: Publish, events: list[domain.LevelEvent]) -> None:
        for event in events:
            publish(LEVELS_TOPIC, event.sku, aggregate_version=event.level.version, **messages.level_event(event))

    # --- reservations -------------------------------------------------------------------------

    async def reserve(self, work: UnitOfWork, publish: Publish, order_id: str, lines: list[domain.StockLine],
                      ttl: timedelta | None) -> domain.ReservationChange:
        skus = domain.skus_to_lock(lines)
        await work.lock((self.reservations, order_id), *((self.levels, sku) for sku in skus))
        change = domain.reserve_order_stock(
            work.get(self.reservations, order_id), order_id=order_id, lines=lines,
            levels={sku: work.get(self.levels, sku) for sku in skus}, ttl=ttl, settings=self.settings(),
            now=self.clock())
        self.record_reservation(work, publish, change)
        return change

    async def _lock_reservation(self, work: UnitOfWork, order_id: str) -> tuple[domain.Reservation | None,
                                                                                 dict[str, domain.StockLevel | None]]:
        """The order's reservation and the levels of its SKUs, all locked."""
        before = self.reservations.get(order_id)
        skus = domain.skus_to_lock(before.lines) if before else []
        await work.lock((self.reservations, order_id), *((self.levels, sku) for sku in skus))
        current = work.get(self.reservations, order_id)
        if (current is None) != (before is None):
            raise Raced(f"a reservation for order {order_id!r} appeared while it was being changed")
        return current, {sku: work.get(self.levels, sku) for sku in skus}

    async def release(self, work: UnitOfWork, publish: Publish, order_id: str, reason: domain.ReleaseReason | None,
                      staff_id: str) -> domain.ReservationChange:
        reservation, levels = await self._lock_reservation(work, order_id)
        change = domain.release_reservation(reservation, order_id=order_id, reason=reason, staff_id=staff_id,
                                            levels=levels, settings=self.settings(), now=self.clock())
        self.record_reservation(work, publish, change)
        return change

    async def release_cancelled_order(self, work: UnitOfWork, publish: Publish, order_id: str) -> None:
        """OrderCancelled: the order's reservation, active or committed, given back; none: nothing held."""
        reservation, levels = await self._lock_reservation(work, order_id)
        if reservation is None:
            log.info("order %s cancelled before any stock was reserved for it: nothing to release", order_id)
            return
        change = domain.release_for_cancelled_order(reservation, levels=levels, settings=self.settings(),
                                                    now=self.clock())
        self.record_reservation(work, publish, change)

    async def commit(self, work: UnitOfWork, publish: Publish, order_id: str) -> domain.ReservationChange:
        reservation, levels = await self._lock_reservation(work, order_id)
        change = domain.commit_reservation(reservation, order_id=order_id, levels=levels, settings=self.settings(),
                                           now=self.clock())
        self.record_reservation(work, publish, change)
        return change

    async def expire_due_reservations(self) -> None:
        """The sweep (every second, see __main__): each reservation whose time is up released with
        reason EXPIRED in a unit of work of its own; they commit together (group commit)."""
        due = domain.reservations_due_for_expiry(self.reservations.values(), self.clock())
        outcomes = await asyncio.gather(*(self._expire(order_id) for order_id in due), return_exceptions=True)
        for order_id, outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.error("expiring the reservation of order %s failed; next sweep retries: %r", order_id, outcome)

    async def _expire(self, order_id: str) -> None:
        async with self.bus.unit_of_work() as work:
            reservation, levels = await self._lock_reservation(work, order_id)
            assert reservation is not None  # the sweep found it, and reservations are never deleted
            change = domain.expire_reservation(reservation, levels=levels, settings=self.settings(),
                                               now=self.clock())
            self.record_reservation(work, functools.partial(self.bus.publish, work), change)


