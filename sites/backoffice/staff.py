"""What every back-office page shares: the signed-in staff member and their role, the guards every router
puts in front of its routes, money and times as staff read them, the values every template sees.

    router = APIRouter(dependencies=[Depends(signed_in_staff)])     # every page: staff only
    admin = APIRouter(dependencies=[Depends(admin_only)])           # settings, staff accounts: ADMIN only

A visitor without a staff sign-in is sent to sign in and back (pages.sign_in_first: a 303, or HX-Redirect
for htmx); a STAFF member on an ADMIN page gets a 403 page saying why. The services apply the same rule
from the token (docs/security.md): the guards only spare a round trip and give a readable page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from profiling.v1 import profile_service_pb2 as profile_api
from starlette.responses import Response

from sites.runtime.calls import TOKENS
from sites.runtime.formats import money, when
from sites.runtime.pages import sign_in_first
from sites.runtime.sessions import Session, session_of

STAFF_KEY = "staff"  # the session's key for the signed-in staff member
ROLES: dict[int, str] = {profile_api.ROLE_STAFF: "STAFF", profile_api.ROLE_ADMIN: "ADMIN"}


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    email: str
    display_name: str
    role: str  # STAFF or ADMIN

    @property
    def admin(self) -> bool:
        return self.role == "ADMIN"


class SignInFirst(Exception):
    """Raised by the guards; the app answers it with pages.sign_in_first."""


def remember_staff(session: Session, member: Any, role: int) -> None:
    session[STAFF_KEY] = {"staff_id": member.staff_id, "email": member.email,
                          "display_name": member.display_name, "role": ROLES.get(role, "STAFF")}


def staff_of(request: Request) -> StaffMember | None:
    known = session_of(request).get(STAFF_KEY)
    return StaffMember(**known) if known else None


async def signed_in_staff(request: Request) -> StaffMember:
    """The router guard of every page: a staff member is signed in (the session still holds their tokens)."""
    member = staff_of(request)
    if member is None or not session_of(request).get(TOKENS):
        raise SignInFirst
    return member


async def admin_only(request: Request) -> StaffMember:
    member = await signed_in_staff(request)
    if not member.admin:
        raise HTTPException(403, "This page is for administrators. You are signed in with the STAFF role; "
                                 "an administrator can do this for you or change your role.")
    return member


def said(exc: Any, fallback: str) -> str:
    """A service's refusal as a sentence for a form: its own words, starting with a capital."""
    text = str(exc.details() or "") or fallback
    return text[:1].upper() + text[1:]


def new_key() -> str:
    """An idempotency key for a form that must take effect once (refunds)."""
    return str(uuid.uuid4())


def install(app: FastAPI) -> None:
    """Template filters and the values every page sees; SignInFirst answered with the way to sign in."""
    settings = app.state.settings
    templates = app.state.templates
    templates.env.filters["money"] = lambda value: money(value, settings.locale)
    templates.env.filters["when"] = lambda ts: when(ts, settings.locale)
    templates.env.filters["instant"] = lambda ts: when(ts, settings.locale, seconds=True)

    @app.exception_handler(SignInFirst)
    async def to_sign_in(request: Request, exc: SignInFirst) -> Response:
        return sign_in_first(request)

    def every_page(request: Request) -> dict[str, Any]:
        return {"me": staff_of(request), "path": request.url.path,
                "csrftoken": request.scope["csrftoken"]() if "csrftoken" in request.scope else ""}

    templates.context_processors.append(every_page)
