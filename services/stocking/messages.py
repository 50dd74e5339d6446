"""Stocking's records and Protobuf messages, mapped once: levels, movements, reservations, alerts and
events out; request enums and lines, and ordering's order lines, in. The domain's enums are the
proto's without their UNSPECIFIED value, which maps to None (the domain says what is missing)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Any, TypeVar

from stocking.v1 import events_pb2 as events_pb
from stocking.v1 import stock_service_pb2 as pb

from services.runtime.errors import InvalidArgument
from services.runtime.proto import timestamp
from services.stocking import domain

E = TypeVar("E", bound=Enum)


def _proto_enum(value: Enum | None, prefix: str, enum: Any) -> Any:
    return 0 if value is None else enum.Value(f"{prefix}_{value.value}")


def domain_enum(number: int, enum: Any, kind: type[E], prefix: str, field: str) -> E | None:
    """A request's enum value as the domain's (None for UNSPECIFIED), or InvalidArgument for a number
    this version of the API does not know."""
    if number == 0:
        return None
    if number not in enum.values():
        raise InvalidArgument(f"{field} {number} is not one of {', '.join(enum.keys()[1:])}")
    return kind(enum.Name(number).removeprefix(f"{prefix}_"))


def domain_enums(numbers: Iterable[int], enum: Any, kind: type[E], prefix: str, field: str) -> list[E]:
    """A repeated filter's values; UNSPECIFIED in a filter is a mistake, not a wildcard."""
    values = []
    for number in numbers:
        value = domain_enum(number, enum, kind, prefix, field)
        if value is None:
            raise InvalidArgument(f"{field} must not contain {enum.Name(0)}; leave it empty to keep all")
        values.append(value)
    return values


# ------------------------------------------------------------------------------------------- out


def level(snapshot: domain.LevelSnapshot) -> events_pb.StockLevel:
    return events_pb.StockLevel(sku=snapshot.sku, on_hand=snapshot.on_hand, reserved=snapshot.reserved,
                                available=snapshot.available, low_stock_threshold=snapshot.low_stock_threshold,
                                updated_at=timestamp(snapshot.updated_at))


def lines(records: Iterable[domain.StockLine]) -> list[events_pb.StockLine]:
    return [events_pb.StockLine(sku=line.sku, quantity=line.quantity) for line in records]


def short_lines(records: Iterable[domain.ShortLine]) -> list[events_pb.ShortLine]:
    return [events_pb.ShortLine(sku=s.sku, requested=s.requested, available=s.available, short_by=s.short_by,
                                reason=_proto_enum(s.reason, "SHORTAGE_REASON", events_pb.ShortageReason))
            for s in records]


def movement(record: domain.StockMovement) -> pb.StockMovement:
    return pb.StockMovement(
        movement_id=record.movement_id, sku=record.sku,
        kind=_proto_enum(record.kind, "STOCK_MOVEMENT_KIND", pb.StockMovementKind),
        on_hand_delta=record.on_hand_delta, reserved_delta=record.reserved_delta, on_hand_after=record.on_hand_after,
        reserved_after=record.reserved_after,
        change_reason=_proto_enum(record.change_reason, "STOCK_CHANGE_REASON", pb.StockChangeReason),
        release_reason=_proto_enum(record.release_reason, "RELEASE_REASON", events_pb.ReleaseReason),
        order_id=record.order_id, note=record.note, staff_id=record.staff_id,
        occurred_at=timestamp(record.occurred_at),
    )


def reservation(record: domain.Reservation) -> pb.Reservation:
    return pb.Reservation(
        order_id=record.order_id, state=_proto_enum(record.state, "RESERVATION_STATE", pb.ReservationState),
        lines=lines(record.lines), short_lines=short_lines(record.short_lines),
        created_at=timestamp(record.created_at), expires_at=timestamp(record.expires_at),
        committed_at=timestamp(record.committed_at), released_at=timestamp(record.released_at),
        release_reason=_proto_enum(record.release_reason, "RELEASE_REASON", events_pb.ReleaseReason),
        released_by=record.released_by,
    )


def alert(record: domain.StockAlert) -> pb.StockAlert:
    return pb.StockAlert(
        alert_id=record.alert_id, sku=record.sku, kind=_proto_enum(record.kind, "STOCK_ALERT_KIND", pb.StockAlertKind),
        level=level(record.level), raised_at=timestamp(record.raised_at), resolved_at=timestamp(record.resolved_at),
        acknowledged_at=timestamp(record.acknowledged_at), acknowledged_by=record.acknowledged_by,
        acknowledgement_note=record.acknowledgement_note,
    )


def threshold(record: domain.LowStockThreshold) -> pb.LowStockThreshold:
    message = pb.LowStockThreshold(sku=record.sku, effective_threshold=record.effective_threshold,
                                   default_threshold=record.default_threshold)
    if record.override_threshold is not None:
        message.override_threshold = record.override_threshold
    return message


def reservation_event(event: domain.ReservationEvent) -> dict[str, Any]:
    """The envelope field and message of a reservation event, for `publish(..., **reservation_event(e))`."""
    if isinstance(event, domain.StockReserved):
        return {"stock_reserved": events_pb.StockReserved(order_id=event.order_id, lines=lines(event.lines),
                                                          expires_at=timestamp(event.expires_at))}
    if isinstance(event, domain.StockReservationFailed):
        return {"stock_reservation_failed": events_pb.StockReservationFailed(
            order_id=event.order_id, lines=lines(event.lines), short_lines=short_lines(event.short_lines))}
    if isinstance(event, domain.StockReleased):
        return {"stock_released": events_pb.StockReleased(
            order_id=event.order_id, lines=lines(event.lines),
            reason=_proto_enum(event.reason, "RELEASE_REASON", events_pb.ReleaseReason),
            released_by=event.released_by)}
    return {"stock_committed": events_pb.StockCommitted(order_id=event.order_id, lines=lines(event.lines))}


def level_event(event: domain.LevelEvent) -> dict[str, Any]:
    """The envelope field and message of a stock-level event."""
    if isinstance(event, domain.LowStockDetected):
        return {"low_stock_detected": events_pb.LowStockDetected(sku=event.sku, level=level(event.level),
                                                                 alert_id=event.alert_id)}
    if isinstance(event, domain.OutOfStock):
        return {"out_of_stock": events_pb.OutOfStock(sku=event.sku, level=level(event.level), alert_id=event.alert_id)}
    return {"back_in_stock": events_pb.BackInStock(sku=event.sku, level=level(event.level))}


# -------------------------------------------------------------------------------------------- in


def lines_record(messages: Iterable[Any]) -> list[domain.StockLine]:
    """StockLines of a request, or ordering's OrderLines (both have sku and quantity)."""
    return [domain.StockLine(sku=line.sku, quantity=line.quantity) for line in messages]


def change_reason_record(number: int) -> domain.StockChangeReason | None:
    return domain_enum(number, pb.StockChangeReason, domain.StockChangeReason, "STOCK_CHANGE_REASON", "reason")


def release_reason_record(number: int) -> domain.ReleaseReason | None:
    return domain_enum(number, events_pb.ReleaseReason, domain.ReleaseReason, "RELEASE_REASON", "reason")
