"""What every storefront page shares: money and pictures as a shopper reads them, the signed-in
person, the shopper's cart id, the category tree, the values every template sees."""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from administering.v1 import admin_service_pb2 as admin_api
from carting.v1 import cart_service_pb2 as cart_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from fastapi import FastAPI, Request
from profiling.v1 import events_pb2 as profiling_events

from sites.runtime.calls import Calls, ServiceUnavailable
from sites.runtime.formats import money, when
from sites.runtime.sessions import Session, session_of

CATEGORY_TTL_SECONDS = 30.0
VIP_SETTING = "customer.vip_discount_bps"


def picture(url: str) -> str:
    """A product picture's address. The demo shop's pictures are files this site serves (/static/products);
    their URLs name the storefront's host, which differs from run to run, so only their path is kept."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.path.startswith("/static/products/"):
        return parsed.path
    if parsed.scheme in ("http", "https"):
        return url
    return "/static/placeholder.svg"


@dataclass(frozen=True)
class Person:
    customer_id: str
    email: str
    first_name: str
    vip: bool


def person(request: Request) -> Person | None:
    session = session_of(request)
    if not session.get("customer_id"):
        return None
    return Person(session["customer_id"], session.get("email", ""), session.get("first_name", ""),
                  bool(session.get("vip")))


def remember_person(session: Session, customer: Any) -> None:
    session["customer_id"] = customer.customer_id
    session["email"] = customer.email
    session["first_name"] = customer.first_name
    session["vip"] = customer.status == profiling_events.CUSTOMER_STATUS_VIP


def remember_cart(session: Session, cart: Any) -> None:
    """The shopper's cart id and the header's counter, from the cart carting just returned."""
    session["cart_id"] = cart.cart_id
    session["cart_count"] = sum(line.quantity for line in cart.lines)


async def cart_id(request: Request, *, create: bool) -> str:
    """The session's cart; a new one (anonymous, or the customer's own) when it has none and `create`."""
    session = session_of(request)
    if (known := session.get("cart_id")) or not create:
        return str(known or "")
    answer = await Calls.of(request).carting.CreateCart(
        cart_api.CreateCartRequest(customer_id=session.get("customer_id", "")))
    remember_cart(session, answer.cart)
    return str(answer.cart.cart_id)


async def categories(request: Request) -> list[Any]:
    """The category tree (every level), cached for a few seconds: every page's navigation shows it."""
    state = request.app.state
    cached = getattr(state, "category_tree", None)
    if cached is not None and time.monotonic() - cached[0] < CATEGORY_TTL_SECONDS:
        return list(cached[1])
    try:
        tree = list((await Calls.of(request).cataloging.GetCategoryTree(
            catalog_api.GetCategoryTreeRequest())).categories)
    except ServiceUnavailable:
        return list(cached[1]) if cached else []
    state.category_tree = (time.monotonic(), tree)
    return tree


async def vip_discount_bps(request: Request) -> int:
    """The VIP rate in force (administering's setting), cached; 0 when administering cannot say."""
    state = request.app.state
    cached = getattr(state, "vip_bps", None)
    if cached is not None and time.monotonic() - cached[0] < CATEGORY_TTL_SECONDS:
        return int(cached[1])
    try:
        setting = (await Calls.of(request).administering.GetSetting(
            admin_api.GetSettingRequest(name=VIP_SETTING))).setting
        bps = int(setting.value.basis_points)
    except ServiceUnavailable:
        return int(cached[1]) if cached else 0
    state.vip_bps = (time.monotonic(), bps)
    return bps


def vip_price(price: Any, bps: int) -> Any:
    """The unit price a VIP pays, rounded half up as carting does (amount * (10000 - bps) / 10000)."""
    discount = (price.amount_minor * bps + 5000) // 10000
    return type(price)(amount_minor=price.amount_minor - discount, currency=price.currency)


def install_template_helpers(app: FastAPI) -> None:
    settings = app.state.settings
    templates = app.state.templates
    templates.env.filters["money"] = lambda value: money(value, settings.locale)
    templates.env.filters["picture"] = picture
    templates.env.filters["when"] = lambda ts: when(ts, settings.locale)

    def every_page(request: Request) -> dict[str, Any]:
        session = session_of(request)
        cached = getattr(request.app.state, "category_tree", None)
        tree = list(cached[1]) if cached else []
        return {"person": person(request), "cart_count": session.get("cart_count", 0),
                "csrftoken": request.scope["csrftoken"]() if "csrftoken" in request.scope else "",
                "top_categories": [c for c in tree if not c.parent_id]}

    templates.context_processors.append(every_page)
