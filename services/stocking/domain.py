"""Stocking's rules: stock levels per SKU, order reservations, and low-stock / out-of-stock alerts.

Pure: no I/O, no clock (every use case takes `now`), no randomness. Ids are derived, not drawn:
a movement is `<sku>:<level version>` and an alert `<sku>:alert:<level version>`, so a replayed use
case produces the same ids and an alert id names the SKU record that holds it. Records are frozen
dataclasses on purpose: a use case never changes the record it was given, which may be the very
object a store holds, but returns a changed copy that the unit of work writes once Kafka committed.

A SKU's record (StockLevel) is its consistency boundary: quantities, threshold override, the
condition last announced, and its recent alerts all change under the one per-SKU lock. Movements
are separate, append-only records.

Use cases over several SKUs (reserve, release, commit, expire) take every level they touch at once,
as a mapping from SKU to level (None for an untracked SKU), and return every level they changed.
The wiring names all those SKUs (and the order id) in one `work.lock(...)` call, which takes them in
sorted order, so two orders never deadlock. A reservation's lines never change once it is stored,
so the wiring may read them before taking the locks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, quoted
from services.runtime.paging import Page, instant, paginate

# --- Enums (the proto's, without their UNSPECIFIED value: the wiring maps it to None) -------------


class StockChangeReason(Enum):
    INITIAL_STOCK = "INITIAL_STOCK"
    RESTOCK = "RESTOCK"
    COUNT_CORRECTION = "COUNT_CORRECTION"
    DAMAGED = "DAMAGED"
    CUSTOMER_RETURN = "CUSTOMER_RETURN"
    OTHER = "OTHER"  # a note is then required


class StockMovementKind(Enum):
    SET = "SET"
    ADJUSTED = "ADJUSTED"
    RESERVED = "RESERVED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"


class ReservationState(Enum):
    ACTIVE = "ACTIVE"
    COMMITTED = "COMMITTED"  # final
    RELEASED = "RELEASED"  # final
    FAILED = "FAILED"  # final


class ReleaseReason(Enum):
    ORDER_CANCELLED = "ORDER_CANCELLED"
    EXPIRED = "EXPIRED"  # only the expiry sweep releases with it
    STAFF = "STAFF"


class ShortageReason(Enum):
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    UNKNOWN_SKU = "UNKNOWN_SKU"
    DISCONTINUED = "DISCONTINUED"


class StockAlertKind(Enum):
    LOW_STOCK = "LOW_STOCK"
    OUT_OF_STOCK = "OUT_OF_STOCK"


class StockCondition(Enum):
    """Where a SKU's availability stands against zero and its threshold. The level stores the
    condition last announced, so each crossing is announced once, however many changes follow."""

    IN_STOCK = "IN_STOCK"
    LOW_STOCK = "LOW_STOCK"  # 0 < available <= threshold
    OUT_OF_STOCK = "OUT_OF_STOCK"  # available == 0


def condition_of(available: int, threshold: int) -> StockCondition:
    if available <= 0:
        return StockCondition.OUT_OF_STOCK
    if available <= threshold:  # a threshold of 0 never matches: low-stock alerts are off
        return StockCondition.LOW_STOCK
    return StockCondition.IN_STOCK


# --- Settings -------------------------------------------------------------------------------------

LOW_STOCK_THRESHOLD_SETTING = "stock.low_stock_threshold"
RESERVATION_TTL_SETTING = "stock.reservation_ttl"
MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class StockSettings:
    """The administering settings stocking reads, with administering's defaults."""

    low_stock_threshold: int = 5
    reservation_ttl: timedelta = timedelta(minutes=15)


def _check_ttl(ttl: timedelta, what: str) -> None:
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise InvalidArgument(f"{what} must be between 1 minute and 24 hours, got {ttl}")


def apply_setting(settings: StockSettings, name: str, value: int | timedelta) -> StockSettings:
    """The settings after a SettingChanged; settings stocking does not read leave them as they are."""
    if name == LOW_STOCK_THRESHOLD_SETTING:
        if not isinstance(value, int) or value < 0:
            raise InvalidArgument(f"{name} must be a whole number of units, 0 or more, got {value!r}")
        return replace(settings, low_stock_threshold=value)
    if name == RESERVATION_TTL_SETTING:
        if not isinstance(value, timedelta):
            raise InvalidArgument(f"{name} must be a duration, got {value!r}")
        _check_ttl(value, name)
        return replace(settings, reservation_ttl=value)
    return settings


