"""Value types more than one service holds, each defined once; their Protobuf mappers are in proto.py.

Pure (stdlib only), so a domain may import it. A service keeps a type of its own only where it means
something else, and then under another name (see docs/services.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Money:
    """shop.common.v1.Money: an amount in the currency's minor unit (cents for EUR), never a float,
    and its ISO 4217 code. Each domain checks the amounts it accepts (sign, currency)."""

    amount_minor: int
    currency: str


@dataclass(frozen=True)
class Address:
    """shop.common.v1.Address: a postal address for delivery, billing, shipping rates and invoices.
    Every field may be empty here; each use case requires the ones it needs (a rate needs only the
    country, a delivery a name, a street, a postal code and a city)."""

    full_name: str = ""
    company: str = ""
    line1: str = ""
    line2: str = ""
    postal_code: str = ""
    city: str = ""
    region: str = ""
    country_code: str = ""  # ISO 3166-1 alpha-2, upper case
    phone: str = ""


@dataclass(frozen=True)
class ShippingQuote:
    """One of shipping's options as shipping priced it for a destination and a weight
    (shipping.v1.ShippingOption): what a cart shows and an order keeps of the option chosen.
    Shipping owns it; `service_level` is shipping.v1.ServiceLevel's lower-case code ("pickup_point"),
    empty when unspecified."""

    shipping_option_id: str
    carrier_code: str
    carrier_name: str
    service_level: str
    price: int  # minor units of `currency`
    currency: str
    estimated_days_min: int = 0
    estimated_days_max: int = 0


class SellerStatus(StrEnum):
    """administering.v1.SellerStatus without its prefix. Administering owns it (it onboards, suspends and
    reinstates sellers); cataloging keeps each seller's last status to accept or hide their products."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


@dataclass(frozen=True)
class RefundedLine:
    """An order line, or part of it, that a refund pays back: ordering works it out
    (OrderRefundRequested), paying pays it (PaymentRefunded), billing credits it."""

    sku: str
    quantity: int
    amount: int  # tax included, in minor units of the order's currency


class ShipmentStatus(StrEnum):
    """shipping.v1.ShipmentStatus without its prefix. Shipping owns it: only shipping moves a
    shipment from one status to the next; ordering keeps the last one shipping reported."""

    LABEL_CREATED = "LABEL_CREATED"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"
    RETURNED_TO_SENDER = "RETURNED_TO_SENDER"
    CANCELLED = "CANCELLED"
