"""Administering's states: sellers onboarded, updated and suspended, and settings changed by an admin,
through the real servicer (profiling answering for the admin as administering's contract with it says)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from administering.v1 import admin_service_pb2 as admin_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from profiling.v1 import profile_service_pb2 as profile_api
from stocking.v1 import stock_service_pb2 as stock_api

from services.administering import domain, messages
from services.runtime.inprocess import build
from tests.contracts.consumers.administering import LEVEL, SKU, STAFF, STAFF_ID, onboard_seller
from tools.contracts import Provider, Service

PROVIDER = Provider("administering", functools.partial(build, "administering"))


@PROVIDER.state("a seller was onboarded")
async def onboarded(service: Service) -> dict[str, Any]:
    return {"seller_id": await onboard_seller(service), "staff_id": STAFF_ID}


@PROVIDER.state("a seller was updated")
async def updated(service: Service) -> None:
    await service.call("administering.v1.AdminService/UpdateSeller", admin_api.UpdateSellerRequest(
        seller_id=await onboard_seller(service), name="Mugs & Cups", staff_id=STAFF_ID))


@PROVIDER.state("a seller was suspended")
async def suspended(service: Service) -> dict[str, Any]:
    seller_id = await onboard_seller(service)
    await service.call("administering.v1.AdminService/SuspendSeller", admin_api.SuspendSellerRequest(
        seller_id=seller_id, reason="unpaid fees", staff_id=STAFF_ID))
    return {"seller_id": seller_id, "staff_id": STAFF_ID}


def another_value(definition: domain.SettingDefinition) -> domain.SettingValue:
    """A valid value of the setting other than its default."""
    default = definition.default
    match definition.kind:
        case domain.SettingKind.INT:
            return domain.SettingValue.of_int(default.int_value + 1)
        case domain.SettingKind.BASIS_POINTS:
            return domain.SettingValue.of_basis_points(default.basis_points + 100)
        case domain.SettingKind.DURATION:
            return domain.SettingValue.of_duration(default.duration_value * 2)
        case domain.SettingKind.MONEY:
            assert default.money_value is not None
            money = default.money_value
            return domain.SettingValue.of_money(dataclasses.replace(money, amount_minor=money.amount_minor * 2))
        case domain.SettingKind.BOOL:
            return domain.SettingValue.of_bool(not default.bool_value)
    return domain.SettingValue.of_string("USD")  # the one STRING setting is the shop's currency


@PROVIDER.state("an admin changed a setting")
async def setting_changed(service: Service, name: str) -> None:
    await onboard_seller(service)  # profiling now answers for the admin
    await service.servicer.seed_settings()  # as at start-up
    await service.call("administering.v1.AdminService/UpdateSetting", admin_api.UpdateSettingRequest(
        name=name, value=messages.setting_value(another_value(domain.setting_definition(name))), staff_id=STAFF_ID))


@PROVIDER.state("the VIP discount is set")
async def vip_discount(service: Service) -> dict[str, Any]:
    """As at start-up: every setting at its default; profiling answers for the admin who changes one."""
    service.stubs["profiling"].answers.setdefault("GetStaffMember", profile_api.GetStaffMemberResponse(
        staff_member=STAFF))
    await service.servicer.seed_settings()
    return {"staff_id": STAFF_ID}


# --- the back-office's staff: the sellers, products and settings they change ------------------------------------


@PROVIDER.state("a staff member may onboard sellers")
async def may_onboard(service: Service) -> dict[str, Any]:
    service.stubs["profiling"].answers.setdefault("GetStaffMember", profile_api.GetStaffMemberResponse(
        staff_member=STAFF))
    return {"staff_id": STAFF_ID}


@PROVIDER.state("a seller may onboard a product")
async def may_onboard_product(service: Service) -> dict[str, Any]:
    """Cataloging and stocking answer as administering's contracts with them say, the product named."""
    draft = catalog_events.Product(product_id="product-1", sku=SKU, name="Red mug", seller_id="seller-1",
                                   status=catalog_events.PRODUCT_STATUS_DRAFT)
    published = catalog_events.Product()
    published.CopyFrom(draft)
    published.status = catalog_events.PRODUCT_STATUS_PUBLISHED
    service.stubs["cataloging"].answers.setdefault("CreateProduct", catalog_api.CreateProductResponse(product=draft))
    service.stubs["cataloging"].answers.setdefault("PublishProduct",
                                                   catalog_api.PublishProductResponse(product=published))
    service.stubs["stocking"].answers.setdefault("SetStock", stock_api.SetStockResponse(level=LEVEL))
    return {"seller_id": await onboard_seller(service), "staff_id": STAFF_ID}