# --- Records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ShortLine:
    sku: str
    requested: int
    available: int  # 0 for an unknown or discontinued SKU
    short_by: int  # requested - available, above zero
    reason: ShortageReason


@dataclass(frozen=True)
class LevelSnapshot:
    """A SKU's stock at one moment, as the API and the events show it."""

    sku: str
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int  # the threshold in force: the override, or else the setting
    updated_at: datetime
    version: int  # the level's version: the stock-level event's aggregate_version


@dataclass(frozen=True)
class StockAlert:
    alert_id: str
    sku: str
    kind: StockAlertKind
    level: LevelSnapshot  # when raised
    raised_at: datetime
    resolved_at: datetime | None = None  # when the condition stopped holding
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    acknowledgement_note: str = ""


MAX_ALERTS_PER_SKU = 50  # older resolved alerts are dropped; at most one alert is open at a time


@dataclass(frozen=True)
class StockLevel:
    """One SKU's stock. Invariant: 0 <= reserved <= on_hand, so available is never negative."""

    sku: str
    on_hand: int
    reserved: int
    threshold_override: int | None  # None follows the setting stock.low_stock_threshold
    condition: StockCondition  # the condition last announced
    discontinued: bool  # the product was archived: no new reservations
    version: int  # +1 with every change of quantities, threshold or status
    updated_at: datetime
    alerts: list[StockAlert]  # newest last, at most MAX_ALERTS_PER_SKU

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def threshold(self, settings: StockSettings) -> int:
        return settings.low_stock_threshold if self.threshold_override is None else self.threshold_override

    def snapshot(self, settings: StockSettings) -> LevelSnapshot:
        return LevelSnapshot(sku=self.sku, on_hand=self.on_hand, reserved=self.reserved, available=self.available,
                             low_stock_threshold=self.threshold(settings), updated_at=self.updated_at,
                             version=self.version)


@dataclass(frozen=True)
class StockMovement:
    """One entry of a SKU's history: what changed, why, and the quantities right after."""

    movement_id: str  # "<sku>:<sequence>"
    sku: str
    sequence: int  # the level's version after the movement; orders a SKU's history
    kind: StockMovementKind
    on_hand_delta: int
    reserved_delta: int
    on_hand_after: int
    reserved_after: int
    change_reason: StockChangeReason | None  # SET and ADJUSTED
    release_reason: ReleaseReason | None  # RELEASED
    order_id: str  # RESERVED, RELEASED and COMMITTED
    note: str
    staff_id: str  # "" when stocking acted on an event or on expiry
    occurred_at: datetime


@dataclass(frozen=True)
class Reservation:
    """The stock held (or the attempt to hold it) for one order; the order id is its key."""

    order_id: str
    state: ReservationState
    lines: list[StockLine]
    short_lines: list[ShortLine]  # FAILED only
    created_at: datetime
    expires_at: datetime | None  # None for FAILED
    committed_at: datetime | None = None
    released_at: datetime | None = None
    release_reason: ReleaseReason | None = None
    released_by: str = ""  # the staff member, for ReleaseReason.STAFF


# --- Events ---------------------------------------------------------------------------------------
# Reservation events go on stocking.reservations.v1 keyed by order id; level events on
# stocking.levels.v1 keyed by SKU, with the snapshot's version as aggregate_version.


@dataclass(frozen=True)
class StockReserved:
    order_id: str
    lines: list[StockLine]
    expires_at: datetime


@dataclass(frozen=True)
class StockReservationFailed:
    order_id: str
    lines: list[StockLine]
    short_lines: list[ShortLine]


@dataclass(frozen=True)
class StockReleased:
    order_id: str
    lines: list[StockLine]
    reason: ReleaseReason
    released_by: str


@dataclass(frozen=True)
class StockCommitted:
    order_id: str
    lines: list[StockLine]


@dataclass(frozen=True)
class LowStockDetected:
    sku: str
    level: LevelSnapshot
    alert_id: str


@dataclass(frozen=True)
class OutOfStock:
    sku: str
    level: LevelSnapshot
    alert_id: str


@dataclass(frozen=True)
class BackInStock:
    sku: str
    level: LevelSnapshot


ReservationEvent = StockReserved | StockReservationFailed | StockReleased | StockCommitted
LevelEvent = LowStockDetected | OutOfStock | BackInStock


