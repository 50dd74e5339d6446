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

import functools
from collections.abc import Callable
from typing import Any

import grpc
from stocking.v1 import stock_service_pb2 as pb
from stocking.v1 import stock_service_pb2_grpc

from services.runtime import proto
from services.runtime.bus import Publish
from services.runtime.errors import NotFound, non_empty
from services.runtime.transactions import UnitOfWork
from services.stocking import domain, messages
from services.stocking.stores import Raced, Stock


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
        reason = messages.change_reason_record(request.reason)

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
        reason = messages.change_reason_record(request.reason)

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
        # total_size -1: stocking's lists have never told their total.
        return pb.ListStockMovementsResponse(movements=[messages.movement(m) for m in page.items],
                                             page=proto.page(page, total_size=-1))

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
        lines = messages.lines_record(request.lines)
        change = await self._run(lambda work, publish: self.stock.reserve(work, publish, request.order_id, lines, ttl))
        return pb.ReserveOrderStockResponse(reservation=messages.reservation(change.reservation),
                                            replayed=change.replayed)

    async def ReleaseReservation(self, request: pb.ReleaseReservationRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        order_id = non_empty(request.order_id, "order_id")
        reason = messages.release_reason_record(request.reason)
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
        # total_size -1: stocking's lists have never told their total.
        return pb.ListReservationsResponse(reservations=[messages.reservation(r) for r in page.items],
                                           page=proto.page(page, total_size=-1))

    # --- alerts and thresholds ----------------------------------------------------------------

    async def ListStockAlerts(self, request: pb.ListStockAlertsRequest, context: grpc.aio.ServicerContext) -> Any:
        kinds = messages.domain_enums(request.kinds, pb.StockAlertKind, domain.StockAlertKind, "STOCK_ALERT_KIND",
                                      "kinds")
        page = domain.list_alerts(self.stock.levels.values(), unacknowledged_only=request.unacknowledged_only,
                                  unresolved_only=request.unresolved_only, sku=request.sku, kinds=kinds,
                                  page_size=request.page.page_size, page_token=request.page.page_token)
        # total_size -1: stocking's lists have never told their total.
        return pb.ListStockAlertsResponse(alerts=[messages.alert(a) for a in page.items],
                                          page=proto.page(page, total_size=-1))

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
