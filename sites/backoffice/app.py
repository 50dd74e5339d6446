"""The back-office's app: the staff console on the shared web runtime (sites/runtime), port 9010."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse

from sites.backoffice import account, admin, catalog, dashboard, orders, people, staff, stock
from sites.runtime.app import make_site
from sites.runtime.settings import SiteSettings

CALLS = ["profiling", "cataloging", "stocking", "ordering", "billing", "shipping", "administering"]
# The order page follows the saga on these topics (orders.py), as the storefront's does,
# and the dashboard's stock alerts on stocking's level events (dashboard.py).
LIVE_TOPICS = ["ordering.orders.v1", "stocking.reservations.v1", "paying.payments.v1", "billing.invoices.v1",
               "shipping.shipments.v1", "stocking.levels.v1"]

health = APIRouter()


@health.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app(settings: SiteSettings) -> Any:
    site = make_site(settings, Path(__file__).parent / "templates", calls=CALLS, live_topics=LIVE_TOPICS,
                     routers=[health, account.router, dashboard.router, orders.router, stock.router, catalog.router,
                              people.router, admin.router],
                     title="Back-office",
                     # staff see that their role does not allow something, not a 'not found'
                     refusals={grpc.StatusCode.PERMISSION_DENIED: 403},
                     csrf_message="This form has expired or did not come from the back-office. Please go back, "
                                  "reload the page and try again.")
    staff.install(site.fastapi)
    return site
