"""Who may call each RPC of ProfileService (enforced by the runtime; see services/runtime/auth.py).
Signing up and signing in are open; a customer reads and changes their own profile and address book
(`owner`: another's answers NOT_FOUND); staff work on customers needs STAFF, staff accounts ADMIN.
The acting staff member is the token's subject."""

from profiling.v1 import profile_service_pb2

from services.runtime.auth import Role, anyone, customer_own, staff

RULES = {profile_service_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name: {
    "RegisterCustomer": anyone(),
    "CheckEmailAvailability": anyone(),
    "Authenticate": anyone(),
    "RefreshToken": anyone(),  # the refresh token in the request is the credential
    "SignOut": anyone(),
    "GetCustomer": customer_own(owner="customer_id"),
    "UpdateCustomer": customer_own(owner="customer_id"),
    # A customer changes their own password, a staff member theirs (staff_id is the token's).
    "ChangePassword": customer_own(owner="customer_id", actor="staff_id"),
    "AddAddress": customer_own(owner="customer_id"),
    "UpdateAddress": customer_own(owner="customer_id"),
    "RemoveAddress": customer_own(owner="customer_id"),
    "ListAddresses": customer_own(owner="customer_id"),
    "SetDefaultShippingAddress": customer_own(owner="customer_id"),
    "SetDefaultBillingAddress": customer_own(owner="customer_id"),
    "SetCustomerStatus": staff(actor="staff_id"),
    "SearchCustomers": staff(),
    "CreateStaffMember": staff(Role.ADMIN, actor="created_by"),
    "GetStaffMember": staff(),
    "ListStaffMembers": staff(Role.ADMIN),
    "UpdateStaffMember": staff(Role.ADMIN, actor="updated_by"),
}}
