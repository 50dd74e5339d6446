"""CartService: carts read and changed through the domain, priced with what cataloging, stocking,
shipping and the settings say at the moment of the call.

Caller identity: who may call each RPC is in access.py; a signed-in customer (their token) reaches
only their own customer carts, and anonymous carts are reached by their unguessable id; staff and
services reach every cart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import grpc
from carting.v1 import cart_service_pb2 as pb
from carting.v1 import cart_service_pb2_grpc
from cataloging.v1 import catalog_service_pb2 as catalog_pb
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_pb
from stocking.v1 import stock_service_pb2 as stock_pb

from services.carting import domain, messages
from services.carting.stores import CustomerStatusView
from services.runtime import auth
from services.runtime.bus import EventBus
from services.runtime.clients import answers_of
from services.runtime.clock import now
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, required
from services.runtime.interceptors import calling_customer
from services.runtime.proto import address, address_record, shipping_quote_record
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import Store

# Administering's defaults, used until the settings topic says otherwise.
SETTING_DEFAULTS: dict[str, Any] = {
    "shop.currency": "EUR",
    "customer.vip_discount_bps": domain.DEFAULT_VIP_DISCOUNT_BPS,
    **{f"tax.rate_bps.{tax_class}": rate for tax_class, rate in domain.DEFAULT_TAX_RATES_BPS.items()},
}


class CartServicer(cart_service_pb2_grpc.CartServiceServicer):
    def __init__(self, bus: EventBus, settings: ShopSettings, carts: Store[domain.Cart],
                 customer_carts: Store[str], statuses: Store[CustomerStatusView],
                 catalog: Any, stock: Any, shipping: Any) -> None:
        self.bus, self.settings = bus, settings
        # customer id -> id of the customer's latest cart (readers check that it is still OPEN).
        self.carts, self.customer_carts, self.statuses = carts, customer_carts, statuses
        self.catalog, self.stock, self.shipping = catalog, stock, shipping

    # --- RPCs ---------------------------------------------------------------------------------

    async def CreateCart(self, request: pb.CreateCartRequest, context: grpc.aio.ServicerContext) -> Any:
        caller = calling_customer(context)
        if caller and request.customer_id != caller:
            raise PermissionDenied("a signed-in customer can only create their own cart")
        currency = request.currency or self.settings.get("shop.currency")
        cart_id = str(uuid.uuid4())
        async with self.bus.unit_of_work() as work:
            locks = [(self.carts, cart_id)] + ([(self.customer_carts, request.customer_id)] if request.customer_id
                                               else [])
            await work.lock(*locks)
            existing = self._open_cart_of(request.customer_id) if request.customer_id else None
            cart, created = domain.create_cart(cart_id=cart_id, customer_id=request.customer_id, currency=currency,
                                               now=now(), existing_open_cart=existing)
            if created:
                work.put(self.carts, cart.cart_id, cart)
                if cart.customer_id:
                    work.put(self.customer_carts, cart.customer_id, cart.cart_id)
        return pb.CreateCartResponse(cart=await self._proto(cart), created=created)

    async def GetCart(self, request: pb.GetCartRequest, context: grpc.aio.ServicerContext) -> Any:
        return pb.GetCartResponse(cart=await self._proto(self._cart(request.cart_id, context)))

    async def GetCartTotals(self, request: pb.GetCartTotalsRequest, context: grpc.aio.ServicerContext) -> Any:
        cart, totals = await self._view(self._cart(request.cart_id, context))
        return pb.GetCartTotalsResponse(totals=messages.cart_totals(totals, cart.currency), cart_version=cart.version)

    async def AddLine(self, request: pb.AddLineRequest, context: grpc.aio.ServicerContext) -> Any:
        cart = self._cart(request.cart_id, context)
        sku = required(request.sku, "SKU")
        if not 1 <= request.quantity <= domain.MAX_LINE_QUANTITY:
            raise InvalidArgument(f"quantity to add must be between 1 and {domain.MAX_LINE_QUANTITY}, "
                                  f"got {request.quantity}")
        if cart.state is not domain.CartState.OPEN:
            # Refused by the domain's own words, before cataloging and stocking are asked anything.
            domain.add_line(cart, sku=sku, quantity=request.quantity, product=None, available=0, now=now())
        product, available = await asyncio.gather(self._product(sku), self._available([sku]))
        changed = await self._change(cart.cart_id, lambda c: domain.add_line(
            c, sku=sku, quantity=request.quantity, product=product, available=available.get(sku, 0), now=now()))
        return pb.AddLineResponse(cart=await self._proto(changed))

    async def UpdateLineQuantity(self, request: pb.UpdateLineQuantityRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        cart = self._cart(request.cart_id, context)
        sku = required(request.sku, "SKU")
        if not 1 <= request.quantity <= domain.MAX_LINE_QUANTITY:
            raise InvalidArgument(f"quantity must be between 1 and {domain.MAX_LINE_QUANTITY}, got {request.quantity}"
                                  f"{'; use RemoveLine to drop the line' if request.quantity == 0 else ''}")
        if cart.line(sku) is None or cart.state is not domain.CartState.OPEN:
            # Refused by the domain's own words (no such line, cart closed) before stocking is asked.
            domain.update_line_quantity(cart, sku=sku, quantity=request.quantity, available=0, now=now())
        available = await self._available([sku])
        changed = await self._change(cart.cart_id, lambda c: domain.update_line_quantity(
            c, sku=sku, quantity=request.quantity, available=available.get(sku, 0), now=now()))
        return pb.UpdateLineQuantityResponse(cart=await self._proto(changed))

    async def RemoveLine(self, request: pb.RemoveLineRequest, context: grpc.aio.ServicerContext) -> Any:
        cart = self._cart(request.cart_id, context)
        sku = required(request.sku, "SKU")
        changed = await self._change(cart.cart_id, lambda c: domain.remove_line(c, sku=sku, now=now()))
        return pb.RemoveLineResponse(cart=await self._proto(changed))

    async def ClearCart(self, request: pb.ClearCartRequest, context: grpc.aio.ServicerContext) -> Any:
        cart = self._cart(request.cart_id, context)
        changed = await self._change(cart.cart_id, lambda c: domain.clear_cart(c, now=now()))
        return pb.ClearCartResponse(cart=await self._proto(changed))

    async def AcknowledgePriceChanges(self, request: pb.AcknowledgePriceChangesRequest,
                                      context: grpc.aio.ServicerContext) -> Any:
        cart = self._cart(request.cart_id, context)
        changed = await self._change(cart.cart_id, lambda c: domain.acknowledge_price_changes(c, now=now()))
        return pb.AcknowledgePriceChangesResponse(cart=await self._proto(changed))

    async def SetShipping(self, request: pb.SetShippingRequest, context: grpc.aio.ServicerContext) -> Any:
        cart = self._cart(request.cart_id, context)
        destination = address_record(request.destination) if request.HasField("destination") else None
        option_id = request.shipping_option_id
        if option_id and destination is None:
            raise InvalidArgument("a shipping option needs a destination: set the destination too")
        if destination is not None and not destination.country_code:
            raise InvalidArgument("a shipping destination needs at least a country code")
        async with self.bus.unit_of_work() as work:
            await work.lock((self.carts, cart.cart_id))
            current = work.get(self.carts, cart.cart_id)
            domain.set_shipping(current, destination=destination, quote=None, now=now())  # refuses a closed cart
            quote = None
            if option_id and destination is not None:  # priced under the lock, for the weight it will have
                quote = await self._quote(option_id, destination, domain.cart_weight_grams(current), current.currency)
            changed = domain.set_shipping(current, destination=destination, quote=quote, now=now())
            work.put(self.carts, cart.cart_id, changed)
        return pb.SetShippingResponse(cart=await self._proto(changed))

    async def MergeCarts(self, request: pb.MergeCartsRequest, context: grpc.aio.ServicerContext) -> Any:
        anonymous_id = required(request.anonymous_cart_id, "anonymous cart id")
        customer_id = required(request.customer_id, "customer id")
        caller = calling_customer(context)
        if caller and caller != customer_id:
            raise PermissionDenied("a signed-in customer can only merge a cart into their own")
        anonymous = self.carts.get(anonymous_id)
        if anonymous is None:
            raise NotFound(f"no cart {anonymous_id!r}")
        target = self._open_cart_of(customer_id)
        available = await self._available(line.sku for line in anonymous.lines)
        new_cart_id = str(uuid.uuid4())
        target_id = target.cart_id if target is not None else new_cart_id
        async with self.bus.unit_of_work() as work:
            await work.lock((self.carts, anonymous_id), (self.carts, target_id), (self.customer_carts, customer_id))
            now_target = self._open_cart_of(customer_id)
            if (now_target.cart_id if now_target is not None else new_cart_id) != target_id:
                raise FailedPrecondition(f"customer {customer_id}'s cart changed during the merge; try again")
            result = domain.merge_carts(work.get(self.carts, anonymous_id), now_target, customer_id=customer_id,
                                        new_cart_id=new_cart_id, available_by_sku=available, now=now())
            if result.anonymous_cart.version != anonymous.version:
                work.put(self.carts, anonymous_id, result.anonymous_cart)
            if now_target is None or result.customer_cart.version != now_target.version:
                work.put(self.carts, result.customer_cart.cart_id, result.customer_cart)
            if result.customer_cart_created:
                work.put(self.customer_carts, customer_id, result.customer_cart.cart_id)
        return pb.MergeCartsResponse(cart=await self._proto(result.customer_cart),
                                     adjustments=[messages.merge_adjustment(a) for a in result.adjustments])

    async def CloseCart(self, request: pb.CloseCartRequest, context: grpc.aio.ServicerContext) -> Any:
        # Services only (access.py): ordering closes a cart when it stores the order made from it.
        cart_id = required(request.cart_id, "cart id")
        order_id = required(request.order_id, "order id")
        if request.expected_version < 0:
            raise InvalidArgument(f"expected version cannot be negative, got {request.expected_version}")
        self._cart(cart_id, context)
        changed = await self._change(cart_id, lambda c: domain.close_cart(
            c, order_id=order_id, expected_version=request.expected_version, now=now()))
        return pb.CloseCartResponse(cart=await self._proto(changed))

    # --- helpers ------------------------------------------------------------------------------

    def _cart(self, cart_id: str, context: grpc.aio.ServicerContext) -> domain.Cart:
        """The cart, if it exists and the caller may reach it."""
        cart = self.carts.get(required(cart_id, "cart id"))
        if cart is None:
            raise NotFound(f"no cart {cart_id!r}")
        # Another customer's cart answers as if none existed; an anonymous cart is reached by its id.
        auth.owned_by(cart.customer_id, f"cart {cart_id!r}", unowned_is_open=True)
        return cart

    def _open_cart_of(self, customer_id: str) -> domain.Cart | None:
        cart_id = self.customer_carts.get(customer_id)
        cart = self.carts.get(cart_id) if cart_id else None
        return cart if cart is not None and cart.state is domain.CartState.OPEN else None

    async def _change(self, cart_id: str, change: Any) -> domain.Cart:
        """Apply a shopper's change under the cart's lock; a new weight gets a new shipping quote."""
        async with self.bus.unit_of_work() as work:
            await work.lock((self.carts, cart_id))
            cart = work.get(self.carts, cart_id)
            changed: domain.Cart = change(cart)
            if changed.version == cart.version:
                return changed
            shipping = changed.shipping
            if (shipping is not None and shipping.option is not None
                    and domain.cart_weight_grams(changed) != domain.cart_weight_grams(cart)):
                try:
                    quote = await self._quote(shipping.option.shipping_option_id, shipping.destination,
                                              domain.cart_weight_grams(changed), changed.currency)
                except (NotFound, FailedPrecondition):
                    quote = None  # the option no longer takes this parcel: the shopper chooses again
                changed = domain.set_shipping(changed, destination=shipping.destination, quote=quote, now=now())
            work.put(self.carts, cart_id, changed)
        return changed

    def _pricing(self) -> domain.PricingSettings:
        return domain.PricingSettings(
            vip_discount_bps=self.settings.integer("customer.vip_discount_bps"),
            tax_rates_bps={c: self.settings.integer(f"tax.rate_bps.{c}") for c in domain.TAX_CLASSES},
        )

    def _is_vip(self, customer_id: str) -> bool:
        status = self.statuses.get(customer_id) if customer_id else None
        return status is not None and status.status == "VIP"

    async def _available(self, skus: Iterable[str]) -> dict[str, int]:
        """Stocking's available units per SKU; SKUs stocking does not track are left out (none in stock)."""
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        with answers_of("stocking"):
            answer = await self.stock.BatchGetStockLevels(stock_pb.BatchGetStockLevelsRequest(skus=wanted))
        return {level.sku: level.available for level in answer.levels}

    async def _product(self, sku: str) -> domain.CatalogProduct | None:
        with answers_of("cataloging"):
            answer = await self.catalog.BatchGetProductsBySku(catalog_pb.BatchGetProductsBySkuRequest(skus=[sku]))
        found = next((product for product in answer.products if product.sku == sku), None)
        return messages.catalog_product_record(found) if found is not None else None

    async def _quote(self, option_id: str, destination: domain.Address, weight_grams: int,
                     currency: str) -> domain.ShippingQuote:
        """Shipping's price of an option for this destination and parcel; refused when it cannot serve them."""
        with answers_of("shipping"):
            answer = await self.shipping.ValidateShippingOption(shipping_pb.ValidateShippingOptionRequest(
                shipping_option_id=option_id, destination=address(destination),
                # An empty cart still gets a quote: it weighs as the lightest parcel.
                parcel=shipment_pb2.Parcel(weight_grams=max(1, weight_grams)), currency=currency,
            ))
        if not answer.valid:
            why = f"shipping: {answer.rejection_message or f'shipping option {option_id!r} cannot be used'}"
            if answer.rejection == shipping_pb.OPTION_REJECTION_UNKNOWN_OPTION:
                raise NotFound(why)
            raise FailedPrecondition(why)
        return shipping_quote_record(answer.option)

    async def _view(self, cart: domain.Cart) -> tuple[domain.Cart, domain.CartTotals]:
        """The cart as shown now: availability from stocking, the latest prices and settings."""
        moment = now()
        if domain.is_expired(cart, moment):  # past its expiry, not swept yet: show it as it is
            cart = domain.expire_carts([cart], moment)[0]
        totals = domain.compute_totals(
            cart, available_by_sku=await self._available(line.sku for line in cart.lines), pricing=self._pricing(),
            customer_is_vip=self._is_vip(cart.customer_id), shipping_estimate=domain.chosen_shipping_price(cart),
        )
        return cart, totals

    async def _proto(self, cart: domain.Cart) -> pb.Cart:
        return messages.cart(*await self._view(cart))
