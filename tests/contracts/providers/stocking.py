"""Stocking's states: its reservations answer ordering's events, its levels cross thresholds as stock moves."""

from __future__ import annotations

import functools
from typing import Any

from stocking.v1 import stock_service_pb2 as stock_api

from services.runtime.inprocess import build
from tests.contracts.consumers.stocking import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_CREATED,
    ORDERS,
    SKU,
    set_stock,
)
from tools.contracts import Provider, Service

PROVIDER = Provider("stocking", functools.partial(build, "stocking"))


@PROVIDER.state("stock was reserved for an order")
async def reserved(service: Service) -> None:
    await set_stock(service, 10)
    await service.deliver(ORDERS, ORDER_CREATED)


@PROVIDER.state("an order's stock could not be reserved")
async def short(service: Service) -> None:
    await set_stock(service, 1)
    await service.deliver(ORDERS, ORDER_CREATED)


@PROVIDER.state("a cancelled order's stock was released")
async def released(service: Service) -> None:
    await reserved(service)
    await service.deliver(ORDERS, ORDER_CANCELLED)


@PROVIDER.state("a confirmed order's stock was committed")
async def committed(service: Service) -> None:
    await reserved(service)
    await service.deliver(ORDERS, ORDER_CONFIRMED)


@PROVIDER.state("a SKU's stock ran low")
async def ran_low(service: Service) -> dict[str, Any]:
    """The alert it raised, open: the back-office lists and acknowledges it."""
    await set_stock(service, 10)
    await set_stock(service, 3)
    alerts = await service.call("stocking.v1.StockService/ListStockAlerts", stock_api.ListStockAlertsRequest(
        sku=SKU, unresolved_only=True))
    return {"alert_id": alerts.alerts[-1].alert_id}


@PROVIDER.state("a SKU ran out of stock")
async def ran_out(service: Service) -> None:
    await set_stock(service, 10)
    await set_stock(service, 0)


@PROVIDER.state("a SKU came back in stock")
async def came_back(service: Service) -> None:
    await ran_out(service)
    await set_stock(service, 10)


@PROVIDER.state("a SKU is in stock")
async def in_stock(service: Service) -> dict[str, Any]:
    await set_stock(service, 10)
    return {"sku": SKU, "skus": [SKU]}


@PROVIDER.state("stocking tracks SKUs")
async def tracks(service: Service) -> None:
    """SetStock starts tracking a SKU it does not know: nothing to set up."""