@dataclass(frozen=True)
class LevelChange:
    """What a single-SKU use case did. `level` is the given record itself when nothing changed."""

    level: StockLevel
    movement: StockMovement | None
    level_events: list[LevelEvent]


@dataclass(frozen=True)
class ReservationChange:
    """What a reservation use case did. When `replayed`, the request had already been handled:
    the reservation is returned as stored and nothing else changed."""

    reservation: Reservation
    levels: list[StockLevel]  # changed levels, by SKU
    movements: list[StockMovement]
    reservation_events: list[ReservationEvent]
    level_events: list[LevelEvent]
    replayed: bool = False


def _unchanged(reservation: Reservation) -> ReservationChange:
    return ReservationChange(reservation=reservation, levels=[], movements=[], reservation_events=[],
                             level_events=[], replayed=True)


# --- Validation -----------------------------------------------------------------------------------

MAX_SKU = 64
MAX_NOTE = 500
# Quantities of one SKU stay far inside int64 (the wire type), so no sum of them can overflow it: a larger
# value or a change that would leave the range is refused before anything is stored.
MAX_QUANTITY = 1_000_000_000
_SKU = re.compile(rf"[A-Z0-9_-]{{1,{MAX_SKU}}}")


def check_sku(sku: str) -> None:
    if not _SKU.fullmatch(sku):
        raise InvalidArgument(f"SKU must be 1 to {MAX_SKU} characters among A-Z, 0-9, '-' and '_', "
                              f"got {quoted(sku)}")


def _check_staff(staff_id: str) -> None:
    if not staff_id:
        raise InvalidArgument("staff_id must name the staff member making the change")


def _check_change_reason(reason: StockChangeReason | None, note: str) -> None:
    if reason is None:
        raise InvalidArgument("a reason for the stock change is required")
    if reason is StockChangeReason.OTHER and not note.strip():
        raise InvalidArgument("a note is required when the reason is OTHER")
    if len(note) > MAX_NOTE:
        raise InvalidArgument(f"note must be at most {MAX_NOTE} characters, got {len(note)}")


def require_level(level: StockLevel | None, sku: str) -> StockLevel:
    """The level, or NotFound for a SKU stocking does not track."""
    if level is None:
        raise NotFound(f"stocking does not track SKU {sku!r}; set its stock first")
    return level


# --- Alerts: each crossing announced once ---------------------------------------------------------


def alert_id_for(sku: str, version: int) -> str:
    return f"{sku}:alert:{version}"


def sku_of_alert_id(alert_id: str) -> str:
    """The SKU whose record holds an alert, for the wiring to lock it; NotFound for an id stocking
    never issued."""
    sku, separator, version = alert_id.rpartition(":alert:")
    if not separator or not version.isdigit() or not _SKU.fullmatch(sku):
        raise NotFound(f"no stock alert {alert_id!r}")
    return sku


def _announce_crossing(level: StockLevel, settings: StockSettings,
                       now: datetime) -> tuple[StockLevel, list[LevelEvent]]:
    """The level with its condition brought up to date: when availability crossed zero or the
    threshold since the last announcement, the open alert is resolved, a new one raised, and the
    stock-level events returned. `level` already carries its new version, which names the alert."""
    before, after = level.condition, condition_of(level.available, level.threshold(settings))
    if before is after:
        return level, []
    alerts = [a if a.resolved_at is not None else replace(a, resolved_at=now) for a in level.alerts]
    snapshot = level.snapshot(settings)
    events: list[LevelEvent] = []
    if before is StockCondition.OUT_OF_STOCK:
        events.append(BackInStock(sku=level.sku, level=snapshot))
    if after is not StockCondition.IN_STOCK:
        kind = StockAlertKind.OUT_OF_STOCK if after is StockCondition.OUT_OF_STOCK else StockAlertKind.LOW_STOCK
        alert_id = alert_id_for(level.sku, level.version)
        alerts.append(StockAlert(alert_id=alert_id, sku=level.sku, kind=kind, level=snapshot, raised_at=now))
        if kind is StockAlertKind.OUT_OF_STOCK:
            events.append(OutOfStock(sku=level.sku, level=snapshot, alert_id=alert_id))
        else:
            events.append(LowStockDetected(sku=level.sku, level=snapshot, alert_id=alert_id))
    return replace(level, condition=after, alerts=_bounded(alerts)), events


