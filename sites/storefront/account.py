"""Accounts: register (with inline validation), sign in (the anonymous cart merged into the
customer's, and the page says what was merged and what was capped), sign out, profile, password,
address book, the VIP badge."""

from __future__ import annotations

import contextlib
import re
from typing import Annotated, Any

import grpc
from carting.v1 import cart_service_pb2 as cart_api
from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from profiling.v1 import events_pb2 as profiling_events
from profiling.v1 import profile_service_pb2 as profile_api
from shop.common.v1 import address_pb2
from starlette.responses import RedirectResponse, Response

from sites.runtime.calls import Calls, ServiceUnavailable, refresh_token_of, signed_in
from sites.runtime.pages import page, safe_next, sign_in_first
from sites.runtime.sessions import rotate_session, session_of
from sites.runtime.throttle import limiter, per_account, per_address
from sites.storefront.shop import person, remember_cart, remember_person, vip_discount_bps

router = APIRouter()
Email = Annotated[str, Form(max_length=254)]
Password = Annotated[str, Form(max_length=128)]
Name = Annotated[str, Form(max_length=100)]
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
AddressId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MERGE_REASONS = {
    cart_api.MERGE_ADJUSTMENT_REASON_STOCK_LIMIT: "capped at the stock left",
    cart_api.MERGE_ADJUSTMENT_REASON_LINE_LIMIT: "capped at the most one order may hold",
    cart_api.MERGE_ADJUSTMENT_REASON_ARCHIVED: "no longer sold, left out",
    cart_api.MERGE_ADJUSTMENT_REASON_OUT_OF_STOCK: "out of stock, left out",
}


# --- registration -----------------------------------------------------------------------------------

def password_problem(password: str, email: str = "") -> str:
    """The site's strength rules on top of profiling's length rule (10 to 128 characters)."""
    if len(password) < 10:
        return "Use at least 10 characters."
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[^A-Za-z]", password):
        return "Mix letters with digits or symbols."
    local = email.split("@")[0].lower()
    if len(local) >= 3 and local in password.lower():
        return "Do not put your email address in your password."
    return ""


async def email_problem(request: Request, email: str) -> str:
    if not EMAIL.match(email.strip()):
        return "Enter an email address like name@example.com."
    if await _email_taken(request, email):
        return "An account already uses this email. Sign in instead, or use another address."
    return ""


async def _email_taken(request: Request, email: str) -> bool:
    # Registration cannot hide that an email is taken (its own refusal says so); the route is throttled.
    try:
        answer = await Calls.of(request).profiling.CheckEmailAvailability(
            profile_api.CheckEmailAvailabilityRequest(email=email))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        return False  # a malformed email: the form's own check says what is wrong with it
    return not answer.available


@router.get("/register", summary="The registration form")
async def register_form(request: Request) -> Response:
    return page(request, "register.html", {"values": {}, "errors": {}}, private=True)


@router.post("/register/check", summary="Inline validation of one registration field")
@limiter.limit(per_address)
async def register_check(request: Request, field: Annotated[str, Form(pattern="^(email|password)$")],
                         email: Email = "", password: Password = "") -> Response:
    errors = {"email": await email_problem(request, email)} if field == "email" else \
        {"password": password_problem(password, email)}
    return page(request, "field_error.html", {"name": field, "error": errors[field]}, block="error", oob=(),
                private=True)


@router.post("/register", summary="Create an account")
@limiter.limit(per_address)
async def register(request: Request, email: Email, password: Password, first_name: Name, last_name: Name,
                   next: Annotated[str, Form(max_length=200)] = "/account") -> Response:
    per_account("register", email)
    values = {"email": email, "first_name": first_name, "last_name": last_name}
    errors = {k: v for k, v in {
        "email": await email_problem(request, email), "password": password_problem(password, email),
        "first_name": "" if first_name.strip() else "Enter your first name.",
        "last_name": "" if last_name.strip() else "Enter your last name."}.items() if v}
    if not errors:
        try:
            await Calls.of(request).profiling.RegisterCustomer(profile_api.RegisterCustomerRequest(
                email=email.strip(), password=password, first_name=first_name.strip(), last_name=last_name.strip()))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                errors["email"] = "An account already uses this email. Sign in instead, or use another address."
            elif exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                errors["form"] = exc.details() or "These details were refused."
            else:
                raise
    if errors:
        return page(request, "register.html", {"values": values, "errors": errors}, status=422, private=True)
    return await _sign_in(request, email, password, safe_next(next, "/account"), welcome=True)


# --- signing in and out ---------------------------------------------------------------------------

@router.get("/login", summary="The sign-in form")
async def login_form(request: Request, next: str = "/account") -> Response:
    return page(request, "login.html", {"next": safe_next(next[:200], "/account"), "error": "", "email": ""},
                private=True)


@router.post("/login", summary="Sign in")
@limiter.limit(per_address)
async def login(request: Request, email: Email, password: Password,
                next: Annotated[str, Form(max_length=200)] = "/account") -> Response:
    per_account("login", email)
    return await _sign_in(request, email, password, safe_next(next, "/account"))


