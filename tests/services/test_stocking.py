"""Stocking as a real process on the real broker and registry: every RPC, every consumed and produced
event, the race of 1,000 reservations for 100 units, opposite-order reservations that never
deadlock, expiry, and bad input over every RPC.

One stocking process serves the whole module (each test uses SKUs and order ids of its own); the
expiry test restarts it with its clock shifted past the reservation's time-to-live.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from administering.v1 import events_pb2 as admin_pb
from cataloging.v1 import events_pb2 as catalog_pb
from google.protobuf.duration_pb2 import Duration
from ordering.v1 import events_pb2 as ordering_events_pb
from ordering.v1 import order_pb2
from shop.common.v1 import paging_pb2
from stocking.v1 import events_pb2 as events_pb
from stocking.v1 import stock_service_pb2 as pb
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.runtime.dlq import read_all
from services.runtime.inprocess import Service
from tests.services.support import in_process, refused
from tools.platform import Platform, eventually

ORDERS = "ordering.orders.v1"
RESERVATIONS = "stocking.reservations.v1"
LEVELS = "stocking.levels.v1"
INITIAL, RESTOCK, DAMAGED = pb.STOCK_CHANGE_REASON_INITIAL_STOCK, pb.STOCK_CHANGE_REASON_RESTOCK, \
    pb.STOCK_CHANGE_REASON_DAMAGED


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                   schema_registry_url: str) -> AsyncIterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("stocking"), kafka_bootstrap, schema_registry_url,
                       f"t{uuid.uuid4().hex[:12]}")
    try:
        await running.start("stocking")
        yield running
    finally:
        await running.close()


@pytest.fixture
def stock(platform: Platform) -> StockServiceStub:
    return platform.stub("stocking", StockServiceStub)


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:10].upper()}"


def order() -> str:
    return f"order-{uuid.uuid4()}"


def lines(*pairs: tuple[str, int]) -> list[events_pb.StockLine]:
    return [events_pb.StockLine(sku=s, quantity=q) for s, q in pairs]


async def stocked(stock: StockServiceStub, on_hand: int) -> str:
    new = sku()
    await stock.SetStock(pb.SetStockRequest(sku=new, on_hand=on_hand, reason=INITIAL, staff_id="staff-1"))
    return new


async def level(stock: StockServiceStub, of: str) -> Any:
    return (await stock.GetStockLevel(pb.GetStockLevelRequest(sku=of))).level


def named(event: str, aggregate_id: str) -> Any:
    return lambda envelope: envelope.WhichOneof("event") == event and envelope.metadata.aggregate_id == aggregate_id


# --- levels and history ---------------------------------------------------------------------------


async def test_set_adjust_read_levels_and_history(platform: Platform, stock: StockServiceStub) -> None:
    new = sku()
    answer = await stock.SetStock(pb.SetStockRequest(sku=new, on_hand=10, reason=INITIAL, note="first delivery",
                                                     staff_id="staff-1"))
    assert (answer.level.on_hand, answer.level.available, answer.level.low_stock_threshold) == (10, 10, 5)
    assert answer.movement.kind == pb.STOCK_MOVEMENT_KIND_SET and answer.movement.on_hand_delta == 10

    adjusted = await stock.AdjustStock(pb.AdjustStockRequest(sku=new, delta=-3, reason=DAMAGED, staff_id="staff-2"))
    assert (adjusted.level.on_hand, adjusted.movement.on_hand_after) == (7, 7)
    assert (await level(stock, new)).available == 7

    batch = await stock.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=[new, "NOPE", new]))
    assert [lv.sku for lv in batch.levels] == [new] and list(batch.unknown_skus) == ["NOPE"]

    history = await stock.ListStockMovements(pb.ListStockMovementsRequest(sku=new))
    assert [m.kind for m in history.movements] == [pb.STOCK_MOVEMENT_KIND_ADJUSTED, pb.STOCK_MOVEMENT_KIND_SET]
    assert history.movements[1].note == "first delivery" and history.movements[0].staff_id == "staff-2"
    first_page = await stock.ListStockMovements(pb.ListStockMovementsRequest(
        sku=new, page=paging_pb2.PageRequest(page_size=1)))
    second_page = await stock.ListStockMovements(pb.ListStockMovementsRequest(
        sku=new, page=paging_pb2.PageRequest(page_size=1, page_token=first_page.page.next_page_token)))
    assert [m.movement_id for m in [*first_page.movements, *second_page.movements]] == [
        m.movement_id for m in history.movements]
    only_sets = await stock.ListStockMovements(pb.ListStockMovementsRequest(sku=new,
                                                                            kinds=[pb.STOCK_MOVEMENT_KIND_SET]))
    assert len(only_sets.movements) == 1

    # Its first units took the SKU out of "out of stock": BackInStock, keyed by SKU, with the level's version.
    [back] = await platform.events(LEVELS, where=named("back_in_stock", new))
    assert back.back_in_stock.level.available == 10 and back.metadata.aggregate_version == 1


async def test_alerts_and_thresholds(platform: Platform, stock: StockServiceStub) -> None:
    new = await stocked(stock, 10)
    await stock.AdjustStock(pb.AdjustStockRequest(sku=new, delta=-6, reason=DAMAGED, staff_id="staff-1"))
    [low] = await platform.events(LEVELS, where=named("low_stock_detected", new))
    assert low.low_stock_detected.level.available == 4

    alerts = await stock.ListStockAlerts(pb.ListStockAlertsRequest(sku=new, unresolved_only=True))
    [alert] = alerts.alerts
    assert (alert.alert_id, alert.kind) == (low.low_stock_detected.alert_id, pb.STOCK_ALERT_KIND_LOW_STOCK)
    acknowledged = await stock.AcknowledgeStockAlert(pb.AcknowledgeStockAlertRequest(
        alert_id=alert.alert_id, staff_id="staff-9", note="reorder placed"))
    assert acknowledged.alert.acknowledged_by == "staff-9" and acknowledged.alert.HasField("acknowledged_at")
    assert not (await stock.ListStockAlerts(pb.ListStockAlertsRequest(sku=new, unacknowledged_only=True))).alerts

    default = (await stock.GetLowStockThreshold(pb.GetLowStockThresholdRequest())).threshold
    assert (default.sku, default.effective_threshold, default.HasField("override_threshold")) == ("", 5, False)
    # An override of 0 turns low-stock alerts off for the SKU: the open alert resolves at once.
    changed = await stock.SetLowStockThreshold(pb.SetLowStockThresholdRequest(sku=new, threshold=0,
                                                                              staff_id="staff-1"))
    assert (changed.threshold.effective_threshold, changed.threshold.override_threshold) == (0, 0)
    assert not (await stock.ListStockAlerts(pb.ListStockAlertsRequest(sku=new, unresolved_only=True))).alerts
    # Back to the default: low again, announced again.
    await stock.SetLowStockThreshold(pb.SetLowStockThresholdRequest(sku=new, use_default=True, staff_id="staff-1"))
    threshold = (await stock.GetLowStockThreshold(pb.GetLowStockThresholdRequest(sku=new))).threshold
    assert (threshold.effective_threshold, threshold.HasField("override_threshold")) == (5, False)
    assert len(await platform.events(LEVELS, at_least=2, where=named("low_stock_detected", new))) == 2

    await stock.AdjustStock(pb.AdjustStockRequest(sku=new, delta=-4, reason=DAMAGED, staff_id="staff-1"))
    [out] = await platform.events(LEVELS, where=named("out_of_stock", new))
    assert out.out_of_stock.level.available == 0 and out.out_of_stock.alert_id


# --- reservations by RPC --------------------------------------------------------------------------


async def test_reserve_commit_release_by_rpc(platform: Platform, stock: StockServiceStub) -> None:
    a, b = await stocked(stock, 10), await stocked(stock, 10)
    first = order()
    reserved = await stock.ReserveOrderStock(pb.ReserveOrderStockRequest(
        order_id=first, lines=lines((a, 2), (b, 3)), ttl=Duration(seconds=600)))
    assert reserved.reservation.state == pb.RESERVATION_STATE_ACTIVE and not reserved.replayed
    assert (reserved.reservation.expires_at.seconds - reserved.reservation.created_at.seconds) in (599, 600)
    again = await stock.ReserveOrderStock(pb.ReserveOrderStockRequest(order_id=first, lines=lines((b, 3), (a, 2))))
    assert again.replayed and again.reservation == reserved.reservation
    assert ((await level(stock, a)).reserved, (await level(stock, b)).available) == (2, 7)

    got = await stock.GetReservation(pb.GetReservationRequest(order_id=first))
    assert got.reservation == reserved.reservation
    listed = await stock.ListReservations(pb.ListReservationsRequest(states=[pb.RESERVATION_STATE_ACTIVE], sku=a))
    assert [r.order_id for r in listed.reservations] == [first]

    committed = await stock.CommitReservation(pb.CommitReservationRequest(order_id=first))
    assert committed.reservation.state == pb.RESERVATION_STATE_COMMITTED
    after = await level(stock, a)
    assert (after.on_hand, after.reserved, after.available) == (8, 0, 8)

    second = order()
    await stock.ReserveOrderStock(pb.ReserveOrderStockRequest(order_id=second, lines=lines((a, 8))))
    released = await stock.ReleaseReservation(pb.ReleaseReservationRequest(
        order_id=second, reason=events_pb.RELEASE_REASON_STAFF, staff_id="staff-3"))
    assert released.reservation.state == pb.RESERVATION_STATE_RELEASED
    assert released.reservation.released_by == "staff-3"
    assert (await level(stock, a)).available == 8

    short = order()
    failed = await stock.ReserveOrderStock(pb.ReserveOrderStockRequest(
        order_id=short, lines=lines((a, 9), (b, 1), ("NEVER-HEARD-OF", 1))))
    assert failed.reservation.state == pb.RESERVATION_STATE_FAILED
    assert {(s.sku, s.requested, s.available, s.short_by, s.reason) for s in failed.reservation.short_lines} == {
        (a, 9, 8, 1, events_pb.SHORTAGE_REASON_INSUFFICIENT_STOCK),
        ("NEVER-HEARD-OF", 1, 0, 1, events_pb.SHORTAGE_REASON_UNKNOWN_SKU)}
    assert (await level(stock, b)).available == 7  # all or nothing

    # One read of the topic for the four orders: reserved and committed, released, failed.
    events = await platform.events(RESERVATIONS, at_least=4, where=lambda e: e.metadata.aggregate_id in {
        first, second, short})
    by_kind = {(e.metadata.aggregate_id, e.WhichOneof("event")): e for e in events}
    assert sorted(by_kind) == sorted([(first, "stock_reserved"), (first, "stock_committed"),
                                      (second, "stock_reserved"), (second, "stock_released"),
                                      (short, "stock_reservation_failed")])
    assert len(events) == 5  # the replay published nothing
    reserved_event = by_kind[(first, "stock_reserved")]
    assert reserved_event.metadata.correlation_id == first
    assert {(line.sku, line.quantity) for line in reserved_event.stock_reserved.lines} == {(a, 2), (b, 3)}
    assert by_kind[(second, "stock_released")].stock_released.reason == events_pb.RELEASE_REASON_STAFF
    failed_event = by_kind[(short, "stock_reservation_failed")].stock_reservation_failed
    assert {s.sku for s in failed_event.short_lines} == {a, "NEVER-HEARD-OF"}


async def test_1000_concurrent_reservations_race_for_100_units(platform: Platform, stock: StockServiceStub) -> None:
    hot = await stocked(stock, 100)
    orders = [order() for _ in range(1000)]
    answers = await asyncio.gather(*(
        stock.ReserveOrderStock(pb.ReserveOrderStockRequest(order_id=o, lines=lines((hot, 1))), timeout=120)
        for o in orders))
    granted = [a.reservation.order_id for a in answers if a.reservation.state == pb.RESERVATION_STATE_ACTIVE]
    refused = [a for a in answers if a.reservation.state == pb.RESERVATION_STATE_FAILED]
    assert (len(granted), len(refused)) == (100, 900)
    assert all(r.reservation.short_lines[0].available == 0 for r in refused)
    final = await level(stock, hot)
    assert (final.on_hand, final.reserved, final.available) == (100, 100, 0)

    # Never negative at any step: every movement kept 0 <= reserved <= on_hand.
    movements, token = [], ""
    while True:
        page = await stock.ListStockMovements(pb.ListStockMovementsRequest(
            sku=hot, page=paging_pb2.PageRequest(page_size=100, page_token=token)))
        movements += page.movements
        if not (token := page.page.next_page_token):
            break
    reserved = [m for m in movements if m.kind == pb.STOCK_MOVEMENT_KIND_RESERVED]
    assert len(reserved) == 100 and {m.order_id for m in reserved} == set(granted)
    assert all(0 <= m.reserved_after <= m.on_hand_after for m in movements)

    # The events say the same: 100 StockReserved, 900 StockReservationFailed, one OutOfStock.
    ours = set(orders)
    events = await platform.events(RESERVATIONS, at_least=1000, within=60,
                                   where=lambda e: e.metadata.aggregate_id in ours)
    kinds = [e.WhichOneof("event") for e in events]
    assert (kinds.count("stock_reserved"), kinds.count("stock_reservation_failed"), len(kinds)) == (100, 900, 1000)
    assert {e.metadata.aggregate_id for e in events if e.WhichOneof("event") == "stock_reserved"} == set(granted)
    level_events = await platform.events(LEVELS, where=lambda e: e.metadata.aggregate_id == hot)
    assert [e.WhichOneof("event") for e in level_events] == ["back_in_stock", "low_stock_detected", "out_of_stock"]
    assert all(getattr(e, e.WhichOneof("event")).level.available >= 0 for e in level_events)


async def test_opposite_order_reservations_never_deadlock(stock: StockServiceStub) -> None:
    x, y = await stocked(stock, 10_000), await stocked(stock, 10_000)
    pairs = [(order(), order()) for _ in range(150)]

    async def pair(first: str, second: str) -> None:
        answers = await asyncio.gather(
            stock.ReserveOrderStock(pb.ReserveOrderStockRequest(order_id=first, lines=lines((x, 1), (y, 2)))),
            stock.ReserveOrderStock(pb.ReserveOrderStockRequest(order_id=second, lines=lines((y, 2), (x, 1)))))
        assert all(a.reservation.state == pb.RESERVATION_STATE_ACTIVE for a in answers)
        # Commit one and release the other at the same moment: both lock the same two SKUs again.
        await asyncio.gather(
            stock.CommitReservation(pb.CommitReservationRequest(order_id=first)),
            stock.ReleaseReservation(pb.ReleaseReservationRequest(
                order_id=second, reason=events_pb.RELEASE_REASON_ORDER_CANCELLED)))

    await asyncio.wait_for(asyncio.gather(*(pair(a, b) for a, b in pairs)), timeout=90)
    after_x, after_y = await level(stock, x), await level(stock, y)
    assert (after_x.on_hand, after_x.reserved, after_y.on_hand, after_y.reserved) == (9_850, 0, 9_700, 0)


# --- consumed events ------------------------------------------------------------------------------


def order_lines(*pairs: tuple[str, int]) -> list[order_pb2.OrderLine]:
    return [order_pb2.OrderLine(sku=s, quantity=q, name=f"product {s}") for s, q in pairs]


async def test_order_events_reserve_commit_and_release(platform: Platform, stock: StockServiceStub) -> None:
    a = await stocked(stock, 5)
    placed, short, cancelled = order(), order(), order()
    await platform.publish(ORDERS, placed, order_created=ordering_events_pb.OrderCreated(
        order_id=placed, lines=order_lines((a, 2))))
    [reserved] = await platform.events(RESERVATIONS, where=named("stock_reserved", placed))
    assert reserved.metadata.correlation_id == placed and reserved.metadata.producer == "stocking"

    await platform.publish(ORDERS, short, order_created=ordering_events_pb.OrderCreated(
        order_id=short, lines=order_lines((a, 4))))
    [failed] = await platform.events(RESERVATIONS, where=named("stock_reservation_failed", short))
    [line] = failed.stock_reservation_failed.short_lines
    assert (line.sku, line.requested, line.available, line.short_by) == (a, 4, 3, 1)

    await platform.publish(ORDERS, placed, order_confirmed=ordering_events_pb.OrderConfirmed(
        order_id=placed, lines=order_lines((a, 2))))
    assert await platform.events(RESERVATIONS, where=named("stock_committed", placed))
    after = await level(stock, a)
    assert (after.on_hand, after.reserved) == (3, 0)

    await platform.publish(ORDERS, cancelled, order_created=ordering_events_pb.OrderCreated(
        order_id=cancelled, lines=order_lines((a, 3))))
    await platform.events(RESERVATIONS, where=named("stock_reserved", cancelled))
    await platform.publish(ORDERS, cancelled, order_cancelled=ordering_events_pb.OrderCancelled(
        order_id=cancelled, lines=order_lines((a, 3))))
    [released] = await platform.events(RESERVATIONS, where=named("stock_released", cancelled))
    assert released.stock_released.reason == events_pb.RELEASE_REASON_ORDER_CANCELLED
    assert (await level(stock, a)).available == 3
    # Cancelling an order stocking never reserved for is not an error; cancelling a committed one
    # (ordering does so only before the carrier picked the parcel up) puts its goods back on hand.
    for order_id in (order(), placed):
        await platform.publish(ORDERS, order_id, order_cancelled=ordering_events_pb.OrderCancelled(
            order_id=order_id))
    sentinel = order()
    await platform.publish(ORDERS, sentinel, order_created=ordering_events_pb.OrderCreated(
        order_id=sentinel, lines=order_lines((a, 1))))
    await platform.events(RESERVATIONS, where=named("stock_reserved", sentinel))
    assert (await stock.GetReservation(pb.GetReservationRequest(order_id=placed))).reservation.state == \
        pb.RESERVATION_STATE_RELEASED
    back = await level(stock, a)
    assert (back.on_hand, back.reserved, back.available) == (5, 1, 4)
    assert not await asyncio.to_thread(read_all, platform.kafka_bootstrap, f"{platform.kafka_topic(ORDERS)}.dlq")


async def test_product_events_track_and_discontinue_skus(platform: Platform, stock: StockServiceStub) -> None:
    new = sku()
    product = catalog_pb.Product(product_id=str(uuid.uuid4()), sku=new, name="Kettle",
                                 status=catalog_pb.PRODUCT_STATUS_PUBLISHED, version=2)
    await platform.publish("cataloging.products.v1", product.product_id,
                           product_published=catalog_pb.ProductPublished(product=product))

    async def tracked() -> Any:
        found = await stock.BatchGetStockLevels(pb.BatchGetStockLevelsRequest(skus=[new]))
        return found.levels

    [tracked_level] = await eventually(tracked)
    assert (tracked_level.on_hand, tracked_level.available) == (0, 0)

    await stock.AdjustStock(pb.AdjustStockRequest(sku=new, delta=5, reason=RESTOCK, staff_id="staff-1"))
    await platform.publish("cataloging.products.v1", product.product_id,
                           product_archived=catalog_pb.ProductArchived(product_id=product.product_id, sku=new))

    async def discontinued() -> Any:
        answer = await stock.ReserveOrderStock(pb.ReserveOrderStockRequest(order_id=order(), lines=lines((new, 1))))
        return answer.reservation.state == pb.RESERVATION_STATE_FAILED and answer.reservation.short_lines[0]

    short = await eventually(discontinued)
    assert short.reason == events_pb.SHORTAGE_REASON_DISCONTINUED


def setting(name: str, version: int, **value: Any) -> admin_pb.SettingChanged:
    return admin_pb.SettingChanged(name=name, value=admin_pb.SettingValue(**value), changed_by="admin-1",
                                   version=version)


async def test_settings_changes_reach_the_running_service(platform: Platform, stock: StockServiceStub) -> None:
    plenty = await stocked(stock, 15)  # in stock under the default threshold 5, low under 20
    await platform.publish("administering.settings.v1", "stock.low_stock_threshold",
                           setting_changed=setting("stock.low_stock_threshold", 1, int_value=20))
    [low] = await platform.events(LEVELS, where=named("low_stock_detected", plenty))
    assert low.low_stock_detected.level.low_stock_threshold == 20
    default = (await stock.GetLowStockThreshold(pb.GetLowStockThresholdRequest())).threshold
    assert default.default_threshold == 20

    ttl = Duration()
    ttl.FromTimedelta(timedelta(minutes=2))
    await platform.publish("administering.settings.v1", "stock.reservation_ttl",
                           setting_changed=setting("stock.reservation_ttl", 1, duration_value=ttl))

    async def two_minutes() -> bool:
        answer = await stock.ReserveOrderStock(pb.ReserveOrderStockRequest(order_id=order(), lines=lines((plenty, 1))))
        held = answer.reservation.expires_at.seconds - answer.reservation.created_at.seconds
        return held in (119, 120)

    await eventually(two_minutes)
    # Back to the defaults, for the other tests of the module.
    ttl.FromTimedelta(timedelta(minutes=15))
    await platform.publish("administering.settings.v1", "stock.reservation_ttl",
                           setting_changed=setting("stock.reservation_ttl", 2, duration_value=ttl))
    await platform.publish("administering.settings.v1", "stock.low_stock_threshold",
                           setting_changed=setting("stock.low_stock_threshold", 2, int_value=5))

    async def default_again() -> bool:
        answer = await stock.GetLowStockThreshold(pb.GetLowStockThresholdRequest())
        return answer.threshold.default_threshold == 5

    await eventually(default_again)


# --- expiry ---------------------------------------------------------------------------------------


async def test_a_reservation_expires_and_its_stock_comes_back(platform: Platform, stock: StockServiceStub) -> None:
    held = await stocked(stock, 5)
    expiring = order()
    answer = await stock.ReserveOrderStock(pb.ReserveOrderStockRequest(
        order_id=expiring, lines=lines((held, 2)), ttl=Duration(seconds=60)))  # the shortest ttl allowed
    assert answer.reservation.state == pb.RESERVATION_STATE_ACTIVE
    assert (await level(stock, held)).available == 3

    # Rather than wait a minute: the same service, restarted with its clock two minutes ahead. The
    # reservation comes back from the changelog and the sweep finds it overdue.
    assert platform.terminate("stocking") == 0  # the sweep stops with the bus, the process exits cleanly
    await platform.start("stocking", STOCKING_CLOCK_OFFSET_SECONDS="120")
    [released] = await platform.events(RESERVATIONS, where=named("stock_released", expiring))
    assert released.stock_released.reason == events_pb.RELEASE_REASON_EXPIRED
    assert {(line.sku, line.quantity) for line in released.stock_released.lines} == {(held, 2)}
    assert released.metadata.correlation_id == expiring
    reservation = (await stock.GetReservation(pb.GetReservationRequest(order_id=expiring))).reservation
    assert (reservation.state, reservation.release_reason) == (pb.RESERVATION_STATE_RELEASED,
                                                               events_pb.RELEASE_REASON_EXPIRED)
    after = await level(stock, held)
    assert (after.on_hand, after.reserved, after.available) == (5, 0, 5)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stock.CommitReservation(pb.CommitReservationRequest(order_id=expiring))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


# --- bad input ------------------------------------------------------------------------------------

INVALID, NOT_FOUND, FAILED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                              grpc.StatusCode.FAILED_PRECONDITION)
UNSPECIFIED: Any = 0  # enum numbers as a client may send them
UNKNOWN_7: Any = 7
UNKNOWN_9: Any = 9


async def test_bad_input_over_every_rpc(schema_registry_url: str) -> None:
    async with in_process("stocking", schema_registry_url) as (service, channel):
        await refuses_bad_input(service, StockServiceStub(channel))


async def refuses_bad_input(service: Service, stock: StockServiceStub) -> None:
    tracked = await stocked(stock, 5)
    committed, released, active = order(), order(), order()
    for order_id in (committed, released, active):
        await stock.ReserveOrderStock(pb.ReserveOrderStockRequest(order_id=order_id, lines=lines((tracked, 1))))
    await stock.CommitReservation(pb.CommitReservationRequest(order_id=committed))
    await stock.ReleaseReservation(pb.ReleaseReservationRequest(order_id=released,
                                                                reason=events_pb.RELEASE_REASON_ORDER_CANCELLED))
    good_set: dict[str, Any] = {"sku": tracked, "on_hand": 5, "reason": RESTOCK, "staff_id": "staff-1"}
    good_adjust: dict[str, Any] = {"sku": tracked, "delta": 1, "reason": RESTOCK, "staff_id": "staff-1"}
    bad_page = paging_pb2.PageRequest(page_token="not-a-token")
    bad_page_refused = "page_token 'not-a-token' is not one this list issued for these filters and this order"
    cases: list[tuple[str, Any, grpc.StatusCode, str]] = [
        ("SetStock", pb.SetStockRequest(**{**good_set, "sku": ""}), INVALID, "sku must not be empty"),
        ("SetStock", pb.SetStockRequest(**{**good_set, "sku": "bad sku"}), INVALID, "SKU must be 1 to 64"),
        ("SetStock", pb.SetStockRequest(**{**good_set, "on_hand": -1}), INVALID,
         "must be between 0 and 1,000,000,000, got -1"),
        ("SetStock", pb.SetStockRequest(**{**good_set, "reason": 0}), INVALID, "reason for the stock change"),
        ("SetStock", pb.SetStockRequest(**{**good_set, "reason": 42}), INVALID, "reason 42 is not one of"),
        ("SetStock", pb.SetStockRequest(**{**good_set, "reason": pb.STOCK_CHANGE_REASON_OTHER}), INVALID,
         "a note is required"),
        ("SetStock", pb.SetStockRequest(**{**good_set, "staff_id": ""}), INVALID, "staff_id must name"),
        ("SetStock", pb.SetStockRequest(**{**good_set, "on_hand": 0}), FAILED, "units are reserved"),
        ("AdjustStock", pb.AdjustStockRequest(**{**good_adjust, "sku": ""}), INVALID, "sku must not be empty"),
        ("AdjustStock", pb.AdjustStockRequest(**{**good_adjust, "delta": 0}), INVALID, "delta must add or remove"),
        ("AdjustStock", pb.AdjustStockRequest(**{**good_adjust, "reason": 0}), INVALID, "reason for the stock"),
        ("AdjustStock", pb.AdjustStockRequest(**{**good_adjust, "staff_id": ""}), INVALID, "staff_id must name"),
        ("AdjustStock", pb.AdjustStockRequest(**{**good_adjust, "sku": "UNTRACKED"}), NOT_FOUND,
         "does not track SKU 'UNTRACKED'"),
        ("AdjustStock", pb.AdjustStockRequest(**{**good_adjust, "delta": -5}), FAILED, "at most 3 can go"),
        ("ListStockMovements", pb.ListStockMovementsRequest(), INVALID, "sku must not be empty"),
        ("ListStockMovements", pb.ListStockMovementsRequest(sku="UNTRACKED"), NOT_FOUND, "does not track"),
        ("ListStockMovements", pb.ListStockMovementsRequest(sku=tracked, kinds=[UNSPECIFIED]), INVALID,
         "kinds must not contain STOCK_MOVEMENT_KIND_UNSPECIFIED"),
        ("ListStockMovements", pb.ListStockMovementsRequest(sku=tracked, page=bad_page), INVALID, bad_page_refused),
        ("ListStockMovements", pb.ListStockMovementsRequest(sku=tracked, page=paging_pb2.PageRequest(page_size=-1)),
         INVALID, "page_size must be 0 (the default) or more"),
        ("GetStockLevel", pb.GetStockLevelRequest(), INVALID, "sku must not be empty"),
        ("GetStockLevel", pb.GetStockLevelRequest(sku="UNTRACKED"), NOT_FOUND, "does not track"),
        ("BatchGetStockLevels", pb.BatchGetStockLevelsRequest(skus=[f"S{i}" for i in range(201)]), INVALID,
         "at most 200 SKUs"),
        ("ReserveOrderStock", pb.ReserveOrderStockRequest(lines=lines((tracked, 1))), INVALID,
         "order_id must not be empty"),
        ("ReserveOrderStock", pb.ReserveOrderStockRequest(order_id="o-1"), INVALID, "has no lines"),
        ("ReserveOrderStock", pb.ReserveOrderStockRequest(order_id="o-1", lines=lines((tracked, 0))), INVALID,
         "must be between 1 and 1,000,000,000, got 0"),
        ("ReserveOrderStock", pb.ReserveOrderStockRequest(order_id="o-1", lines=lines((tracked, 1), (tracked, 2))),
         INVALID, "listed twice"),
        ("ReserveOrderStock", pb.ReserveOrderStockRequest(order_id="o-1", lines=lines(("", 1))), INVALID,
         "needs a SKU"),
        ("ReserveOrderStock", pb.ReserveOrderStockRequest(order_id="o-1", lines=lines((tracked, 1)),
                                                          ttl=Duration(seconds=10)), INVALID,
         "between 1 minute and 24 hours"),
        ("ReserveOrderStock", pb.ReserveOrderStockRequest(order_id=committed, lines=lines((tracked, 2))), FAILED,
         "already has a reservation with other lines"),
        ("ReleaseReservation", pb.ReleaseReservationRequest(reason=events_pb.RELEASE_REASON_ORDER_CANCELLED),
         INVALID, "order_id must not be empty"),
        ("ReleaseReservation", pb.ReleaseReservationRequest(order_id=released), INVALID, "release reason is required"),
        ("ReleaseReservation", pb.ReleaseReservationRequest(order_id=released, reason=events_pb.RELEASE_REASON_EXPIRED),
         INVALID, "only the expiry sweep"),
        ("ReleaseReservation", pb.ReleaseReservationRequest(order_id=released, reason=events_pb.RELEASE_REASON_STAFF),
         INVALID, "staff_id must name"),
        ("ReleaseReservation", pb.ReleaseReservationRequest(order_id="unknown",
                                                            reason=events_pb.RELEASE_REASON_ORDER_CANCELLED),
         NOT_FOUND, "has no stock reservation"),
        ("ReleaseReservation", pb.ReleaseReservationRequest(order_id=committed,
                                                            reason=events_pb.RELEASE_REASON_ORDER_CANCELLED),
         FAILED, "is committed"),
        ("CommitReservation", pb.CommitReservationRequest(), INVALID, "order_id must not be empty"),
        ("CommitReservation", pb.CommitReservationRequest(order_id="unknown"), NOT_FOUND, "has no stock reservation"),
        ("CommitReservation", pb.CommitReservationRequest(order_id=released), FAILED, "was released"),
        ("GetReservation", pb.GetReservationRequest(), INVALID, "order_id must not be empty"),
        ("GetReservation", pb.GetReservationRequest(order_id="unknown"), NOT_FOUND, "has no stock reservation"),
        ("ListReservations", pb.ListReservationsRequest(states=[UNSPECIFIED]), INVALID,
         "states must not contain RESERVATION_STATE_UNSPECIFIED"),
        ("ListReservations", pb.ListReservationsRequest(states=[UNKNOWN_9]), INVALID, "states 9 is not one of"),
        ("ListReservations", pb.ListReservationsRequest(page=bad_page), INVALID, bad_page_refused),
        ("ListStockAlerts", pb.ListStockAlertsRequest(kinds=[UNKNOWN_7]), INVALID, "kinds 7 is not one of"),
        ("ListStockAlerts", pb.ListStockAlertsRequest(page=bad_page), INVALID, bad_page_refused),
        ("AcknowledgeStockAlert", pb.AcknowledgeStockAlertRequest(staff_id="staff-1"), INVALID,
         "alert_id must not be empty"),
        ("AcknowledgeStockAlert", pb.AcknowledgeStockAlertRequest(alert_id="nonsense", staff_id="staff-1"),
         NOT_FOUND, "no stock alert 'nonsense'"),
        ("AcknowledgeStockAlert", pb.AcknowledgeStockAlertRequest(alert_id=f"{tracked}:alert:1"), INVALID,
         "staff_id must name"),
        ("AcknowledgeStockAlert", pb.AcknowledgeStockAlertRequest(alert_id=f"{tracked}:alert:999",
                                                                  staff_id="staff-1"), NOT_FOUND, "no stock alert"),
        ("GetLowStockThreshold", pb.GetLowStockThresholdRequest(sku="UNTRACKED"), NOT_FOUND, "does not track"),
        ("SetLowStockThreshold", pb.SetLowStockThresholdRequest(staff_id="staff-1"), INVALID,
         "sku must not be empty"),
        ("SetLowStockThreshold", pb.SetLowStockThresholdRequest(sku=tracked, threshold=-1, staff_id="staff-1"),
         INVALID, "threshold must be between 0 and 1,000,000,000"),
        ("SetLowStockThreshold", pb.SetLowStockThresholdRequest(sku=tracked, threshold=3, use_default=True,
                                                                staff_id="staff-1"),
         INVALID, "threshold must be 0 when use_default is set"),
        ("SetLowStockThreshold", pb.SetLowStockThresholdRequest(sku=tracked, threshold=3), INVALID,
         "staff_id must name"),
        ("SetLowStockThreshold", pb.SetLowStockThresholdRequest(sku="UNTRACKED", threshold=3, staff_id="staff-1"),
         NOT_FOUND, "does not track"),
    ]
    assert {method for method, *_ in cases} == set(pb.DESCRIPTOR.services_by_name["StockService"].methods_by_name)
    for method, request, code, fragment in cases:
        await refused(getattr(stock, method)(request, timeout=10), code, fragment, by=service)
