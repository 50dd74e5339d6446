"""Shipping's rules: carriers and their rate table, quotes, shipments and the carriers' scans.

Pure: no I/O, no clock (every use case takes `now`), no id generation (ids and the tracking-number
generator come in). A use case takes the current shipment(s) and plain values and returns the new
shipment with the events to publish, for the wiring to store and publish in one unit of work.

The shop ships from France. A destination falls in one of three zones: domestic (FR and Monaco),
the other EU member states, and the rest of the world (the countries the shop ships to outside
the EU, and France overseas). Prices are ints in euro cents, outside tax.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.values import Address, ShipmentStatus

RATE_CURRENCY = "EUR"


class Zone(StrEnum):
    DOMESTIC = "domestic"
    EU = "eu"
    WORLD = "world"


class ServiceLevel(StrEnum):
    """The lower-case codes other services carry (shipping/v1/shipment.proto)."""

    STANDARD = "standard"
    EXPRESS = "express"
    PICKUP_POINT = "pickup_point"


class OptionRejection(StrEnum):
    """Why an option cannot ship a parcel to an address (shipping_service.proto)."""

    UNKNOWN_OPTION = "UNKNOWN_OPTION"
    DESTINATION_NOT_SERVED = "DESTINATION_NOT_SERVED"
    PARCEL_TOO_LARGE = "PARCEL_TOO_LARGE"
    CARRIER_INACTIVE = "CARRIER_INACTIVE"


# A parcel's journey, in order. Scans move a shipment forward only, and may skip steps (carriers
# miss scans). EXCEPTION can happen anywhere before the end and is left by the next forward scan.
JOURNEY = (ShipmentStatus.LABEL_CREATED, ShipmentStatus.PICKED_UP, ShipmentStatus.IN_TRANSIT,
           ShipmentStatus.OUT_FOR_DELIVERY, ShipmentStatus.DELIVERED)
FINAL_STATUSES = frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED_TO_SENDER, ShipmentStatus.CANCELLED})
# Statuses a carrier scan may report; LABEL_CREATED and CANCELLED are shipping's own doing.
SCANNED_STATUSES = frozenset({ShipmentStatus.PICKED_UP, ShipmentStatus.IN_TRANSIT, ShipmentStatus.OUT_FOR_DELIVERY,
                              ShipmentStatus.DELIVERED, ShipmentStatus.EXCEPTION, ShipmentStatus.RETURNED_TO_SENDER})

DOMESTIC_COUNTRIES = frozenset({"FR", "MC"})  # La Poste treats Monaco as domestic
EU_MEMBER_STATES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
    "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"})
# Outside the EU, the shop ships to these countries and to France overseas; to no others.
WORLD_COUNTRIES = frozenset({
    "GB", "CH", "NO", "IS", "LI", "AD", "SM", "US", "CA", "MX", "BR", "JP", "KR", "SG", "HK", "AU", "NZ", "IL",
    "AE", "MA", "TN", "TR", "ZA", "IN",
    "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF"})
# French postal codes of the overseas departments and territories: outside the EU's VAT area and
# flown there, so priced as the rest of the world even when the address says "FR".
OVERSEAS_POSTAL_PREFIXES = ("97", "98")
COUNTRIES_WITHOUT_POSTAL_CODES = frozenset({"AE", "HK", "IE"})


@dataclass(frozen=True)
class WeightBand:
    """Prices of parcels up to `max_weight_grams`, per zone; None where the service does not go."""

    max_weight_grams: int
    domestic: int | None
    eu: int | None
    world: int | None

    def price(self, zone: Zone) -> int | None:
        return {Zone.DOMESTIC: self.domestic, Zone.EU: self.eu, Zone.WORLD: self.world}[zone]


@dataclass(frozen=True)
class CarrierService:
    level: ServiceLevel
    display_name: str
    days: dict[Zone, tuple[int, int]]  # business days (min, max) per zone served
    bands: tuple[WeightBand, ...]  # lightest first; the last one is the heaviest parcel accepted
    max_side_mm: int  # longest side accepted
    max_sides_sum_mm: int  # length + width + height accepted


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    services: tuple[CarrierService, ...]
    tracking_url_template: str  # "{tracking_number}" marks where the number goes
    tracking_prefix: str  # tracking numbers look like the carrier's: prefix, digits, a check digit
    tracking_digits: int
    active: bool = True

    @property
    def max_weight_grams(self) -> int:
        return max(service.bands[-1].max_weight_grams for service in self.services)

    @property
    def country_codes(self) -> list[str]:
        zones = {zone for service in self.services for zone in service.days}
        return sorted(code for code in DOMESTIC_COUNTRIES | EU_MEMBER_STATES | WORLD_COUNTRIES
                      if _zone_of_country(code) in zones)

    def service(self, level: ServiceLevel) -> CarrierService | None:
        return next((s for s in self.services if s.level is level), None)


def _bands(*rows: tuple[int, int | None, int | None, int | None]) -> tuple[WeightBand, ...]:
    return tuple(WeightBand(*row) for row in rows)


# The rate table. Each row: (up to grams, domestic, EU, rest of world), in euro cents outside tax.
CARRIERS: tuple[Carrier, ...] = (
    Carrier(
        code="colissimo", name="Colissimo", tracking_prefix="6A", tracking_digits=10,
        tracking_url_template="https://www.laposte.fr/outils/suivre-vos-envois?code={tracking_number}",
        services=(
            CarrierService(
                ServiceLevel.STANDARD, "Colissimo", max_side_mm=1000, max_sides_sum_mm=1500,
                days={Zone.DOMESTIC: (2, 3), Zone.EU: (3, 6), Zone.WORLD: (6, 12)},
                bands=_bands((250, 495, 1095, 1995),
                             (500, 695, 1295, 2495),
                             (1000, 895, 1595, 2995),
                             (2000, 1095, 1895, 3995),
                             (5000, 1595, 2595, 5995),
                             (10000, 2295, 3995, 8995),
                             (30000, 3495, 5995, 14995))),
            CarrierService(
                ServiceLevel.EXPRESS, "Colissimo Express", max_side_mm=1000, max_sides_sum_mm=1500,
                days={Zone.DOMESTIC: (1, 1), Zone.EU: (2, 3)},
                bands=_bands((1000, 1495, 2495, None),
                             (5000, 2195, 3495, None),
                             (30000, 3995, 6495, None))),
            CarrierService(
                ServiceLevel.PICKUP_POINT, "Colissimo Pickup Point", max_side_mm=1000, max_sides_sum_mm=1500,
                days={Zone.DOMESTIC: (2, 4)},
                bands=_bands((1000, 595, None, None),
                             (5000, 995, None, None),
                             (20000, 1795, None, None))),
        )),
    Carrier(
        code="chronopost", name="Chronopost", tracking_prefix="XR", tracking_digits=10,
        tracking_url_template="https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={tracking_number}",
        services=(
            CarrierService(
                ServiceLevel.EXPRESS, "Chronopost 13h", max_side_mm=1500, max_sides_sum_mm=3000,
                days={Zone.DOMESTIC: (1, 1), Zone.EU: (1, 3), Zone.WORLD: (2, 5)},
                bands=_bands((1000, 1895, 3495, 5995),
                             (5000, 2595, 4995, 8995),
                             (10000, 3495, 6995, 12995),
                             (30000, 5495, 9995, 19995))),
        )),
    Carrier(
        code="mondial_relay", name="Mondial Relay", tracking_prefix="MR", tracking_digits=8,
        tracking_url_template="https://www.mondialrelay.fr/suivi-de-colis/?numeroExpedition={tracking_number}",
        services=(
            CarrierService(
                ServiceLevel.PICKUP_POINT, "Mondial Relay Point Relais", max_side_mm=1200, max_sides_sum_mm=1500,
                days={Zone.DOMESTIC: (3, 5), Zone.EU: (4, 8)},
                bands=_bands((500, 449, 795, None),
                             (1000, 549, 995, None),
                             (3000, 749, 1395, None),
                             (10000, 1295, 2195, None),
                             (25000, 2195, 3495, None))),
        )),
)


# Records.

@dataclass(frozen=True)
class Parcel:
    weight_grams: int  # packaging included
    length_mm: int = 0  # 0 when unknown: rates then use weight alone
    width_mm: int = 0
    height_mm: int = 0


@dataclass(frozen=True)
class ShipmentItem:
    sku: str
    name: str
    quantity: int


@dataclass(frozen=True)
class ShippingOption:
    shipping_option_id: str  # "colissimo.express": the same carrier and level in every quote
    carrier_code: str
    carrier_name: str
    service_level: ServiceLevel
    display_name: str
    price: int
    currency: str
    estimated_days_min: int
    estimated_days_max: int


@dataclass(frozen=True)
class OptionCheck:
    """ValidateShippingOption's answer: a refusal is an answer, not an error."""

    valid: bool
    rejection: OptionRejection | None = None
    option: ShippingOption | None = None  # priced, when valid