async def _sign_in(request: Request, email: str, password: str, target: str, *, welcome: bool = False) -> Response:
    try:
        answer = await Calls.of(request).profiling.Authenticate(profile_api.AuthenticateRequest(
            email=email.strip(), password=password, account_kind=profile_api.ACCOUNT_KIND_CUSTOMER))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT,
                              grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION):
            raise
        return page(request, "login.html", {"next": target, "email": email,
                                            "error": exc.details() or "Email or password is incorrect."},
                    status=422, private=True)
    anonymous_cart = session_of(request).get("cart_id", "")
    session = rotate_session(request, keep=False)  # a new id: the one used before signing in is worthless now
    remember_person(session, answer.customer)
    signed_in(session, answer.access_token, answer.access_token_expires_at, answer.refresh_token)
    calls = Calls.of(request)  # now calls carry the customer's token
    notes: list[str] = ["Welcome! Your account is ready."] if welcome else []
    if anonymous_cart:
        try:
            merged = await calls.carting.MergeCarts(cart_api.MergeCartsRequest(
                anonymous_cart_id=anonymous_cart, customer_id=answer.customer.customer_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                raise
            merged = None
        if merged is not None:
            remember_cart(session, merged.cart)
            if merged.cart.lines:
                notes.append("The items you added before signing in are now in your cart.")
            for a in merged.adjustments:
                notes.append(f"{a.sku}: you asked for {a.requested_quantity}, the cart holds {a.merged_quantity} "
                             f"({MERGE_REASONS.get(a.reason, 'adjusted')}).")
    if "cart_id" not in session.data:
        own = await calls.carting.CreateCart(cart_api.CreateCartRequest(customer_id=answer.customer.customer_id))
        remember_cart(session, own.cart)
    session["flash"] = notes
    return RedirectResponse(target, status_code=303)


@router.post("/logout", summary="Sign out")
async def logout(request: Request) -> Response:
    if refresh := refresh_token_of(session_of(request)):
        # Ends the sign-in at profiling too, so its refresh token is worthless if it ever leaked; signing
        # out of this browser does not wait for profiling.
        with contextlib.suppress(grpc.aio.AioRpcError, ServiceUnavailable):
            await Calls.of(request).profiling.SignOut(profile_api.SignOutRequest(refresh_token=refresh))
    rotate_session(request, keep=False)
    return RedirectResponse("/", status_code=303)


# --- the account --------------------------------------------------------------------------------

async def _customer(request: Request) -> Any:
    shopper = person(request)
    assert shopper is not None
    customer = (await Calls.of(request).profiling.GetCustomer(profile_api.GetCustomerRequest(
        customer_id=shopper.customer_id))).customer
    remember_person(session_of(request), customer)
    return customer


@router.get("/account", summary="Profile, VIP status, password")
async def account(request: Request) -> Response:
    if person(request) is None:
        return sign_in_first(request)
    customer = await _customer(request)
    flash = session_of(request).pop("flash", []) or []
    return page(request, "account.html", {
        "customer": customer, "vip": customer.status == profiling_events.CUSTOMER_STATUS_VIP,
        "vip_bps": await vip_discount_bps(request), "flash": flash, "errors": {}}, private=True)


@router.post("/account/profile", summary="Change name and phone")
async def update_profile(request: Request, first_name: Name, last_name: Name,
                         phone: Annotated[str, Form(max_length=30)] = "") -> Response:
    shopper = person(request)
    if shopper is None:
        return sign_in_first(request)
    await Calls.of(request).profiling.UpdateCustomer(profile_api.UpdateCustomerRequest(
        customer_id=shopper.customer_id, first_name=first_name.strip(), last_name=last_name.strip(),
        phone=phone.strip()))
    session_of(request)["flash"] = ["Your details are saved."]
    return RedirectResponse("/account", status_code=303)


@router.post("/account/password", summary="Change the password")
async def change_password(request: Request, old_password: Password, new_password: Password) -> Response:
    shopper = person(request)
    if shopper is None:
        return sign_in_first(request)
    per_account("password", shopper.email)
    problem = password_problem(new_password, shopper.email)
    if not problem:
        try:
            await Calls.of(request).profiling.ChangePassword(profile_api.ChangePasswordRequest(
                customer_id=shopper.customer_id, old_password=old_password, new_password=new_password))
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT,
                                  grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
                raise
            problem = "Your current password is not right." if exc.code() == grpc.StatusCode.UNAUTHENTICATED \
                else (exc.details() or "That password was refused.")
    if problem:
        customer = await _customer(request)
        return page(request, "account.html", {
            "customer": customer, "vip": customer.status == profiling_events.CUSTOMER_STATUS_VIP,
            "vip_bps": await vip_discount_bps(request), "flash": [], "errors": {"password": problem}},
            status=422, private=True)
    # The change ended every sign-in of the account, this one too: sign in again with the new password,
    # so this browser stays signed in and the others are signed out at their next refresh.
    answer = await Calls.of(request).profiling.Authenticate(profile_api.AuthenticateRequest(
        email=shopper.email, password=new_password, account_kind=profile_api.ACCOUNT_KIND_CUSTOMER))
    signed_in(session_of(request), answer.access_token, answer.access_token_expires_at, answer.refresh_token)
    session_of(request)["flash"] = ["Your password is changed. Any other browser signed in to your account "
                                    "is now signed out."]
    return RedirectResponse("/account", status_code=303)


# --- the address book --------------------------------------------------------------------------

AddressField = Annotated[str, Form(max_length=100)]


def address_from(full_name: str, line1: str, line2: str, postal_code: str, city: str, country_code: str) -> Any:
    return address_pb2.Address(full_name=full_name.strip(), line1=line1.strip(), line2=line2.strip(),
                               postal_code=postal_code.strip(), city=city.strip(),
                               country_code=country_code.strip().upper())


async def address_book(request: Request) -> list[Any]:
    shopper = person(request)
    assert shopper is not None
    return list((await Calls.of(request).profiling.ListAddresses(profile_api.ListAddressesRequest(
        customer_id=shopper.customer_id))).entries)


@router.get("/account/addresses", summary="The address book")
async def addresses(request: Request, edit: Annotated[str, Query(max_length=64)] = "") -> Response:
    if person(request) is None:
        return sign_in_first(request)
    entries = await address_book(request)
    flash = session_of(request).pop("flash", []) or []
    return page(request, "addresses.html", {"entries": entries, "editing": edit, "flash": flash,
                                            "error": ""}, private=True)


@router.post("/account/addresses", summary="Add an address")
async def add_address(request: Request, full_name: AddressField, line1: AddressField, postal_code: AddressField,
                      city: AddressField, country_code: Annotated[str, Form(pattern="^[A-Za-z]{2}$")],
                      line2: AddressField = "", label: AddressField = "",
                      default: Annotated[bool, Form()] = False) -> Response:
    shopper = person(request)
    if shopper is None:
        return sign_in_first(request)
    try:
        await Calls.of(request).profiling.AddAddress(profile_api.AddAddressRequest(
            customer_id=shopper.customer_id, label=label.strip() or "Address",
            address=address_from(full_name, line1, line2, postal_code, city, country_code),
            set_default_shipping=default, set_default_billing=default))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            raise
        return page(request, "addresses.html", {"entries": await address_book(request), "editing": "",
                                                "flash": [], "error": exc.details()}, status=422, private=True)
    session_of(request)["flash"] = ["Address added."]
    return RedirectResponse("/account/addresses", status_code=303)


async def _own_address(request: Request, address_id: AddressId) -> str:
    """The address id if it is in this customer's book; else 404 (never another customer's)."""
    if address_id not in {e.address_id for e in await address_book(request)}:
        raise HTTPException(404)
    return address_id


@router.post("/account/addresses/{address_id}", summary="Edit an address")
async def edit_address(request: Request, address_id: AddressId, full_name: AddressField, line1: AddressField,
                       postal_code: AddressField, city: AddressField,
                       country_code: Annotated[str, Form(pattern="^[A-Za-z]{2}$")], line2: AddressField = "",
                       label: AddressField = "") -> Response:
    shopper = person(request)
    if shopper is None:
        return sign_in_first(request)
    await Calls.of(request).profiling.UpdateAddress(profile_api.UpdateAddressRequest(
        customer_id=shopper.customer_id, address_id=await _own_address(request, address_id),
        label=label.strip() or "Address",
        address=address_from(full_name, line1, line2, postal_code, city, country_code)))
    session_of(request)["flash"] = ["Address saved."]
    return RedirectResponse("/account/addresses", status_code=303)


@router.post("/account/addresses/{address_id}/remove", summary="Remove an address")
async def remove_address(request: Request, address_id: AddressId) -> Response:
    shopper = person(request)
    if shopper is None:
        return sign_in_first(request)
    await Calls.of(request).profiling.RemoveAddress(profile_api.RemoveAddressRequest(
        customer_id=shopper.customer_id, address_id=await _own_address(request, address_id)))
    session_of(request)["flash"] = ["Address removed."]
    return RedirectResponse("/account/addresses", status_code=303)


@router.post("/account/addresses/{address_id}/default", summary="Make an address the default")
async def default_address(request: Request, address_id: AddressId,
                          kind: Annotated[str, Form(pattern="^(shipping|billing)$")]) -> Response:
    shopper = person(request)
    if shopper is None:
        return sign_in_first(request)
    own = await _own_address(request, address_id)
    profiling = Calls.of(request).profiling
    if kind == "shipping":
        await profiling.SetDefaultShippingAddress(profile_api.SetDefaultShippingAddressRequest(
            customer_id=shopper.customer_id, address_id=own))
    else:
        await profiling.SetDefaultBillingAddress(profile_api.SetDefaultBillingAddressRequest(
            customer_id=shopper.customer_id, address_id=own))
    session_of(request)["flash"] = [f"Default {kind} address changed."]
    return RedirectResponse("/account/addresses", status_code=303)