def _bounded(alerts: list[StockAlert]) -> list[StockAlert]:
    while len(alerts) > MAX_ALERTS_PER_SKU:
        oldest_resolved = next(i for i, a in enumerate(alerts) if a.resolved_at is not None)
        alerts = alerts[:oldest_resolved] + alerts[oldest_resolved + 1:]
    return alerts


def acknowledge_alert(level: StockLevel | None, *, alert_id: str, staff_id: str, note: str,
                      now: datetime) -> tuple[StockLevel, StockAlert]:
    """The level with one of its alerts marked as seen, and that alert. Acknowledging twice keeps
    the first acknowledgement. Not a stock change: the level's version stays."""
    _check_staff(staff_id)
    if len(note) > MAX_NOTE:
        raise InvalidArgument(f"note must be at most {MAX_NOTE} characters, got {len(note)}")
    alert = next((a for a in level.alerts if a.alert_id == alert_id), None) if level else None
    if level is None or alert is None:
        raise NotFound(f"no stock alert {alert_id!r}")
    if alert.acknowledged_at is not None:
        return level, alert
    acknowledged = replace(alert, acknowledged_at=now, acknowledged_by=staff_id, acknowledgement_note=note)
    alerts = [acknowledged if a.alert_id == alert_id else a for a in level.alerts]
    return replace(level, alerts=alerts), acknowledged


# --- Stock levels ---------------------------------------------------------------------------------


def _new_level(sku: str, now: datetime) -> StockLevel:
    # A new SKU starts at zero, taken as already announced out of stock: no alert for a SKU that
    # never had stock, but its first units announce BackInStock, which is how cataloging learns it.
    return StockLevel(sku=sku, on_hand=0, reserved=0, threshold_override=None,
                      condition=StockCondition.OUT_OF_STOCK, discontinued=False, version=0, updated_at=now, alerts=[])


def _move(level: StockLevel, *, kind: StockMovementKind, settings: StockSettings, now: datetime,
          on_hand_delta: int = 0, reserved_delta: int = 0, change_reason: StockChangeReason | None = None,
          release_reason: ReleaseReason | None = None, order_id: str = "", note: str = "",
          staff_id: str = "") -> tuple[StockLevel, StockMovement, list[LevelEvent]]:
    """Applies one movement to a level, records it and announces any crossing. Callers check
    their own rules first; the invariant check here only guards against a bug."""
    on_hand, reserved = level.on_hand + on_hand_delta, level.reserved + reserved_delta
    if not 0 <= reserved <= on_hand:
        raise RuntimeError(f"stock of {level.sku!r} would break 0 <= reserved <= on_hand: "
                           f"on_hand {on_hand}, reserved {reserved}")
    version = level.version + 1
    moved = replace(level, on_hand=on_hand, reserved=reserved, version=version, updated_at=now)
    moved, events = _announce_crossing(moved, settings, now)
    movement = StockMovement(
        movement_id=f"{level.sku}:{version}", sku=level.sku, sequence=version, kind=kind,
        on_hand_delta=on_hand_delta, reserved_delta=reserved_delta, on_hand_after=on_hand, reserved_after=reserved,
        change_reason=change_reason, release_reason=release_reason, order_id=order_id, note=note,
        staff_id=staff_id, occurred_at=now)
    return moved, movement, events


def set_stock(level: StockLevel | None, *, sku: str, on_hand: int, reason: StockChangeReason | None, note: str,
              staff_id: str, settings: StockSettings, now: datetime) -> LevelChange:
    """The SKU's on-hand quantity set to an absolute value (after a count, say); starts tracking an
    untracked SKU. Always records a movement, even when the quantity stays the same."""
    check_sku(sku)
    _check_staff(staff_id)
    if not 0 <= on_hand <= MAX_QUANTITY:
        raise InvalidArgument(f"on-hand quantity must be between 0 and {MAX_QUANTITY:,}, got {on_hand}")
    _check_change_reason(reason, note)
    current = level or _new_level(sku, now)
    if on_hand < current.reserved:
        raise FailedPrecondition(f"cannot set SKU {sku!r} to {on_hand} on hand: {current.reserved} units are "
                                 "reserved for orders")
    changed, movement, events = _move(current, kind=StockMovementKind.SET, settings=settings, now=now,
                                      on_hand_delta=on_hand - current.on_hand, change_reason=reason, note=note,
                                      staff_id=staff_id)
    return LevelChange(level=changed, movement=movement, level_events=events)


