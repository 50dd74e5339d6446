"""Billing's states: an order's invoice moved through its life by billing's real handlers."""

from __future__ import annotations

import functools
from typing import Any

from services.runtime.inprocess import build
from tests.contracts.consumers.billing import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_CREATED,
    ORDERS,
    PAYMENT_REFUNDED,
    PAYMENTS,
    invoice,
)
from tools.contracts import Provider, Service

PROVIDER = Provider("billing", functools.partial(build, "billing"))


@PROVIDER.state("an order's invoice was drafted")
async def drafted(service: Service) -> None:
    await service.deliver(ORDERS, ORDER_CREATED)


@PROVIDER.state("a confirmed order's invoice was finalized")
async def finalized(service: Service) -> None:
    await drafted(service)
    await service.deliver(ORDERS, ORDER_CONFIRMED)


@PROVIDER.state("a cancelled order's invoice was voided")
async def voided(service: Service) -> None:
    await drafted(service)
    await service.deliver(ORDERS, ORDER_CANCELLED)


@PROVIDER.state("a refunded order's credit note was issued")
async def credited(service: Service) -> None:
    await finalized(service)
    await service.deliver(PAYMENTS, PAYMENT_REFUNDED)


# --- the storefront's shopper: their documents (ORDER_CREATED is customer-1's, whose token asks) ---------------


@PROVIDER.state("a customer's order's invoice was finalized")
async def customers_invoice(service: Service) -> dict[str, Any]:
    await finalized(service)
    return {"invoice_id": invoice(service).invoice_id, "customer_id": "customer-1"}


@PROVIDER.state("a customer's refund's credit note was issued")
async def customers_credit_note(service: Service) -> dict[str, Any]:
    await credited(service)
    return {"credit_note_id": invoice(service).credit_note_ids[-1], "customer_id": "customer-1"}
