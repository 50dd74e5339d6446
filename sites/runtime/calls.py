"""The services a site calls, each call made for the session's person.

    calls = Calls.of(request)
    product = (await calls.cataloging.GetProduct(GetProductRequest(product_id=...))).product

`person_metadata` is the one place that says how a call proves whom it is made for. Today services
believe `x-customer-id` (services/runtime/interceptors.py); with the trust-boundary issue it becomes
`authorization: Bearer <token from profiling>`, kept in the session, and nothing else changes.

A callee that is down or too slow raises `ServiceUnavailable` naming it: the pages turn it into a
503 that says what is unavailable (pages.py), or leave that part of the page out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from administering.v1.admin_service_pb2_grpc import AdminServiceStub
from billing.v1.billing_service_pb2_grpc import BillingServiceStub
from carting.v1.cart_service_pb2_grpc import CartServiceStub
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from ordering.v1.order_service_pb2_grpc import OrderServiceStub
from paying.v1.payment_service_pb2_grpc import PaymentServiceStub
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub
from starlette.requests import HTTPConnection
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.runtime.clients import channel_to
from services.runtime.interceptors import CUSTOMER_HEADER, PASSED_ON_CODES
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


def person_metadata(session: Session) -> tuple[tuple[str, str], ...]:
    """The metadata that tells a service whom this session's call is for; empty for a visitor."""
    if customer_id := session.get("customer_id"):
        return ((CUSTOMER_HEADER, customer_id),)
    return ()


class Channels:
    """One channel a callee for the site's process (each with its deadline, retries and breaker)."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self.stubs = {name: STUBS[name](channel_to(name, address)) for name, address in addresses.items()}


class Calls:
    """The stubs of one request: `calls.<service>.<Rpc>(request)` adds the session's metadata."""

    def __init__(self, channels: Channels, session: Session) -> None:
        self._channels, self._metadata = channels, person_metadata(session)

    @classmethod
    def of(cls, connection: HTTPConnection) -> Calls:
        return cls(connection.app.state.channels, session_of(connection))

    def __getattr__(self, service: str) -> _Service:
        if service not in self._channels.stubs:
            raise AttributeError(f"this site does not call {service}")
        return _Service(service, self._channels.stubs[service], self._metadata)


class _Service:
    def __init__(self, name: str, stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self.name, self.stub, self.metadata = name, stub, metadata

    def __getattr__(self, rpc: str) -> Any:
        method = getattr(self.stub, rpc)
        if isinstance(method, grpc.aio.UnaryStreamMultiCallable):
            return lambda request: self._stream(method, request)

        async def unary(request: Any) -> Any:
            try:
                return await method(request, metadata=self.metadata, timeout=SLOW_RPCS.get(rpc))
            except grpc.aio.AioRpcError as exc:
                raise self._outage(exc) from exc

        return unary

    async def _stream(self, method: Any, request: Any) -> AsyncIterator[Any]:
        try:
            async for part in method(request, metadata=self.metadata, timeout=STREAM_TIMEOUT_SECONDS):
                yield part
        except grpc.aio.AioRpcError as exc:
            raise self._outage(exc) from exc

    def _outage(self, exc: grpc.aio.AioRpcError) -> Exception:
        if exc.code() in PASSED_ON_CODES:
            return ServiceUnavailable(self.name, exc.details() or exc.code().name)
        return exc
