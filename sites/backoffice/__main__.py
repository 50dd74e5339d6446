"""The back-office: `python -m sites.backoffice` (BACKOFFICE_PORT, default 9010)."""

from __future__ import annotations

import logging

import uvicorn

from sites.backoffice.app import CALLS, create_app
from sites.runtime.settings import SiteSettings


def main() -> None:
    settings = SiteSettings.load("backoffice", calls=CALLS)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the registry client's every request otherwise
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=int(settings.shutdown_grace_seconds))


if __name__ == "__main__":
    main()
