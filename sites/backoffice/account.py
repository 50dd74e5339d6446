"""Staff sign-in and sign-out. profiling's Authenticate with ACCOUNT_KIND_STAFF: the session keeps the
tokens (calls.signed_in) and who signed in with their role; a customer's credentials are refused with a
sentence that says this is the staff console. Throttled like the storefront's (per address and account)."""

from __future__ import annotations

import contextlib
from typing import Annotated

import grpc
from fastapi import APIRouter, Form, Request
from profiling.v1 import profile_service_pb2 as profile_api
from starlette.responses import RedirectResponse, Response

from sites.backoffice.staff import remember_staff, staff_of
from sites.runtime.calls import Calls, ServiceUnavailable, refresh_token_of, signed_in
from sites.runtime.pages import page, safe_next
from sites.runtime.sessions import rotate_session, session_of
from sites.runtime.throttle import limiter, per_account, per_address

router = APIRouter()
Email = Annotated[str, Form(max_length=254)]
Password = Annotated[str, Form(max_length=128)]
Next = Annotated[str, Form(max_length=200)]
REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
           grpc.StatusCode.FAILED_PRECONDITION)
CUSTOMER_REFUSED = ("This is a customer account: the back-office is for staff only. Shoppers sign in on the "
                    "storefront; staff use the email and password of their staff account.")


def _form(request: Request, next_page: str, *, email: str = "", error: str = "", status: int = 200) -> Response:
    flash = session_of(request).pop("flash", []) or []
    return page(request, "login.html", {"next": next_page, "email": email, "error": error, "flash": flash},
                status=status, private=True)


@router.get("/login", summary="The staff sign-in form")
async def login_form(request: Request, next: str = "/") -> Response:
    target = safe_next(next[:200])
    if staff_of(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _form(request, target)


@router.post("/login", summary="Sign in as a staff member")
@limiter.limit(per_address)
async def login(request: Request, email: Email, password: Password, next: Next = "/") -> Response:
    per_account("staff-login", email)
    target = safe_next(next)
    profiling = Calls.of(request).profiling
    try:
        answer = await profiling.Authenticate(profile_api.AuthenticateRequest(
            email=email.strip(), password=password, account_kind=profile_api.ACCOUNT_KIND_STAFF))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in REFUSED:
            raise
        refusal = await _customer_refusal(request, email, password) if exc.code() == \
            grpc.StatusCode.UNAUTHENTICATED else ""
        said = exc.details() or "email or password is incorrect"
        return _form(request, target, email=email, status=422, error=refusal or said[:1].upper() + said[1:])
    session = rotate_session(request, keep=False)  # a new id: one seen before signing in is worthless now
    remember_staff(session, answer.staff_member, answer.role)
    signed_in(session, answer.access_token, answer.access_token_expires_at, answer.refresh_token)
    return RedirectResponse(target, status_code=303)


async def _customer_refusal(request: Request, email: str, password: str) -> str:
    """Whether these are a customer's credentials, to say so rather than 'incorrect'. The customer's sign-in
    this makes is ended at once: nothing of it stays in this site."""
    profiling = Calls.of(request).profiling
    try:
        customer = await profiling.Authenticate(profile_api.AuthenticateRequest(
            email=email.strip(), password=password, account_kind=profile_api.ACCOUNT_KIND_CUSTOMER))
    except (grpc.aio.AioRpcError, ServiceUnavailable):
        return ""
    with contextlib.suppress(grpc.aio.AioRpcError, ServiceUnavailable):
        await profiling.SignOut(profile_api.SignOutRequest(refresh_token=customer.refresh_token))
    return CUSTOMER_REFUSED


@router.post("/logout", summary="Sign out")
async def logout(request: Request) -> Response:
    if refresh := refresh_token_of(session_of(request)):
        # Ends the sign-in at profiling too, so its refresh token is worthless if it ever leaked.
        with contextlib.suppress(grpc.aio.AioRpcError, ServiceUnavailable):
            await Calls.of(request).profiling.SignOut(profile_api.SignOutRequest(refresh_token=refresh))
    rotate_session(request, keep=False)
    session_of(request)["flash"] = ["You are signed out."]
    return RedirectResponse("/login", status_code=303)
