"""Placing an order: the one use case of ordering that needs other services, as its steps in order.

The servicer checks the request and calls `Checkout.place_order` once; the rules stay in domain.py, the calls
to carting and shipping live here.

Closing the cart: the order is stored (with OrderCreated) first, then carting.CloseCart is asked with the order
id and the cart version the order was priced from. Carting's close is idempotent for the same order, so it is
simply asked again when it did not answer: by a retried CreateOrder (same key) and by a sweep. The order stands
whatever carting says. A claim per cart, stored with the order, refuses a second order of the same cart
meanwhile.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from datetime import datetime
from typing import Any

import grpc
from carting.v1 import cart_service_pb2 as cart_pb
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_pb

from services.ordering import domain, messages
from services.ordering.stores import ORDERS_TOPIC, CartClaim
from services.runtime import proto
from services.runtime.bus import EventBus, is_outage
from services.runtime.clients import answers_of
from services.runtime.clock import now
from services.runtime.errors import FailedPrecondition
from services.runtime.store import Store
from services.runtime.transactions import UnitOfWork

ORDER_NUMBER = re.compile(r"^ORD-(\d{4})-(\d+)$")
log = logging.getLogger(__name__)


class Checkout:
    def __init__(self, bus: EventBus, orders: Store[domain.Order], keys: Store[str], claims: Store[CartClaim],
                 carting: Any, shipping: Any) -> None:
        # keys: "<customer id>/<idempotency key>" -> order id; claims: cart id -> CartClaim.
        self.bus, self.orders, self.keys, self.claims = bus, orders, keys, claims
        self.carting, self.shipping = carting, shipping
        self._last_numbers: dict[int, int] | None = None  # year -> last order number given out

    async def place_order(self, place: domain.PlaceOrder, customer_id: str) -> domain.Order:
        """The order `place` asks for, placed once per idempotency key: stored as PENDING with OrderCreated."""
        # 1. The same request again (a retry, a double click) answers the order it placed.
        key = f"{customer_id}/{place.idempotency_key}"
        if (repeated := self._repeated(key, place)) is not None:
            return await self.close_cart(repeated)
        # 2. The cart as carting has it now, not yet ordered.
        cart = await self._read_cart(place.cart_id)
        self._refuse_if_ordered(self.claims.get(cart.cart_id), cart.cart_id)
        # 3. The cart's own checks first, so shipping is asked nothing about a cart that cannot be ordered
        #    (the option's price is not known yet, so the total the shopper saw is checked in step 5).
        order_id, moment = str(uuid.uuid4()), now()
        provisional = domain.ShippingQuote(place.shipping_option_id, "", "", "", 0, cart.currency)
        domain.create_order(dataclasses.replace(place, expected_total=None), cart=cart, shipping_option=provisional,
                            caller_customer_id=customer_id, order_id=order_id, order_number="", now=moment)
        # 4. Shipping validates and prices the option for this address and weight.
        option = await self._shipping_option(place, cart)
        # 5. The order, its key and the cart's claim stored with OrderCreated in one unit of work.
        placed = await self._store_new_order(place, cart, option, key, order_id, customer_id, moment)
        # 6. Carting closes the cart (or a sweep asks again later).
        return await self.close_cart(placed)

    async def _read_cart(self, cart_id: str) -> domain.CartSnapshot:
        with answers_of("carting"):
            answer = await self.carting.GetCart(cart_pb.GetCartRequest(cart_id=cart_id))
        return messages.cart_snapshot_record(answer.cart)

    async def _store_new_order(self, place: domain.PlaceOrder, cart: domain.CartSnapshot,
                               option: domain.ShippingQuote, key: str, order_id: str, customer_id: str,
                               moment: datetime) -> domain.Order:
        async with self.bus.unit_of_work() as work:
            await work.lock((self.orders, order_id), (self.keys, key), (self.claims, cart.cart_id))
            # A concurrent try may have placed it meanwhile, and its unit may still be on its way to Kafka (a
            # client retrying through a broker outage): read what is queued too, as the claim below is read,
            # or the retry would find the cart claimed but not its own key. Should that try be rolled back,
            # this unit is too, and the client's next retry places the order.
            placed = self._repeated(key, place, work)
            if placed is None:
                placed, events = domain.create_order(place, cart=cart, shipping_option=option,
                                                     caller_customer_id=customer_id, order_id=order_id,
                                                     order_number=self._next_number(moment), now=moment)
                self._refuse_if_ordered(work.get(self.claims, cart.cart_id), cart.cart_id)
                work.put(self.orders, order_id, placed)
                work.put(self.keys, key, order_id)
                work.put(self.claims, cart.cart_id, CartClaim(order_id=order_id))
                for event in events:
                    self.bus.publish(work, ORDERS_TOPIC, placed.order_id, aggregate_version=placed.version,
                                     **messages.order_event(event))
        return placed

    def _refuse_if_ordered(self, claim: CartClaim | None, cart_id: str) -> None:
        """A cart makes one order: another request for it (under another key) is refused by name."""
        if claim is not None and not claim.refusal:
            ordered = self.orders.get(claim.order_id)
            raise FailedPrecondition(f"cart {cart_id} was already ordered "
                                     f"(order {ordered.order_number if ordered else claim.order_id})")

    def _repeated(self, key: str, place: domain.PlaceOrder, work: UnitOfWork | None = None) -> domain.Order | None:
        """The order already placed with this idempotency key (refused if the request differs); with `work`,
        as that unit of work reads (changes queued for commit included)."""
        order_id = work.get(self.keys, key) if work else self.keys.get(key)
        existing = (work.get(self.orders, order_id) if work else self.orders.get(order_id)) if order_id else None
        return domain.order_for_repeated_request(existing, place) if existing is not None else None

    async def _shipping_option(self, place: domain.PlaceOrder, cart: domain.CartSnapshot) -> domain.ShippingQuote:
        """The option as shipping validates and prices it now, for the shipping address and the cart's weight."""
        weight = sum(line.unit_weight_grams * line.quantity for line in cart.lines)
        with answers_of("shipping"):
            answer = await self.shipping.ValidateShippingOption(shipping_pb.ValidateShippingOptionRequest(
                shipping_option_id=place.shipping_option_id, destination=proto.address(place.shipping_address),
                parcel=shipment_pb2.Parcel(weight_grams=max(1, weight)), currency=cart.currency,
            ))
        if not answer.valid:
            raise FailedPrecondition(f"shipping: {answer.rejection_message or 'the shipping option cannot be used'}")
        return proto.shipping_quote_record(answer.option)

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

    async def close_cart(self, order: domain.Order) -> domain.Order:
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
                await self.close_cart(order)
