"""A service's settings, from environment variables, checked once at start-up.

    settings = ServiceSettings.load("carting", calls=["cataloging", "stocking", "shipping"])
    settings.port                    # CARTING_PORT, default 9004
    settings.address("cataloging")   # CATALOGING_ADDR, default 127.0.0.1:9002

A service with settings of its own subclasses ServiceSettings and calls `.load` on its class; name
such a field's variable after the service (`validation_alias="ORDERING_SAGA_STEP_TIMEOUT"`), since
every process of `make up` shares one environment. A missing or malformed value stops the process
with exit code 2 and one line naming the variable and what it expected: a wrong port must fail at
start-up, not at the first call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Annotated, Any, Literal, Self

import httpx
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict


def _host_port(value: str) -> str:
    host, colon, port = value.strip().rpartition(":")
    if not (colon and host and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError("not of the form host:port")
    return value.strip()


def _host_port_list(value: str) -> str:
    return ",".join(_host_port(part) for part in value.split(","))


def _http_url(value: str) -> str:
    try:
        url = httpx.URL(value.strip())
    except httpx.InvalidURL as exc:
        raise ValueError(str(exc)) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("not an http:// or https:// URL")
    return str(url).rstrip("/")


Port = Annotated[int, Field(ge=1, le=65535, description="a TCP port, 1-65535")]
Address = Annotated[str, AfterValidator(_host_port), Field(description="host:port")]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(str.upper)]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    service: str = Field(description="the service's name, given by the code, not the environment")
    port: Port
    kafka_bootstrap: Annotated[str, AfterValidator(_host_port_list)] = Field(
        "127.0.0.1:9092", description="host:port[,host:port...]")
    schema_registry_url: Annotated[str, AfterValidator(_http_url)] = Field(
        "http://127.0.0.1:8081", description="an http:// URL")
    # How long in-flight calls may run on after SIGTERM before they are cancelled.
    shutdown_grace_seconds: float = Field(10.0, gt=0, description="a number of seconds > 0")
    log_level: LogLevel = "INFO"
    # Prefix of every topic, consumer group and changelog on Kafka: lets copies of the platform
    # (parallel test runs) share one broker. Empty in a real deployment.
    namespace: str = Field("", validation_alias="SHOP_NAMESPACE", pattern=r"^[a-z0-9-]*$",
                           description="lower-case letters, digits and dashes")

    @classmethod
    def load(cls, service: str, calls: Iterable[str] = ()) -> Self:
        """Read `<SERVICE>_PORT`, `<CALLEE>_ADDR` for each callee and the shared settings; exit 2 if one is bad."""
        from services.runtime.process import default_port  # the declarations import this module

        # A service or callee that no process declares has no default: its variable must be set.
        port = default_port(service) or ...
        per_service: dict[str, Any] = {"port": (Port, Field(port, validation_alias=f"{service.upper()}_PORT"))}
        for callee in calls:
            address = f"127.0.0.1:{callee_port}" if (callee_port := default_port(callee)) else ...
            per_service[f"{callee}_addr"] = (Address, Field(address, validation_alias=f"{callee.upper()}_ADDR"))
        model = create_model(f"{service.title()}{cls.__name__}", __base__=cls, **per_service)
        try:
            return model(service=service)  # type: ignore[call-arg]  # the environment gives the rest
        except ValidationError as exc:
            fail(f"{service}: {_describe(exc, model)}")
            raise  # fail() exits; this line keeps type checkers content

    def check_at_start(self) -> None:
        """Checks that need more than a field's validator; a subclass calls fail() when one does not hold."""

    def address(self, callee: str) -> str:
        """The host:port of a service this one calls (declared in `load(calls=...)`)."""
        return str(getattr(self, f"{callee}_addr"))


def _describe(exc: ValidationError, model: type[BaseSettings]) -> str:
    """One line: the first bad variable, what it held, what was expected, and which others are bad too."""
    fields = {(field.validation_alias or name): field for name, field in model.model_fields.items()}
    errors = exc.errors()
    variables = [str(error["loc"][0]) for error in errors]
    first, name = errors[0], variables[0]
    field = fields.get(name)
    expected = f" (expected {field.description})" if field and field.description else ""
    message = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for our validators' errors
    if first["type"] == "missing":
        line = f"environment variable {name.upper()} is not set{expected}"
    else:
        value = os.environ.get(name.upper(), first["input"])  # as written, before any validator touched it
        line = f"environment variable {name.upper()}={value!r} is invalid: {message}{expected}"
    if others := sorted({v.upper() for v in variables[1:]} - {name.upper()}):
        line += f"; also invalid: {', '.join(others)}"
    return line


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and an exit code; for start-up errors a person must fix."""
    print(message, file=sys.stderr)
    raise SystemExit(code)