@dataclass(frozen=True)
class TrackingEvent:
    tracking_event_id: str
    shipment_id: str
    status: ShipmentStatus
    occurred_at: datetime  # when the carrier scanned the parcel
    recorded_at: datetime  # when shipping recorded it
    location: str
    description: str
    scan_id: str  # the carrier's id of the scan: a scan sent twice is recorded once


@dataclass(frozen=True)
class Shipment:
    shipment_id: str
    order_id: str
    order_number: str
    shipping_option_id: str
    carrier_code: str
    carrier_name: str
    service_level: ServiceLevel
    tracking_number: str
    tracking_url: str
    status: ShipmentStatus
    destination: Address
    parcel: Parcel
    items: tuple[ShipmentItem, ...]
    shipping_price: int  # what the order paid for shipping
    currency: str
    estimated_delivery_earliest: datetime
    estimated_delivery_latest: datetime
    created_at: datetime
    updated_at: datetime
    # The furthest step of JOURNEY reached: equals status, except while in EXCEPTION or returned.
    last_journey_status: ShipmentStatus
    status_occurred_at: datetime  # when the scan that set the current status happened
    tracking_events: tuple[TrackingEvent, ...] = ()  # in the order they were recorded
    cancellation_reason: str = ""
    picked_up_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        return self.status is not ShipmentStatus.CANCELLED

    @property
    def collected(self) -> bool:
        """The carrier has the parcel: from here on the shipment can no longer be cancelled."""
        return self.last_journey_status is not ShipmentStatus.LABEL_CREATED


