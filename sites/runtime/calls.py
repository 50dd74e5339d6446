"""The services a site calls, each call made for the session's person.

    calls = Calls.of(request)
    product = (await calls.cataloging.GetProduct(GetProductRequest(product_id=...))).product

Each call is made as the session's person, with the access token profiling gave at sign-in
(`signed_in`), kept in the session on the server and sent as `authorization: Bearer <token>`; a visitor's
calls carry no token. The site has no identity of its own: it can do nothing its visitor could not do
with grpcurl (docs/security.md). An access token is refreshed shortly before it expires; a refresh that
profiling refuses (signed out elsewhere, password changed) ends the session's sign-in, and the page
that needed it sends the person to sign in again.

A callee that is down or too slow raises `ServiceUnavailable` naming it: the pages turn it into a
503 that says what is unavailable (pages.py), or leave that part of the page out.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from administering.v1.admin_service_pb2_grpc import AdminServiceStub
from billing.v1.billing_service_pb2_grpc import BillingServiceStub
from carting.v1.cart_service_pb2_grpc import CartServiceStub
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from ordering.v1.order_service_pb2_grpc import OrderServiceStub
from paying.v1.payment_service_pb2_grpc import PaymentServiceStub
from profiling.v1 import profile_service_pb2 as profile_api
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub
from starlette.requests import HTTPConnection
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.runtime import auth
from services.runtime.clients import channel_to
from services.runtime.interceptors import PASSED_ON_CODES
from sites.runtime.sessions import Session, session_of

# Streams (PDFs) are not covered by the channel's default deadline, which is for unary calls.
STREAM_TIMEOUT_SECONDS = 15.0

# Calls that hash a password (argon2, slow by design, slower on a busy machine) get longer than the
# channel's default deadline.
SLOW_RPCS = {"RegisterCustomer": 15.0, "Authenticate": 15.0, "ChangePassword": 15.0, "CreateStaffMember": 15.0}

STUBS: dict[str, type[Any]] = {
    "profiling": ProfileServiceStub, "cataloging": CatalogServiceStub, "stocking": StockServiceStub,
    "carting": CartServiceStub, "ordering": OrderServiceStub, "paying": PaymentServiceStub,
    "billing": BillingServiceStub, "shipping": ShippingServiceStub, "administering": AdminServiceStub,
}

# What a service is for, in the words of a page that has to do without it.
WHAT_IT_DOES = {
    "profiling": "accounts and sign-in", "cataloging": "the catalogue", "stocking": "stock levels",
    "carting": "the cart", "ordering": "orders", "paying": "payments", "billing": "invoices",
    "shipping": "shipping", "administering": "shop settings",
}


class ServiceUnavailable(Exception):
    def __init__(self, service: str, details: str) -> None:
        super().__init__(f"{service} is unavailable: {details}")
        self.service, self.details = service, details


TOKENS = "tokens"  # the session's key for a signed-in person's tokens
REFRESH_MARGIN_SECONDS = 60  # an access token this close to expiring is replaced before a call


def signed_in(session: Session, access_token: str, expires_at: Any, refresh_token: str = "") -> None:
    """Keeps the tokens of a sign-in (profiling's Authenticate) or of a refresh in the session."""
    refresh = refresh_token or session.get(TOKENS, {}).get("refresh", "")
    session[TOKENS] = {"access": access_token, "expires": expires_at.seconds, "refresh": refresh}


def refresh_token_of(session: Session) -> str:
    return str(session.get(TOKENS, {}).get("refresh", ""))


class Channels:
    """One channel a callee for the site's process (each with its deadline, retries and breaker)."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self.stubs = {name: STUBS[name](channel_to(name, address)) for name, address in addresses.items()}


class Calls:
    """The stubs of one request: `calls.<service>.<Rpc>(request)` adds the session's metadata."""

    def __init__(self, channels: Channels, session: Session) -> None:
        self._channels, self._session = channels, session

    @classmethod
    def of(cls, connection: HTTPConnection) -> Calls:
        return cls(connection.app.state.channels, session_of(connection))

    def __getattr__(self, service: str) -> _Service:
        if service not in self._channels.stubs:
            raise AttributeError(f"this site does not call {service}")
        return _Service(service, self._channels.stubs[service], self)

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        """`authorization` for the session's person, refreshed first when it is about to expire."""
        tokens = self._session.get(TOKENS)
        if not tokens:
            return ()
        if tokens["expires"] - time.time() < REFRESH_MARGIN_SECONDS:
            await self._refresh(tokens)
            if (tokens := self._session.get(TOKENS)) is None:
                return ()
        return auth.bearer(tokens["access"])

    async def _refresh(self, tokens: dict[str, Any]) -> None:
        try:
            answer = await self._channels.stubs["profiling"].RefreshToken(
                profile_api.RefreshTokenRequest(refresh_token=tokens["refresh"]))
        except grpc.aio.AioRpcError as exc:
            if exc.code() in PASSED_ON_CODES and tokens["expires"] > time.time():
                return  # profiling is away: the token still holds for a while
            if exc.code() in PASSED_ON_CODES:
                raise ServiceUnavailable("profiling", exc.details() or exc.code().name) from exc
            self._session.data.clear()  # the sign-in has ended (signed out elsewhere, password changed)
            return
        signed_in(self._session, answer.access_token, answer.access_token_expires_at)


class _Service:
    def __init__(self, name: str, stub: Any, calls: Calls) -> None:
        self.name, self.stub, self.calls = name, stub, calls

    def __getattr__(self, rpc: str) -> Any:
        method = getattr(self.stub, rpc)
        if isinstance(method, grpc.aio.UnaryStreamMultiCallable):
            return lambda request: self._stream(method, request)

        async def unary(request: Any) -> Any:
            try:
                return await method(request, metadata=await self.calls.metadata(), timeout=SLOW_RPCS.get(rpc))
            except grpc.aio.AioRpcError as exc:
                raise self._outage(exc) from exc

        return unary

    async def _stream(self, method: Any, request: Any) -> AsyncIterator[Any]:
        try:
            async for part in method(request, metadata=await self.calls.metadata(), timeout=STREAM_TIMEOUT_SECONDS):
                yield part
        except grpc.aio.AioRpcError as exc:
            raise self._outage(exc) from exc

    def _outage(self, exc: grpc.aio.AioRpcError) -> Exception:
        if exc.code() in PASSED_ON_CODES:
            return ServiceUnavailable(self.name, exc.details() or exc.code().name)
        return exc
