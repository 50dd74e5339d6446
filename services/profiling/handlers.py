"""Profiling's event handlers: confirmed and cancelled orders count into a customer's spend (VIP rule).

The settings profiling reads (customer.vip_threshold, shop.currency) arrive through ShopSettings,
which the wiring registers on administering.settings.v1; the rule reads the threshold at each order
event, so a new threshold applies from the next order on, without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shop.common.v1 import money_pb2

from services.profiling import domain, messages
from services.profiling.stores import CUSTOMERS_TOPIC, VIP_THRESHOLD, Stores
from services.runtime.bus import EventBus, EventContext
from services.runtime.clock import now
from services.runtime.errors import InvalidArgument
from services.runtime.proto import money_record
from services.runtime.shop_settings import ShopSettings

log = logging.getLogger(__name__)

OrderUseCase = Callable[..., tuple[domain.Customer, list[domain.CustomerStatusChanged]]]


class ProfilingHandlers:
    def __init__(self, stores: Stores, settings: ShopSettings) -> None:
        self.stores, self.settings = stores, settings

    def register(self, bus: EventBus) -> None:
        bus.on("ordering.orders.v1", "order_confirmed", self.order_confirmed)
        bus.on("ordering.orders.v1", "order_cancelled", self.order_cancelled)

    def vip_threshold(self) -> domain.Money:
        amount_minor, currency = self.settings.get(VIP_THRESHOLD)
        return domain.Money(amount_minor, currency)

    async def order_confirmed(self, event: EventContext) -> None:
        confirmed = event.event
        await self._count(event, confirmed.customer_id, confirmed.order_id, confirmed.totals.total,
                          domain.record_order_confirmed)

    async def order_cancelled(self, event: EventContext) -> None:
        cancelled = event.event
        await self._count(event, cancelled.customer_id, cancelled.order_id, cancelled.totals.total,
                          domain.record_order_cancelled)

    async def _count(self, event: EventContext, customer_id: str, order_id: str, total: money_pb2.Money,
                     use_case: OrderUseCase) -> None:
        if not order_id:
            raise InvalidArgument(f"{event.name} without an order id")
        customers = self.stores.customers
        await event.work.lock((customers, customer_id))
        customer = event.work.get(customers, customer_id)
        if customer is None:
            # Orders are placed by registered customers; one we never heard of has nothing to count into.
            log.warning("%s of order %s names no customer profiling knows (%r); ignored",
                        event.name, order_id, customer_id)
            return
        changed, events = use_case(customer, order_id=order_id, total=money_record(total),
                                   vip_threshold=self.vip_threshold(), now=now())
        if changed is customer:
            return  # already counted (or already cancelled): a replay or a late duplicate
        event.work.put(customers, customer_id, changed)
        for status_changed in events:
            event.publish(CUSTOMERS_TOPIC, customer_id, aggregate_version=changed.version,
                          **messages.customer_event(status_changed))
