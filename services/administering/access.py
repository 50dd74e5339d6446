"""Who may call each RPC of AdminService (enforced by the runtime; see services/runtime/auth.py).
All back-office work; system settings need ADMIN. The acting staff member is the token's subject."""

from administering.v1 import admin_service_pb2

from services.runtime.auth import Role, staff

RULES = {admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name: {
    "OnboardSeller": staff(actor="staff_id"),
    "GetSeller": staff(),
    "UpdateSeller": staff(actor="staff_id"),
    "SuspendSeller": staff(actor="staff_id"),
    "ReinstateSeller": staff(actor="staff_id"),
    "ListSellers": staff(),
    "OnboardProduct": staff(actor="staff_id"),
    "GetSetting": staff(),
    "ListSettings": staff(),
    "UpdateSetting": staff(Role.ADMIN, actor="staff_id"),
}}
