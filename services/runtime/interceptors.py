"""What happens around every call a service answers: one JSON log line, errors turned into statuses,
the caller's deadline and correlation id kept for the calls this one makes (see clients.py), the
caller's credentials and the method's rule checked before the handler runs (see auth.py), and who
the call is made for (`calling_customer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc

from services.runtime import auth
from services.runtime.errors import DomainError

CORRELATION_HEADER = "x-correlation-id"
# Where a caller's credentials go (services/runtime/auth.py); the customer comes from the token alone.
CUSTOMER_HEADER = auth.AUTHORIZATION
INTERNAL_ERROR_MESSAGE = "internal error; the service logged the details under correlation id {}"
# A callee that is down or too slow makes this call fail the same way: the caller may retry later.
PASSED_ON_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

# Set for the duration of each call (grpc.aio runs every call in a task of its own, so they never leak
# from one call to another) and read by the clients the handler uses, and by the event bus.
correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")
call_deadline: ContextVar[float | None] = ContextVar("call_deadline", default=None)  # time.monotonic()

log = logging.getLogger(__name__)
access_log = logging.getLogger("rpc")

Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamBehaviour = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]
Authorise = Callable[[str, Any, Any], None]  # (method, metadata, request); raises a DomainError to refuse
# A status message travels in a trailer, and gRPC's default limit for metadata is 8 KB: a message quoting
# a huge input would turn the real status into RESOURCE_EXHAUSTED on the client. Messages say what was
# wrong in a sentence; anything longer is cut here, the one place every refusal passes.
MAX_MESSAGE_CHARS = 500


def header(context: grpc.aio.ServicerContext, name: str) -> str:
    """The value of metadata `name` on the call being answered; empty when the caller sent none."""
    return next((value for key, value in context.invocation_metadata() or () if key == name), "")


def calling_customer(context: grpc.aio.ServicerContext) -> str:
    """The signed-in customer the call is made for, from their verified token (see auth.py); empty for staff
    and other services. (`context` is kept for the callers written before tokens.)"""
    return auth.calling_customer()


class CallInterceptor(grpc.aio.ServerInterceptor):
    """Wraps the handler of each unary method, and of each server-streaming one written as an async
    generator (file downloads), once, the first time the method is called."""

    def __init__(self, not_ready: Callable[[], str | None] = lambda: None,
                 authorise: Authorise | None = None) -> None:
        # Says why the service cannot answer yet (its stores are still being restored), or None.
        self.not_ready = not_ready
        # Checks the caller's credentials and the method's rule before the handler runs (auth.Authoriser).
        self.authorise = authorise or (lambda method, metadata, request: None)
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if (wrapped := self._wrapped.get(method)) is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        # Health's Watch (no async generator) and reflection's stream pass through untouched.
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            wrapped = handler._replace(unary_unary=_observed(method, handler.unary_unary, self.not_ready,
                                                             self.authorise))
        elif handler.unary_stream is not None and inspect.isasyncgenfunction(handler.unary_stream):
            wrapped = handler._replace(unary_stream=_observed_stream(method, handler.unary_stream, self.not_ready,
                                                                     self.authorise))
        else:
            return handler
        self._wrapped[method] = wrapped
        return wrapped


def _observed(method: str, behaviour: Behaviour, not_ready: Callable[[], str | None],
              authorise: Authorise) -> Behaviour:
    async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with _observing(method, context, not_ready):
            authorise(method, context.invocation_metadata() or (), request)
            return await behaviour(request, context)

    return observed


def _observed_stream(method: str, behaviour: StreamBehaviour, not_ready: Callable[[], str | None],
                     authorise: Authorise) -> StreamBehaviour:
    async def observed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with _observing(method, context, not_ready):
            authorise(method, context.invocation_metadata() or (), request)
            async for response in behaviour(request, context):
                yield response

    return observed


@contextlib.asynccontextmanager
async def _observing(method: str, context: grpc.aio.ServicerContext,
                     not_ready: Callable[[], str | None]) -> AsyncIterator[None]:
    """Around one call: correlation id and deadline set, errors turned into statuses, one log line.
    A call that arrives before the service's state is restored is refused with UNAVAILABLE (which
    clients retry): answered from half-restored stores, it would be wrong."""
    if (why := not_ready()) is not None:
        await context.abort(grpc.StatusCode.UNAVAILABLE, why)
    started = time.perf_counter()
    cid = header(context, CORRELATION_HEADER) or uuid.uuid4().hex
    correlation_id.set(cid)
    remaining = context.time_remaining()
    call_deadline.set(None if remaining is None else time.monotonic() + remaining)
    outcome = grpc.StatusCode.OK  # what to log when no status was set on the context
    try:
        yield
    except DomainError as exc:
        message = exc.message if len(exc.message) <= MAX_MESSAGE_CHARS else exc.message[:MAX_MESSAGE_CHARS] + "…"
        await context.abort(exc.code, message)
    except grpc.aio.AbortError:
        raise  # the handler aborted with a status of its own
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in PASSED_ON_CODES:
            await _abort_internal(context, method, cid)
        await context.abort(exc.code(), exc.details())
    except asyncio.CancelledError:
        # gRPC cancels the handler when the caller's deadline passes or the caller goes away.
        expired = remaining is not None and context.time_remaining() <= 0
        outcome = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
        raise
    except Exception:
        await _abort_internal(context, method, cid)
    finally:
        code = context.code() or outcome
        access_log.info("rpc", extra={
            "method": method, "code": code.name, "correlation_id": cid,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        })


async def _abort_internal(context: grpc.aio.ServicerContext, method: str, cid: str) -> None:
    """Log the traceback here and answer INTERNAL with a generic message: the caller never sees a stack trace."""
    log.exception("unexpected error in %s", method, extra={"correlation_id": cid})
    await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_ERROR_MESSAGE.format(cid))
