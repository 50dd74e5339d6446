"""Ordering's states: orders placed through the real CreateOrder, moved on by the participants' events as
ordering's own contracts describe them; and the answers of its OrderService."""

from __future__ import annotations

import functools

from ordering.v1 import order_service_pb2 as order_api

from services.runtime.inprocess import build
from tests.contracts.consumers.ordering import (
    DELIVERED,
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
