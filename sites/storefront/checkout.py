"""Checkout on one page, step by step, each step a form that works without JavaScript: addresses
(from the book or new), shipping options with their rates for that address, the card, the review,
and "Place order" with an idempotency key, so a double click or a reload never makes two orders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import grpc
from carting.v1 import cart_service_pb2 as cart_api
from fastapi import APIRouter, Form, Request
from google.protobuf.json_format import MessageToDict, ParseDict
from ordering.v1 import order_service_pb2 as order_api
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shop.common.v1 import address_pb2
from starlette.responses import RedirectResponse, Response

from sites.runtime.calls import Calls
from sites.runtime.pages import page, sign_in_first
from sites.runtime.sessions import session_of
from sites.storefront.account import address_book, address_from
from sites.storefront.cards import check_card
from sites.storefront.cart import current_cart
from sites.storefront.shop import person, remember_cart

router = APIRouter()
Field = Annotated[str, Form(max_length=100)]
Country = Annotated[str, Form(pattern="^[A-Za-z]{2}$")]


def _state(request: Request) -> dict[str, Any]:
    return session_of(request).data.setdefault("checkout", {})


def _address(stored: dict[str, Any] | None) -> Any:
    return ParseDict(stored, address_pb2.Address()) if stored else None


async def _render(request: Request, *, errors: dict[str, str] | None = None, status: int = 200,
                  cart: Any = None, values: dict[str, str] | None = None) -> Response:
    state = _state(request)
    cart = cart or await current_cart(request)
    if cart is None or not cart.lines:
        return RedirectResponse("/cart", status_code=303)
    ship = _address(state.get("ship"))
    options: list[Any] = []
    if ship is not None:
        options = list((await Calls.of(request).shipping.GetShippingRates(shipping_api.GetShippingRatesRequest(
            destination=ship, currency=cart.currency,
            parcel=shipment_pb2.Parcel(weight_grams=max(cart.totals.total_weight_grams, 1))))).options)
    if state.get("card") and cart.shipping.shipping_option_id and not state.get("key"):
        state["key"] = str(uuid.uuid4())  # one key for this review: every submit of it is the same order
    return page(request, "checkout.html", {
        "cart": cart, "book": await address_book(request), "ship": ship, "bill": _address(state.get("bill")),
        "options": options, "card": state.get("card"), "key": state.get("key", ""), "errors": errors or {},
        "values": values or {}, "step": _step(state, cart)}, status=status, private=True)


def _step(state: dict[str, Any], cart: Any) -> str:
    if not state.get("ship"):
        return "address"
    if not cart.shipping.shipping_option_id:
        return "shipping"
    if not state.get("card"):
        return "payment"
    return "review"


@router.get("/checkout", summary="Checkout: addresses, shipping, payment, review")
async def checkout(request: Request) -> Response:
    if person(request) is None:
        return sign_in_first(request)
    return await _render(request)


@router.post("/checkout/address", summary="Choose the shipping and billing addresses")
async def choose_address(request: Request, address_id: Annotated[str, Form(max_length=64)] = "",
                         full_name: Field = "", line1: Field = "", line2: Field = "", postal_code: Field = "",
                         city: Field = "", country_code: Annotated[str, Form(max_length=2)] = "FR",
                         billing_id: Annotated[str, Form(max_length=64)] = "") -> Response:
    if person(request) is None:
        return sign_in_first(request)
    book = {e.address_id: e.address for e in await address_book(request)}
    if address_id and address_id != "new":
        if address_id not in book:
            return await _render(request, errors={"address": "Choose one of your addresses."}, status=422)
        ship = book[address_id]
    else:
        ship = address_from(full_name, line1, line2, postal_code, city, country_code)
        missing = [label for label, value in (("name", ship.full_name), ("address", ship.line1),
                                              ("postal code", ship.postal_code), ("city", ship.city)) if not value]
        if missing or len(ship.country_code) != 2:
            return await _render(request, errors={"address": f"Fill in the {', '.join(missing) or 'country'}."},
                                 status=422)
    bill = book.get(billing_id, ship) if billing_id and billing_id != "same" else ship
    state = _state(request)
    state.update(ship=MessageToDict(ship), bill=MessageToDict(bill))
    state.pop("key", None)
    return RedirectResponse("/checkout#shipping", status_code=303)


@router.post("/checkout/shipping", summary="Choose a shipping option")
async def choose_shipping(request: Request, option: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
    if person(request) is None:
        return sign_in_first(request)
    state = _state(request)
    cart = await current_cart(request)
    if cart is None or not state.get("ship"):
        return RedirectResponse("/checkout", status_code=303)
    try:
        answer = await Calls.of(request).carting.SetShipping(cart_api.SetShippingRequest(
            cart_id=cart.cart_id, destination=_address(state["ship"]), shipping_option_id=option))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                              grpc.StatusCode.NOT_FOUND):
            raise
        return await _render(request, errors={"shipping": exc.details() or "Choose another option."}, status=422)
    remember_cart(session_of(request), answer.cart)
    state.pop("key", None)
    return RedirectResponse("/checkout#payment", status_code=303)


@router.post("/checkout/payment", summary="Enter the card")
async def card(request: Request, card_name: Field = "", card_number: Annotated[str, Form(max_length=30)] = "",
               card_expiry: Annotated[str, Form(max_length=7)] = "",
               card_cvc: Annotated[str, Form(max_length=4)] = "") -> Response:
    if person(request) is None:
        return sign_in_first(request)
    checked, errors = check_card(card_number, card_expiry, card_cvc, datetime.now(UTC).date())
    if not card_name.strip():
        errors["card_name"] = "Enter the name on the card."
    if checked is None or errors:
        # What was typed comes back, except the number and the security code, which are never echoed.
        return await _render(request, errors=errors, status=422,
                             values={"card_name": card_name, "card_expiry": card_expiry})
    state = _state(request)
    state["card"] = str(checked)  # brand and last four digits; the number itself is never kept
    state.pop("key", None)
    return RedirectResponse("/checkout#review", status_code=303)


@router.post("/checkout/place", summary="Place the order")
async def place(request: Request, key: Annotated[str, Form(min_length=8, max_length=64)],
                expected_total: Annotated[int, Form(ge=0, le=10**12)]) -> Response:
    shopper = person(request)
    if shopper is None:
        return sign_in_first(request)
    state = _state(request)
    placed = session_of(request).data.setdefault("placed", {})
    if key in placed:  # the same review submitted again (a double click, a reload): the same order
        return RedirectResponse(f"/orders/{placed[key]}", status_code=303)
    cart = await current_cart(request)
    if cart is None or not state.get("ship") or not state.get("card") or key != state.get("key"):
        return RedirectResponse("/checkout", status_code=303)
    try:
        order = (await Calls.of(request).ordering.CreateOrder(order_api.CreateOrderRequest(
            cart_id=cart.cart_id, shipping_address=_address(state["ship"]), billing_address=_address(state["bill"]),
            payment_method="card", shipping_option_id=cart.shipping.shipping_option_id, idempotency_key=key,
            customer_email=shopper.email,
            expected_total=type(cart.totals.grand_total)(amount_minor=expected_total,
                                                         currency=cart.totals.grand_total.currency)))).order
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            raise
        state.pop("key", None)
        return await _render(request, errors={"place": exc.details() or "The order could not be placed."},
                             status=409)
    placed[key] = order.order_id
    session = session_of(request)
    session.pop("checkout")
    session.pop("cart_id")
    session["cart_count"] = 0
    return RedirectResponse(f"/orders/{order.order_id}", status_code=303)