# Domain events, published on shipping.shipments.v1 keyed by order id.

@dataclass(frozen=True)
class ShipmentCreated:
    shipment_id: str
    order_id: str
    carrier_code: str
    carrier_name: str
    service_level: ServiceLevel
    tracking_number: str
    tracking_url: str
    status: ShipmentStatus
    estimated_delivery_earliest: datetime
    estimated_delivery_latest: datetime
    created_at: datetime


@dataclass(frozen=True)
class ShipmentStatusChanged:
    shipment_id: str
    order_id: str
    carrier_code: str
    tracking_number: str
    previous_status: ShipmentStatus
    status: ShipmentStatus
    location: str
    description: str
    occurred_at: datetime


@dataclass(frozen=True)
class ShipmentCancelled:
    shipment_id: str
    order_id: str
    carrier_code: str
    tracking_number: str
    status: ShipmentStatus  # always CANCELLED
    previous_status: ShipmentStatus
    reason: str
    cancelled_at: datetime


ShippingEvent = ShipmentCreated | ShipmentStatusChanged | ShipmentCancelled

# Gives the tracking number of a new shipment: (carrier, shipment id) -> number.
TrackingNumberGenerator = Callable[[Carrier, str], str]


@dataclass(frozen=True)
class ScanResult:
    shipment: Shipment
    tracking_event: TrackingEvent  # the scan as recorded (the earlier one for a repeated scan id)
    status_changed: bool
    events: tuple[ShippingEvent, ...]


# Zones, rates and options.

def zone_of(country_code: str, postal_code: str = "") -> Zone | None:
    """The zone of a destination, None when the shop does not ship there."""
    if country_code == "FR" and postal_code.strip().startswith(OVERSEAS_POSTAL_PREFIXES):
        return Zone.WORLD
    return _zone_of_country(country_code)


def _zone_of_country(country_code: str) -> Zone | None:
    if country_code in DOMESTIC_COUNTRIES:
        return Zone.DOMESTIC
    if country_code in EU_MEMBER_STATES:
        return Zone.EU
    return Zone.WORLD if country_code in WORLD_COUNTRIES else None


def option_id(carrier: Carrier, level: ServiceLevel) -> str:
    return f"{carrier.code}.{level.value}"


def list_carriers(*, include_inactive: bool = False, carriers: Sequence[Carrier] = CARRIERS) -> list[Carrier]:
    return [carrier for carrier in carriers if carrier.active or include_inactive]


