"""The cart: anonymous until sign-in (its id in the session cookie's session), the customer's after.
Add, change and remove answer htmx with the changed part and the header's counter out of band, and
a browser without JavaScript with a redirect to the cart page."""

from __future__ import annotations

from typing import Annotated, Any

import grpc
from carting.v1 import cart_service_pb2 as cart_api
from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from sites.runtime.calls import Calls
from sites.runtime.pages import page, wants_fragment
from sites.runtime.sessions import session_of
from sites.storefront.shop import cart_id, remember_cart

router = APIRouter()
Sku = Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Quantity = Annotated[int, Form(ge=0, le=99)]


async def current_cart(request: Request) -> Any | None:
    """The session's open cart, or None; a cart that was checked out or merged is forgotten."""
    session = session_of(request)
    known = await cart_id(request, create=False)
    if not known:
        return None
    try:
        cart = (await Calls.of(request).carting.GetCart(cart_api.GetCartRequest(cart_id=known))).cart
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            raise
        cart = None
    if cart is None or cart.state != cart_api.CART_STATE_OPEN:
        session.pop("cart_id")
        session["cart_count"] = 0
        return None
    remember_cart(session, cart)
    return cart


@router.get("/cart", summary="The cart with its totals")
async def show(request: Request) -> Response:
    return page(request, "cart.html", {"cart": await current_cart(request), "notice": ""}, private=True)


@router.post("/cart/add", summary="Add a product to the cart")
async def add(request: Request, sku: Sku, quantity: Annotated[int, Form(ge=1, le=99)] = 1) -> Response:
    if await current_cart(request) is None:
        session_of(request).pop("cart_id")
    the_cart = await cart_id(request, create=True)
    try:
        answer = await Calls.of(request).carting.AddLine(cart_api.AddLineRequest(cart_id=the_cart, sku=sku,
                                                                                quantity=quantity))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT,
                              grpc.StatusCode.NOT_FOUND):
            raise
        return _changed(request, None, f"Could not add it: {exc.details()}", status=409)
    remember_cart(session_of(request), answer.cart)
    if wants_fragment(request):
        return page(request, "cart.html", {"notice": f"Added to your cart ({quantity})."}, block="toast")
    return RedirectResponse("/cart", status_code=303)


@router.post("/cart/line", summary="Change a line's quantity (0 removes it)")
async def change(request: Request, sku: Sku, quantity: Quantity) -> Response:
    the_cart = await cart_id(request, create=False)
    if not the_cart:
        return RedirectResponse("/cart", status_code=303)
    calls = Calls.of(request).carting
    try:
        if quantity == 0:
            answer = await calls.RemoveLine(cart_api.RemoveLineRequest(cart_id=the_cart, sku=sku))
        else:
            answer = await calls.UpdateLineQuantity(cart_api.UpdateLineQuantityRequest(
                cart_id=the_cart, sku=sku, quantity=quantity))
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT,
                              grpc.StatusCode.NOT_FOUND):
            raise
        return _changed(request, await current_cart(request), exc.details() or "", status=409)
    remember_cart(session_of(request), answer.cart)
    return _changed(request, answer.cart, "Removed." if quantity == 0 else "Quantity updated.")


@router.post("/cart/remove", summary="Remove a line")
async def remove(request: Request, sku: Sku) -> Response:
    return await change(request, sku, 0)


@router.post("/cart/acknowledge", summary="Accept the new prices of flagged lines")
async def acknowledge(request: Request) -> Response:
    the_cart = await cart_id(request, create=False)
    if the_cart:
        answer = await Calls.of(request).carting.AcknowledgePriceChanges(
            cart_api.AcknowledgePriceChangesRequest(cart_id=the_cart))
        remember_cart(session_of(request), answer.cart)
        return _changed(request, answer.cart, "New prices accepted.")
    return RedirectResponse("/cart", status_code=303)


def _changed(request: Request, cart: Any, notice: str, *, status: int = 200) -> Response:
    if wants_fragment(request):
        return page(request, "cart.html", {"cart": cart, "notice": notice}, block="cart", private=True,
                    status=200 if status < 400 else 422)
    if status >= 400:
        return page(request, "cart.html", {"cart": cart, "notice": notice}, private=True, status=status)
    return RedirectResponse("/cart", status_code=303)
