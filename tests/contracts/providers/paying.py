"""Paying's states: payments taken, voided and refunded by its real handlers of ordering's events."""

from __future__ import annotations

import functools

from paying.v1 import payment_service_pb2 as payment_api

from services.paying import domain
from services.runtime.clock import now
from services.runtime.inprocess import build
from tests.contracts.consumers.paying import (
    ORDER_CANCELLED,
    ORDER_CREATED,
    ORDERS,
    REFUND_REQUESTED,
)
from tests.contracts.values import eur
from tools.contracts import Provider, Service

PROVIDER = Provider("paying", functools.partial(build, "paying"))


@PROVIDER.state("an order's payment was captured")
async def captured(service: Service) -> None:
    await service.deliver(ORDERS, ORDER_CREATED)


async def intent(service: Service) -> None:
    """A payment waiting for its capture, made through the API."""
    await service.call("paying.v1.PaymentService/CreatePaymentIntent", payment_api.CreatePaymentIntentRequest(
        order_id="order-1", customer_id="customer-1", amount=eur(3695), payment_method="card"))


@PROVIDER.state("an order's payment failed")
async def failed(service: Service) -> None:
    # The simulated provider always accepts: no RPC or handler fails a payment, the domain alone can.
    await intent(service)
    payments = service.parts["payments"]
    async with service.bus.unit_of_work() as work, payments.order(work, "order-1") as record:
        payment, events = domain.fail_payment(record.payments[0], failure_code="card_declined",
                                              failure_message="the card was declined", now=now())
        payments.save(work, record, payment, events, functools.partial(service.bus.publish, work))


@PROVIDER.state("a cancelled order's payment was voided")
async def voided(service: Service) -> None:
    await intent(service)
    await service.deliver(ORDERS, ORDER_CANCELLED)


@PROVIDER.state("a delivered order's refund was paid")
async def refunded(service: Service) -> None:
    await service.deliver(ORDERS, ORDER_CREATED)
    await service.deliver(ORDERS, REFUND_REQUESTED)
