"""StockService: stock levels, reservations and alerts, read and changed through the domain.

Locking: a use case over an order names the reservation (its order id) and the level of every SKU
of its lines in one `work.lock(...)` call, which takes them in sorted order, so two orders over
the same SKUs never deadlock whatever order their lines come in. The lines of a stored reservation
never change, so release, commit and expiry read them before taking the locks (and check, under
the locks, that no reservation appeared meanwhile).

The reservation use cases live in `Stock`, shared by the RPCs, the event handlers (which run them in
the event's unit of work) and the expiry sweep.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import grpc
from stocking.v1 import stock_service_pb2 as pb
from stocking.v1 import stock_service_pb2_grpc

from services.runtime.bus import EventBus
from services.runtime.errors import InvalidArgument, NotFound, non_empty
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import JsonCodec, Store
from services.runtime.transactions import UnitOfWork
from services.stocking import domain, messages

RESERVATIONS_TOPIC = "stocking.reservations.v1"
LEVELS_TOPIC = "stocking.levels.v1"
SETTING_DEFAULTS: dict[str, Any] = {
    domain.LOW_STOCK_THRESHOLD_SETTING: domain.StockSettings().low_stock_threshold,
    domain.RESERVATION_TTL_SETTING: domain.StockSettings().reservation_ttl,
}
# A reservation has no version of its own; its events' aggregate_version is the step of its life.
RESERVATION_STEP = {domain.StockReserved: 1, domain.StockReservationFailed: 1, domain.StockReleased: 2,
                    domain.StockCommitted: 2}
Publish = Callable[..., Any]  # bus.publish bound to a unit of work, or EventContext.publish
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


class StockServicer(stock_service_pb2_grpc.StockServiceServicer):
    def __init__(self, stock: Stock) -> None:
        self.stock = stock
        self.bus = stock.bus

    async def _run(self, use_case: Callable[[UnitOfWork, Publish], Any]) -> Any:
        """A use case in a unit of work of its own; once more if it raced with a new reservation."""
        for attempt in range(2):
            try:
                async with self.bus.unit_of_work() as work:
                    return await use_case(work, functools.partial(self.bus.publish, work))
            except Raced:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # --- levels -------------------------------------------------------------------------------

    async def SetStock(self, request: pb.SetStockRequest, context: grpc.aio.ServicerContext) -> Any:
        stock, sku = self.stock, non_empty(request.sku, "sku")
        reason = messages.change_reason(request.reason)

        async def set_stock(work: UnitOfWork, publish: Publish) -> domain.LevelChange:
            await work.lock((stock.levels, sku))
            change = domain.set_stock(work.get(stock.levels, sku), sku=sku, on_hand=request.on_hand, reason=reason,
                                      note=request.note, staff_id=request.staff_id, settings=stock.settings(),
                                      now=stock.clock())
            stock.record_level(work, publish, change)
            return change

        change = await self._run(set_stock)
        return pb.SetStockResponse(level=messages.level(change.level.snapshot(stock.settings())),
                                   movement=messages.movement(change.movement))

    async def AdjustStock(self, request: pb.AdjustStockRequest, context: grpc.aio.ServicerContext) -> Any:
        stock, sku = self.stock, non_empty(request.sku, "sku")
        reason = messages.change_reason(request.reason)

        async def adjust(work: UnitOfWork, publish: Publish) -> domain.LevelChange:
            await work.lock((stock.levels, sku))
            change = domain.adjust_stock(work.get(stock.levels, sku), sku=sku, delta=request.delta, reason=reason,
                                         note=request.note, staff_id=request.staff_id, settings=stock.settings(),
                                         now=stock.clock())
            stock.record_level(work, publish, change)
            return change

        change = await self._run(adjust)
        return pb.AdjustStockResponse(level=messages.level(change.level.snapshot(stock.settings())),
                                      movement=messages.movement(change.movement))

    async def ListStockMovements(self, request: pb.ListStockMovementsRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        stock, sku = self.stock, non_empty(request.sku, "sku")
        kinds = messages.domain_enums(request.kinds, pb.StockMovementKind, domain.StockMovementKind,
                                      "STOCK_MOVEMENT_KIND", "kinds")
        domain.require_level(stock.levels.get(sku), sku)
        page = domain.list_movements(stock.movements.values(), sku=sku, kinds=kinds,
                                     page_size=request.page.page_size, page_token=request.page.page_token)
        response = pb.ListStockMovementsResponse(movements=[messages.movement(m) for m in page.items])
        response.page.next_page_token, response.page.total_size = page.next_page_token, -1
        return response

    async def GetStockLevel(self, request: pb.GetStockLevelRequest, context: grpc.aio.ServicerContext) -> Any:
        stock, sku = self.stock, non_empty(request.sku, "sku")
        level = domain.require_level(stock.levels.get(sku), sku)
        return pb.GetStockLevelResponse(level=messages.level(level.snapshot(stock.settings())))

    async def BatchGetStockLevels(self, request: pb.BatchGetStockLevelsRequest,
                                  context: grpc.aio.ServicerContext) -> Any:
        stock = self.stock
        found, unknown = domain.batch_get_levels(list(request.skus), stock.levels.get)
        settings = stock.settings()
        return pb.BatchGetStockLevelsResponse(levels=[messages.level(level.snapshot(settings)) for level in found],
                                              unknown_skus=unknown)

    # --- reservations -------------------------------------------------------------------------

    async def ReserveOrderStock(self, request: pb.ReserveOrderStockRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else None
        lines = messages.lines_in(request.lines)
        change = await self._run(lambda work, publish: self.stock.reserve(work, publish, request.order_id, lines, ttl))
        return pb.ReserveOrderStockResponse(reservation=messages.reservation(change.reservation),
                                            replayed=change.replayed)

    async def ReleaseReservation(self, request: pb.ReleaseReservationRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        order_id = non_empty(request.order_id, "order_id")
        reason = messages.release_reason(request.reason)
        change = await self._run(lambda work, publish: self.stock.release(work, publish, order_id, reason,
                                                                          request.staff_id))
        return pb.ReleaseReservationResponse(reservation=messages.reservation(change.reservation))

    async def CommitReservation(self, request: pb.CommitReservationRequest,
                                context: grpc.aio.ServicerContext) -> Any:
        order_id = non_empty(request.order_id, "order_id")
        change = await self._run(lambda work, publish: self.stock.commit(work, publish, order_id))
        return pb.CommitReservationResponse(reservation=messages.reservation(change.reservation))

    async def GetReservation(self, request: pb.GetReservationRequest, context: grpc.aio.ServicerContext) -> Any:
        order_id = non_empty(request.order_id, "order_id")
        reservation = self.stock.reservations.get(order_id)
        if reservation is None:
            raise NotFound(f"order {order_id!r} has no stock reservation")
        return pb.GetReservationResponse(reservation=messages.reservation(reservation))

    async def ListReservations(self, request: pb.ListReservationsRequest, context: grpc.aio.ServicerContext) -> Any:
        states = messages.domain_enums(request.states, pb.ReservationState, domain.ReservationState,
                                       "RESERVATION_STATE", "states")
        page = domain.list_reservations(self.stock.reservations.values(), states=states, sku=request.sku,
                                        page_size=request.page.page_size, page_token=request.page.page_token)
        response = pb.ListReservationsResponse(reservations=[messages.reservation(r) for r in page.items])
        response.page.next_page_token, response.page.total_size = page.next_page_token, -1
        return response

    # --- alerts and thresholds ----------------------------------------------------------------

    async def ListStockAlerts(self, request: pb.ListStockAlertsRequest, context: grpc.aio.ServicerContext) -> Any:
        kinds = messages.domain_enums(request.kinds, pb.StockAlertKind, domain.StockAlertKind, "STOCK_ALERT_KIND",
                                      "kinds")
        page = domain.list_alerts(self.stock.levels.values(), unacknowledged_only=request.unacknowledged_only,
                                  unresolved_only=request.unresolved_only, sku=request.sku, kinds=kinds,
                                  page_size=request.page.page_size, page_token=request.page.page_token)
        response = pb.ListStockAlertsResponse(alerts=[messages.alert(a) for a in page.items])
        response.page.next_page_token, response.page.total_size = page.next_page_token, -1
        return response

    async def AcknowledgeStockAlert(self, request: pb.AcknowledgeStockAlertRequest,
                                    context: grpc.aio.ServicerContext) -> Any:
        stock, alert_id = self.stock, non_empty(request.alert_id, "alert_id")
        sku = domain.sku_of_alert_id(alert_id)
        async with self.bus.unit_of_work() as work:
            await work.lock((stock.levels, sku))
            current = work.get(stock.levels, sku)
            level, alert = domain.acknowledge_alert(current, alert_id=alert_id, staff_id=request.staff_id,
                                                    note=request.note, now=stock.clock())
            if level is not current:
                work.put(stock.levels, sku, level)
        return pb.AcknowledgeStockAlertResponse(alert=messages.alert(alert))

    async def GetLowStockThreshold(self, request: pb.GetLowStockThresholdRequest,
                                   context: grpc.aio.ServicerContext) -> Any:
        stock, sku = self.stock, request.sku
        threshold = domain.low_stock_threshold(stock.levels.get(sku) if sku else None, sku=sku,
                                               settings=stock.settings())
        return pb.GetLowStockThresholdResponse(threshold=messages.threshold(threshold))

    async def SetLowStockThreshold(self, request: pb.SetLowStockThresholdRequest,
                                   context: grpc.aio.ServicerContext) -> Any:
        stock, sku = self.stock, non_empty(request.sku, "sku")

        async def set_threshold(work: UnitOfWork, publish: Publish) -> domain.LevelChange:
            await work.lock((stock.levels, sku))
            change = domain.set_low_stock_threshold(
                work.get(stock.levels, sku), sku=sku, threshold=request.threshold, use_default=request.use_default,
                staff_id=request.staff_id, settings=stock.settings(), now=stock.clock())
            if change.level is not work.get(stock.levels, sku):
                stock.record_level(work, publish, change)
            return change

        change = await self._run(set_threshold)
        threshold = domain.low_stock_threshold(change.level, sku=sku, settings=stock.settings())
        return pb.SetLowStockThresholdResponse(threshold=messages.threshold(threshold))
