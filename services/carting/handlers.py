"""Carting's event handlers and its expiry sweep: the changes no shopper asked for.

Catalogue events refresh the lines of every OPEN cart holding the SKU (the domain ignores older
catalogue versions, so replays and reordering are harmless); profiling's status changes keep the
view of who is VIP; settings are read by ShopSettings itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.carting import domain, messages
from services.carting.stores import CUSTOMERS_TOPIC, PRODUCTS_TOPIC, CustomerStatusView
from services.runtime.bus import EventBus, EventContext
from services.runtime.clock import now
from services.runtime.store import Store


class CartingHandlers:
    def __init__(self, bus: EventBus, carts: Store[domain.Cart], statuses: Store[CustomerStatusView]) -> None:
        self.bus, self.carts, self.statuses = bus, carts, statuses

    def register(self, bus: EventBus) -> None:
        bus.on(PRODUCTS_TOPIC, "product_price_changed", self.product_price_changed)
        bus.on(PRODUCTS_TOPIC, "product_updated", self.product_updated)
        bus.on(PRODUCTS_TOPIC, "product_archived", self.product_archived)
        bus.on(CUSTOMERS_TOPIC, "customer_status_changed", self.customer_status_changed)

    async def product_price_changed(self, event: EventContext) -> None:
        changed = event.event
        await self._refresh(event, changed.sku, lambda cart, now: domain.apply_price_change(
            cart, sku=changed.sku, new_unit_price=changed.new_price.amount_minor, currency=changed.new_price.currency,
            product_version=changed.version, now=now))

    async def product_updated(self, event: EventContext) -> None:
        product = messages.catalog_product_record(event.event.product)
        if product is None:
            return  # a draft: no cart can hold it
        await self._refresh(event, product.sku, lambda cart, now: domain.apply_product_update(cart, product, now=now))

    async def product_archived(self, event: EventContext) -> None:
        sku = event.event.sku
        await self._refresh(event, sku, lambda cart, now: domain.apply_product_archived(cart, sku=sku, now=now))

    async def _refresh(self, event: EventContext, sku: str,
                       change: Callable[[domain.Cart, datetime], domain.Cart]) -> None:
        """Apply a catalogue change to every OPEN cart with a line for the SKU, in the event's unit of work."""
        holding = [cart.cart_id for cart in self.carts.values()
                   if cart.state is domain.CartState.OPEN and cart.line(sku) is not None]
        if not holding:
            return
        await event.work.lock(*((self.carts, cart_id) for cart_id in holding))
        moment = now()
        for cart_id in holding:
            cart = event.work.get(self.carts, cart_id)
            changed = change(cart, moment)
            if changed.version != cart.version:
                event.work.put(self.carts, cart_id, changed)

    async def customer_status_changed(self, event: EventContext) -> None:
        changed = event.event
        customer_id = changed.customer_id or event.metadata.aggregate_id
        version = event.metadata.aggregate_version
        await event.work.lock((self.statuses, customer_id))
        known = event.work.get(self.statuses, customer_id)
        if known is not None and version and version <= known.version:
            return  # older than what we hold
        status = messages.customer_status_record(changed.new_status)
        event.work.put(self.statuses, customer_id, CustomerStatusView(status=status, version=version))


async def expire_abandoned_carts(bus: EventBus, carts: Store[domain.Cart]) -> None:
    """The sweep: anonymous carts left untouched past their expiry become EXPIRED."""
    due = [cart.cart_id for cart in domain.expire_carts(carts.values(), now())]
    if not due:
        return
    async with bus.unit_of_work() as work:
        await work.lock(*((carts, cart_id) for cart_id in due))
        # Looked at again under the locks: a shopper may have touched one meanwhile.
        current = [cart for cart in (work.get(carts, cart_id) for cart_id in due) if cart is not None]
        for expired in domain.expire_carts(current, now()):
            work.put(carts, expired.cart_id, expired)
