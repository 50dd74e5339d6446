"""The storefront's app: its pages on the shared web runtime (sites/runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse

from sites.runtime.app import make_site
from sites.runtime.settings import SiteSettings
from sites.storefront import account, browse, cart, checkout, orders
from sites.storefront.shop import install_template_helpers

CALLS = ["profiling", "cataloging", "stocking", "carting", "ordering", "billing", "shipping", "administering"]
# The order page follows the saga on these topics (see orders.py).
LIVE_TOPICS = ["ordering.orders.v1", "stocking.reservations.v1", "paying.payments.v1", "billing.invoices.v1",
               "shipping.shipments.v1"]

health = APIRouter()


@health.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app(settings: SiteSettings) -> Any:
    site = make_site(settings, Path(__file__).parent / "templates", calls=CALLS, live_topics=LIVE_TOPICS,
                     routers=[health, browse.router, cart.router, account.router, checkout.router, orders.router],
                     title="Storefront", oob_blocks=("cart_count",))
    install_template_helpers(site.fastapi)
    return site
