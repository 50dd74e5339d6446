"""Who may call each RPC of StockService (enforced by the runtime before any handler runs; see
services/runtime/auth.py). Levels are public (the storefront shows availability); every change and
every staff view needs staff; the saga's reservations are for services only."""

from stocking.v1 import stock_service_pb2

from services.runtime.auth import Role, anyone, service_only, staff

RULES = {stock_service_pb2.DESCRIPTOR.services_by_name["StockService"].full_name: {
    "SetStock": staff(actor="staff_id"),
    "AdjustStock": staff(actor="staff_id"),
    "ListStockMovements": staff(),
    "GetStockLevel": anyone(),
    "BatchGetStockLevels": anyone(),
    "ReserveOrderStock": service_only(),
    "ReleaseReservation": staff(actor="staff_id"),
    "CommitReservation": service_only(),
    "GetReservation": staff(),
    "ListReservations": staff(),
    "ListStockAlerts": staff(),
    "AcknowledgeStockAlert": staff(actor="staff_id"),
    "GetLowStockThreshold": staff(),
    "SetLowStockThreshold": staff(Role.STAFF, actor="staff_id"),
}}
