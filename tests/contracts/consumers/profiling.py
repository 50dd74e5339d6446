"""Profiling counts a customer's confirmed orders into their spend, takes cancelled ones back out, and
makes the customer VIP when the spend reaches the threshold the settings give."""

from __future__ import annotations

from typing import Any

from administering.v1 import events_pb2 as admin_events
from ordering.v1 import events_pb2 as order_events
from ordering.v1 import order_pb2
from profiling.v1 import profile_service_pb2 as profile_api

from services.profiling import domain
from services.profiling.stores import VIP_THRESHOLD
from tests.contracts.values import eur
from tools.contracts import Consumer, Service, metadata

CONSUMER = Consumer("profiling")
ORDERS, SETTINGS = "ordering.orders.v1", "administering.settings.v1"

ORDER_CONFIRMED = order_events.OrderEvent(metadata=metadata(), order_confirmed=order_events.OrderConfirmed(
    order_id="order-1", customer_id="customer-1", totals=order_pb2.OrderTotals(total=eur(120_000))))
ORDER_CANCELLED = order_events.OrderEvent(metadata=metadata(), order_cancelled=order_events.OrderCancelled(
    order_id="order-1", customer_id="customer-1", totals=order_pb2.OrderTotals(total=eur(120_000))))


async def register(service: Service) -> str:
    answer = await service.call("profiling.v1.ProfileService/RegisterCustomer", profile_api.RegisterCustomerRequest(
        email="ada@example.com", password="correct horse battery", first_name="Ada", last_name="Lovelace"))
    return str(answer.customer.customer_id)


async def handle(service: Service, envelope: Any, customer_id: str) -> domain.Customer:
    """The order event, for this customer, through profiling's real handler."""
    envelope = type(envelope).FromString(envelope.SerializeToString())
    getattr(envelope, envelope.WhichOneof("event")).customer_id = customer_id
    await service.deliver(ORDERS, envelope)
    customer: domain.Customer = service.parts["stores"].customers.get(customer_id)
    return customer


@CONSUMER.event(ORDERS, ORDER_CONFIRMED, given="an order was confirmed")
async def counts_the_spend(service: Service, envelope: Any) -> None:
    customer = await handle(service, envelope, await register(service))
    assert customer.confirmed_spend == {"EUR": 120_000} and customer.status is domain.CustomerStatus.VIP
    assert service.published("profiling.customers.v1", "customer_status_changed")


@CONSUMER.event(ORDERS, ORDER_CANCELLED, given="an order was cancelled")
async def takes_the_spend_back(service: Service, envelope: Any) -> None:
    customer_id = await register(service)
    await handle(service, ORDER_CONFIRMED, customer_id)
    customer = await handle(service, envelope, customer_id)
    assert customer.confirmed_spend == {"EUR": 0} and customer.status is domain.CustomerStatus.STANDARD


@CONSUMER.event(SETTINGS, admin_events.SettingEvent(metadata=metadata(), setting_changed=admin_events.SettingChanged(
    name=VIP_THRESHOLD, value=admin_events.SettingValue(money_value=eur(50_000)), version=2)),
    given="an admin changed a setting", name=VIP_THRESHOLD)
async def applies_the_new_vip_threshold(service: Service, envelope: Any) -> None:
    await service.deliver(SETTINGS, envelope)
    assert service.parts["settings"].get(VIP_THRESHOLD) == (50_000, "EUR")
