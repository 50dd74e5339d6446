"""A site's settings: the same variables and fail-fast rule as a service's (services/runtime/config.py),
plus what only a web site needs.

    settings = SiteSettings.load("storefront", calls=["cataloging", "carting", ...])
    settings.port                  # STOREFRONT_PORT, default 9000
    settings.secret_key            # SITE_SECRET_KEY: signs the session and CSRF cookies
    settings.host                  # SITE_HOST, default 127.0.0.1: where it listens
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from typing import Self

from pydantic import Field

from services.runtime.config import ServiceSettings

# DESIGN.md's ports of the sites. The services declare theirs in services/<name>/bootstrap.py; the sites
# are not declared processes yet (tools/platform.py would wait for their gRPC health), so their default
# is here until the process declarations learn an HTTP health check.
SITE_PORTS = {"storefront": 9000, "backoffice": 9010}


class SiteSettings(ServiceSettings):
    # The address the site listens on: loopback under `make up`; all of a container's, whose port compose publishes.
    host: str = Field("127.0.0.1", validation_alias="SITE_HOST", min_length=1, description="an address to listen on")
    # Signs cookies. Sessions live in the process's memory, so a key made at start-up loses nothing
    # that a restart would not lose anyway; set it when several processes must read each other's cookies.
    secret_key: str = Field(default_factory=lambda: secrets.token_urlsafe(32), validation_alias="SITE_SECRET_KEY",
                            min_length=16, description="at least 16 characters")
    # Off for http://localhost; on behind TLS so the browser never sends the cookies in clear.
    secure_cookies: bool = Field(False, validation_alias="SITE_SECURE_COOKIES", description="true or false")
    locale: str = Field("en_IE", validation_alias="SITE_LOCALE", pattern=r"^[a-z]{2}(_[A-Z]{2})?$",
                        description="a locale such as en_IE or fr_FR")
    # An idle session is forgotten after this long.
    session_idle_seconds: int = Field(2 * 3600, gt=0, validation_alias="SITE_SESSION_IDLE_SECONDS",
                                      description="a number of seconds > 0")

    @classmethod
    def load(cls, service: str, calls: Iterable[str] = ()) -> Self:
        os.environ.setdefault(f"{service.upper()}_PORT", str(SITE_PORTS[service]))
        return super().load(service, calls)
