"""OrderService: placing orders (the saga's first step), reading them, cancelling and refunding.

Caller identity: who may call each RPC is in access.py. A customer (their verified token) acts as
CUSTOMER and reaches only their own orders; CreateOrder needs one. Staff and services act as STAFF.

Placing an order needs carting and shipping: its steps are the use case in usecases.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from ordering.v1 import order_service_pb2 as pb
from ordering.v1 import order_service_pb2_grpc

from services.ordering import domain, messages
from services.ordering.stores import ORDERS_TOPIC
from services.ordering.usecases import Checkout
from services.runtime import proto
from services.runtime.bus import EventBus
from services.runtime.clock import now
from services.runtime.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    required,
)
from services.runtime.interceptors import CUSTOMER_HEADER, calling_customer
from services.runtime.store import Store
from services.runtime.transactions import UnitOfWork


class OrderServicer(order_service_pb2_grpc.OrderServiceServicer):
    def __init__(self, bus: EventBus, orders: Store[domain.Order], checkout: Checkout) -> None:
        self.bus, self.orders, self.checkout = bus, orders, checkout

    # --- placing ------------------------------------------------------------------------------

    async def CreateOrder(self, request: pb.CreateOrderRequest, context: grpc.aio.ServicerContext) -> Any:
        customer_id = calling_customer(context)
        if not customer_id:
            raise Unauthenticated("an order is placed for a signed-in customer: send their token as "
                                  f"'{CUSTOMER_HEADER}: Bearer <token>'")
        place = messages.place_order_record(request)
        domain.check_place_order(place)
        return pb.CreateOrderResponse(order=messages.order(await self.checkout.place_order(place, customer_id)))

    # --- reading ------------------------------------------------------------------------------

    async def GetOrder(self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext) -> Any:
        return pb.GetOrderResponse(order=messages.order(self._order(request.order_id, context)))

    async def GetOrderTimeline(self, request: pb.GetOrderTimelineRequest, context: grpc.aio.ServicerContext) -> Any:
        order = self._order(request.order_id, context)
        return pb.GetOrderTimelineResponse(entries=[messages.timeline_entry(entry) for entry in order.timeline])

    async def ListCustomerOrders(self, request: pb.ListCustomerOrdersRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        caller = calling_customer(context)
        if caller and request.customer_id and request.customer_id != caller:
            raise PermissionDenied("a customer can only list their own orders")
        page = domain.list_customer_orders(self.orders.values(), customer_id=request.customer_id,
                                           page_size=request.page.page_size, page_token=request.page.page_token)
        return pb.ListCustomerOrdersResponse(orders=[messages.order(o) for o in page.items],
                                             page=proto.page(page))

    async def ListOrders(self, request: pb.ListOrdersRequest, context: grpc.aio.ServicerContext) -> Any:
        if calling_customer(context):
            raise PermissionDenied("listing every order is for staff; a customer lists their own with "
                                   "ListCustomerOrders")
        page = domain.list_orders(self.orders.values(), filters=messages.order_filter_record(request),
                                  page_size=request.page.page_size, page_token=request.page.page_token)
        return pb.ListOrdersResponse(orders=[messages.order(o) for o in page.items], page=proto.page(page))

    # --- changing -----------------------------------------------------------------------------

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: grpc.aio.ServicerContext) -> Any:
        order = self._order(request.order_id, context)
        if not request.reason:
            raise InvalidArgument("a cancellation reason is required: CUSTOMER_REQUEST, STAFF_DECISION or "
                                  "FRAUD_SUSPECTED")
        reason = messages.cancellation_reason_record(request.reason)
        actor = domain.Actor.CUSTOMER if calling_customer(context) else domain.Actor.STAFF
        async with self.bus.unit_of_work() as work:
            await work.lock((self.orders, order.order_id))
            current = work.get(self.orders, order.order_id)
            changed, events = domain.cancel_order(current, reason=reason, note=request.note, actor=actor, now=now())
            self._store(work, current, changed, events)
        return pb.CancelOrderResponse(order=messages.order(changed))

    async def RequestRefund(self, request: pb.RequestRefundRequest, context: grpc.aio.ServicerContext) -> Any:
        order = self._order(request.order_id, context)
        asked = messages.request_refund_record(request)
        actor = domain.Actor.CUSTOMER if calling_customer(context) else domain.Actor.STAFF
        async with self.bus.unit_of_work() as work:
            await work.lock((self.orders, order.order_id))
            current = work.get(self.orders, order.order_id)
            changed, refund, events = domain.request_refund(current, asked, refund_id=str(uuid.uuid4()), actor=actor,
                                                            now=now())
            self._store(work, current, changed, events)
        return pb.RequestRefundResponse(order=messages.order(changed), refund=messages.refund(refund, changed.currency))

    # --- helpers ------------------------------------------------------------------------------

    def _order(self, order_id: str, context: grpc.aio.ServicerContext) -> domain.Order:
        """The order, if it exists and the caller may see it."""
        order = self.orders.get(required(order_id, "order id"))
        if order is None:
            raise NotFound(f"no order {order_id!r}")
        if caller := calling_customer(context):
            domain.ensure_customer_owns(order, caller)
        return order

    def _store(self, work: UnitOfWork, before: domain.Order, changed: domain.Order,
               events: list[domain.OrderEvent]) -> None:
        if changed.version != before.version:
            work.put(self.orders, changed.order_id, changed)
        self._publish(work, changed, events)

    def _publish(self, work: UnitOfWork, order: domain.Order, events: list[domain.OrderEvent]) -> None:
        for event in events:
            self.bus.publish(work, ORDERS_TOPIC, order.order_id, aggregate_version=order.version,
                             **messages.order_event(event))
