"""Profiling's mapping between domain records/events and Protobuf messages, in one place."""

from __future__ import annotations

from typing import Any

from profiling.v1 import events_pb2, profile_service_pb2

from services.profiling import domain
from services.profiling.domain import CustomerStatus, Role, StatusChangeSource
from services.runtime.errors import InvalidArgument
from services.runtime.proto import address, money, timestamp

CUSTOMER_STATUS = {
    CustomerStatus.STANDARD: events_pb2.CUSTOMER_STATUS_STANDARD,
    CustomerStatus.VIP: events_pb2.CUSTOMER_STATUS_VIP,
}
STATUS_SOURCE = {
    StatusChangeSource.RULE: events_pb2.STATUS_CHANGE_SOURCE_RULE,
    StatusChangeSource.STAFF: events_pb2.STATUS_CHANGE_SOURCE_STAFF,
}
ROLE = {
    Role.CUSTOMER: profile_service_pb2.ROLE_CUSTOMER,
    Role.STAFF: profile_service_pb2.ROLE_STAFF,
    Role.ADMIN: profile_service_pb2.ROLE_ADMIN,
}
ACCOUNT_KIND: dict[int, domain.AccountKind] = {
    profile_service_pb2.ACCOUNT_KIND_CUSTOMER: domain.AccountKind.CUSTOMER,
    profile_service_pb2.ACCOUNT_KIND_STAFF: domain.AccountKind.STAFF,
}
_STATUS_OF: dict[int, CustomerStatus] = {number: status for status, number in CUSTOMER_STATUS.items()}
_ROLE_OF: dict[int, Role] = {number: role for role, number in ROLE.items()}


# --- requests -------------------------------------------------------------------------------------


def customer_status_record(number: int, what: str = "status") -> CustomerStatus | None:
    """None for UNSPECIFIED (the domain says it is required); a number no status has is refused here."""
    if number == events_pb2.CUSTOMER_STATUS_UNSPECIFIED:
        return None
    if number not in _STATUS_OF:
        raise InvalidArgument(f"{what} must be CUSTOMER_STATUS_STANDARD or CUSTOMER_STATUS_VIP, got {number}")
    return _STATUS_OF[number]


def role_record(number: int) -> Role | None:
    """None for ROLE_UNSPECIFIED; the domain then says which roles it takes."""
    if number == profile_service_pb2.ROLE_UNSPECIFIED:
        return None
    if number not in _ROLE_OF:
        raise InvalidArgument(f"role must be ROLE_STAFF or ROLE_ADMIN, got {number}")
    return _ROLE_OF[number]


def account_kind_record(number: int) -> domain.AccountKind | None:
    if number == profile_service_pb2.ACCOUNT_KIND_UNSPECIFIED:
        return None
    if number not in ACCOUNT_KIND:
        raise InvalidArgument(f"account_kind must be ACCOUNT_KIND_CUSTOMER or ACCOUNT_KIND_STAFF, got {number}")
    return ACCOUNT_KIND[number]


# --- records --------------------------------------------------------------------------------------


def customer(record: domain.Customer, shop_currency: str) -> profile_service_pb2.Customer:
    return profile_service_pb2.Customer(
        customer_id=record.customer_id, email=record.email, first_name=record.first_name,
        last_name=record.last_name, phone=record.phone, status=CUSTOMER_STATUS[record.status],
        status_source=STATUS_SOURCE[record.status_source], status_pinned=record.status_pinned,
        confirmed_spend=money(record.spend_in(shop_currency)),
        default_shipping_address_id=record.default_shipping_address_id,
        default_billing_address_id=record.default_billing_address_id,
        created_at=timestamp(record.created_at), updated_at=timestamp(record.updated_at),
    )


def address_book_entry(record: domain.Customer, entry: domain.AddressBookEntry) -> profile_service_pb2.AddressBookEntry:
    return profile_service_pb2.AddressBookEntry(
        address_id=entry.address_id, label=entry.label, address=address(entry.address),
        is_default_shipping=entry.address_id == record.default_shipping_address_id,
        is_default_billing=entry.address_id == record.default_billing_address_id,
        created_at=timestamp(entry.created_at), updated_at=timestamp(entry.updated_at),
    )


def staff_member(record: domain.StaffMember) -> profile_service_pb2.StaffMember:
    return profile_service_pb2.StaffMember(
        staff_id=record.staff_id, email=record.email, display_name=record.display_name, role=ROLE[record.role],
        active=record.active, created_by=record.created_by, created_at=timestamp(record.created_at),
        updated_at=timestamp(record.updated_at),
    )


# --- events ---------------------------------------------------------------------------------------


def customer_event(event: domain.CustomerEvent) -> dict[str, Any]:
    """The envelope field and message of a domain event, for `bus.publish(..., **customer_event(e))`."""
    if isinstance(event, domain.CustomerRegistered):
        return {"customer_registered": events_pb2.CustomerRegistered(
            customer_id=event.customer_id, email=event.email, first_name=event.first_name,
            last_name=event.last_name, status=CUSTOMER_STATUS[event.status])}
    if isinstance(event, domain.CustomerUpdated):
        updated = events_pb2.CustomerUpdated(
            customer_id=event.customer_id, email=event.email, first_name=event.first_name,
            last_name=event.last_name, phone=event.phone, changed_fields=event.changed_fields)
        if event.default_shipping_address is not None:
            updated.default_shipping_address.CopyFrom(address(event.default_shipping_address))
        if event.default_billing_address is not None:
            updated.default_billing_address.CopyFrom(address(event.default_billing_address))
        return {"customer_updated": updated}
    return {"customer_status_changed": events_pb2.CustomerStatusChanged(
        customer_id=event.customer_id, old_status=CUSTOMER_STATUS[event.old_status],
        new_status=CUSTOMER_STATUS[event.new_status], reason=event.reason, source=STATUS_SOURCE[event.source],
        changed_by=event.changed_by, pinned=event.pinned, confirmed_spend=money(event.confirmed_spend))}
