"""Ordering's states: orders placed through the real CreateOrder, moved on by the participants' events as
ordering's own contracts describe them; and the answers of its OrderService."""

from __future__ import annotations

import functools
from typing import Any

from carting.v1 import cart_service_pb2 as cart_pb
from ordering.v1 import order_service_pb2 as order_api
from shipping.v1 import shipping_service_pb2 as shipping_api

from services.runtime.inprocess import build
from tests.contracts.consumers.ordering import (
    CART,
    CUSTOMER,
    DELIVERED,
    OPTION,
    SHIPMENT_CREATED,
    SHIPMENTS,
    cancelled_order,
    confirmed_order,
    handle,
    place_order,
)
from tools.contracts import Provider, Service

PROVIDER = Provider("ordering", functools.partial(build, "ordering"))


@PROVIDER.state("an order was placed")
async def placed(service: Service) -> None:
    await place_order(service)


@PROVIDER.state("an order was confirmed")
async def confirmed(service: Service) -> None:
    await confirmed_order(service)


@PROVIDER.state("an order was cancelled")
async def cancelled(service: Service) -> None:
    await cancelled_order(service)


@PROVIDER.state("a refund was asked for a delivered order")
async def refund_asked(service: Service) -> None:
    order_id = await confirmed_order(service)
    await handle(service, SHIPMENTS, SHIPMENT_CREATED, order_id)
    await handle(service, SHIPMENTS, DELIVERED, order_id)
    await service.call("ordering.v1.OrderService/RequestRefund", order_api.RequestRefundRequest(
        order_id=order_id, idempotency_key="refund-1", reason="broken"))


# --- the storefront's shopper: their orders, asked for with their token ----------------------------------------


@PROVIDER.state("a customer's cart is ready for checkout")
async def ready(service: Service) -> dict[str, Any]:
    """Carting and shipping answer as ordering's contracts with them say (CART: 36.95 with shipping)."""
    carting, shipping = service.stubs["carting"], service.stubs["shipping"]
    carting.answers.setdefault("GetCart", cart_pb.GetCartResponse(cart=CART))
    carting.answers.setdefault("CloseCart", cart_pb.CloseCartResponse())
    shipping.answers.setdefault("ValidateShippingOption",
                                shipping_api.ValidateShippingOptionResponse(valid=True, option=OPTION))
    return {"customer_id": CUSTOMER}


@PROVIDER.state("a customer's order was placed")
async def customers_order(service: Service) -> dict[str, Any]:
    return {"order_id": await place_order(service), "customer_id": CUSTOMER}


@PROVIDER.state("a customer's order was delivered")
async def delivered(service: Service) -> dict[str, Any]:
    order_id = await confirmed_order(service)
    await handle(service, SHIPMENTS, SHIPMENT_CREATED, order_id)
    await handle(service, SHIPMENTS, DELIVERED, order_id)
    return {"order_id": order_id, "customer_id": CUSTOMER}