def quote_shipping_rates(*, country_code: str, postal_code: str, parcel: Parcel, currency: str,
                         carriers: Sequence[Carrier] = CARRIERS) -> list[ShippingOption]:
    """Every option that can ship the parcel to the destination, cheapest first (then fastest).
    An empty list means no active carrier serves the destination or accepts the parcel."""
    _check_destination_and_parcel(country_code, parcel)
    currency = _check_currency(currency)
    options = []
    for carrier in list_carriers(carriers=carriers):
        for service in carrier.services:
            option = _priced(carrier, service, country_code, postal_code, parcel, currency)
            if isinstance(option, ShippingOption):
                options.append(option)
    return sorted(options, key=lambda o: (o.price, o.estimated_days_max, o.shipping_option_id))


def validate_shipping_option(shipping_option_id: str, *, country_code: str, postal_code: str, parcel: Parcel,
                             currency: str, carriers: Sequence[Carrier] = CARRIERS) -> OptionCheck:
    """Whether an option can ship the parcel to the destination, and at what price now."""
    if not shipping_option_id:
        raise InvalidArgument("shipping option id is missing")
    _check_destination_and_parcel(country_code, parcel)
    currency = _check_currency(currency)
    found = _find_service(shipping_option_id, carriers)
    if found is None:
        return OptionCheck(valid=False, rejection=OptionRejection.UNKNOWN_OPTION)
    carrier, service = found
    if not carrier.active:
        return OptionCheck(valid=False, rejection=OptionRejection.CARRIER_INACTIVE)
    priced = _priced(carrier, service, country_code, postal_code, parcel, currency)
    if isinstance(priced, OptionRejection):
        return OptionCheck(valid=False, rejection=priced)
    return OptionCheck(valid=True, option=priced)


def _priced(carrier: Carrier, service: CarrierService, country_code: str, postal_code: str, parcel: Parcel,
            currency: str) -> ShippingOption | OptionRejection:
    zone = zone_of(country_code, postal_code)
    if zone is None or zone not in service.days:
        return OptionRejection.DESTINATION_NOT_SERVED
    sides = (parcel.length_mm, parcel.width_mm, parcel.height_mm)
    if max(sides) > service.max_side_mm or sum(sides) > service.max_sides_sum_mm:
        return OptionRejection.PARCEL_TOO_LARGE
    band = next((b for b in service.bands if parcel.weight_grams <= b.max_weight_grams), None)
    if band is None:
        return OptionRejection.PARCEL_TOO_LARGE
    price = band.price(zone)
    if price is None:  # a zone the service serves, but not in this weight band
        return OptionRejection.DESTINATION_NOT_SERVED
    days_min, days_max = service.days[zone]
    return ShippingOption(
        shipping_option_id=option_id(carrier, service.level), carrier_code=carrier.code, carrier_name=carrier.name,
        service_level=service.level, display_name=service.display_name, price=price, currency=currency,
        estimated_days_min=days_min, estimated_days_max=days_max)


def _find_service(shipping_option_id: str, carriers: Sequence[Carrier]) -> tuple[Carrier, CarrierService] | None:
    carrier_code, _, level = shipping_option_id.partition(".")
    carrier = next((c for c in carriers if c.code == carrier_code), None)
    if carrier is None or level not in {known.value for known in ServiceLevel}:
        return None
    service = carrier.service(ServiceLevel(level))
    return None if service is None else (carrier, service)


def _check_destination_and_parcel(country_code: str, parcel: Parcel) -> None:
    if not country_code:
        raise InvalidArgument("the destination has no country code")
    if len(country_code) != 2 or not country_code.isalpha() or not country_code.isupper():
        raise InvalidArgument(f"country code must be two upper-case letters (ISO 3166-1), got {country_code!r}")
    if parcel.weight_grams <= 0:
        raise InvalidArgument(f"parcel weight must be positive, got {parcel.weight_grams} g")
    if min(parcel.length_mm, parcel.width_mm, parcel.height_mm) < 0:
        raise InvalidArgument("parcel dimensions must not be negative")


def _check_currency(currency: str) -> str:
    """The currency prices are asked in; empty means the shop's, which the rate table is in."""
    if currency not in ("", RATE_CURRENCY):
        raise InvalidArgument(f"shipping rates are priced in {RATE_CURRENCY}; there are none in {currency!r}")
    return RATE_CURRENCY


# Tracking numbers and delivery dates.

