"""One storefront in front of the nine real services and the demo shop, for every site test of a
pytest worker (starting them costs about a minute and a half on two cores); the back-office in front of
the same services when a test asks for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.sites.harness import BackOffice, Storefront
from tools.platform import SERVICES, Platform


@pytest.fixture(scope="session")
async def storefront(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                     schema_registry_url: str) -> AsyncIterator[Storefront]:
    platform = Platform(tmp_path_factory.mktemp("storefront"), kafka_bootstrap, schema_registry_url,
                        f"s{uuid.uuid4().hex[:10]}")
    try:
        # Every test signs in from 127.0.0.1: the per-address limit is lifted, the per-account one tested.
        site = await Storefront.open(platform, SITE_SIGNIN_PER_ADDRESS="1000/minute")
        try:
            yield site
        finally:
            site.close()
    finally:
        await platform.close()


@pytest.fixture(scope="session")
async def backoffice(storefront: Storefront) -> AsyncIterator[BackOffice]:
    # The storefront's last test stops services of the shared platform: back up for the back-office.
    if missing := [s for s in SERVICES if s not in storefront.platform.processes]:
        await storefront.platform.start(*missing)
    # Every test signs the demo admin in: the per-account limit (the runtime's, tested through the storefront)
    # is lifted too.
    site = await BackOffice.open(storefront.platform, SITE_SIGNIN_PER_ADDRESS="1000/minute",
                                 SITE_SIGNIN_PER_ACCOUNT="1000/minute")
    try:
        yield site
    finally:
        site.close()
