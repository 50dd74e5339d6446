"""Administering's mapping between domain records/events and Protobuf messages, in one place."""

from __future__ import annotations

from typing import Any

from administering.v1 import admin_service_pb2 as pb
from administering.v1 import events_pb2
from cataloging.v1 import catalog_service_pb2
from google.protobuf.duration_pb2 import Duration
from profiling.v1 import profile_service_pb2

from services.administering import domain
from services.administering.domain import SellerStatus, SettingKind, StaffRole
from services.runtime.errors import InvalidArgument
from services.runtime.proto import money, money_record, timestamp

SELLER_STATUS = {
    SellerStatus.ACTIVE: events_pb2.SELLER_STATUS_ACTIVE,
    SellerStatus.SUSPENDED: events_pb2.SELLER_STATUS_SUSPENDED,
}
_SELLER_STATUS_OF: dict[int, SellerStatus] = {number: status for status, number in SELLER_STATUS.items()}
SETTING_KIND = {
    SettingKind.INT: pb.SETTING_VALUE_KIND_INT,
    SettingKind.STRING: pb.SETTING_VALUE_KIND_STRING,
    SettingKind.MONEY: pb.SETTING_VALUE_KIND_MONEY,
    SettingKind.BASIS_POINTS: pb.SETTING_VALUE_KIND_BASIS_POINTS,
    SettingKind.DURATION: pb.SETTING_VALUE_KIND_DURATION,
    SettingKind.BOOL: pb.SETTING_VALUE_KIND_BOOL,
}
_STAFF_ROLE_OF: dict[int, StaffRole] = {
    profile_service_pb2.ROLE_STAFF: StaffRole.STAFF,
    profile_service_pb2.ROLE_ADMIN: StaffRole.ADMIN,
}


# --- staff (profiling's answer) -------------------------------------------------------------------


def staff_actor_record(member: profile_service_pb2.StaffMember) -> domain.StaffActor | None:
    """None for an account profiling calls something else than staff or admin: it may not act here."""
    role = _STAFF_ROLE_OF.get(member.role)
    return None if role is None else domain.StaffActor(member.staff_id, role, member.active)


# --- sellers --------------------------------------------------------------------------------------


def seller_status_record(number: int) -> SellerStatus:
    if number not in _SELLER_STATUS_OF:
        raise InvalidArgument(f"statuses must hold SELLER_STATUS_ACTIVE or SELLER_STATUS_SUSPENDED, got {number}")
    return _SELLER_STATUS_OF[number]


def seller(record: domain.Seller) -> events_pb2.Seller:
    message = events_pb2.Seller(
        seller_id=record.seller_id, name=record.name, email=record.email, vat_number=record.vat_number,
        status=SELLER_STATUS[record.status], suspension_reason=record.suspension_reason,
        created_at=timestamp(record.created_at), updated_at=timestamp(record.updated_at), version=record.version)
    if record.suspended_at is not None:
        message.suspended_at.CopyFrom(timestamp(record.suspended_at))
    return message


def seller_event(event: domain.SellerEvent) -> dict[str, Any]:
    """The envelope field and message of a domain event, for `bus.publish(..., **seller_event(e))`."""
    if isinstance(event, domain.SellerOnboarded):
        return {"seller_onboarded": events_pb2.SellerOnboarded(seller=seller(event.seller),
                                                               onboarded_by=event.onboarded_by)}
    if isinstance(event, domain.SellerUpdated):
        return {"seller_updated": events_pb2.SellerUpdated(seller=seller(event.seller),
                                                           changed_fields=event.changed_fields,
                                                           updated_by=event.updated_by)}
    return {"seller_suspended": events_pb2.SellerSuspended(seller=seller(event.seller), reason=event.reason,
                                                           suspended_by=event.suspended_by)}


# --- settings -------------------------------------------------------------------------------------


def setting_value_record(message: events_pb2.SettingValue) -> domain.SettingValue | None:
    kind = message.WhichOneof("kind")
    if kind == "int_value":
        return domain.SettingValue.of_int(message.int_value)
    if kind == "string_value":
        return domain.SettingValue.of_string(message.string_value)
    if kind == "money_value":
        return domain.SettingValue.of_money(money_record(message.money_value))
    if kind == "basis_points":
        return domain.SettingValue.of_basis_points(message.basis_points)
    if kind == "duration_value":
        try:
            return domain.SettingValue.of_duration(message.duration_value.ToTimedelta())
        except (OverflowError, ValueError):
            raise InvalidArgument(f"duration_value of {message.duration_value.seconds} seconds is out of range"
                                  ) from None
    if kind == "bool_value":
        return domain.SettingValue.of_bool(message.bool_value)
    return None


def setting_value(value: domain.SettingValue) -> events_pb2.SettingValue:
    if value.kind == SettingKind.INT:
        return events_pb2.SettingValue(int_value=value.int_value)
    if value.kind == SettingKind.STRING:
        return events_pb2.SettingValue(string_value=value.string_value)
    if value.kind == SettingKind.MONEY:
        assert value.money_value is not None
        return events_pb2.SettingValue(money_value=money(value.money_value))
    if value.kind == SettingKind.BASIS_POINTS:
        return events_pb2.SettingValue(basis_points=value.basis_points)
    if value.kind == SettingKind.DURATION:
        duration = Duration()
        duration.FromTimedelta(value.duration_value)
        return events_pb2.SettingValue(duration_value=duration)
    return events_pb2.SettingValue(bool_value=value.bool_value)


def setting(record: domain.Setting) -> pb.Setting:
    return pb.Setting(
        name=record.name, kind=SETTING_KIND[record.kind], value=setting_value(record.value),
        default_value=setting_value(record.default_value), description=record.description,
        updated_by=record.updated_by, updated_at=timestamp(record.updated_at), version=record.version)


def setting_changed(event: domain.SettingChanged) -> events_pb2.SettingChanged:
    message = events_pb2.SettingChanged(name=event.name, value=setting_value(event.value),
                                        changed_by=event.changed_by, version=event.version)
    if event.old_value is not None:
        message.old_value.CopyFrom(setting_value(event.old_value))
    return message


# --- product onboarding ---------------------------------------------------------------------------


def product_draft_record(request: pb.OnboardProductRequest) -> domain.ProductDraft:
    return domain.ProductDraft(
        sku=request.sku, name=request.name, description=request.description, category_id=request.category_id,
        price=money_record(request.price),
        tax_class=request.tax_class or "standard",  # the API's default, so equal requests compare equal
        weight_grams=request.weight_grams, attributes=dict(request.attributes), image_url=request.image_url)


def create_product_request(onboarding: domain.ProductOnboarding) -> catalog_service_pb2.CreateProductRequest:
    draft = onboarding.product
    return catalog_service_pb2.CreateProductRequest(
        seller_id=onboarding.seller_id, sku=draft.sku, name=draft.name, description=draft.description,
        category_id=draft.category_id, price=money(draft.price), tax_class=draft.tax_class,
        weight_grams=draft.weight_grams, attributes=draft.attributes, image_url=draft.image_url)