def make_tracking_number(carrier: Carrier, seed: str) -> str:
    """A tracking number in the carrier's style, derived from `seed` (the shipment id): the same
    shipment always gets the same number, so a retried creation prints the same label."""
    digest = hashlib.sha256(f"{carrier.code}:{seed}".encode()).digest()
    digits = f"{int.from_bytes(digest[:8], 'big') % 10**carrier.tracking_digits:0{carrier.tracking_digits}d}"
    return f"{carrier.tracking_prefix}{digits}{_luhn_check_digit(digits)}"


def _luhn_check_digit(digits: str) -> int:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def add_business_days(start: datetime, days: int) -> datetime:
    """`start` moved `days` business days on (Saturdays and Sundays skipped)."""
    moved = start
    while days > 0:
        moved += timedelta(days=1)
        if moved.weekday() < 5:
            days -= 1
    return moved


# Shipments.

# Why an option was refused, for the people reading a FAILED_PRECONDITION.
def rejection_reason(rejection: OptionRejection, *, shipping_option_id: str, country_code: str,
                     parcel: Parcel) -> str:
    """Why an option cannot take a parcel to a destination, in words a shopper understands."""
    return _REJECTION_WORDS[rejection].format(option=shipping_option_id, country=country_code,
                                              weight=parcel.weight_grams)


_REJECTION_WORDS = {
    OptionRejection.UNKNOWN_OPTION: "no shipping option {option!r}",
    OptionRejection.DESTINATION_NOT_SERVED: "shipping option {option} does not deliver to {country}",
    OptionRejection.PARCEL_TOO_LARGE: "shipping option {option} does not accept this parcel ({weight} g) "
                                      "as it is too heavy or too large",
    OptionRejection.CARRIER_INACTIVE: "the carrier of shipping option {option} is switched off",
}


def find_live_shipment(order_shipments: Sequence[Shipment]) -> Shipment | None:
    """The order's shipment that is not cancelled; an order has at most one."""
    return next((s for s in order_shipments if s.is_live), None)


def create_shipment(order_shipments: Sequence[Shipment], *, shipment_id: str, order_id: str, order_number: str,
                    shipping_option_id: str, destination: Address, parcel: Parcel, items: Sequence[ShipmentItem],
                    shipping_price: int, currency: str, now: datetime,
                    tracking_numbers: TrackingNumberGenerator = make_tracking_number,
                    carriers: Sequence[Carrier] = CARRIERS) -> tuple[Shipment, bool, list[ShippingEvent]]:
    """The shipment of an order, with its tracking number, in LABEL_CREATED (ShipmentCreated).
    `order_shipments` are the order's shipments so far: if one is live it is returned, with
    `created` False, which makes the call safe to retry."""
    live = find_live_shipment(order_shipments)
    if live is not None:
        return live, False, []
    if not order_id:
        raise InvalidArgument("order id is missing")
    if not items:
        raise InvalidArgument(f"order {order_number or order_id} has no items to ship")
    for item in items:
        if not item.sku or item.quantity <= 0:
            raise InvalidArgument(f"every item needs a SKU and a positive quantity, got {item.sku!r} x {item.quantity}")
    _check_full_address(destination)
    check = validate_shipping_option(shipping_option_id, country_code=destination.country_code,
                                     postal_code=destination.postal_code, parcel=parcel, currency=currency,
                                     carriers=carriers)
    if check.rejection is OptionRejection.UNKNOWN_OPTION:
        raise NotFound(f"no shipping option {shipping_option_id!r}")
    if check.option is None:
        raise FailedPrecondition(rejection_reason(check.rejection or OptionRejection.UNKNOWN_OPTION,
                                                  shipping_option_id=shipping_option_id,
                                                  country_code=destination.country_code, parcel=parcel))
    option = check.option
    carrier = next(c for c in carriers if c.code == option.carrier_code)
    tracking_number = tracking_numbers(carrier, shipment_id)
    label_created = TrackingEvent(
        tracking_event_id=_tracking_event_id(shipment_id, 0), shipment_id=shipment_id,
        status=ShipmentStatus.LABEL_CREATED, occurred_at=now, recorded_at=now, location="",
        description="Label created; waiting for the carrier to collect the parcel", scan_id=f"label:{shipment_id}")
    shipment = Shipment(
        shipment_id=shipment_id, order_id=order_id, order_number=order_number, shipping_option_id=shipping_option_id,
        carrier_code=carrier.code, carrier_name=carrier.name, service_level=option.service_level,
        tracking_number=tracking_number,
        tracking_url=carrier.tracking_url_template.replace("{tracking_number}", tracking_number),
        status=ShipmentStatus.LABEL_CREATED, destination=destination, parcel=parcel, items=tuple(items),
        shipping_price=shipping_price, currency=currency or RATE_CURRENCY,
        estimated_delivery_earliest=add_business_days(now, option.estimated_days_min),
        estimated_delivery_latest=add_business_days(now, option.estimated_days_max),
        created_at=now, updated_at=now, last_journey_status=ShipmentStatus.LABEL_CREATED, status_occurred_at=now,
        tracking_events=(label_created,))
    return shipment, True, [ShipmentCreated(
        shipment_id=shipment_id, order_id=order_id, carrier_code=carrier.code, carrier_name=carrier.name,
        service_level=option.service_level, tracking_number=tracking_number, tracking_url=shipment.tracking_url,
        status=shipment.status, estimated_delivery_earliest=shipment.estimated_delivery_earliest,
        estimated_delivery_latest=shipment.estimated_delivery_latest, created_at=now)]


