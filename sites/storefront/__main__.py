"""The storefront: `python -m sites.storefront` (STOREFRONT_PORT, default 9000)."""

from __future__ import annotations

import logging

import uvicorn

from sites.runtime.settings import SiteSettings
from sites.storefront.app import CALLS, create_app


def main() -> None:
    settings = SiteSettings.load("storefront", calls=CALLS)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the registry client's every request otherwise
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=int(settings.shutdown_grace_seconds))


if __name__ == "__main__":
    main()
