"""OrderService: placing orders (the saga's first step), reading them, cancelling and refunding.

Caller identity: a call made for a signed-in customer carries the metadata `x-customer-id` (the
storefront sets it once it has authenticated the shopper). Such a caller acts as CUSTOMER and
reaches only their own orders; CreateOrder needs one. A call without it comes from the back-office
or another service and acts as STAFF.

Closing the cart: the order is stored (with OrderCreated) first, then carting.CloseCart is asked
with the order id and the cart version the order was priced from. Carting's close is idempotent for
the same order, so it is simply asked again when it did not answer: by a retried CreateOrder (same
key) and by a sweep. The order stands whatever carting says. A claim per cart, stored with the
order, refuses a second order of the same cart meanwhile.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
from carting.v1 import cart_service_pb2 as cart_pb
from ordering.v1 import order_service_pb2 as pb
from ordering.v1 import order_service_pb2_grpc
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_pb
from shop.common.v1 import paging_pb2

from services.ordering import domain, messages
from services.ordering.stores import ORDERS_TOPIC, CartClaim
from services.runtime.bus import EventBus, is_outage
from services.runtime.clients import answers_of
from services.runtime.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    required,
)
from services.runtime.interceptors import CUSTOMER_HEADER, calling_customer
from services.runtime.store import Store
from services.runtime.transactions import UnitOfWork

ORDER_NUMBER = re.compile(r"^ORD-(\d{4})-(\d+)$")
log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


class OrderServicer(order_service_pb2_grpc.OrderServiceServicer):
    def __init__(self, bus: EventBus, orders: Store[domain.Order], keys: Store[str], claims: Store[CartClaim],
                 carting: Any, shipping: Any) -> None:
        # keys: "<customer id>/<idempotency key>" -> order id; claims: cart id -> CartClaim.
        self.bus, self.orders, self.keys, self.claims = bus, orders, keys, claims
        self.carting, self.shipping = carting, shipping
        self._last_numbers: dict[int, int] | None = None  # year -> last order number given out

    # --- placing ------------------------------------------------------------------------------

    async def CreateOrder(self, request: pb.CreateOrderRequest, context: grpc.aio.ServicerContext) -> Any:
        customer_id = calling_customer(context)
        if not customer_id:
            raise Unauthenticated(f"an order is placed for a signed-in customer: send their id as {CUSTOMER_HEADER}")
        place = messages.place_order(request)
        domain.check_place_order(place)
        key = f"{customer_id}/{place.idempotency_key}"
        if (repeated := self._repeated(key, place)) is not None:
            return pb.CreateOrderResponse(order=messages.order(await self._close_cart(repeated)))

        with answers_of("carting"):
            answer = await self.carting.GetCart(cart_pb.GetCartRequest(cart_id=place.cart_id))
        cart = messages.cart_snapshot(answer.cart)
        self._refuse_if_ordered(self.claims.get(cart.cart_id), cart.cart_id)
        order_id, moment = str(uuid.uuid4()), now()
        # The cart's own checks first, so shipping is asked nothing about a cart that cannot be ordered
        # (its price is not known yet, so the shown total is checked below).
        provisional = domain.ShippingOption(place.shipping_option_id, "", "", "", 0, cart.currency)
        domain.create_order(dataclasses.replace(place, expected_total=None), cart=cart, shipping_option=provisional,
                            caller_customer_id=customer_id, order_id=order_id, order_number="", now=moment)
        option = await self._shipping_option(place, cart)

        async with self.bus.unit_of_work() as work:
            await work.lock((self.orders, order_id), (self.keys, key), (self.claims, cart.cart_id))
            placed = self._repeated(key, place)  # a concurrent retry may have placed it meanwhile
            if placed is None:
                placed, events = domain.create_order(place, cart=cart, shipping_option=option,
                                                     caller_customer_id=customer_id, order_id=order_id,
                                                     order_number=self._next_number(moment), now=moment)
                self._refuse_if_ordered(work.get(self.claims, cart.cart_id), cart.cart_id)
                work.put(self.orders, order_id, placed)
                work.put(self.keys, key, order_id)
                work.put(self.claims, cart.cart_id, CartClaim(order_id=order_id))
                self._publish(work, placed, events)
        return pb.CreateOrderResponse(order=messages.order(await self._close_cart(placed)))

    def _refuse_if_ordered(self, claim: CartClaim | None, cart_id: str) -> None:
        """A cart makes one order: another request for it (under another key) is refused by name."""
        if claim is not None and not claim.refusal:
            ordered = self.orders.get(claim.order_id)
            raise FailedPrecondition(f"cart {cart_id} was already ordered "
                                     f"(order {ordered.order_number if ordered else claim.order_id})")

    def _repeated(self, key: str, place: domain.PlaceOrder) -> domain.Order | None:
        """The order already placed with this idempotency key (refused if the request differs)."""
        order_id = self.keys.get(key)
        existing = self.orders.get(order_id) if order_id else None
        return domain.order_for_repeated_request(existing, place) if existing is not None else None

    async def _shipping_option(self, place: domain.PlaceOrder, cart: domain.CartSnapshot) -> domain.ShippingOption:
        """The option as shipping validates and prices it now, for the shipping address and the cart's weight."""
        weight = sum(line.unit_weight_grams * line.quantity for line in cart.lines)
        with answers_of("shipping"):
            answer = await self.shipping.ValidateShippingOption(shipping_pb.ValidateShippingOptionRequest(
                shipping_option_id=place.shipping_option_id, destination=messages.address(place.shipping_address),
                parcel=shipment_pb2.Parcel(weight_grams=max(1, weight)), currency=cart.currency,
            ))
        if not answer.valid:
            raise FailedPrecondition(f"shipping: {answer.rejection_message or 'the shipping option cannot be used'}")
        return messages.shipping_option_record(answer.option)

    def _next_number(self, moment: datetime) -> str:
        """ORD-<year>-<n>: unique, rising within a year. Given out in memory (one ordering instance runs
        at a time) so that orders placed together do not wait on each other; a number whose order was
        not stored is skipped."""
        if self._last_numbers is None:
            self._last_numbers = {}
            for order in self.orders.values():
                if match := ORDER_NUMBER.match(order.order_number):
                    year, number = int(match[1]), int(match[2])
                    self._last_numbers[year] = max(self._last_numbers.get(year, 0), number)
        number = self._last_numbers.get(moment.year, 0) + 1
        self._last_numbers[moment.year] = number
        return f"ORD-{moment.year}-{number:06d}"

    async def _close_cart(self, order: domain.Order) -> domain.Order:
        """Ask carting to close the order's cart, unless it is known closed; the order stands either way."""
        claim = self.claims.get(order.cart_id)
        if claim is None or claim.order_id != order.order_id or claim.closed or claim.refusal:
            return order
        refusal = ""
        try:
            await self.carting.CloseCart(cart_pb.CloseCartRequest(
                cart_id=order.cart_id, order_id=order.order_id, expected_version=order.cart_version))
        except grpc.aio.AioRpcError as exc:
            if is_outage(exc):
                log.warning("cart %s not closed yet for order %s (carting: %s); will retry",
                            order.cart_id, order.order_number, exc.details())
                return order
            refusal = f"{exc.code().name}: {exc.details()}"
            log.warning("carting refused to close cart %s for order %s: %s; the order stands",
                        order.cart_id, order.order_number, refusal)
        async with self.bus.unit_of_work() as work:
            await work.lock((self.claims, order.cart_id))
            claim = work.get(self.claims, order.cart_id)
            if claim is not None and claim.order_id == order.order_id:
                work.put(self.claims, order.cart_id, CartClaim(order.order_id, closed=not refusal, refusal=refusal))
        return order

    async def retry_cart_closes(self) -> None:
        """The sweep: close the carts of stored orders that carting could not be asked to close yet."""
        for claim in self.claims.values():
            if not claim.closed and not claim.refusal and (order := self.orders.get(claim.order_id)) is not None:
                await self._close_cart(order)

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
        return pb.ListCustomerOrdersResponse(orders=[messages.order(o) for o in page.orders],
                                             page=_page(page))

    async def ListOrders(self, request: pb.ListOrdersRequest, context: grpc.aio.ServicerContext) -> Any:
        if calling_customer(context):
            raise PermissionDenied("listing every order is for staff; a customer lists their own with "
                                   "ListCustomerOrders")
        page = domain.list_orders(self.orders.values(), filters=messages.order_filter(request),
                                  page_size=request.page.page_size, page_token=request.page.page_token)
        return pb.ListOrdersResponse(orders=[messages.order(o) for o in page.orders], page=_page(page))

    # --- changing -----------------------------------------------------------------------------

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: grpc.aio.ServicerContext) -> Any:
        order = self._order(request.order_id, context)
        if not request.reason:
            raise InvalidArgument("a cancellation reason is required: CUSTOMER_REQUEST, STAFF_DECISION or "
                                  "FRAUD_SUSPECTED")
        reason = messages.cancellation_reason(request.reason)
        actor = domain.Actor.CUSTOMER if calling_customer(context) else domain.Actor.STAFF
        async with self.bus.unit_of_work() as work:
            await work.lock((self.orders, order.order_id))
            current = work.get(self.orders, order.order_id)
            changed, events = domain.cancel_order(current, reason=reason, note=request.note, actor=actor, now=now())
            self._store(work, current, changed, events)
        return pb.CancelOrderResponse(order=messages.order(changed))

    async def RequestRefund(self, request: pb.RequestRefundRequest, context: grpc.aio.ServicerContext) -> Any:
        order = self._order(request.order_id, context)
        asked = messages.request_refund(request)
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


def _page(page: domain.OrderPage) -> paging_pb2.PageResponse:
    return paging_pb2.PageResponse(next_page_token=page.next_page_token, total_size=page.total_size)
