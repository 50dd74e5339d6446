"""A site in this process, for its contract checks: its real app (routes, templates, sessions, CSRF, error
pages) driven over ASGI, each service it calls a FakeStub, so a check answers a call with its contract's
example and asserts what the page shows of it.

    site = Site("storefront")
    site.answer("cataloging", "GetCategoryTree", catalog_api.GetCategoryTreeResponse(...))  # the other calls
    await site.sign_in()                         # a session signed in as CUSTOMER, its tokens as profiling gives them
    await site.sign_in_staff("ADMIN")            # the back-office: a staff member of that role, with their tokens
    page = await site.get("/account")
    await site.post("/cart/add", {"sku": "MUG-RED"})   # with the CSRF token, as the site's forms send it
"""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import grpc
import httpx
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from itsdangerous import Signer

from services.runtime.inprocess import FakeStub
from sites.runtime.app import CSRF_FIELD, CSRF_HEADER
from sites.runtime.calls import STUBS, TOKENS, signed_in
from sites.runtime.sessions import COOKIE, Session
from sites.runtime.settings import SiteSettings
from tools.contracts import method

CUSTOMER, EMAIL, FIRST_NAME = "customer-1", "ada@example.com", "Ada"
ACCESS_TOKEN, REFRESH_TOKEN = "access-token-1", "refresh-token-1"  # opaque to the site: profiling's to check
STAFF_ID, STAFF_EMAIL, STAFF_NAME = "staff-1", "grace@shop.example", "Grace Hopper"
STAFF_TOKENS = {"STAFF": "staff-access-token-1", "ADMIN": "admin-access-token-1"}


class SiteStub(FakeStub):
    """A FakeStub whose server-streaming methods answer as a grpc.aio stream does (the answer: a list)."""

    def __getattr__(self, name: str) -> Any:
        call = super().__getattr__(name)
        return _Stream(call) if method(f"{self.service}/{name}").server_streaming else call


class _Stream(grpc.aio.UnaryStreamMultiCallable):  # type: ignore[misc]
    def __init__(self, call: Callable[..., Awaitable[Any]]) -> None:
        self.call = call

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        async def parts() -> AsyncIterator[Any]:
            for part in await self.call(request, **kwargs):
                yield part
        return parts()


class Site:
    """sites/<name>/app.py's create_app, its calls answered by `stubs` (callee -> SiteStub)."""

    def __init__(self, name: str) -> None:
        module = importlib.import_module(f"sites.{name}.app")
        self.settings = SiteSettings.load(name, calls=module.CALLS)
        self.asgi = module.create_app(self.settings)
        self.stubs = {callee: SiteStub(f"{STUBS[callee].__module__.rsplit('.', 1)[0]}."
                                       f"{STUBS[callee].__name__.removesuffix('Stub')}") for callee in module.CALLS}
        self.asgi.fastapi.state.channels = SimpleNamespace(stubs=self.stubs)  # what Calls takes its stubs from
        self.signed_in_with = ""  # the access token sign_in gave the session
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.asgi), base_url="http://shop.test")

    async def aclose(self) -> None:
        await self.client.aclose()

    def answer(self, callee: str, rpc: str, response: Message | list[Message]) -> None:
        """What `callee` answers `rpc`, unless the check's own contract answers it."""
        self.stubs[callee].answers.setdefault(rpc, response)

    def session(self) -> Session:
        """The session the client's cookie names."""
        session_id = Signer(self.settings.secret_key, salt="session").unsign(self.client.cookies[COOKIE]).decode()
        found = self.asgi.sessions.find(session_id)
        assert found is not None, "the site forgot the session"
        return found  # type: ignore[no-any-return]

    async def sign_in(self, *, expires_in: int = 300, **data: Any) -> Session:
        """A session signed in as CUSTOMER (as the site's sign-in leaves it), with `data` on top."""
        await self.get("/login")  # a session, and the CSRF cookie
        session = self.session()
        session.data.update(customer_id=CUSTOMER, email=EMAIL, first_name=FIRST_NAME, vip=False, **data)
        signed_in(session, ACCESS_TOKEN, Timestamp(seconds=int(time.time()) + expires_in), REFRESH_TOKEN)
        self.signed_in_with = ACCESS_TOKEN
        return session

    async def sign_in_staff(self, role: str = "STAFF", *, expires_in: int = 300) -> Session:
        """A back-office session signed in as the staff member STAFF_ID with `role` (STAFF or ADMIN), as the
        back-office's sign-in leaves it (sites/backoffice/staff.py's remember_staff)."""
        await self.get("/login")
        session = self.session()
        session["staff"] = {"staff_id": STAFF_ID, "email": STAFF_EMAIL, "display_name": STAFF_NAME, "role": role}
        signed_in(session, STAFF_TOKENS[role], Timestamp(seconds=int(time.time()) + expires_in), REFRESH_TOKEN)
        self.signed_in_with = STAFF_TOKENS[role]
        return session

    def access_token(self) -> str:
        """The access token the session holds (what its calls must carry), or the one it was signed in with
        when the check ended the sign-in (signing out)."""
        return str(self.session().get(TOKENS, {}).get("access", "")) or self.signed_in_with

    async def get(self, path: str, *, htmx: bool = False) -> httpx.Response:
        return await self.client.get(path, headers={"HX-Request": "true"} if htmx else {})

    async def post(self, path: str, data: dict[str, Any] | None = None, *, htmx: bool = False) -> httpx.Response:
        if CSRF_FIELD not in self.client.cookies:
            await self.get("/login")
        headers = {CSRF_HEADER: self.client.cookies[CSRF_FIELD], **({"HX-Request": "true"} if htmx else {})}
        return await self.client.post(path, data=data or {}, headers=headers)


def build(name: str) -> Site:
    return Site(name)
