"""Ordering's side of the saga: every participant's event goes through the domain's `apply_event`, and
what it answers (OrderConfirmed, OrderCancelled again ...) is published in the same unit of work;
the timeout sweep cancels orders whose participants did not answer within `saga.step_timeout`.

The domain is idempotent by business key (sub-states, refund and credit note ids), so redeliveries,
re-publications under new event ids and reordering change nothing twice.
"""

from __future__ import annotations

from services.ordering import domain, messages
from services.ordering.stores import ORDERS_TOPIC, SAGA_TOPICS
from services.runtime.bus import EventBus, EventContext
from services.runtime.clock import now
from services.runtime.errors import NotFound
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import Store

# Administering's default, used until the settings topic says otherwise.
SETTING_DEFAULTS = {"saga.step_timeout": domain.DEFAULT_STEP_TIMEOUT}


class OrderingHandlers:
    """The checkout saga's steps: every answer of a participant moves its order on."""

    def __init__(self, orders: Store[domain.Order]) -> None:
        self.orders = orders

    def register(self, bus: EventBus) -> None:
        for topic in SAGA_TOPICS:  # every event the topic map says ordering consumes there
            for name in bus.topics[topic].consumers["ordering"]:
                bus.on(topic, name, self.saga_step)

    async def saga_step(self, event: EventContext) -> None:
        order_id = event.event.order_id or event.metadata.aggregate_id
        reported = messages.saga_event_record(event.name, event.event, event.metadata)
        await event.work.lock((self.orders, order_id))
        order = event.work.get(self.orders, order_id)
        if order is None:
            # The order is stored with OrderCreated, before any participant can act on it: a permanent refusal.
            raise NotFound(f"no order {order_id!r}: {event.name} from {event.metadata.producer} cannot apply")
        changed, answers = domain.apply_event(order, reported, now=now())
        if changed.version != order.version:
            event.work.put(self.orders, order_id, changed)
        for answer in answers:
            event.publish(ORDERS_TOPIC, order_id, aggregate_version=changed.version, **messages.order_event(answer))


async def time_out_stalled_orders(bus: EventBus, orders: Store[domain.Order], settings: ShopSettings) -> None:
    """The sweep: a PENDING order whose participants did not answer in time is cancelled (TIMED_OUT)."""
    step_timeout = settings.duration("saga.step_timeout")
    moment = now()
    due = [order.order_id for order in orders.values()
           if (deadline := domain.saga_deadline(order, step_timeout)) is not None and moment >= deadline]
    if not due:
        return
    async with bus.unit_of_work() as work:
        await work.lock(*((orders, order_id) for order_id in due))
        for order_id in due:
            order = work.get(orders, order_id)  # looked at again: an event may have moved it meanwhile
            changed, answers = domain.time_out_order(order, now=now(), step_timeout=step_timeout)
            if changed.version != order.version:
                work.put(orders, order_id, changed)
            for answer in answers:
                bus.publish(work, ORDERS_TOPIC, order_id, aggregate_version=changed.version,
                            **messages.order_event(answer))
