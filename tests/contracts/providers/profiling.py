"""Profiling's states: a customer made VIP by the spend rule; a staff member to act as."""

from __future__ import annotations

import functools
from typing import Any

from profiling.v1 import profile_service_pb2 as profile_api

from services.runtime.inprocess import build
from tests.contracts.consumers.profiling import ORDER_CONFIRMED, handle, register
from tests.contracts.consumers.storefront import PASSWORD
from tests.contracts.values import ADDRESS
from tools.contracts import Provider, Service

PROVIDER = Provider("profiling", functools.partial(build, "profiling"))


@PROVIDER.state("a customer's status changed")
async def became_vip(service: Service) -> None:
    await handle(service, ORDER_CONFIRMED, await register(service))


@PROVIDER.state("an admin can act")
async def admin(service: Service) -> dict[str, Any]:
    await service.servicer.ensure_first_admin("admin@shop.example", "correct horse battery", "Shop admin")
    return {"staff_id": service.parts["stores"].staff_emails.get("admin@shop.example")}


# --- the back-office's staff: signed in, and the accounts an admin manages --------------------------------------


@PROVIDER.state("a staff member is signed in")
async def staff_signed_in(service: Service) -> dict[str, Any]:
    values = await admin(service) or {}
    answer = await service.call("profiling.v1.ProfileService/Authenticate", profile_api.AuthenticateRequest(
        email="admin@shop.example", password="correct horse battery", account_kind=profile_api.ACCOUNT_KIND_STAFF))
    return {**values, "refresh_token": answer.refresh_token}


@PROVIDER.state("an admin and a staff member have accounts")
async def admin_and_staff(service: Service) -> dict[str, Any]:
    """The admin acts (the token's subject) on the staff member the request names."""
    acting = (await admin(service) or {})["staff_id"]
    made = await service.call("profiling.v1.ProfileService/CreateStaffMember", profile_api.CreateStaffMemberRequest(
        email="grace@shop.example", display_name="Grace Hopper", password="staple battery horse 42",
        role=profile_api.ROLE_STAFF, created_by=acting))
    return {"acting_staff_id": acting, "staff_id": made.staff_member.staff_id}


@PROVIDER.state("a customer is registered and a staff member can act")
async def customer_and_staff(service: Service) -> dict[str, Any]:
    """The staff member who changes the customer's status is checked against profiling's own accounts."""
    return {"customer_id": await register(service), **(await admin(service) or {})}


# --- the storefront's shopper: registered (ada@example.com, as consumers/profiling.py registers her) ------------


@PROVIDER.state("no account uses the email")
async def nobody(service: Service) -> None:
    """A new profiling knows no email."""


@PROVIDER.state("a customer is registered")
async def registered(service: Service) -> dict[str, Any]:
    return {"customer_id": await register(service)}


@PROVIDER.state("a customer is signed in")
async def signed_in(service: Service) -> dict[str, Any]:
    customer_id = await register(service)
    answer = await service.call("profiling.v1.ProfileService/Authenticate", profile_api.AuthenticateRequest(
        email="ada@example.com", password=PASSWORD, account_kind=profile_api.ACCOUNT_KIND_CUSTOMER))
    return {"customer_id": customer_id, "refresh_token": answer.refresh_token}


@PROVIDER.state("a customer has an address in their book")
async def with_address(service: Service) -> dict[str, Any]:
    customer_id = await register(service)
    await service.call("profiling.v1.ProfileService/AddAddress", profile_api.AddAddressRequest(
        customer_id=customer_id, label="Home", address=ADDRESS))
    entries = await service.call("profiling.v1.ProfileService/ListAddresses",
                                 profile_api.ListAddressesRequest(customer_id=customer_id))
    return {"customer_id": customer_id, "address_id": entries.entries[0].address_id}