def adjust_stock(level: StockLevel | None, *, sku: str, delta: int, reason: StockChangeReason | None, note: str,
                 staff_id: str, settings: StockSettings, now: datetime) -> LevelChange:
    """A signed number of units added to the SKU's on-hand quantity (restock, damage, return, ...)."""
    if delta == 0:
        raise InvalidArgument("delta must add or remove at least one unit, got 0")
    if abs(delta) > MAX_QUANTITY:
        raise InvalidArgument(f"delta must be between -{MAX_QUANTITY:,} and {MAX_QUANTITY:,}, got {delta}")
    _check_staff(staff_id)
    _check_change_reason(reason, note)
    current = require_level(level, sku)
    if current.on_hand + delta > MAX_QUANTITY:
        raise InvalidArgument(f"adding {delta} units to the {current.on_hand} on hand of SKU {sku!r} would exceed "
                              f"the most a SKU can hold, {MAX_QUANTITY:,}")
    if current.on_hand + delta < current.reserved:
        raise FailedPrecondition(
            f"cannot remove {-delta} units of SKU {sku!r}: {current.on_hand} on hand, {current.reserved} reserved, "
            f"so at most {current.available} can go")
    changed, movement, events = _move(current, kind=StockMovementKind.ADJUSTED, settings=settings, now=now,
                                      on_hand_delta=delta, change_reason=reason, note=note, staff_id=staff_id)
    return LevelChange(level=changed, movement=movement, level_events=events)


def track_sku(level: StockLevel | None, *, sku: str, now: datetime) -> StockLevel | None:
    """A level at zero for a SKU that was just published; None when the SKU is already tracked."""
    return _new_level(sku, now) if level is None else None


def discontinue_sku(level: StockLevel | None, *, sku: str, now: datetime) -> StockLevel | None:
    """The SKU closed to new reservations (its product was archived; archiving is final). Existing
    reservations still commit or release. None when it already was."""
    current = level or _new_level(sku, now)
    if current.discontinued:
        return None
    return replace(current, discontinued=True, version=current.version + 1, updated_at=now)


@dataclass(frozen=True)
class LowStockThreshold:
    sku: str  # "" when only the global default was asked for
    effective_threshold: int
    default_threshold: int
    override_threshold: int | None


def low_stock_threshold(level: StockLevel | None, *, sku: str, settings: StockSettings) -> LowStockThreshold:
    """The threshold in force for a SKU, or the global default alone for an empty SKU."""
    default = settings.low_stock_threshold
    if not sku:
        return LowStockThreshold(sku="", effective_threshold=default, default_threshold=default,
                                 override_threshold=None)
    current = require_level(level, sku)
    return LowStockThreshold(sku=sku, effective_threshold=current.threshold(settings), default_threshold=default,
                             override_threshold=current.threshold_override)


def set_low_stock_threshold(level: StockLevel | None, *, sku: str, threshold: int, use_default: bool,
                            staff_id: str, settings: StockSettings, now: datetime) -> LevelChange:
    """The SKU with its own threshold (0 turns low-stock alerts off), or following the default
    again with use_default. Takes effect at once, so it may raise or resolve a low-stock alert."""
    check_sku(sku)
    _check_staff(staff_id)
    if not 0 <= threshold <= MAX_QUANTITY:
        raise InvalidArgument(f"threshold must be between 0 and {MAX_QUANTITY:,}, got {threshold}")
    if use_default and threshold != 0:
        raise InvalidArgument("threshold must be 0 when use_default is set")
    current = require_level(level, sku)
    override = None if use_default else threshold
    if override == current.threshold_override:
        return LevelChange(level=current, movement=None, level_events=[])
    changed = replace(current, threshold_override=override, version=current.version + 1, updated_at=now)
    changed, events = _announce_crossing(changed, settings, now)
    return LevelChange(level=changed, movement=None, level_events=events)


def reevaluate_level(level: StockLevel, *, settings: StockSettings, now: datetime) -> LevelChange | None:
    """After the global threshold changed: the level with the crossing it makes under the new
    setting announced, or None when its condition still holds. (Without it, the next stock change
    of the SKU catches up.)"""
    if level.condition is condition_of(level.available, level.threshold(settings)):
        return None
    changed, events = _announce_crossing(replace(level, version=level.version + 1, updated_at=now), settings, now)
    return LevelChange(level=changed, movement=None, level_events=events)


