"""Errors a domain raises when the caller can act on them; the server turns each into its gRPC status.

A domain stays free of gRPC: it raises `NotFound("no product 'sku-1'")`, and the runtime's interceptor
answers NOT_FOUND with that message. Anything else a handler raises becomes INTERNAL with a generic
message, the traceback going to the log only.

A servicer checks a request's text fields with `required(request.sku, "SKU")` ("SKU is required")
or `non_empty(request.sku, "sku")` ("sku must not be empty").
"""

from __future__ import annotations

from typing import ClassVar

import grpc


class DomainError(Exception):
    """Base of the errors below; `message` is shown to the caller, so it must make sense to a person."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


def quoted(value: str, limit: int = 40) -> str:
    """`value` for an error message: its repr, cut to a short prefix (a message quoting a 10 KB input would
    not fit the status trailer)."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}… ({len(value):,} characters)"


def required(value: str, what: str) -> str:
    """`value` (a request's field) when it has more than white space; else InvalidArgument "<what> is required"."""
    if not value.strip():
        raise InvalidArgument(f"{what} is required")
    return value


def non_empty(value: str, what: str) -> str:
    """`value` when it is not the empty string; else InvalidArgument "<what> must not be empty"."""
    if not value:
        raise InvalidArgument(f"{what} must not be empty")
    return value
