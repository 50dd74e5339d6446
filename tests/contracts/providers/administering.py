"""Administering's states: sellers onboarded, updated and suspended, and settings changed by an admin,
through the real servicer (profiling answering for the admin as administering's contract with it says)."""

from __future__ import annotations

import dataclasses
import functools

from administering.v1 import admin_service_pb2 as admin_api

from services.administering import domain, messages
from services.runtime.inprocess import build
from tests.contracts.consumers.administering import STAFF_ID, onboard_seller
from tools.contracts import Provider, Service

PROVIDER = Provider("administering", functools.partial(build, "administering"))


@PROVIDER.state("a seller was onboarded")
async def onboarded(service: Service) -> None:
    await onboard_seller(service)


@PROVIDER.state("a seller was updated")
async def updated(service: Service) -> None:
    await service.call("administering.v1.AdminService/UpdateSeller", admin_api.UpdateSellerRequest(
        seller_id=await onboard_seller(service), name="Mugs & Cups", staff_id=STAFF_ID))


@PROVIDER.state("a seller was suspended")
async def suspended(service: Service) -> None:
    await service.call("administering.v1.AdminService/SuspendSeller", admin_api.SuspendSellerRequest(
        seller_id=await onboard_seller(service), reason="unpaid fees", staff_id=STAFF_ID))


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
async def vip_discount(service: Service) -> None:
    await service.servicer.seed_settings()  # as at start-up: every setting at its default
