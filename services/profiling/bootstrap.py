"""Profiling put together: its settings, the services it calls, `wire()`, and its declaration.

The first admin account comes from the environment and is created at start-up if no staff account
has its email yet (restarts change nothing):

    PROFILING_ADMIN_EMAIL      default admin@shop.example
    PROFILING_ADMIN_PASSWORD   default change-me-admin-password   (development only: set it in production)
    PROFILING_ADMIN_NAME       default Shop administrator
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from argon2 import PasswordHasher
from profiling.v1.profile_service_pb2_grpc import add_ProfileServiceServicer_to_server
from pydantic import AfterValidator, Field

from services.profiling import domain
from services.profiling.handlers import ProfilingHandlers
from services.profiling.servicer import SETTING_DEFAULTS, ProfileServicer
from services.profiling.stores import Stores
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings, fail
from services.runtime.errors import InvalidArgument
from services.runtime.process import ServiceProcess, Wired
from services.runtime.shop_settings import ShopSettings

FIRST_ADMIN_RETRY_SECONDS = 5.0


def _email(value: str) -> str:
    try:
        return domain.normalise_email(value)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from None


class ProfilingSettings(ServiceSettings):
    admin_email: Annotated[str, AfterValidator(_email)] = Field(
        "admin@shop.example", validation_alias="PROFILING_ADMIN_EMAIL", description="the first admin's email")
    # Checked by check_at_start, not a validator, so that a refused password never appears in the error line.
    admin_password: str = Field("change-me-admin-password", validation_alias="PROFILING_ADMIN_PASSWORD", repr=False)
    admin_name: str = Field("Shop administrator", validation_alias="PROFILING_ADMIN_NAME", min_length=1,
                            description="the first admin's display name")

    def check_at_start(self) -> None:
        try:
            domain.check_password(self.admin_password)
        except InvalidArgument as exc:
            fail(f"profiling: environment variable PROFILING_ADMIN_PASSWORD is invalid: {exc.message}")


def wire(bus: EventBus, callees: Mapping[str, Any], settings: ProfilingSettings) -> Wired:
    """Profiling's stores, servicer, handlers and first admin on `bus` (profiling calls no other service:
    `callees` is empty)."""
    stores = Stores.on(bus)
    shop_settings = ShopSettings(bus, defaults=SETTING_DEFAULTS)
    # argon2id with the library's defaults (RFC 9106's low-memory profile).
    servicer = ProfileServicer(bus, stores, shop_settings, PasswordHasher())
    ProfilingHandlers(stores, shop_settings).register(bus)

    async def first_admin() -> None:  # idempotent: a no-op once the account exists
        await servicer.ensure_first_admin(settings.admin_email, settings.admin_password, settings.admin_name)

    async def first_admin_exists() -> bool:
        return servicer.has_staff_email(settings.admin_email)

    # Runs as soon as the bus has started, and again should Kafka have refused the first try.
    bus.every(FIRST_ADMIN_RETRY_SECONDS, first_admin)
    return Wired(servicer, add_ProfileServiceServicer_to_server,
                 parts={"stores": stores, "settings": shop_settings}, readiness=[first_admin_exists])


PROCESS = ServiceProcess("profiling", port=9001, wire=wire, settings=ProfilingSettings)
