"""Confluent's error bodies: every failure the API returns is one of these, never a bare 500."""

from __future__ import annotations

from typing import NoReturn

# Confluent Schema Registry error codes (io.confluent.kafka.schemaregistry.rest.exceptions.Errors).
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
VERSION_SOFT_DELETED = 40406
VERSION_NOT_SOFT_DELETED = 40407
SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED = 40408
SUBJECT_LEVEL_MODE_NOT_CONFIGURED = 40409
INCOMPATIBLE_SCHEMA = 409
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203
INVALID_MODE = 42204
OPERATION_NOT_PERMITTED = 42205
REFERENCE_EXISTS = 42206
STORE_ERROR = 50001


class RegistryError(Exception):
    """An answer the client gets as `{"error_code", "message"}` with this HTTP status."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(code: int, message: str) -> NoReturn:
    raise RegistryError(404, code, message)


def unprocessable(code: int, message: str) -> NoReturn:
    raise RegistryError(422, code, message)


def invalid_schema(message: str) -> NoReturn:
    raise RegistryError(422, INVALID_SCHEMA, message)