def ship_confirmed_order(order_shipments: Sequence[Shipment], *, shipment_id: str, order_id: str, order_number: str,
                         shipping_option_id: str, destination: Address, parcel: Parcel,
                         items: Sequence[ShipmentItem], shipping_price: int, currency: str, now: datetime,
                         tracking_numbers: TrackingNumberGenerator = make_tracking_number,
                         carriers: Sequence[Carrier] = CARRIERS) -> tuple[Shipment, list[ShippingEvent]]:
    """The checkout step on OrderConfirmed. A replayed OrderConfirmed changes nothing: once the
    order has a shipment, even a cancelled one, no other is made (a cancelled order is not shipped)."""
    if order_shipments:
        return find_live_shipment(order_shipments) or max(order_shipments, key=lambda s: s.created_at), []
    shipment, _, events = create_shipment(
        (), shipment_id=shipment_id, order_id=order_id, order_number=order_number,
        shipping_option_id=shipping_option_id, destination=destination, parcel=parcel, items=items,
        shipping_price=shipping_price, currency=currency, now=now, tracking_numbers=tracking_numbers,
        carriers=carriers)
    return shipment, events


def record_carrier_scan(shipment: Shipment, *, scan_id: str, status: ShipmentStatus, occurred_at: datetime | None,
                        location: str, description: str, now: datetime) -> ScanResult:
    """Records a carrier's scan (`occurred_at` None means now). Every new scan joins the history;
    it moves the status only as `moves_status` allows, and then ShipmentStatusChanged is published.
    A scan id recorded before returns the shipment unchanged."""
    if not scan_id:
        raise InvalidArgument("a scan needs the carrier's scan id, so that a scan sent twice counts once")
    if status not in SCANNED_STATUSES:
        raise InvalidArgument(f"carriers report {', '.join(sorted(SCANNED_STATUSES))}; not {status.value}")
    if shipment.status is ShipmentStatus.CANCELLED:
        raise FailedPrecondition(f"shipment {shipment.shipment_id} was cancelled: its label is void")
    earlier = next((e for e in shipment.tracking_events if e.scan_id == scan_id), None)
    if earlier is not None:
        return ScanResult(shipment, earlier, status_changed=False, events=())
    scanned_at = occurred_at or now
    event = TrackingEvent(
        tracking_event_id=_tracking_event_id(shipment.shipment_id, len(shipment.tracking_events)),
        shipment_id=shipment.shipment_id, status=status, occurred_at=scanned_at, recorded_at=now, location=location,
        description=description, scan_id=scan_id)
    recorded = dataclasses.replace(shipment, tracking_events=(*shipment.tracking_events, event), updated_at=now)
    if not moves_status(shipment, status, scanned_at):
        return ScanResult(recorded, event, status_changed=False, events=())
    moved = dataclasses.replace(recorded, status=status, status_occurred_at=scanned_at)
    if status in JOURNEY:
        moved = dataclasses.replace(moved, last_journey_status=status)
    if moved.collected and shipment.picked_up_at is None:
        moved = dataclasses.replace(moved, picked_up_at=scanned_at)  # a missed PICKED_UP scan: collected by now
    if status is ShipmentStatus.DELIVERED:
        moved = dataclasses.replace(moved, delivered_at=scanned_at)
    return ScanResult(moved, event, status_changed=True, events=(ShipmentStatusChanged(
        shipment_id=shipment.shipment_id, order_id=shipment.order_id, carrier_code=shipment.carrier_code,
        tracking_number=shipment.tracking_number, previous_status=shipment.status, status=status, location=location,
        description=description, occurred_at=scanned_at),))