# --- Reservations ---------------------------------------------------------------------------------


def skus_to_lock(lines: Iterable[StockLine]) -> list[str]:
    """The SKUs of an order's lines, sorted: the per-SKU locks a reservation use case needs."""
    return sorted({line.sku for line in lines})


def _check_lines(order_id: str, lines: Sequence[StockLine]) -> None:
    if not order_id:
        raise InvalidArgument("order_id must not be empty")
    if not lines:
        raise InvalidArgument(f"order {order_id!r} has no lines to reserve")
    seen: set[str] = set()
    for line in lines:
        if not line.sku:
            raise InvalidArgument(f"every line of order {order_id!r} needs a SKU")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidArgument(f"quantity of SKU {line.sku[:MAX_SKU]!r} must be between 1 and {MAX_QUANTITY:,}, "
                                  f"got {line.quantity}")
        if line.sku in seen:
            raise InvalidArgument(f"SKU {line.sku!r} is listed twice in order {order_id!r}; give one line per SKU")
        seen.add(line.sku)


def _same_lines(a: Sequence[StockLine], b: Sequence[StockLine]) -> bool:
    return sorted((line.sku, line.quantity) for line in a) == sorted((line.sku, line.quantity) for line in b)


def _shortage(line: StockLine, level: StockLevel | None) -> ShortLine | None:
    if level is None:
        reason, available = ShortageReason.UNKNOWN_SKU, 0
    elif level.discontinued:
        reason, available = ShortageReason.DISCONTINUED, 0
    elif level.available < line.quantity:
        reason, available = ShortageReason.INSUFFICIENT_STOCK, level.available
    else:
        return None
    return ShortLine(sku=line.sku, requested=line.quantity, available=available,
                     short_by=line.quantity - available, reason=reason)


def _level_of(levels: Mapping[str, StockLevel | None], sku: str) -> StockLevel:
    level = levels.get(sku)
    if level is None:  # a reserved SKU is always tracked: the caller left it out
        raise RuntimeError(f"the level of SKU {sku!r} was not passed in")
    return level


def reserve_order_stock(existing: Reservation | None, *, order_id: str, lines: Sequence[StockLine],
                        levels: Mapping[str, StockLevel | None], ttl: timedelta | None, settings: StockSettings,
                        now: datetime) -> ReservationChange:
    """Holds every line of an order, all or nothing, until now + ttl (the setting when ttl is
    None). A shortage is an outcome, not an error: the reservation is FAILED and names each short
    line. Idempotent per order id: the same lines again return the stored outcome (replayed);
    other lines are refused. `levels` holds the level of every SKU of the lines (None if untracked)."""
    _check_lines(order_id, lines)
    if ttl is not None:
        _check_ttl(ttl, "reservation ttl")
    if existing is not None:
        if not _same_lines(existing.lines, lines):
            raise FailedPrecondition(f"order {order_id!r} already has a reservation with other lines; "
                                     "an order's lines cannot change once reserved")
        return _unchanged(existing)
    ordered = sorted(lines, key=lambda line: line.sku)
    short = [s for line in ordered if (s := _shortage(line, levels.get(line.sku))) is not None]
    if short:
        failed = Reservation(order_id=order_id, state=ReservationState.FAILED, lines=list(lines), short_lines=short,
                             created_at=now, expires_at=None)
        event = StockReservationFailed(order_id=order_id, lines=list(lines), short_lines=short)
        return ReservationChange(reservation=failed, levels=[], movements=[], reservation_events=[event],
                                 level_events=[])
    changed, movements, level_events = [], [], []
    for line in ordered:
        level, movement, events = _move(_level_of(levels, line.sku), kind=StockMovementKind.RESERVED,
                                        settings=settings, now=now, reserved_delta=line.quantity, order_id=order_id)
        changed.append(level)
        movements.append(movement)
        level_events.extend(events)
    expires_at = now + (ttl or settings.reservation_ttl)
    reservation = Reservation(order_id=order_id, state=ReservationState.ACTIVE, lines=list(lines), short_lines=[],
                              created_at=now, expires_at=expires_at)
    return ReservationChange(reservation=reservation, levels=changed, movements=movements,
                             reservation_events=[StockReserved(order_id=order_id, lines=list(lines),
                                                               expires_at=expires_at)],
                             level_events=level_events)


