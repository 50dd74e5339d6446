"""Channels to the other services, the one place that sets how this platform calls itself.

    catalog = CatalogServiceStub(channel_to("cataloging", settings.address("cataloging")))
    product = await catalog.GetProduct(request)            # or GetProduct(request, timeout=2)

Every call gets a deadline: the channel's default, or the one given, never later than what is left
of the deadline of the call being answered. gRPC itself retries UNAVAILABLE with backoff (the
service config below). A circuit breaker per callee (purgatory) counts calls that still fail because
the callee is down or too slow; past the threshold it fails calls at once with UNAVAILABLE, so a
dead callee costs its callers nothing, and lets one call through after `reset_after` seconds to
see whether the callee is back. The correlation id of the call being answered goes along, and so do
the credentials (auth.outgoing_credentials): the service's own token, and the token of the person the
call being answered was made for.

A callee's refusal of what we passed on from our own caller is our caller's error:

    with answers_of("cataloging"):                         # NOT_FOUND "no product 'sku-1'" becomes
        answer = await self.catalog.GetProduct(request)    # NotFound("cataloging: no product 'sku-1'")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from services.runtime import auth
from services.runtime.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from services.runtime.interceptors import CORRELATION_HEADER, PASSED_ON_CODES, call_deadline, correlation_id

DEFAULT_TIMEOUT_SECONDS = 5.0

# Retries happen inside gRPC, before the breaker sees the outcome; they stay within the call's deadline.
RETRY_SERVICE_CONFIG = json.dumps({"methodConfig": [{
    "name": [{}],  # every method of every service
    "retryPolicy": {
        "maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    },
}]})

# What a callee's answer of these codes turns into when answers_of passes it on to our caller.
CALLEE_REFUSALS: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument, grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
}

log = logging.getLogger(__name__)
_open_channels: weakref.WeakSet[grpc.aio.Channel] = weakref.WeakSet()


def channel_to(callee: str, address: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS,
               failure_threshold: int = 5, reset_after: float = 10.0) -> grpc.aio.Channel:
    """A channel to `callee` (its name, used in messages) at host:port; hand it to the generated stub."""
    channel = grpc.aio.insecure_channel(
        address,
        options=[("grpc.enable_retries", 1), ("grpc.service_config", RETRY_SERVICE_CONFIG),
                 # gRPC's reconnect backoff grows to 120 s by default: a callee back from an outage
                 # would stay unreachable long after the breaker lets a trial call through.
                 ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)],
        interceptors=[_CallPolicy(callee, timeout, failure_threshold, reset_after)],
    )
    _open_channels.add(channel)
    return channel


async def close_channels() -> None:
    """Close every channel channel_to opened; the server calls it last at shutdown."""
    await asyncio.gather(*(channel.close() for channel in list(_open_channels)))


@contextlib.contextmanager
def answers_of(callee: str) -> Iterator[None]:
    """A callee's refusal of what we passed on from our caller is our caller's error, in the callee's words;
    outages (UNAVAILABLE, DEADLINE_EXCEEDED) pass as they are."""
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        if (error := CALLEE_REFUSALS.get(exc.code())) is not None:
            raise error(f"{callee}: {exc.details()}") from exc
        raise


def _log_state_change(circuit: str, event_type: str, event: Any) -> None:
    if event_type == "state_changed":  # closed, opened or half-opened
        log.warning("circuit breaker", extra={"callee": circuit, "state": event.state})


def _is_not_an_outage(error: BaseException) -> bool:
    return not (isinstance(error, grpc.aio.AioRpcError) and error.code() in PASSED_ON_CODES)


class _CallPolicy(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, callee: str, timeout: float, failure_threshold: int, reset_after: float) -> None:
        self.callee, self.timeout, self.reset_after = callee, timeout, reset_after
        # Only "down or too slow" counts against the callee: NOT_FOUND and the like are answers.
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold, default_ttl=reset_after,
            exclude=[(BaseException, _is_not_an_outage)],
        )
        self.breakers.add_listener(_log_state_change)

    async def intercept_unary_unary(
        self, continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[grpc.aio.UnaryUnaryCall]],
        client_call_details: grpc.aio.ClientCallDetails, request: Any,
    ) -> Any:
        details = client_call_details._replace(
            timeout=self._timeout(client_call_details.timeout),
            metadata=self._metadata(client_call_details.metadata),
        )
        try:
            async with await self.breakers.get_breaker(self.callee):
                call = await continuation(details, request)
                return await call  # awaited here so that the breaker sees how the call ended
        except OpenedState as circuit:
            retry_in = max(1, math.ceil(circuit.opened_at + self.reset_after - time.time()))
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(),
                details=f"{self.callee} is unavailable (circuit open); retry in {retry_in} s",
            ) from None

    def _timeout(self, requested: float | None) -> float:
        timeout = self.timeout if requested is None else requested
        if (deadline := call_deadline.get()) is not None:
            timeout = min(timeout, max(0.0, deadline - time.monotonic()))
        return timeout

    @staticmethod
    def _metadata(metadata: grpc.aio.Metadata | None) -> grpc.aio.Metadata:
        metadata = grpc.aio.Metadata(*(metadata or ()))
        if auth.AUTHORIZATION not in metadata:  # a caller that set credentials of its own keeps them
            for key, value in auth.outgoing_credentials():
                metadata.add(key, value)
        if CORRELATION_HEADER not in metadata and (cid := correlation_id.get()):
            metadata.add(CORRELATION_HEADER, cid)
        return metadata
