"""ADMIN only: the system settings (administering) and the staff accounts (profiling). The router's guard
refuses a STAFF member with a 403 page before anything is asked of a service (which would refuse too).

Settings: each in a form for its kind (a whole number, text, an amount, basis points, a duration in
seconds, yes/no), sent with the version it was read at, so a change made meanwhile by someone else is
refused rather than overwritten; each shows who changed it last and when."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import grpc
from administering.v1 import admin_service_pb2 as admin_api
from administering.v1 import events_pb2 as admin_events
from fastapi import APIRouter, Depends, Form, Path, Request
from google.protobuf.duration_pb2 import Duration
from profiling.v1 import profile_service_pb2 as profile_api
from shop.common.v1 import money_pb2, paging_pb2
from starlette.responses import RedirectResponse, Response

from sites.backoffice.staff import ROLES, admin_only, said
from sites.runtime.calls import Calls
from sites.runtime.pages import page
from sites.runtime.sessions import session_of

router = APIRouter(dependencies=[Depends(admin_only)])
SettingName = Annotated[str, Path(max_length=100, pattern=r"^[a-z_]+(\.[a-z_]+)+$")]
KINDS = {admin_api.SETTING_VALUE_KIND_INT: "int", admin_api.SETTING_VALUE_KIND_STRING: "string",
         admin_api.SETTING_VALUE_KIND_MONEY: "money", admin_api.SETTING_VALUE_KIND_BASIS_POINTS: "bps",
         admin_api.SETTING_VALUE_KIND_DURATION: "duration", admin_api.SETTING_VALUE_KIND_BOOL: "bool"}


def shown(setting: Any) -> str:
    """A setting's value as the form shows it."""
    value, kind = setting.value, KINDS.get(setting.kind, "")
    if kind == "int":
        return str(value.int_value)
    if kind == "money":
        return f"{Decimal(value.money_value.amount_minor) / 100:.2f}"
    if kind == "bps":
        return str(value.basis_points)
    if kind == "duration":
        return str(value.duration_value.seconds)
    if kind == "bool":
        return "true" if value.bool_value else "false"
    return str(value.string_value)


def parsed(setting: Any, text: str) -> Any:
    """The SettingValue typed in the form, or a sentence saying what is wrong with it (the service then
    checks the ranges and says so in its own words)."""
    kind, text = KINDS.get(setting.kind, ""), text.strip()
    try:
        if kind == "int":
            return admin_events.SettingValue(int_value=int(text))
        if kind == "bps":
            return admin_events.SettingValue(basis_points=int(text))
        if kind == "duration":
            return admin_events.SettingValue(duration_value=Duration(seconds=int(text)))
        if kind == "money":
            minor = Decimal(text.replace(",", "")) * 100
            if minor != minor.to_integral_value():
                return "Give the amount with at most two decimals."
            return admin_events.SettingValue(money_value=money_pb2.Money(
                amount_minor=int(minor), currency=setting.value.money_value.currency))
    except (ValueError, InvalidOperation):
        return "Enter a whole number." if kind != "money" else "Enter an amount such as 1000.00."
    if kind == "bool":
        return admin_events.SettingValue(bool_value=text == "true")
    return admin_events.SettingValue(string_value=text)


async def _settings(request: Request) -> list[Any]:
    return list((await Calls.of(request).administering.ListSettings(admin_api.ListSettingsRequest())).settings)


async def _staff_names(request: Request, ids: set[str]) -> dict[str, str]:
    members = (await Calls.of(request).profiling.ListStaffMembers(profile_api.ListStaffMembersRequest(
        include_inactive=True, page=paging_pb2.PageRequest(page_size=100)))).staff_members
    return {m.staff_id: m.display_name or m.email for m in members if m.staff_id in ids}


