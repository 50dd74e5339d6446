"""Stocking holds stock for orders (ordering's events), tracks the SKUs cataloging publishes and
re-evaluates levels when the low-stock threshold changes."""

from __future__ import annotations

from typing import Any

from administering.v1 import events_pb2 as admin_events
from cataloging.v1 import events_pb2 as catalog_events
from ordering.v1 import events_pb2 as order_events
from ordering.v1 import order_pb2
from stocking.v1 import stock_service_pb2 as stock_api

from services.stocking import domain
from tools.contracts import Consumer, Service, metadata

CONSUMER = Consumer("stocking")
ORDERS, PRODUCTS, SETTINGS = "ordering.orders.v1", "cataloging.products.v1", "administering.settings.v1"
SKU = "MUG-RED"

ORDER_CREATED = order_events.OrderEvent(metadata=metadata(), order_created=order_events.OrderCreated(
    order_id="order-1", lines=[order_pb2.OrderLine(sku=SKU, quantity=2)]))
ORDER_CONFIRMED = order_events.OrderEvent(metadata=metadata(), order_confirmed=order_events.OrderConfirmed(
    order_id="order-1"))
ORDER_CANCELLED = order_events.OrderEvent(metadata=metadata(), order_cancelled=order_events.OrderCancelled(
    order_id="order-1"))
PRODUCT_PUBLISHED = catalog_events.ProductEvent(metadata=metadata(), product_published=catalog_events.ProductPublished(
    product=catalog_events.Product(sku=SKU)))


async def set_stock(service: Service, on_hand: int) -> None:
    await service.call("stocking.v1.StockService/SetStock", stock_api.SetStockRequest(
        sku=SKU, on_hand=on_hand, reason=stock_api.STOCK_CHANGE_REASON_RESTOCK, staff_id="staff-1"))


def stock(service: Service) -> Any:
    return service.parts["stock"]


@CONSUMER.event(ORDERS, ORDER_CREATED, given="an order was placed")
async def reserves_the_order_lines(service: Service, envelope: Any) -> None:
    await set_stock(service, 10)
    await service.deliver(ORDERS, envelope)
    assert stock(service).reservations.get("order-1").state is domain.ReservationState.ACTIVE
    assert stock(service).levels.get(SKU).reserved == 2
    assert service.published("stocking.reservations.v1", "stock_reserved")


@CONSUMER.event(ORDERS, ORDER_CONFIRMED, given="an order was confirmed")
async def commits_the_reservation(service: Service, envelope: Any) -> None:
    await set_stock(service, 10)
    await service.deliver(ORDERS, ORDER_CREATED)
    await service.deliver(ORDERS, envelope)
    assert stock(service).reservations.get("order-1").state is domain.ReservationState.COMMITTED
    assert (stock(service).levels.get(SKU).on_hand, stock(service).levels.get(SKU).reserved) == (8, 0)


@CONSUMER.event(ORDERS, ORDER_CANCELLED, given="an order was cancelled")
async def releases_the_reservation(service: Service, envelope: Any) -> None:
    await set_stock(service, 10)
    await service.deliver(ORDERS, ORDER_CREATED)
    await service.deliver(ORDERS, envelope)
    assert stock(service).reservations.get("order-1").state is domain.ReservationState.RELEASED
    assert stock(service).levels.get(SKU).reserved == 0


@CONSUMER.event(PRODUCTS, PRODUCT_PUBLISHED, given="a product was published")
async def tracks_the_sku(service: Service, envelope: Any) -> None:
    await service.deliver(PRODUCTS, envelope)
    assert stock(service).levels.get(SKU).on_hand == 0


@CONSUMER.event(PRODUCTS, catalog_events.ProductEvent(
    metadata=metadata(), product_archived=catalog_events.ProductArchived(sku=SKU)), given="a product was archived")
async def closes_the_sku(service: Service, envelope: Any) -> None:
    await set_stock(service, 10)
    await service.deliver(PRODUCTS, envelope)
    assert stock(service).levels.get(SKU).discontinued


@CONSUMER.event(SETTINGS, admin_events.SettingEvent(metadata=metadata(), setting_changed=admin_events.SettingChanged(
    name=domain.LOW_STOCK_THRESHOLD_SETTING, value=admin_events.SettingValue(int_value=12), version=2)),
    given="an admin changed a setting", name=domain.LOW_STOCK_THRESHOLD_SETTING)
async def reevaluates_levels_on_a_new_threshold(service: Service, envelope: Any) -> None:
    await set_stock(service, 10)
    await service.deliver(SETTINGS, envelope)
    assert stock(service).settings().low_stock_threshold == 12
    assert [e.low_stock_detected.sku for e in service.published("stocking.levels.v1", "low_stock_detected")] == [SKU]