def moves_status(shipment: Shipment, scanned: ShipmentStatus, occurred_at: datetime) -> bool:
    """The allowed transitions. A scan moves a shipment when:
    - the shipment is not in a final status (DELIVERED, RETURNED_TO_SENDER, CANCELLED), and
    - a journey scan goes further than the furthest step reached (skipping steps is fine), or, in
      EXCEPTION, reaches at least that step again no earlier than the exception (the parcel is back
      on its way);
    - an EXCEPTION scan is not older than the scan that set the current status (late news of a
      problem already overtaken is history only), nor a repeat of the current EXCEPTION;
    - RETURNED_TO_SENDER ends any shipment not yet final.
    Anything else is a late or repeated scan: kept in the history, status unchanged."""
    if shipment.status in FINAL_STATUSES:
        return False
    if scanned is ShipmentStatus.RETURNED_TO_SENDER:
        return True
    if scanned is ShipmentStatus.EXCEPTION:
        return shipment.status is not ShipmentStatus.EXCEPTION and occurred_at >= shipment.status_occurred_at
    step, reached = JOURNEY.index(scanned), JOURNEY.index(shipment.last_journey_status)
    if shipment.status is ShipmentStatus.EXCEPTION:
        return step >= reached and occurred_at >= shipment.status_occurred_at
    return step > reached


def cancel_shipment(shipment: Shipment, *, reason: str, now: datetime) -> tuple[Shipment, list[ShippingEvent]]:
    """Cancels a shipment the carrier has not collected, voiding its label (ShipmentCancelled).
    Cancelling again changes nothing."""
    if shipment.status is ShipmentStatus.CANCELLED:
        return shipment, []
    if shipment.collected or shipment.status in FINAL_STATUSES:
        raise FailedPrecondition(f"shipment {shipment.shipment_id} is {_words(shipment.status)}: the carrier "
                                 "already collected the parcel, so it can no longer be cancelled")
    cancelled = dataclasses.replace(shipment, status=ShipmentStatus.CANCELLED, cancellation_reason=reason,
                                    cancelled_at=now, updated_at=now)
    return cancelled, [ShipmentCancelled(
        shipment_id=shipment.shipment_id, order_id=shipment.order_id, carrier_code=shipment.carrier_code,
        tracking_number=shipment.tracking_number, status=ShipmentStatus.CANCELLED, previous_status=shipment.status,
        reason=reason, cancelled_at=now)]


def cancel_order_shipment(order_shipments: Sequence[Shipment], *, reason: str,
                          now: datetime) -> tuple[Shipment | None, list[ShippingEvent]]:
    """The compensation for OrderCancelled: cancels the order's live shipment if the carrier has not
    collected it. No shipment yet (cancelled before confirmation), one already cancelled or one
    already on its way: nothing to do, and no error, so the event is handled and replays are safe."""
    live = find_live_shipment(order_shipments)
    if live is None or live.collected or live.status in FINAL_STATUSES:
        return live, []
    return cancel_shipment(live, reason=reason, now=now)


def tracking_history(shipment: Shipment) -> list[TrackingEvent]:
    """The scans in the order they happened (ListTrackingEvents), ties in the order recorded."""
    return sorted(shipment.tracking_events, key=lambda e: e.occurred_at)



def _check_full_address(address: Address) -> None:
    required = {"full name": address.full_name, "street (line 1)": address.line1, "city": address.city,
                "country code": address.country_code}
    if address.country_code not in COUNTRIES_WITHOUT_POSTAL_CODES:
        required["postal code"] = address.postal_code
    missing = [name for name, value in required.items() if not value.strip()]
    if missing:
        raise InvalidArgument(f"the destination address lacks its {', '.join(missing)}")


def _tracking_event_id(shipment_id: str, index: int) -> str:
    """Tracking events are numbered within their shipment, so their ids need no generator."""
    return f"{shipment_id}-{index:03d}"


def _words(status: ShipmentStatus) -> str:
    return status.value.lower().replace("_", " ")
