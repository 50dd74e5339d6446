"""Who may call each RPC of AdminService (enforced by the runtime; see services/runtime/auth.py).
Back-office work, but for what the storefront shows everyone: the active sellers' trading names (a
public caller gets nothing else of them) and a setting's value. Changing a setting needs ADMIN. The acting
staff member is the token's subject."""

from administering.v1 import admin_service_pb2

from services.runtime.auth import Role, anyone, staff

RULES = {admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name: {
    "OnboardSeller": staff(actor="staff_id"),
    "GetSeller": staff(),
    "UpdateSeller": staff(actor="staff_id"),
    "SuspendSeller": staff(actor="staff_id"),
    "ReinstateSeller": staff(actor="staff_id"),
    "ListSellers": anyone(),  # the public sees active sellers' trading names only (the servicer)
    "OnboardProduct": staff(actor="staff_id"),
    "GetSetting": anyone(),  # settings shape what shoppers see (the VIP rate); none is secret
    "ListSettings": staff(),
    "UpdateSetting": staff(Role.ADMIN, actor="staff_id"),
}}
