"""Stocking's domain without Kafka or gRPC: levels, movements, reservations, expiry and alerts."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from services.runtime.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from services.stocking import domain as d

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = d.StockSettings(low_stock_threshold=5, reservation_ttl=timedelta(minutes=15))
RESTOCK = d.StockChangeReason.RESTOCK


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def stocked(sku: str = "SKU-1", on_hand: int = 10, settings: d.StockSettings = SETTINGS) -> d.StockLevel:
    return d.set_stock(None, sku=sku, on_hand=on_hand, reason=d.StockChangeReason.INITIAL_STOCK, note="",
                       staff_id="staff-1", settings=settings, now=NOW).level


def adjusted(level: d.StockLevel, delta: int, minutes: float = 1) -> d.LevelChange:
    reason = RESTOCK if delta > 0 else d.StockChangeReason.DAMAGED
    return d.adjust_stock(level, sku=level.sku, delta=delta, reason=reason, note="", staff_id="staff-1",
                          settings=SETTINGS, now=at(minutes))


def lines(*pairs: tuple[str, int]) -> list[d.StockLine]:
    return [d.StockLine(sku, quantity) for sku, quantity in pairs]


def reserve(order_id: str, order_lines: list[d.StockLine], levels: dict[str, d.StockLevel],
            existing: d.Reservation | None = None, ttl: timedelta | None = None,
            minutes: float = 0) -> d.ReservationChange:
    return d.reserve_order_stock(existing, order_id=order_id, lines=order_lines,
                                 levels={line.sku: levels.get(line.sku) for line in order_lines}, ttl=ttl,
                                 settings=SETTINGS, now=at(minutes))


def by_sku(change: d.ReservationChange) -> dict[str, d.StockLevel]:
    return {level.sku: level for level in change.levels}


def kinds(events: list[Any]) -> list[str]:
    return [type(event).__name__ for event in events]


# --- Setting and adjusting ------------------------------------------------------------------------


def test_set_stock_starts_tracking_a_sku_and_announces_its_first_units() -> None:
    change = d.set_stock(None, sku="SKU-1", on_hand=10, reason=d.StockChangeReason.INITIAL_STOCK, note="first",
                         staff_id="staff-1", settings=SETTINGS, now=NOW)
    level = change.level
    assert (level.on_hand, level.reserved, level.available, level.version) == (10, 0, 10, 1)
    assert change.movement == d.StockMovement(
        movement_id="SKU-1:1", sku="SKU-1", sequence=1, kind=d.StockMovementKind.SET, on_hand_delta=10,
        reserved_delta=0, on_hand_after=10, reserved_after=0, change_reason=d.StockChangeReason.INITIAL_STOCK,
        release_reason=None, order_id="", note="first", staff_id="staff-1", occurred_at=NOW)
    assert change.level_events == [d.BackInStock(sku="SKU-1", level=level.snapshot(SETTINGS))]
    assert level.alerts == []


def test_a_new_sku_at_zero_raises_nothing_and_a_low_first_stock_is_announced_as_such() -> None:
    empty = d.set_stock(None, sku="SKU-1", on_hand=0, reason=d.StockChangeReason.INITIAL_STOCK, note="",
                        staff_id="s", settings=SETTINGS, now=NOW)
    assert (empty.level.available, empty.level_events, empty.level.alerts) == (0, [], [])
    low = d.set_stock(None, sku="SKU-1", on_hand=3, reason=d.StockChangeReason.INITIAL_STOCK, note="",
                      staff_id="s", settings=SETTINGS, now=NOW)
    assert kinds(low.level_events) == ["BackInStock", "LowStockDetected"]


def test_set_stock_records_a_movement_even_when_nothing_changes() -> None:
    level = stocked(on_hand=10)
    change = d.set_stock(level, sku="SKU-1", on_hand=10, reason=d.StockChangeReason.COUNT_CORRECTION, note="",
                         staff_id="s", settings=SETTINGS, now=at(1))
    assert change.movement is not None
    assert (change.movement.on_hand_delta, change.movement.sequence, change.level.version) == (0, 2, 2)


@pytest.mark.parametrize(("values", "error", "words"), [
    ({"sku": ""}, InvalidArgument, "SKU must be"),
    ({"sku": "lower"}, InvalidArgument, "SKU must be"),
    ({"staff_id": ""}, InvalidArgument, "staff_id"),
    ({"on_hand": -1}, InvalidArgument, "between 0 and 1,000,000,000, got -1"),
    ({"on_hand": 2**63 - 1}, InvalidArgument, "between 0 and 1,000,000,000"),
    ({"sku": "X" * 10_000}, InvalidArgument, r"got 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'… \(10,000 characters\)$"),
    ({"reason": None}, InvalidArgument, "reason for the stock change is required"),
    ({"reason": d.StockChangeReason.OTHER}, InvalidArgument, "note is required"),
    ({"reason": d.StockChangeReason.OTHER, "note": "   "}, InvalidArgument, "note is required"),
    ({"note": "n" * 501}, InvalidArgument, "at most 500"),
])
def test_set_stock_refusals(values: dict[str, Any], error: type[DomainError], words: str) -> None:
    request: dict[str, Any] = dict(sku="SKU-1", on_hand=5, reason=RESTOCK, note="", staff_id="s")
    with pytest.raises(error, match=words):
        d.set_stock(None, **{**request, **values}, settings=SETTINGS, now=NOW)


def test_set_stock_cannot_go_below_what_is_reserved() -> None:
    level = by_sku(reserve("o1", lines(("SKU-1", 4)), {"SKU-1": stocked()}))["SKU-1"]
    with pytest.raises(FailedPrecondition, match="4 units are reserved"):
        d.set_stock(level, sku="SKU-1", on_hand=3, reason=d.StockChangeReason.COUNT_CORRECTION, note="",
                    staff_id="s", settings=SETTINGS, now=at(1))
    assert d.set_stock(level, sku="SKU-1", on_hand=4, reason=d.StockChangeReason.COUNT_CORRECTION, note="",
                       staff_id="s", settings=SETTINGS, now=at(1)).level.available == 0


def test_adjust_adds_or_removes_units_with_a_reason() -> None:
    change = d.adjust_stock(stocked(), sku="SKU-1", delta=-2, reason=d.StockChangeReason.OTHER, note="dropped",
                            staff_id="staff-2", settings=SETTINGS, now=at(1))
    assert (change.level.on_hand, change.level.version) == (8, 2)
    assert change.movement is not None
    movement = change.movement
    assert (movement.kind, movement.on_hand_delta, movement.on_hand_after, movement.note, movement.staff_id) == (
        d.StockMovementKind.ADJUSTED, -2, 8, "dropped", "staff-2")


@pytest.mark.parametrize(("level", "values", "error", "words"), [
    (stocked(), {"delta": 0}, InvalidArgument, "at least one unit, got 0"),
    (stocked(), {"delta": 2**63 - 1}, InvalidArgument, "between -1,000,000,000 and 1,000,000,000"),
    (stocked(), {"delta": 1_000_000_000}, InvalidArgument, "would exceed the most a SKU can hold"),
    (stocked(), {"staff_id": ""}, InvalidArgument, "staff_id"),
    (stocked(), {"reason": None}, InvalidArgument, "reason"),
    (stocked(), {"reason": d.StockChangeReason.OTHER}, InvalidArgument, "note"),
    (None, {}, NotFound, "does not track SKU 'SKU-1'"),
    (stocked(on_hand=3), {"delta": -4}, FailedPrecondition, "cannot remove 4 units of SKU 'SKU-1': 3 on hand, "
                                                            "0 reserved, so at most 3 can go"),
])
def test_adjust_refusals(level: d.StockLevel | None, values: dict[str, Any], error: type[DomainError],
                         words: str) -> None:
    request: dict[str, Any] = dict(sku="SKU-1", delta=1, reason=RESTOCK, note="", staff_id="s")
    with pytest.raises(error, match=words):
        d.adjust_stock(level, **{**request, **values}, settings=SETTINGS, now=NOW)


def test_adjust_cannot_remove_reserved_units() -> None:
    level = by_sku(reserve("o1", lines(("SKU-1", 8)), {"SKU-1": stocked()}))["SKU-1"]
    with pytest.raises(FailedPrecondition, match="10 on hand, 8 reserved, so at most 2 can go"):
        adjusted(level, -3)
    assert adjusted(level, -2).level.available == 0


def test_track_and_discontinue_follow_the_catalogue() -> None:
    tracked = d.track_sku(None, sku="NEW-1", now=NOW)
    assert tracked is not None
    assert (tracked.on_hand, tracked.discontinued, tracked.alerts) == (0, False, [])
    assert d.track_sku(tracked, sku="NEW-1", now=at(1)) is None
    gone = d.discontinue_sku(stocked(), sku="SKU-1", now=at(1))
    assert gone is not None
    assert (gone.discontinued, gone.on_hand, gone.version) == (True, 10, 2)
    assert d.discontinue_sku(gone, sku="SKU-1", now=at(2)) is None
    archived_unknown = d.discontinue_sku(None, sku="GHOST", now=at(1))
    assert archived_unknown is not None
    assert archived_unknown.discontinued
    # A replayed ProductPublished does not reopen a discontinued SKU.
    assert d.track_sku(gone, sku="SKU-1", now=at(3)) is None


# --- Reservations ---------------------------------------------------------------------------------


def test_reserving_exactly_what_is_available_succeeds() -> None:
    levels = {"A": stocked("A", 5), "B": stocked("B", 2)}
    change = reserve("o1", lines(("B", 2), ("A", 5)), levels)
    reservation = change.reservation
    assert reservation.state is d.ReservationState.ACTIVE
    assert reservation.lines == lines(("B", 2), ("A", 5))  # as the order gave them
    assert reservation.expires_at == NOW + SETTINGS.reservation_ttl
    assert [(lv.sku, lv.reserved, lv.available) for lv in change.levels] == [("A", 5, 0), ("B", 2, 0)]
    assert [(m.sku, m.kind, m.reserved_delta, m.order_id) for m in change.movements] == [
        ("A", d.StockMovementKind.RESERVED, 5, "o1"), ("B", d.StockMovementKind.RESERVED, 2, "o1")]
    assert change.reservation_events == [d.StockReserved(order_id="o1", lines=reservation.lines,
                                                         expires_at=reservation.expires_at)]
    assert kinds(change.level_events) == ["OutOfStock", "OutOfStock"]
    assert change.replayed is False


def test_one_more_unit_fails_the_whole_order_and_names_the_short_line() -> None:
    levels = {"A": stocked("A", 5), "B": stocked("B", 2)}
    change = reserve("o1", lines(("A", 5), ("B", 3)), levels)
    reservation = change.reservation
    assert reservation.state is d.ReservationState.FAILED
    assert reservation.short_lines == [d.ShortLine(sku="B", requested=3, available=2, short_by=1,
                                                   reason=d.ShortageReason.INSUFFICIENT_STOCK)]
    assert reservation.expires_at is None
    assert (change.levels, change.movements, change.level_events) == ([], [], [])  # nothing held
    assert change.reservation_events == [d.StockReservationFailed(order_id="o1", lines=lines(("A", 5), ("B", 3)),
                                                                  short_lines=reservation.short_lines)]


def test_every_short_line_is_named_with_its_reason() -> None:
    levels = {"LOW": stocked("LOW", 1), "GONE": d.discontinue_sku(stocked("GONE", 50), sku="GONE", now=NOW)}
    change = reserve("o1", lines(("UNKNOWN", 2), ("LOW", 4), ("GONE", 1)), levels)  # type: ignore[arg-type]
    assert change.reservation.short_lines == [
        d.ShortLine("GONE", 1, 0, 1, d.ShortageReason.DISCONTINUED),
        d.ShortLine("LOW", 4, 1, 3, d.ShortageReason.INSUFFICIENT_STOCK),
        d.ShortLine("UNKNOWN", 2, 0, 2, d.ShortageReason.UNKNOWN_SKU),
    ]


def test_a_ttl_given_with_the_request_wins_over_the_setting() -> None:
    change = reserve("o1", lines(("A", 1)), {"A": stocked("A")}, ttl=timedelta(hours=2))
    assert change.reservation.expires_at == NOW + timedelta(hours=2)


@pytest.mark.parametrize(("order_id", "order_lines", "ttl", "words"), [
    ("", lines(("A", 1)), None, "order_id must not be empty"),
    ("o1", [], None, "no lines"),
    ("o1", lines(("A", 0)), None, "quantity of SKU 'A' must be between 1 and 1,000,000,000, got 0"),
    ("o1", lines(("A", -2)), None, "between 1 and"),
    ("o1", lines(("A", 2**63 - 1)), None, "between 1 and"),
    ("o1", lines(("A", 1), ("B", 1), ("A", 2)), None, "SKU 'A' is listed twice"),
    ("o1", lines(("", 1)), None, "needs a SKU"),
    ("o1", lines(("A", 1)), timedelta(seconds=59), "between 1 minute and 24 hours"),
    ("o1", lines(("A", 1)), timedelta(hours=24, seconds=1), "between 1 minute and 24 hours"),
])
def test_reserve_refusals(order_id: str, order_lines: list[d.StockLine], ttl: timedelta | None, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        reserve(order_id, order_lines, {"A": stocked("A"), "B": stocked("B")}, ttl=ttl)


@pytest.mark.parametrize("ttl", [timedelta(minutes=1), timedelta(hours=24)])
def test_ttl_limits_are_inclusive(ttl: timedelta) -> None:
    assert reserve("o1", lines(("A", 1)), {"A": stocked("A")}, ttl=ttl).reservation.state is d.ReservationState.ACTIVE


def test_reserving_again_with_the_same_lines_returns_the_first_outcome() -> None:
    levels = {"A": stocked("A", 5), "B": stocked("B", 5)}
    first = reserve("o1", lines(("A", 2), ("B", 1)), levels)
    again = reserve("o1", lines(("B", 1), ("A", 2)), by_sku(first), existing=first.reservation, minutes=3)
    assert again.replayed is True
    assert again.reservation is first.reservation
    assert (again.levels, again.movements, again.reservation_events, again.level_events) == ([], [], [], [])


def test_a_failed_outcome_is_replayed_even_once_stock_arrived() -> None:
    failed = reserve("o1", lines(("A", 20)), {"A": stocked("A", 5)})
    again = reserve("o1", lines(("A", 20)), {"A": stocked("A", 500)}, existing=failed.reservation)
    assert (again.replayed, again.reservation.state) == (True, d.ReservationState.FAILED)


def test_reserving_again_with_other_lines_is_refused() -> None:
    levels = {"A": stocked("A", 5)}
    first = reserve("o1", lines(("A", 2)), levels)
    with pytest.raises(FailedPrecondition, match="already has a reservation with other lines"):
        reserve("o1", lines(("A", 3)), by_sku(first), existing=first.reservation)


def test_release_gives_the_units_back_once() -> None:
    held = reserve("o1", lines(("A", 5), ("B", 1)), {"A": stocked("A", 5), "B": stocked("B", 10)})
    released = d.release_reservation(held.reservation, order_id="o1", reason=d.ReleaseReason.ORDER_CANCELLED,
                                      staff_id="", levels=by_sku(held), settings=SETTINGS, now=at(2))
    assert (released.reservation.state, released.reservation.released_at) == (d.ReservationState.RELEASED, at(2))
    assert released.reservation.release_reason is d.ReleaseReason.ORDER_CANCELLED
    assert [(lv.sku, lv.on_hand, lv.reserved) for lv in released.levels] == [("A", 5, 0), ("B", 10, 0)]
    assert [m.kind for m in released.movements] == [d.StockMovementKind.RELEASED] * 2
    assert released.movements[0].release_reason is d.ReleaseReason.ORDER_CANCELLED
    assert released.reservation_events == [d.StockReleased(order_id="o1", lines=held.reservation.lines,
                                                           reason=d.ReleaseReason.ORDER_CANCELLED, released_by="")]
    assert kinds(released.level_events) == ["BackInStock", "LowStockDetected"]  # A had run out; 5 is low
    again = d.release_reservation(released.reservation, order_id="o1", reason=d.ReleaseReason.ORDER_CANCELLED,
                                  staff_id="", levels=by_sku(released), settings=SETTINGS, now=at(3))
    assert again.replayed and again.reservation is released.reservation and again.levels == []


def test_staff_release_records_who_did_it() -> None:
    held = reserve("o1", lines(("A", 1)), {"A": stocked("A")})
    released = d.release_reservation(held.reservation, order_id="o1", reason=d.ReleaseReason.STAFF,
                                     staff_id="staff-9", levels=by_sku(held), settings=SETTINGS, now=at(1))
    assert released.reservation.released_by == "staff-9"
    assert released.movements[0].staff_id == "staff-9"
    assert released.reservation_events[0] == d.StockReleased("o1", lines(("A", 1)), d.ReleaseReason.STAFF, "staff-9")


def test_releasing_a_failed_reservation_changes_nothing() -> None:
    failed = reserve("o1", lines(("A", 99)), {"A": stocked("A")})
    change = d.release_reservation(failed.reservation, order_id="o1", reason=d.ReleaseReason.ORDER_CANCELLED,
                                   staff_id="", levels={}, settings=SETTINGS, now=at(1))
    assert change.replayed and change.reservation is failed.reservation


@pytest.mark.parametrize(("reason", "staff_id", "error", "words"), [
    (None, "", InvalidArgument, "release reason is required"),
    (d.ReleaseReason.EXPIRED, "", InvalidArgument, "only the expiry sweep"),
    (d.ReleaseReason.STAFF, "", InvalidArgument, "staff_id"),
])
def test_release_refusals(reason: d.ReleaseReason | None, staff_id: str, error: type[DomainError],
                          words: str) -> None:
    held = reserve("o1", lines(("A", 1)), {"A": stocked("A")})
    with pytest.raises(error, match=words):
        d.release_reservation(held.reservation, order_id="o1", reason=reason, staff_id=staff_id,
                              levels=by_sku(held), settings=SETTINGS, now=at(1))


def test_release_of_an_unknown_or_committed_reservation_is_refused() -> None:
    with pytest.raises(NotFound, match="order 'o9' has no stock reservation"):
        d.release_reservation(None, order_id="o9", reason=d.ReleaseReason.ORDER_CANCELLED, staff_id="", levels={},
                              settings=SETTINGS, now=NOW)
    held = reserve("o1", lines(("A", 1)), {"A": stocked("A")})
    committed = d.commit_reservation(held.reservation, order_id="o1", levels=by_sku(held), settings=SETTINGS,
                                     now=at(1))
    with pytest.raises(FailedPrecondition, match=r"committed.*CUSTOMER_RETURN"):
        d.release_reservation(committed.reservation, order_id="o1", reason=d.ReleaseReason.ORDER_CANCELLED,
                              staff_id="", levels=by_sku(committed), settings=SETTINGS, now=at(2))


def test_an_order_cancelled_gives_back_its_stock_held_or_committed_once() -> None:
    held = reserve("o1", lines(("A", 3)), {"A": stocked("A", on_hand=10)})
    released = d.release_for_cancelled_order(held.reservation, levels=by_sku(held), settings=SETTINGS, now=at(1))
    assert [(lv.on_hand, lv.reserved) for lv in released.levels] == [(10, 0)]
    held = reserve("o2", lines(("A", 3)), {"A": stocked("A", on_hand=10)})
    committed = d.commit_reservation(held.reservation, order_id="o2", levels=by_sku(held), settings=SETTINGS,
                                     now=at(1))
    assert [(lv.on_hand, lv.reserved) for lv in committed.levels] == [(7, 0)]
    # Cancelled before the carrier picked it up: the goods are still on the shelf.
    returned = d.release_for_cancelled_order(committed.reservation, levels=by_sku(committed), settings=SETTINGS,
                                             now=at(2))
    assert [(lv.on_hand, lv.reserved) for lv in returned.levels] == [(10, 0)]
    assert [(m.kind, m.on_hand_delta, m.reserved_delta) for m in returned.movements] == [
        (d.StockMovementKind.RELEASED, 3, 0)]
    assert returned.reservation.state is d.ReservationState.RELEASED
    assert returned.reservation_events == [d.StockReleased(order_id="o2", lines=lines(("A", 3)),
                                                           reason=d.ReleaseReason.ORDER_CANCELLED, released_by="")]
    again = d.release_for_cancelled_order(returned.reservation, levels=by_sku(returned), settings=SETTINGS, now=at(3))
    assert again.replayed and again.levels == [] and again.reservation_events == []


def test_commit_takes_the_units_out_of_on_hand_once() -> None:
    held = reserve("o1", lines(("A", 3)), {"A": stocked("A", 10)})
    committed = d.commit_reservation(held.reservation, order_id="o1", levels=by_sku(held), settings=SETTINGS,
                                     now=at(1))
    level = committed.levels[0]
    assert (level.on_hand, level.reserved, level.available) == (7, 0, 7)
    assert (committed.reservation.state, committed.reservation.committed_at) == (d.ReservationState.COMMITTED, at(1))
    movement = committed.movements[0]
    assert (movement.kind, movement.on_hand_delta, movement.reserved_delta) == (d.StockMovementKind.COMMITTED, -3, -3)
    assert committed.reservation_events == [d.StockCommitted(order_id="o1", lines=lines(("A", 3)))]
    assert committed.level_events == []  # availability did not move
    again = d.commit_reservation(committed.reservation, order_id="o1", levels=by_sku(committed), settings=SETTINGS,
                                 now=at(2))
    assert again.replayed and again.reservation is committed.reservation and again.levels == []


def test_commit_refusals() -> None:
    with pytest.raises(NotFound):
        d.commit_reservation(None, order_id="o9", levels={}, settings=SETTINGS, now=NOW)
    failed = reserve("o1", lines(("A", 99)), {"A": stocked("A")}).reservation
    with pytest.raises(FailedPrecondition, match="failed"):
        d.commit_reservation(failed, order_id="o1", levels={}, settings=SETTINGS, now=NOW)
    held = reserve("o2", lines(("A", 1)), {"A": stocked("A")})
    released = d.release_reservation(held.reservation, order_id="o2", reason=d.ReleaseReason.ORDER_CANCELLED,
                                     staff_id="", levels=by_sku(held), settings=SETTINGS, now=at(1))
    with pytest.raises(FailedPrecondition, match="was released"):
        d.commit_reservation(released.reservation, order_id="o2", levels=by_sku(released), settings=SETTINGS,
                             now=at(2))


def test_an_overdue_reservation_the_sweep_has_not_reached_still_commits() -> None:
    held = reserve("o1", lines(("A", 1)), {"A": stocked("A")})
    committed = d.commit_reservation(held.reservation, order_id="o1", levels=by_sku(held), settings=SETTINGS,
                                     now=at(60))
    assert committed.reservation.state is d.ReservationState.COMMITTED


def test_multi_sku_use_cases_name_their_locks_in_sorted_order() -> None:
    assert d.skus_to_lock(lines(("B", 1), ("C", 1), ("A", 2))) == ["A", "B", "C"]


# --- Expiry ---------------------------------------------------------------------------------------


def test_the_sweep_picks_active_reservations_whose_time_is_up() -> None:
    levels = {"A": stocked("A", 100)}
    early = reserve("early", lines(("A", 1)), levels, ttl=timedelta(minutes=5)).reservation
    late = reserve("late", lines(("A", 1)), levels, ttl=timedelta(minutes=10)).reservation
    exact = reserve("exact", lines(("A", 1)), levels, ttl=timedelta(minutes=1), minutes=6).reservation
    failed = reserve("failed", lines(("A", 1000)), levels).reservation
    committed = replace(reserve("done", lines(("A", 1)), levels, ttl=timedelta(minutes=1)).reservation,
                        state=d.ReservationState.COMMITTED)
    reservations = [late, failed, exact, committed, early]
    assert d.reservations_due_for_expiry(reservations, at(4)) == []
    assert d.reservations_due_for_expiry(reservations, at(7)) == ["early", "exact"]  # expiry at 7 is due at 7
    assert d.reservations_due_for_expiry(reservations, at(60)) == ["early", "exact", "late"]


def test_expiry_releases_the_units_with_reason_expired() -> None:
    held = reserve("o1", lines(("A", 10)), {"A": stocked("A", 10)})
    expired = d.expire_reservation(held.reservation, levels=by_sku(held), settings=SETTINGS, now=at(15))
    assert (expired.reservation.state, expired.reservation.release_reason) == (
        d.ReservationState.RELEASED, d.ReleaseReason.EXPIRED)
    assert expired.levels[0].available == 10
    assert expired.reservation_events == [d.StockReleased("o1", lines(("A", 10)), d.ReleaseReason.EXPIRED, "")]
    assert kinds(expired.level_events) == ["BackInStock"]
    assert expired.movements[0].release_reason is d.ReleaseReason.EXPIRED


def test_expiry_rechecks_under_the_lock() -> None:
    held = reserve("o1", lines(("A", 1)), {"A": stocked("A")})
    not_yet = d.expire_reservation(held.reservation, levels=by_sku(held), settings=SETTINGS, now=at(14))
    assert not_yet.replayed and not_yet.reservation is held.reservation
    committed = d.commit_reservation(held.reservation, order_id="o1", levels=by_sku(held), settings=SETTINGS,
                                     now=at(14)).reservation
    assert d.expire_reservation(committed, levels={}, settings=SETTINGS, now=at(20)).replayed


# --- Alerts ---------------------------------------------------------------------------------------


def test_each_alert_is_raised_once_per_crossing() -> None:
    level = stocked(on_hand=10)  # threshold 5
    steps = [  # (delta, events, open alert kind)
        (-4, [], None),  # 6: above the threshold
        (-1, ["LowStockDetected"], d.StockAlertKind.LOW_STOCK),  # 5: at the threshold
        (-1, [], d.StockAlertKind.LOW_STOCK),  # 4: still low, no repeat
        (-3, [], d.StockAlertKind.LOW_STOCK),  # 1
        (-1, ["OutOfStock"], d.StockAlertKind.OUT_OF_STOCK),  # 0
        (2, ["BackInStock", "LowStockDetected"], d.StockAlertKind.LOW_STOCK),  # 2
        (1, [], d.StockAlertKind.LOW_STOCK),  # 3
        (7, [], None),  # 10: low stock resolved, no event
        (-7, ["LowStockDetected"], d.StockAlertKind.LOW_STOCK),  # 3: a new crossing, a new alert
        (20, [], None),  # 23
        (-23, ["OutOfStock"], d.StockAlertKind.OUT_OF_STOCK),  # straight to zero: no low-stock alert
    ]
    for minute, (delta, expected, open_kind) in enumerate(steps, start=1):
        change = adjusted(level, delta, minute)
        level = change.level
        assert kinds(change.level_events) == expected, f"step {minute}"
        open_alerts = [a for a in level.alerts if a.resolved_at is None]
        assert [a.kind for a in open_alerts] == ([open_kind] if open_kind else []), f"step {minute}"
    assert [a.kind.value for a in level.alerts] == ["LOW_STOCK", "OUT_OF_STOCK", "LOW_STOCK", "LOW_STOCK",
                                                    "OUT_OF_STOCK"]
    assert [a.resolved_at for a in level.alerts] == [at(5), at(6), at(8), at(10), None]


def test_alert_events_carry_the_alert_and_the_level_after_the_crossing() -> None:
    change = adjusted(stocked(on_hand=10), -6)
    (event,) = change.level_events
    assert isinstance(event, d.LowStockDetected)
    (alert,) = change.level.alerts
    assert event == d.LowStockDetected(sku="SKU-1", level=change.level.snapshot(SETTINGS), alert_id=alert.alert_id)
    assert alert.alert_id == "SKU-1:alert:2"
    assert d.sku_of_alert_id(alert.alert_id) == "SKU-1"
    assert (alert.level.available, alert.level.low_stock_threshold, alert.level.version) == (4, 5, 2)
    assert (alert.raised_at, alert.resolved_at, alert.acknowledged_at) == (at(1), None, None)


def test_reservations_and_releases_cross_thresholds_too() -> None:
    held = reserve("o1", lines(("A", 6)), {"A": stocked("A", 10)})
    assert kinds(held.level_events) == ["LowStockDetected"]
    released = d.release_reservation(held.reservation, order_id="o1", reason=d.ReleaseReason.ORDER_CANCELLED,
                                     staff_id="", levels=by_sku(held), settings=SETTINGS, now=at(1))
    assert released.level_events == []
    assert released.levels[0].alerts[0].resolved_at == at(1)


def test_a_threshold_override_takes_effect_at_once() -> None:
    level = stocked(on_hand=8)
    raised = d.set_low_stock_threshold(level, sku="SKU-1", threshold=10, use_default=False, staff_id="s",
                                       settings=SETTINGS, now=at(1))
    assert kinds(raised.level_events) == ["LowStockDetected"]
    assert raised.movement is None
    assert raised.level.snapshot(SETTINGS).low_stock_threshold == 10
    off = d.set_low_stock_threshold(raised.level, sku="SKU-1", threshold=0, use_default=False, staff_id="s",
                                    settings=SETTINGS, now=at(2))
    assert off.level_events == [] and off.level.alerts[0].resolved_at == at(2)
    # With low-stock alerts off, only zero raises one.
    assert kinds(adjusted(off.level, -7).level_events) == []
    assert kinds(adjusted(off.level, -8).level_events) == ["OutOfStock"]
    back = d.set_low_stock_threshold(off.level, sku="SKU-1", threshold=0, use_default=True, staff_id="s",
                                     settings=SETTINGS, now=at(3))
    assert back.level.threshold_override is None
    same = d.set_low_stock_threshold(back.level, sku="SKU-1", threshold=0, use_default=True, staff_id="s",
                                     settings=SETTINGS, now=at(4))
    assert same.level is back.level


@pytest.mark.parametrize(("values", "error", "words"), [
    ({"sku": ""}, InvalidArgument, "SKU"),
    ({"staff_id": ""}, InvalidArgument, "staff_id"),
    ({"threshold": -1}, InvalidArgument, "between 0 and"),
    ({"threshold": 3, "use_default": True}, InvalidArgument, "must be 0 when use_default"),
    ({"sku": "OTHER"}, NotFound, "does not track SKU 'OTHER'"),
])
def test_threshold_refusals(values: dict[str, Any], error: type[DomainError], words: str) -> None:
    request: dict[str, Any] = dict(sku="SKU-1", threshold=2, use_default=False, staff_id="s")
    request.update(values)
    with pytest.raises(error, match=words):
        d.set_low_stock_threshold(stocked() if request["sku"] == "SKU-1" else None, **request, settings=SETTINGS,
                                  now=NOW)


def test_threshold_view() -> None:
    level = d.set_low_stock_threshold(stocked(), sku="SKU-1", threshold=2, use_default=False, staff_id="s",
                                      settings=SETTINGS, now=NOW).level
    assert d.low_stock_threshold(level, sku="SKU-1", settings=SETTINGS) == d.LowStockThreshold("SKU-1", 2, 5, 2)
    assert d.low_stock_threshold(stocked(), sku="SKU-1", settings=SETTINGS) == d.LowStockThreshold("SKU-1", 5, 5,
                                                                                                   None)
    assert d.low_stock_threshold(None, sku="", settings=SETTINGS) == d.LowStockThreshold("", 5, 5, None)
    with pytest.raises(NotFound):
        d.low_stock_threshold(None, sku="SKU-1", settings=SETTINGS)


def test_a_new_global_threshold_is_announced_by_reevaluation() -> None:
    level = stocked(on_hand=8)
    higher = d.apply_setting(SETTINGS, d.LOW_STOCK_THRESHOLD_SETTING, 10)
    change = d.reevaluate_level(level, settings=higher, now=at(1))
    assert change is not None
    assert kinds(change.level_events) == ["LowStockDetected"]
    assert d.reevaluate_level(change.level, settings=higher, now=at(2)) is None
    # Without reevaluation the next stock change catches up, announcing the crossing once.
    assert kinds(d.adjust_stock(level, sku="SKU-1", delta=1, reason=RESTOCK, note="", staff_id="s", settings=higher,
                                now=at(1)).level_events) == ["LowStockDetected"]


def test_acknowledging_an_alert_keeps_the_first_acknowledgement() -> None:
    level = adjusted(stocked(), -10).level
    alert_id = level.alerts[0].alert_id
    level, alert = d.acknowledge_alert(level, alert_id=alert_id, staff_id="staff-3", note="reorder placed",
                                       now=at(5))
    assert (alert.acknowledged_at, alert.acknowledged_by, alert.acknowledgement_note) == (
        at(5), "staff-3", "reorder placed")
    assert level.alerts == [alert]
    again_level, again = d.acknowledge_alert(level, alert_id=alert_id, staff_id="staff-4", note="", now=at(6))
    assert again_level is level and again == alert


@pytest.mark.parametrize(("alert_id", "staff_id", "error"), [
    ("SKU-1:alert:99", "s", NotFound),
    ("SKU-1:alert:2", "", InvalidArgument),
])
def test_acknowledge_refusals(alert_id: str, staff_id: str, error: type[DomainError]) -> None:
    with pytest.raises(error):
        d.acknowledge_alert(adjusted(stocked(), -10).level, alert_id=alert_id, staff_id=staff_id, note="", now=NOW)


@pytest.mark.parametrize("alert_id", ["", "nonsense", "SKU-1:alert:", "SKU-1:alert:x", "bad sku:alert:3"])
def test_alert_ids_stocking_never_issued_are_not_found(alert_id: str) -> None:
    with pytest.raises(NotFound, match="no stock alert"):
        d.sku_of_alert_id(alert_id)


def test_alerts_kept_per_sku_are_bounded_oldest_resolved_first() -> None:
    level = stocked(on_hand=10)
    for minute in range(1, 2 * d.MAX_ALERTS_PER_SKU + 10):
        level = adjusted(level, -10 if level.available else 10, minute).level
    assert len(level.alerts) == d.MAX_ALERTS_PER_SKU
    assert level.alerts[-1].resolved_at is None
    assert all(a.resolved_at is not None for a in level.alerts[:-1])
    assert level.alerts[0].raised_at > at(1)


# --- Lists and batch reads ------------------------------------------------------------------------


def alerting_levels() -> list[d.StockLevel]:
    a = adjusted(stocked("A", 10), -7, 1).level  # LOW raised at 1
    a = adjusted(a, -3, 2).level  # LOW resolved, OUT raised at 2
    b = adjusted(stocked("B", 10), -10, 3).level  # OUT raised at 3
    b = d.acknowledge_alert(b, alert_id=b.alerts[0].alert_id, staff_id="s", note="", now=at(4))[0]
    return [a, b, stocked("C")]


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, [("B", "OUT_OF_STOCK"), ("A", "OUT_OF_STOCK"), ("A", "LOW_STOCK")]),
    ({"unacknowledged_only": True}, [("A", "OUT_OF_STOCK"), ("A", "LOW_STOCK")]),
    ({"unresolved_only": True}, [("B", "OUT_OF_STOCK"), ("A", "OUT_OF_STOCK")]),
    ({"sku": "A"}, [("A", "OUT_OF_STOCK"), ("A", "LOW_STOCK")]),
    ({"kinds": [d.StockAlertKind.LOW_STOCK]}, [("A", "LOW_STOCK")]),
    ({"sku": "C"}, []),
])
def test_alerts_are_listed_newest_first_with_filters(filters: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    page = d.list_alerts(alerting_levels(), **filters)
    assert [(a.sku, a.kind.value) for a in page.items] == expected
    assert page.next_page_token == ""


def test_alert_paging_and_its_token_rules() -> None:
    first = d.list_alerts(alerting_levels(), page_size=2)
    assert len(first.items) == 2 and first.next_page_token
    rest = d.list_alerts(alerting_levels(), page_size=2, page_token=first.next_page_token)
    assert [(a.sku, a.kind.value) for a in rest.items] == [("A", "LOW_STOCK")]
    assert rest.next_page_token == ""
    with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
        d.list_alerts(alerting_levels(), sku="A", page_token=first.next_page_token)
    with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
        d.list_alerts(alerting_levels(), page_token="%%%")
    with pytest.raises(InvalidArgument, match="page_size must be 0"):
        d.list_alerts(alerting_levels(), page_size=-1)


def test_movements_are_a_skus_history_newest_first() -> None:
    level = stocked("A", 10)
    movements: list[d.StockMovement] = []
    for minute in range(1, 26):
        change = adjusted(level, 1, minute)
        level = change.level
        assert change.movement is not None
        movements.append(change.movement)
    held = reserve("o1", lines(("A", 2)), {"A": level}, minutes=30)
    other_sku = d.set_stock(None, sku="B", on_hand=1, reason=RESTOCK, note="", staff_id="s", settings=SETTINGS,
                            now=NOW).movement
    assert other_sku is not None
    movements += [*held.movements, other_sku]
    pages: list[list[int]] = []
    token = ""
    while True:
        page = d.list_movements(movements, sku="A", page_size=10, page_token=token)
        pages.append([m.sequence for m in page.items])
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [10, 10, 6]
    assert [s for p in pages for s in p] == list(range(27, 1, -1))
    reserved = d.list_movements(movements, sku="A", kinds=[d.StockMovementKind.RESERVED])
    assert [m.order_id for m in reserved.items] == ["o1"]
    assert d.list_movements(movements, sku="B").items == [other_sku]


def test_reservations_are_listed_newest_first_by_state_and_sku() -> None:
    levels = {"A": stocked("A", 100), "B": stocked("B", 100)}
    o1 = reserve("o1", lines(("A", 1)), levels, minutes=1).reservation
    o2 = reserve("o2", lines(("A", 1), ("B", 1)), levels, minutes=2).reservation
    o3 = reserve("o3", lines(("B", 500)), levels, minutes=3).reservation
    everything = [o1, o3, o2]
    assert [r.order_id for r in d.list_reservations(everything).items] == ["o3", "o2", "o1"]
    assert [r.order_id for r in d.list_reservations(everything, sku="B").items] == ["o3", "o2"]
    assert [r.order_id for r in d.list_reservations(everything, states=[d.ReservationState.FAILED]).items] == ["o3"]
    first = d.list_reservations(everything, page_size=1)
    second = d.list_reservations([*everything, reserve("o0", lines(("A", 1)), levels, minutes=9).reservation],
                                 page_size=5, page_token=first.next_page_token)
    assert [r.order_id for r in second.items] == ["o2", "o1"]  # a newer reservation does not shift the pages
    with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
        d.list_reservations(everything, sku="A", page_token=first.next_page_token)


def test_batch_get_levels() -> None:
    levels = {"A": stocked("A"), "B": stocked("B")}
    found, unknown = d.batch_get_levels(["B", "X", "A", "B"], levels.get)
    assert ([lv.sku for lv in found], unknown) == (["B", "A"], ["X"])
    assert d.batch_get_levels([f"S{i}" for i in range(200)], levels.get)[1][-1] == "S199"
    with pytest.raises(InvalidArgument, match="at most 200"):
        d.batch_get_levels([f"S{i}" for i in range(201)], levels.get)


def test_require_level() -> None:
    level = stocked()
    assert d.require_level(level, "SKU-1") is level
    with pytest.raises(NotFound, match="set its stock first"):
        d.require_level(None, "SKU-1")


# --- Settings -------------------------------------------------------------------------------------


def test_settings_follow_setting_changed() -> None:
    settings = d.apply_setting(d.StockSettings(), d.RESERVATION_TTL_SETTING, timedelta(minutes=30))
    settings = d.apply_setting(settings, d.LOW_STOCK_THRESHOLD_SETTING, 0)
    assert settings == d.StockSettings(low_stock_threshold=0, reservation_ttl=timedelta(minutes=30))
    assert d.apply_setting(settings, "tax.rate_bps.standard", 2000) is settings


@pytest.mark.parametrize(("name", "value"), [
    (d.LOW_STOCK_THRESHOLD_SETTING, -1),
    (d.LOW_STOCK_THRESHOLD_SETTING, timedelta(minutes=1)),
    (d.RESERVATION_TTL_SETTING, 15),
    (d.RESERVATION_TTL_SETTING, timedelta(seconds=10)),
    (d.RESERVATION_TTL_SETTING, timedelta(days=2)),
])
def test_bad_setting_values_are_refused(name: str, value: int | timedelta) -> None:
    with pytest.raises(InvalidArgument):
        d.apply_setting(d.StockSettings(), name, value)


# --- Invariants -----------------------------------------------------------------------------------


def test_stock_never_goes_negative_whatever_happens() -> None:
    """A seeded random mix of every stock use case over three SKUs: whatever succeeds or is refused,
    0 <= reserved <= on_hand holds, the announced condition matches availability, at most one alert
    is open per SKU, and the units reserved are exactly those of the active reservations."""
    rng = random.Random(20250301)
    skus = ["A", "B", "C"]
    levels = {sku: stocked(sku, 8) for sku in skus}
    reservations: dict[str, d.Reservation] = {}
    for step in range(1500):
        now = at(step)
        action = rng.choice(["reserve", "reserve", "release", "commit", "adjust", "set", "expire"])
        before = dict(levels)
        try:
            if action == "reserve":
                chosen = rng.sample(skus, rng.randint(1, 3))
                order = lines(*[(sku, rng.randint(1, 4)) for sku in chosen])
                result = d.reserve_order_stock(None, order_id=f"o{step}", lines=order, levels=levels,
                                               ttl=timedelta(minutes=rng.randint(1, 30)), settings=SETTINGS, now=now)
            elif action in ("release", "commit", "expire") and reservations:
                reservation = reservations[rng.choice(sorted(reservations))]
                if action == "release":
                    result = d.release_reservation(reservation, order_id=reservation.order_id,
                                                   reason=d.ReleaseReason.ORDER_CANCELLED, staff_id="",
                                                   levels=levels, settings=SETTINGS, now=now)
                elif action == "commit":
                    result = d.commit_reservation(reservation, order_id=reservation.order_id, levels=levels,
                                                  settings=SETTINGS, now=now)
                else:
                    result = d.expire_reservation(reservation, levels=levels, settings=SETTINGS, now=now)
            elif action in ("adjust", "set"):
                sku = rng.choice(skus)
                if action == "adjust":
                    change = d.adjust_stock(levels[sku], sku=sku, delta=rng.choice([-3, -1, 2, 5]), reason=RESTOCK,
                                            note="", staff_id="s", settings=SETTINGS, now=now)
                else:
                    change = d.set_stock(levels[sku], sku=sku, on_hand=rng.randint(0, 12), reason=RESTOCK, note="",
                                         staff_id="s", settings=SETTINGS, now=now)
                levels[sku] = change.level
                continue
            else:
                continue
        except FailedPrecondition:
            assert levels == before
            continue
        reservations[result.reservation.order_id] = result.reservation
        levels.update(by_sku(result))
        for level in levels.values():
            assert 0 <= level.reserved <= level.on_hand
            assert level.condition is d.condition_of(level.available, level.threshold(SETTINGS))
            assert sum(a.resolved_at is None for a in level.alerts) <= 1
    held = sum(line.quantity for r in reservations.values() if r.state is d.ReservationState.ACTIVE
               for line in r.lines)
    assert held == sum(level.reserved for level in levels.values())


# --- Records survive the store's JSON -------------------------------------------------------------


def test_records_round_trip_through_pydantic_json() -> None:
    held = reserve("o1", lines(("A", 8)), {"A": stocked("A", 10)})
    released = d.release_reservation(held.reservation, order_id="o1", reason=d.ReleaseReason.STAFF, staff_id="s",
                                     levels=by_sku(held), settings=SETTINGS, now=at(1))
    failed = reserve("o2", lines(("A", 99)), by_sku(released)).reservation
    override = d.set_low_stock_threshold(released.levels[0], sku="A", threshold=3, use_default=False, staff_id="s",
                                         settings=SETTINGS, now=at(2)).level
    records: list[Any] = [held.levels[0], override, released.reservation, failed, held.movements[0],
                          released.movements[0], SETTINGS]
    for record in records:
        adapter: TypeAdapter[Any] = TypeAdapter(type(record))
        assert adapter.validate_json(adapter.dump_json(record)) == record
