"""Carting's states: a customer's cart filled through the real servicer, as carting's own contracts with
cataloging and stocking describe their answers."""

from __future__ import annotations

import functools
from typing import Any

from carting.v1 import cart_service_pb2 as cart_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from shipping.v1 import shipping_service_pb2 as shipping_api
from stocking.v1 import events_pb2 as stock_events
from stocking.v1 import stock_service_pb2 as stock_api

from services.runtime.inprocess import build
from tests.contracts.consumers.carting import CUSTOMER, OPTION, PRODUCT, SKU, cart_with_line
from tools.contracts import Provider, Service

PROVIDER = Provider("carting", functools.partial(build, "carting"))


@PROVIDER.state("a customer's cart is ready for checkout")
async def ready(service: Service) -> dict[str, Any]:
    cart = await cart_with_line(service)
    return {"cart_id": cart.cart_id, "expected_version": str(cart.version)}


# --- the storefront's carts: anonymous until sign-in, then the customer's (its calls carry their token) ----------


async def anonymous_cart(service: Service, *, lines: int = 0) -> str:
    """A cart nobody owns, as a visitor's first "Add to cart" opens it; cataloging and stocking answer as
    carting's contracts with them say."""
    service.stubs["cataloging"].answers.setdefault(
        "BatchGetProductsBySku", catalog_api.BatchGetProductsBySkuResponse(products=[PRODUCT]))
    service.stubs["stocking"].answers.setdefault(
        "BatchGetStockLevels", stock_api.BatchGetStockLevelsResponse(levels=[stock_events.StockLevel(
            sku=SKU, available=10)]))
    created = await service.call("carting.v1.CartService/CreateCart", cart_api.CreateCartRequest(currency="EUR"))
    if lines:
        await service.call("carting.v1.CartService/AddLine", cart_api.AddLineRequest(
            cart_id=created.cart.cart_id, sku=SKU, quantity=lines))
    return str(created.cart.cart_id)


@PROVIDER.state("carting opens carts")
async def opens(service: Service) -> None:
    """CreateCart needs nothing before it."""


@PROVIDER.state("an anonymous cart is open")
async def anonymous(service: Service) -> dict[str, Any]:
    return {"cart_id": await anonymous_cart(service)}


@PROVIDER.state("a customer's cart holds a line")
async def customers_cart(service: Service) -> dict[str, Any]:
    return {"cart_id": (await cart_with_line(service)).cart_id, "customer_id": CUSTOMER}


@PROVIDER.state("a customer's cart holds a line shipping serves")
async def customers_cart_shipped(service: Service) -> dict[str, Any]:
    service.stubs["shipping"].answers.setdefault(
        "ValidateShippingOption", shipping_api.ValidateShippingOptionResponse(valid=True, option=OPTION))
    return {"cart_id": (await cart_with_line(service)).cart_id, "customer_id": CUSTOMER}


@PROVIDER.state("an anonymous cart holds a line when its shopper signs in")
async def merging(service: Service) -> dict[str, Any]:
    return {"anonymous_cart_id": await anonymous_cart(service, lines=2), "customer_id": CUSTOMER}
