"""Profiling's state: its stores, the settings it reads, and the topic it publishes on.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

from dataclasses import dataclass

from services.profiling import domain
from services.runtime.bus import EventBus
from services.runtime.store import JsonCodec, Store

CUSTOMERS_TOPIC = "profiling.customers.v1"
SHOP_CURRENCY = "shop.currency"
VIP_THRESHOLD = "customer.vip_threshold"


@dataclass
class Stores:
    customers: Store[domain.Customer]
    customer_emails: Store[str]  # normalised email -> customer id
    staff: Store[domain.StaffMember]
    staff_emails: Store[str]  # normalised email -> staff id
    sign_in_attempts: Store[domain.SignInAttempts]  # "<account kind>:<email>", unknown emails too

    @classmethod
    def on(cls, bus: EventBus) -> Stores:
        return cls(
            customers=bus.store("customers", JsonCodec(domain.Customer)),
            customer_emails=bus.store("customer-emails", JsonCodec(str)),
            staff=bus.store("staff", JsonCodec(domain.StaffMember)),
            staff_emails=bus.store("staff-emails", JsonCodec(str)),
            sign_in_attempts=bus.store("sign-in-attempts", JsonCodec(domain.SignInAttempts)),
        )
