"""Shipping's states: shipments made and followed by its real handlers and servicer; option checks."""

from __future__ import annotations

import functools
from typing import Any

from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api

from services.runtime.inprocess import build
from tests.contracts.consumers.shipping import ORDER_CANCELLED, ORDER_CONFIRMED, ORDERS, shipment
from tests.contracts.sites import CUSTOMER
from tools.contracts import Provider, Service

PROVIDER = Provider("shipping", functools.partial(build, "shipping"))


@PROVIDER.state("a confirmed order's shipment was created")
async def created(service: Service) -> None:
    await service.deliver(ORDERS, ORDER_CONFIRMED)


@PROVIDER.state("a shipment's status changed")
async def scanned(service: Service) -> None:
    await created(service)
    await service.call("shipping.v1.ShippingService/RecordCarrierScan", shipping_api.RecordCarrierScanRequest(
        tracking_number=shipment(service).tracking_number, scan_id="scan-1",
        status=shipment_pb2.SHIPMENT_STATUS_PICKED_UP))


@PROVIDER.state("a cancelled order's shipment was cancelled")
async def cancelled(service: Service) -> None:
    await created(service)
    await service.deliver(ORDERS, ORDER_CANCELLED)


@PROVIDER.state("shipping serves the destination")
async def serves(service: Service) -> None:
    """Options are priced from shipping's rate table: nothing to set up."""


@PROVIDER.state("shipping does not serve the destination")
async def does_not_serve(service: Service) -> None:
    """Refusals come from shipping's rate table too: nothing to set up."""


# --- the storefront's shopper: their parcel, asked for with their token -----------------------------------------


@PROVIDER.state("a customer's order's shipment was created")
async def customers_shipment(service: Service) -> dict[str, Any]:
    return await shipment_for_customer(service)


async def shipment_for_customer(service: Service) -> dict[str, Any]:
    confirmed = type(ORDER_CONFIRMED).FromString(ORDER_CONFIRMED.SerializeToString())
    confirmed.order_confirmed.customer_id = CUSTOMER
    await service.deliver(ORDERS, confirmed)
    return {"shipment_id": shipment(service).shipment_id, "customer_id": CUSTOMER}


@PROVIDER.state("a customer's parcel was scanned")
async def customers_parcel_scanned(service: Service) -> dict[str, Any]:
    values = await shipment_for_customer(service)
    await service.call("shipping.v1.ShippingService/RecordCarrierScan", shipping_api.RecordCarrierScanRequest(
        tracking_number=shipment(service).tracking_number, scan_id="scan-1",
        status=shipment_pb2.SHIPMENT_STATUS_PICKED_UP, location="Lyon", description="Picked up"))
    return values