def _release(reservation: Reservation, *, reason: ReleaseReason, staff_id: str,
             levels: Mapping[str, StockLevel | None], settings: StockSettings, now: datetime) -> ReservationChange:
    # An active reservation's units were held (reserved); a committed one's had left on_hand.
    committed = reservation.state is ReservationState.COMMITTED
    changed, movements, level_events = [], [], []
    for line in sorted(reservation.lines, key=lambda line: line.sku):
        level, movement, events = _move(_level_of(levels, line.sku), kind=StockMovementKind.RELEASED,
                                        settings=settings, now=now,
                                        on_hand_delta=line.quantity if committed else 0,
                                        reserved_delta=0 if committed else -line.quantity,
                                        release_reason=reason, order_id=reservation.order_id, staff_id=staff_id)
        changed.append(level)
        movements.append(movement)
        level_events.extend(events)
    released = replace(reservation, state=ReservationState.RELEASED, released_at=now, release_reason=reason,
                       released_by=staff_id)
    event = StockReleased(order_id=reservation.order_id, lines=list(reservation.lines), reason=reason,
                          released_by=staff_id)
    return ReservationChange(reservation=released, levels=changed, movements=movements, reservation_events=[event],
                             level_events=level_events)


def _require_reservation(reservation: Reservation | None, order_id: str) -> Reservation:
    if reservation is None:
        raise NotFound(f"order {order_id!r} has no stock reservation")
    return reservation


def release_reservation(reservation: Reservation | None, *, order_id: str, reason: ReleaseReason | None,
                        staff_id: str, levels: Mapping[str, StockLevel | None], settings: StockSettings,
                        now: datetime) -> ReservationChange:
    """An active reservation given up (order cancelled, or by staff): its units are available
    again. A RELEASED or FAILED reservation comes back unchanged (replayed); a COMMITTED one is
    refused, since its goods are sold."""
    if reason is None:
        raise InvalidArgument("a release reason is required: ORDER_CANCELLED or STAFF")
    if reason is ReleaseReason.EXPIRED:
        raise InvalidArgument("only the expiry sweep releases with reason EXPIRED; use ORDER_CANCELLED or STAFF")
    if reason is ReleaseReason.STAFF and not staff_id:
        raise InvalidArgument("staff_id must name the staff member releasing the reservation")
    current = _require_reservation(reservation, order_id)
    if current.state is ReservationState.COMMITTED:
        raise FailedPrecondition(f"the reservation of order {order_id!r} is committed: its goods are sold; "
                                 "bring returned units back with AdjustStock and reason CUSTOMER_RETURN")
    if current.state is not ReservationState.ACTIVE:
        return _unchanged(current)
    return _release(current, reason=reason, staff_id=staff_id if reason is ReleaseReason.STAFF else "",
                    levels=levels, settings=settings, now=now)


def release_for_cancelled_order(reservation: Reservation, *, levels: Mapping[str, StockLevel | None],
                                settings: StockSettings, now: datetime) -> ReservationChange:
    """OrderCancelled: whatever the order holds comes back. Ordering cancels a confirmed order only
    before the carrier picked its parcel up, so a COMMITTED reservation's goods are still on the
    shelf and go back on hand. A RELEASED or FAILED reservation comes back unchanged (replayed)."""
    if reservation.state not in (ReservationState.ACTIVE, ReservationState.COMMITTED):
        return _unchanged(reservation)
    return _release(reservation, reason=ReleaseReason.ORDER_CANCELLED, staff_id="", levels=levels,
                    settings=settings, now=now)


def commit_reservation(reservation: Reservation | None, *, order_id: str, levels: Mapping[str, StockLevel | None],
                       settings: StockSettings, now: datetime) -> ReservationChange:
    """An active reservation made final: its units leave on_hand and reserved together, so
    availability does not move. A COMMITTED reservation comes back unchanged (replayed). An active
    one past its expiry still commits: until the sweep releases it, its units are held."""
    current = _require_reservation(reservation, order_id)
    if current.state is ReservationState.COMMITTED:
        return _unchanged(current)
    if current.state is not ReservationState.ACTIVE:
        how = "failed" if current.state is ReservationState.FAILED else "was released"
        raise FailedPrecondition(f"the reservation of order {order_id!r} {how}, so there is nothing to commit")
    changed, movements, level_events = [], [], []
    for line in sorted(current.lines, key=lambda line: line.sku):
        level, movement, events = _move(_level_of(levels, line.sku), kind=StockMovementKind.COMMITTED,
                                        settings=settings, now=now, on_hand_delta=-line.quantity,
                                        reserved_delta=-line.quantity, order_id=order_id)
        changed.append(level)
        movements.append(movement)
        level_events.extend(events)
    committed = replace(current, state=ReservationState.COMMITTED, committed_at=now)
    return ReservationChange(reservation=committed, levels=changed, movements=movements,
                             reservation_events=[StockCommitted(order_id=order_id, lines=list(current.lines))],
                             level_events=level_events)