async def _settings_page(request: Request, *, errors: dict[str, str] | None = None, typed: dict[str, str] | None = None,
                         status: int = 200) -> Response:
    settings = await _settings(request)
    names = await _staff_names(request, {s.updated_by for s in settings if s.updated_by})
    flash = session_of(request).pop("flash", []) or []
    return page(request, "settings.html", {
        "settings": settings, "kinds": KINDS, "shown": {s.name: (typed or {}).get(s.name, shown(s)) for s in settings},
        "who": names, "errors": errors or {}, "flash": flash}, status=status, private=True)


@router.get("/settings", summary="Every system setting, ADMIN only")
async def settings(request: Request) -> Response:
    return await _settings_page(request)


@router.post("/settings/{name}", summary="Change one system setting, ADMIN only")
async def change_setting(request: Request, name: SettingName, value: Annotated[str, Form(max_length=200)],
                         version: Annotated[int, Form(ge=0)]) -> Response:
    current = {s.name: s for s in await _settings(request)}.get(name)
    if current is None:
        return await _settings_page(request, errors={name: "There is no such setting."}, status=404)
    new = parsed(current, value)
    problem = new if isinstance(new, str) else ""
    if not problem:
        try:
            await Calls.of(request).administering.UpdateSetting(admin_api.UpdateSettingRequest(
                name=name, value=new, expected_version=version))
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                                  grpc.StatusCode.ABORTED):
                raise
            problem = said(exc, "That value was refused.")
    if problem:
        return await _settings_page(request, errors={name: problem}, typed={name: value}, status=422)
    session_of(request)["flash"] = [f"{name} is changed."]
    return RedirectResponse(f"/settings#setting-{name}", status_code=303)


# --- staff accounts -------------------------------------------------------------------------------

async def _staff_page(request: Request, *, error: str = "", values: dict[str, str] | None = None,
                      status: int = 200) -> Response:
    members = (await Calls.of(request).profiling.ListStaffMembers(profile_api.ListStaffMembersRequest(
        include_inactive=True, page=paging_pb2.PageRequest(page_size=100)))).staff_members
    flash = session_of(request).pop("flash", []) or []
    return page(request, "staff_accounts.html", {"members": members, "roles": ROLES, "error": error,
                                                 "values": values or {}, "flash": flash},
                status=status, private=True)


@router.get("/staff", summary="Staff accounts, ADMIN only")
async def staff_accounts(request: Request) -> Response:
    return await _staff_page(request)


@router.post("/staff", summary="Create a staff account, ADMIN only")
async def create_staff(request: Request, email: Annotated[str, Form(max_length=254)],
                       display_name: Annotated[str, Form(max_length=100)],
                       password: Annotated[str, Form(max_length=128)],
                       role: Annotated[str, Form(pattern="^(STAFF|ADMIN)$")]) -> Response:
    try:
        await Calls.of(request).profiling.CreateStaffMember(profile_api.CreateStaffMemberRequest(
            email=email.strip(), display_name=display_name.strip(), password=password,
            role=profile_api.ROLE_ADMIN if role == "ADMIN" else profile_api.ROLE_STAFF))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS,
                              grpc.StatusCode.FAILED_PRECONDITION):
            raise
        return await _staff_page(request, error=said(exc, "That account was refused."), status=422,
                                 values={"email": email, "display_name": display_name, "role": role})
    session_of(request)["flash"] = [f"{email.strip()} can now sign in with the {role} role."]
    return RedirectResponse("/staff", status_code=303)


@router.post("/staff/{staff_id}", summary="Change a staff account's role or deactivate it, ADMIN only")
async def update_staff(request: Request, staff_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
                       role: Annotated[str, Form(pattern="^(STAFF|ADMIN)$")],
                       active: Annotated[bool, Form()] = False) -> Response:
    try:
        await Calls.of(request).profiling.UpdateStaffMember(profile_api.UpdateStaffMemberRequest(
            staff_id=staff_id, active=active,
            role=profile_api.ROLE_ADMIN if role == "ADMIN" else profile_api.ROLE_STAFF))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            raise
        return await _staff_page(request, error=said(exc, "That change was refused."), status=422)
    session_of(request)["flash"] = ["The account is changed."]
    return RedirectResponse("/staff", status_code=303)