def reservations_due_for_expiry(reservations: Iterable[Reservation], now: datetime) -> list[str]:
    """Order ids of the active reservations whose time is up, the longest overdue first."""
    due = [r for r in reservations
           if r.state is ReservationState.ACTIVE and r.expires_at is not None and r.expires_at <= now]
    return [r.order_id for r in sorted(due, key=lambda r: (r.expires_at, r.order_id))]


def expire_reservation(reservation: Reservation, *, levels: Mapping[str, StockLevel | None],
                       settings: StockSettings, now: datetime) -> ReservationChange:
    """Releases a reservation whose time ran out (reason EXPIRED). Checked again here, under the
    locks: one committed or released since the sweep picked it comes back unchanged."""
    due = reservation.expires_at is not None and reservation.expires_at <= now
    if reservation.state is not ReservationState.ACTIVE or not due:
        return _unchanged(reservation)
    return _release(reservation, reason=ReleaseReason.EXPIRED, staff_id="", levels=levels, settings=settings,
                    now=now)


# --- Reading: batch get and paged lists -----------------------------------------------------------

MAX_BATCH_LEVELS = 200
def batch_get_levels(skus: Sequence[str],
                     lookup: Callable[[str], StockLevel | None]) -> tuple[list[StockLevel], list[str]]:
    """The tracked SKUs' levels in the order asked (duplicates once), and the untracked SKUs."""
    if len(skus) > MAX_BATCH_LEVELS:
        raise InvalidArgument(f"at most {MAX_BATCH_LEVELS} SKUs per call, got {len(skus)}")
    found: list[StockLevel] = []
    unknown: list[str] = []
    for sku in dict.fromkeys(skus):
        level = lookup(sku)
        if level is None:
            unknown.append(sku)
        else:
            found.append(level)
    return found, unknown


def list_movements(movements: Iterable[StockMovement], *, sku: str, kinds: Sequence[StockMovementKind] = (),
                   page_size: int = 0, page_token: str = "") -> Page[StockMovement]:
    """A SKU's history, newest first (check the SKU is tracked with require_level first)."""
    wanted = set(kinds)
    chosen = (m for m in movements if m.sku == sku and (not wanted or m.kind in wanted))
    return paginate(chosen, sort_key=lambda m: (-m.sequence, m.movement_id),
                    filters=[sku, sorted(k.value for k in wanted)], page_size=page_size, page_token=page_token)


def list_reservations(reservations: Iterable[Reservation], *, states: Sequence[ReservationState] = (),
                      sku: str = "", page_size: int = 0, page_token: str = "") -> Page[Reservation]:
    """Reservations newest first, keeping the given states (all when empty) and those with a line
    for sku (all when empty)."""
    wanted = set(states)
    chosen = (r for r in reservations
              if (not wanted or r.state in wanted) and (not sku or any(line.sku == sku for line in r.lines)))
    return paginate(chosen, sort_key=lambda r: (-instant(r.created_at), r.order_id),
                    filters=[sorted(s.value for s in wanted), sku], page_size=page_size, page_token=page_token)


def list_alerts(levels: Iterable[StockLevel], *, unacknowledged_only: bool = False, unresolved_only: bool = False,
                sku: str = "", kinds: Sequence[StockAlertKind] = (), page_size: int = 0,
                page_token: str = "") -> Page[StockAlert]:
    """Alerts of every SKU (or one), newest first."""
    wanted = set(kinds)
    chosen = (a for level in levels if not sku or level.sku == sku for a in level.alerts
              if (not unacknowledged_only or a.acknowledged_at is None)
              and (not unresolved_only or a.resolved_at is None)
              and (not wanted or a.kind in wanted))
    return paginate(chosen, sort_key=lambda a: (-instant(a.raised_at), a.alert_id),
                    filters=[unacknowledged_only, unresolved_only, sku, sorted(k.value for k in wanted)],
                    page_size=page_size, page_token=page_token)
