"""Shipping's rules without Kafka or gRPC: zones, rates, options, shipments, scans, labels."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.store import JsonCodec
from services.shipping import domain, pdf
from services.shipping.domain import (
    CARRIERS,
    Address,
    Carrier,
    OptionRejection,
    Parcel,
    ServiceLevel,
    Shipment,
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentItem,
    ShipmentStatus,
    ShipmentStatusChanged,
    ShippingEvent,
    Zone,
)

FRIDAY = datetime(2026, 3, 13, 15, 0, tzinfo=UTC)
T1 = FRIDAY + timedelta(hours=20)
T2 = FRIDAY + timedelta(days=2)
T3 = FRIDAY + timedelta(days=3)
T4 = FRIDAY + timedelta(days=4)

LYON = Address(full_name="Camille Dupont", company="Atelier Dupont", line1="5 quai Saint-Antoine", postal_code="69002",
               city="Lyon", country_code="FR", phone="+33 6 12 34 56 78")
WAREHOUSE = Address(full_name="Shipping desk", company="Maison Lumière SAS", line1="14 allée Newton",
                    postal_code="77600", city="Bussy-Saint-Georges", country_code="FR")
ITEMS = (ShipmentItem("LAMP-01", "Brass desk lamp", 1), ShipmentItem("TEA-3", "Jasmine tea", 3))


def raises(error: type[Exception], text: str) -> pytest.RaisesExc[Exception]:
    """pytest.raises for an error whose message contains `text`, taken literally."""
    return pytest.raises(error, match=re.escape(text))


def quote(country_code: str = "FR", weight: int = 1_200, postal_code: str = "", currency: str = "",
          carriers: tuple[Carrier, ...] = CARRIERS, **sides: int) -> list[tuple[str, int]]:
    options = domain.quote_shipping_rates(country_code=country_code, postal_code=postal_code,
                                          parcel=Parcel(weight, **sides), currency=currency, carriers=carriers)
    return [(option.shipping_option_id, option.price) for option in options]


def fake_tracking_numbers(carrier: Carrier, shipment_id: str) -> str:
    return f"{carrier.tracking_prefix}-{shipment_id}"


def create(order_shipments: tuple[Shipment, ...] = (), *, shipment_id: str = "shp-1",
           option: str = "colissimo.express", destination: Address = LYON, weight: int = 2_350,
           items: tuple[ShipmentItem, ...] = ITEMS, order_id: str = "ord-1",
           carriers: tuple[Carrier, ...] = CARRIERS) -> tuple[Shipment, bool, list[ShippingEvent]]:
    return domain.create_shipment(
        order_shipments, shipment_id=shipment_id, order_id=order_id, order_number="ORD-2026-000123",
        shipping_option_id=option, destination=destination, parcel=Parcel(weight, 400, 300, 200), items=items,
        shipping_price=2_195, currency="EUR", now=FRIDAY, tracking_numbers=fake_tracking_numbers, carriers=carriers)


def shipment() -> Shipment:
    return create()[0]


def scan(current: Shipment, status: ShipmentStatus, at: datetime | None, scan_id: str | None = None,
         now: datetime | None = None) -> domain.ScanResult:
    return domain.record_carrier_scan(current, scan_id=scan_id or f"{status.value}@{at}", status=status,
                                      occurred_at=at, location="Lyon hub", description=status.value.lower(),
                                      now=now or at or T4)


def walk(current: Shipment, *steps: tuple[ShipmentStatus, datetime]) -> Shipment:
    for status, at in steps:
        current = scan(current, status, at).shipment
    return current


# Zones.

@pytest.mark.parametrize(("country", "postal_code", "zone"), [
    ("FR", "69002", Zone.DOMESTIC), ("MC", "98000", Zone.DOMESTIC), ("DE", "10115", Zone.EU),
    ("GR", "10552", Zone.EU), ("IE", "", Zone.EU), ("CH", "1201", Zone.WORLD), ("US", "10001", Zone.WORLD),
    ("FR", "97400", Zone.WORLD), ("FR", "98800", Zone.WORLD), ("RE", "97400", Zone.WORLD), ("KP", "", None)])
def test_every_destination_falls_in_one_zone_or_is_not_served(country: str, postal_code: str,
                                                               zone: Zone | None) -> None:
    assert domain.zone_of(country, postal_code) == zone


def test_the_eu_has_its_27_member_states() -> None:
    assert len(domain.EU_MEMBER_STATES) == 27
    assert domain.WORLD_COUNTRIES.isdisjoint(domain.EU_MEMBER_STATES)


# The rate table.

def test_the_rate_table_is_consistent() -> None:
    """Bands grow in weight and price; every zone a service serves has a price and delivery days."""
    for carrier in CARRIERS:
        for service in carrier.services:
            weights = [band.max_weight_grams for band in service.bands]
            assert weights == sorted(weights) and len(set(weights)) == len(weights), service.display_name
            for zone in Zone:
                prices = [band.price(zone) for band in service.bands]
                if zone in service.days:
                    assert all(price is not None for price in prices), (service.display_name, zone)
                    assert prices == sorted(prices), (service.display_name, zone)  # type: ignore[type-var]
                    days_min, days_max = service.days[zone]
                    assert 1 <= days_min <= days_max
                else:
                    assert prices == [None] * len(prices), (service.display_name, zone)


def test_carriers_say_what_they_offer() -> None:
    colissimo, chronopost, mondial_relay = CARRIERS
    assert [s.level for s in colissimo.services] == [ServiceLevel.STANDARD, ServiceLevel.EXPRESS,
                                                     ServiceLevel.PICKUP_POINT]
    assert (colissimo.max_weight_grams, mondial_relay.max_weight_grams) == (30_000, 25_000)
    assert {"FR", "MC", "DE", "US"} <= set(colissimo.country_codes)
    assert "DE" in mondial_relay.country_codes and "US" not in mondial_relay.country_codes
    assert chronopost.service(ServiceLevel.STANDARD) is None


# Quotes.

def test_a_domestic_quote_lists_every_option_cheapest_first() -> None:
    assert quote("FR", 1_200) == [("mondial_relay.pickup_point", 749), ("colissimo.pickup_point", 995),
                                  ("colissimo.standard", 1_095), ("colissimo.express", 2_195),
                                  ("chronopost.express", 2_595)]


def test_a_quote_carries_names_days_and_currency() -> None:
    option = domain.quote_shipping_rates(country_code="DE", postal_code="10115", parcel=Parcel(800),
                                         currency="EUR")[-1]
    assert option == domain.ShippingOption(
        shipping_option_id="chronopost.express", carrier_code="chronopost", carrier_name="Chronopost",
        service_level=ServiceLevel.EXPRESS, display_name="Chronopost 13h", price=3_495, currency="EUR",
        estimated_days_min=1, estimated_days_max=3)


def test_the_rest_of_the_world_gets_the_services_that_go_there() -> None:
    assert quote("US", 800) == [("colissimo.standard", 2_995), ("chronopost.express", 5_995)]
    assert quote("FR", 800, postal_code="97400") == quote("US", 800)  # Réunion is flown there


@pytest.mark.parametrize(("weight", "price"), [(1, 495), (250, 495), (251, 695), (500, 695), (501, 895),
                                               (30_000, 3_495)])
def test_weight_bands_include_their_upper_bound(weight: int, price: int) -> None:
    assert dict(quote("FR", weight))["colissimo.standard"] == price


def test_heavy_parcels_leave_out_the_services_that_refuse_them() -> None:
    assert [option for option, _ in quote("FR", 22_000)] == [
        "mondial_relay.pickup_point", "colissimo.standard", "colissimo.express", "chronopost.express"]
    assert [option for option, _ in quote("FR", 26_000)] == [
        "colissimo.standard", "colissimo.express", "chronopost.express"]
    assert quote("FR", 30_001) == []


def test_large_parcels_leave_out_the_services_that_refuse_them() -> None:
    assert [option for option, _ in quote("FR", 1_000, length_mm=1_300)] == ["chronopost.express"]
    assert [option for option, _ in quote("FR", 1_000, length_mm=900, width_mm=500, height_mm=200)] == [
        "chronopost.express"]  # sides add up to 1600 mm


def test_a_destination_no_carrier_serves_gets_no_options() -> None:
    assert quote("KP") == []


def test_a_switched_off_carrier_is_not_quoted() -> None:
    carriers = tuple(dataclasses.replace(c, active=c.code != "mondial_relay") for c in CARRIERS)
    assert "mondial_relay.pickup_point" not in dict(quote(carriers=carriers))
    assert [c.code for c in domain.list_carriers(carriers=carriers)] == ["colissimo", "chronopost"]
    assert len(domain.list_carriers(include_inactive=True, carriers=carriers)) == 3


@pytest.mark.parametrize(("changes", "message"), [
    ({"country_code": ""}, "the destination has no country code"),
    ({"country_code": "fr"}, "country code must be two upper-case letters (ISO 3166-1), got 'fr'"),
    ({"country_code": "FRA"}, "got 'FRA'"),
    ({"weight": 0}, "parcel weight must be positive, got 0 g"),
    ({"currency": "USD"}, "shipping rates are priced in EUR; there are none in 'USD'"),
    ({"height_mm": -1}, "parcel dimensions must not be negative"),
])
def test_a_quote_with_bad_input_is_refused(changes: dict[str, object], message: str) -> None:
    with raises(InvalidArgument, message):
        quote(**changes)  # type: ignore[arg-type]


# Validating an option.

def validate(option_id: str, country_code: str = "FR", weight: int = 1_200,
             carriers: tuple[Carrier, ...] = CARRIERS, **sides: int) -> domain.OptionCheck:
    return domain.validate_shipping_option(option_id, country_code=country_code, postal_code="", currency="EUR",
                                           parcel=Parcel(weight, **sides), carriers=carriers)


def test_a_valid_option_comes_priced_for_the_parcel_and_address() -> None:
    check = validate("colissimo.express", "DE", 1_200)
    assert check.valid and check.rejection is None
    assert check.option is not None and (check.option.price, check.option.estimated_days_max) == (3_495, 3)


@pytest.mark.parametrize(("option_id", "country", "weight", "rejection"), [
    ("ups.express", "FR", 1_000, OptionRejection.UNKNOWN_OPTION),
    ("colissimo.overnight", "FR", 1_000, OptionRejection.UNKNOWN_OPTION),
    ("chronopost.standard", "FR", 1_000, OptionRejection.UNKNOWN_OPTION),
    ("colissimo", "FR", 1_000, OptionRejection.UNKNOWN_OPTION),
    ("colissimo.pickup_point", "DE", 1_000, OptionRejection.DESTINATION_NOT_SERVED),
    ("colissimo.express", "US", 1_000, OptionRejection.DESTINATION_NOT_SERVED),
    ("colissimo.standard", "KP", 1_000, OptionRejection.DESTINATION_NOT_SERVED),
    ("mondial_relay.pickup_point", "FR", 25_001, OptionRejection.PARCEL_TOO_LARGE),
])
def test_an_option_that_cannot_serve_is_refused_with_its_reason(option_id: str, country: str, weight: int,
                                                                rejection: OptionRejection) -> None:
    assert validate(option_id, country, weight) == domain.OptionCheck(valid=False, rejection=rejection)


def test_an_oversized_parcel_or_inactive_carrier_is_refused() -> None:
    assert validate("colissimo.standard", length_mm=1_001).rejection is OptionRejection.PARCEL_TOO_LARGE
    carriers = tuple(dataclasses.replace(c, active=False) for c in CARRIERS)
    assert validate("colissimo.standard", carriers=carriers).rejection is OptionRejection.CARRIER_INACTIVE


def test_an_option_id_is_required() -> None:
    with raises(InvalidArgument, "shipping option id is missing"):
        validate("")


# Tracking numbers and dates.

def test_tracking_numbers_look_like_the_carriers_and_repeat_for_the_same_shipment() -> None:
    colissimo, chronopost, mondial_relay = CARRIERS
    number = domain.make_tracking_number(colissimo, "shp-1")
    assert re.fullmatch(r"6A\d{11}", number)
    assert domain.make_tracking_number(colissimo, "shp-1") == number
    assert domain.make_tracking_number(colissimo, "shp-2") != number
    assert re.fullmatch(r"XR\d{11}", domain.make_tracking_number(chronopost, "shp-1"))
    assert re.fullmatch(r"MR\d{9}", domain.make_tracking_number(mondial_relay, "shp-1"))
    digits = number[2:]  # the last digit is a Luhn check digit over the others
    total = sum(d if i % 2 == 0 else (2 * d - 9 if 2 * d > 9 else 2 * d)
                for i, d in enumerate(int(c) for c in reversed(digits)))
    assert total % 10 == 0


@pytest.mark.parametrize(("days", "expected"), [(0, FRIDAY), (1, FRIDAY + timedelta(days=3)),
                                                (5, FRIDAY + timedelta(days=7)), (6, FRIDAY + timedelta(days=10))])
def test_delivery_days_skip_weekends(days: int, expected: datetime) -> None:
    assert domain.add_business_days(FRIDAY, days) == expected


# Creating shipments.

def test_a_shipment_starts_with_its_label_and_tracking_number() -> None:
    created, is_new, events = create()
    assert is_new
    assert created.status is ShipmentStatus.LABEL_CREATED
    assert (created.carrier_code, created.carrier_name, created.service_level) == (
        "colissimo", "Colissimo", ServiceLevel.EXPRESS)
    assert created.tracking_number == "6A-shp-1"  # from the generator passed in
    assert created.tracking_url == "https://www.laposte.fr/outils/suivre-vos-envois?code=6A-shp-1"
    assert (created.destination, created.items, created.shipping_price) == (LYON, ITEMS, 2_195)
    # Colissimo Express delivers domestic parcels in 1 business day: created Friday, expected Monday.
    assert created.estimated_delivery_earliest == created.estimated_delivery_latest == FRIDAY + timedelta(days=3)
    (label,) = created.tracking_events
    assert (label.status, label.occurred_at, label.scan_id) == (ShipmentStatus.LABEL_CREATED, FRIDAY, "label:shp-1")
    assert events == [ShipmentCreated(
        shipment_id="shp-1", order_id="ord-1", carrier_code="colissimo", carrier_name="Colissimo",
        service_level=ServiceLevel.EXPRESS, tracking_number="6A-shp-1", tracking_url=created.tracking_url,
        status=ShipmentStatus.LABEL_CREATED, estimated_delivery_earliest=created.estimated_delivery_earliest,
        estimated_delivery_latest=created.estimated_delivery_latest, created_at=FRIDAY)]


def test_the_default_generator_gives_carrier_style_numbers() -> None:
    created, _, _ = domain.create_shipment(
        (), shipment_id="shp-1", order_id="ord-1", order_number="ORD-1", shipping_option_id="chronopost.express",
        destination=LYON, parcel=Parcel(1_000), items=ITEMS, shipping_price=0, currency="", now=FRIDAY)
    assert created.tracking_number == domain.make_tracking_number(CARRIERS[1], "shp-1")
    assert created.currency == "EUR"


def test_an_order_has_one_live_shipment() -> None:
    first = shipment()
    again, is_new, events = create((first,), shipment_id="shp-2")
    assert again is first
    assert not is_new and events == []


def test_a_new_shipment_may_follow_a_cancelled_one() -> None:
    cancelled, _ = domain.cancel_shipment(shipment(), reason="wrong address", now=T1)
    second, is_new, _ = create((cancelled,), shipment_id="shp-2")
    assert is_new and second.shipment_id == "shp-2"
    assert domain.find_live_shipment((cancelled, second)) is second


@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"order_id": ""}, InvalidArgument, "order id is missing"),
    ({"items": ()}, InvalidArgument, "order ORD-2026-000123 has no items to ship"),
    ({"items": (ShipmentItem("A", "a", 0),)}, InvalidArgument, "every item needs a SKU and a positive quantity"),
    ({"destination": Address(country_code="FR")}, InvalidArgument,
     "the destination address lacks its full name, street (line 1), city, postal code"),
    ({"destination": dataclasses.replace(LYON, postal_code=" ")}, InvalidArgument, "lacks its postal code"),
    ({"weight": 0}, InvalidArgument, "parcel weight must be positive"),
    ({"option": "ups.express"}, NotFound, "no shipping option 'ups.express'"),
    ({"option": "colissimo.pickup_point", "destination": dataclasses.replace(LYON, country_code="DE")},
     FailedPrecondition, "shipping option colissimo.pickup_point does not deliver to DE"),
    ({"weight": 40_000}, FailedPrecondition, "does not accept this parcel (40000 g)"),
    ({"carriers": tuple(dataclasses.replace(c, active=False) for c in CARRIERS)}, FailedPrecondition,
     "the carrier of shipping option colissimo.express is switched off"),
])
def test_a_shipment_that_cannot_be_made_is_refused(changes: dict[str, object], error: type[Exception],
                                                   message: str) -> None:
    with raises(error, message):
        create(**changes)  # type: ignore[arg-type]


def test_a_country_without_postal_codes_needs_none() -> None:
    hong_kong = dataclasses.replace(LYON, postal_code="", city="Hong Kong", country_code="HK")
    assert create(destination=hong_kong, option="colissimo.standard")[1]


def confirm(order_shipments: tuple[Shipment, ...] = (),
            shipment_id: str = "shp-1") -> tuple[Shipment, list[ShippingEvent]]:
    return domain.ship_confirmed_order(
        order_shipments, shipment_id=shipment_id, order_id="ord-1", order_number="ORD-1",
        shipping_option_id="colissimo.standard", destination=LYON, parcel=Parcel(1_000), items=ITEMS,
        shipping_price=1_095, currency="EUR", now=FRIDAY, tracking_numbers=fake_tracking_numbers)


def test_order_confirmed_ships_the_order_once_even_after_a_cancellation() -> None:
    made, events = confirm()
    assert [type(e) for e in events] == [ShipmentCreated]
    assert confirm((made,), "shp-2") == (made, [])
    cancelled, _ = domain.cancel_shipment(made, reason="order cancelled", now=T1)
    assert confirm((cancelled,), "shp-3") == (cancelled, [])  # a replayed OrderConfirmed ships nothing


# Carrier scans and the allowed transitions.

def test_a_parcel_moves_along_its_journey_with_an_event_each_step() -> None:
    current = shipment()
    journey = [(ShipmentStatus.PICKED_UP, T1), (ShipmentStatus.IN_TRANSIT, T2),
               (ShipmentStatus.OUT_FOR_DELIVERY, T3), (ShipmentStatus.DELIVERED, T4)]
    previous = ShipmentStatus.LABEL_CREATED
    for status, at in journey:
        result = scan(current, status, at)
        assert result.status_changed
        assert result.events == (ShipmentStatusChanged(
            shipment_id="shp-1", order_id="ord-1", carrier_code="colissimo", tracking_number="6A-shp-1",
            previous_status=previous, status=status, location="Lyon hub", description=status.value.lower(),
            occurred_at=at),)
        current, previous = result.shipment, status
    assert current.status is ShipmentStatus.DELIVERED
    assert (current.picked_up_at, current.delivered_at) == (T1, T4)
    assert [e.status for e in current.tracking_events] == [ShipmentStatus.LABEL_CREATED] + [s for s, _ in journey]
    assert len({e.tracking_event_id for e in current.tracking_events}) == 5


def test_steps_may_be_skipped_when_a_carrier_misses_scans() -> None:
    result = scan(shipment(), ShipmentStatus.IN_TRANSIT, T2)
    assert result.status_changed
    assert result.shipment.picked_up_at == T2  # collected by then
    assert scan(result.shipment, ShipmentStatus.DELIVERED, T3).shipment.status is ShipmentStatus.DELIVERED


def test_a_scan_sent_twice_is_recorded_once() -> None:
    first = scan(shipment(), ShipmentStatus.PICKED_UP, T1, scan_id="scan-1")
    again = scan(first.shipment, ShipmentStatus.PICKED_UP, T1, scan_id="scan-1", now=T2)
    assert again.shipment is first.shipment
    assert again.tracking_event == first.tracking_event
    assert not again.status_changed and again.events == ()


def test_a_late_scan_joins_the_history_without_moving_the_status_back() -> None:
    current = walk(shipment(), (ShipmentStatus.PICKED_UP, T1), (ShipmentStatus.OUT_FOR_DELIVERY, T3))
    late = scan(current, ShipmentStatus.IN_TRANSIT, T2, now=T4)
    assert not late.status_changed and late.events == ()
    assert late.shipment.status is ShipmentStatus.OUT_FOR_DELIVERY
    assert late.tracking_event in late.shipment.tracking_events
    assert late.tracking_event.recorded_at == T4
    assert [e.status for e in domain.tracking_history(late.shipment)] == [
        ShipmentStatus.LABEL_CREATED, ShipmentStatus.PICKED_UP, ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY]


def test_nothing_moves_a_delivered_parcel() -> None:
    delivered = walk(shipment(), (ShipmentStatus.DELIVERED, T2))
    for status in (ShipmentStatus.EXCEPTION, ShipmentStatus.RETURNED_TO_SENDER, ShipmentStatus.IN_TRANSIT):
        result = scan(delivered, status, T4)
        assert not result.status_changed and result.shipment.status is ShipmentStatus.DELIVERED


def test_an_exception_is_left_by_the_next_forward_scan() -> None:
    in_transit = walk(shipment(), (ShipmentStatus.PICKED_UP, T1), (ShipmentStatus.IN_TRANSIT, T2))
    problem = scan(in_transit, ShipmentStatus.EXCEPTION, T2 + timedelta(hours=1))
    assert problem.status_changed and problem.shipment.status is ShipmentStatus.EXCEPTION
    assert problem.shipment.last_journey_status is ShipmentStatus.IN_TRANSIT
    repeated = scan(problem.shipment, ShipmentStatus.EXCEPTION, T2 + timedelta(hours=2))
    assert not repeated.status_changed  # still in EXCEPTION: history only
    back = scan(repeated.shipment, ShipmentStatus.IN_TRANSIT, T3)  # the same step again: on its way
    assert back.status_changed
    assert back.events[0].previous_status is ShipmentStatus.EXCEPTION  # type: ignore[union-attr]
    assert back.shipment.status is ShipmentStatus.IN_TRANSIT


def test_news_older_than_the_current_status_does_not_move_it() -> None:
    in_transit = walk(shipment(), (ShipmentStatus.PICKED_UP, T1), (ShipmentStatus.IN_TRANSIT, T3))
    assert not scan(in_transit, ShipmentStatus.EXCEPTION, T2).status_changed  # a problem since overtaken
    problem = scan(in_transit, ShipmentStatus.EXCEPTION, T3 + timedelta(hours=1)).shipment
    stale = scan(problem, ShipmentStatus.OUT_FOR_DELIVERY, T3 + timedelta(minutes=30))
    assert not stale.status_changed  # happened before the exception
    assert not scan(problem, ShipmentStatus.PICKED_UP, T4).status_changed  # backwards


def test_a_returned_parcel_is_done() -> None:
    problem = walk(shipment(), (ShipmentStatus.PICKED_UP, T1), (ShipmentStatus.EXCEPTION, T2))
    returned = scan(problem, ShipmentStatus.RETURNED_TO_SENDER, T3)
    assert returned.status_changed and returned.shipment.status is ShipmentStatus.RETURNED_TO_SENDER
    assert not scan(returned.shipment, ShipmentStatus.DELIVERED, T4).status_changed


def test_a_scan_without_a_time_happened_now() -> None:
    result = scan(shipment(), ShipmentStatus.PICKED_UP, None, scan_id="s1", now=T2)
    assert result.tracking_event.occurred_at == T2 == result.shipment.picked_up_at


@pytest.mark.parametrize(("status", "scan_id", "message"), [
    (ShipmentStatus.PICKED_UP, "", "a scan needs the carrier's scan id"),
    (ShipmentStatus.LABEL_CREATED, "s1", "not LABEL_CREATED"),
    (ShipmentStatus.CANCELLED, "s1", "not CANCELLED"),
])
def test_a_scan_carriers_do_not_send_is_refused(status: ShipmentStatus, scan_id: str, message: str) -> None:
    with raises(InvalidArgument, message):
        domain.record_carrier_scan(shipment(), scan_id=scan_id, status=status, occurred_at=T1, location="",
                                   description="", now=T1)


def test_a_cancelled_shipment_takes_no_scans() -> None:
    cancelled, _ = domain.cancel_shipment(shipment(), reason="r", now=T1)
    with raises(FailedPrecondition, "shipment shp-1 was cancelled: its label is void"):
        scan(cancelled, ShipmentStatus.PICKED_UP, T2)


# Cancelling.

def test_a_shipment_not_collected_is_cancelled_once() -> None:
    label = shipment()
    cancelled, events = domain.cancel_shipment(label, reason="order cancelled", now=T1)
    assert cancelled.status is ShipmentStatus.CANCELLED
    assert (cancelled.cancellation_reason, cancelled.cancelled_at) == ("order cancelled", T1)
    assert events == [ShipmentCancelled(
        shipment_id="shp-1", order_id="ord-1", carrier_code="colissimo", tracking_number="6A-shp-1",
        status=ShipmentStatus.CANCELLED, previous_status=ShipmentStatus.LABEL_CREATED, reason="order cancelled",
        cancelled_at=T1)]
    assert domain.cancel_shipment(cancelled, reason="again", now=T2) == (cancelled, [])


def test_a_collected_parcel_can_no_longer_be_cancelled() -> None:
    picked = walk(shipment(), (ShipmentStatus.PICKED_UP, T1))
    with raises(FailedPrecondition, "shipment shp-1 is picked up: the carrier already collected the parcel"):
        domain.cancel_shipment(picked, reason="r", now=T2)


def test_a_problem_before_collection_does_not_prevent_cancelling() -> None:
    problem = walk(shipment(), (ShipmentStatus.EXCEPTION, T1))
    cancelled, events = domain.cancel_shipment(problem, reason="r", now=T2)
    assert cancelled.status is ShipmentStatus.CANCELLED
    assert events[0].previous_status is ShipmentStatus.EXCEPTION  # type: ignore[union-attr]


def test_order_cancelled_cancels_what_can_be_and_leaves_the_rest() -> None:
    assert domain.cancel_order_shipment((), reason="r", now=T1) == (None, [])
    label = shipment()
    cancelled, events = domain.cancel_order_shipment((label,), reason="r", now=T1)
    assert cancelled is not None and cancelled.status is ShipmentStatus.CANCELLED and len(events) == 1
    assert domain.cancel_order_shipment((cancelled,), reason="r", now=T2) == (None, [])
    picked = walk(label, (ShipmentStatus.PICKED_UP, T1))
    assert domain.cancel_order_shipment((picked,), reason="r", now=T2) == (picked, [])


# Records and labels.

def test_a_shipment_round_trips_through_the_store_codec() -> None:
    current = walk(shipment(), (ShipmentStatus.PICKED_UP, T1), (ShipmentStatus.EXCEPTION, T2))
    codec: JsonCodec[Shipment] = JsonCodec(Shipment)
    assert codec.decode(codec.encode(current)) == current


def label_text(document: bytes) -> tuple[str, PdfReader]:
    assert document.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(document))
    return reader.pages[0].extract_text(), reader


def test_the_label_carries_addresses_carrier_service_and_tracking_number() -> None:
    created, _, _ = domain.create_shipment(
        (), shipment_id="shp-1", order_id="ord-1", order_number="ORD-2026-000123",
        shipping_option_id="colissimo.express", destination=LYON, parcel=Parcel(2_350), items=ITEMS,
        shipping_price=2_195, currency="EUR", now=FRIDAY)
    text, reader = label_text(pdf.render_shipping_label_pdf(created, WAREHOUSE))
    for expected in (created.tracking_number, "COLISSIMO", "EXPRESS", "Camille Dupont", "5 quai Saint-Antoine",
                     "69002 LYON", "Maison Lumière SAS", "77600 Bussy-Saint-Georges", "ORD-2026-000123", "2.35 kg",
                     "1 x LAMP-01", "3 x TEA-3"):
        assert expected in text, expected
    assert len(reader.pages) == 1
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(width), round(height)) == (288, 432)  # 4 x 6 inches
    assert pdf.label_filename(created) == f"label-{created.tracking_number}.pdf"


def test_a_cancelled_shipments_label_is_marked_void() -> None:
    cancelled, _ = domain.cancel_shipment(shipment(), reason="r", now=T1)
    text, _ = label_text(pdf.render_shipping_label_pdf(cancelled, WAREHOUSE))
    assert "VOID" in text


def test_a_long_packing_list_is_cut_to_fit_the_label() -> None:
    items = tuple(ShipmentItem(f"SKU-{n}", f"Item {n}", 1) for n in range(30))
    text, _ = label_text(pdf.render_shipping_label_pdf(create(items=items)[0], WAREHOUSE))
    assert "1 x SKU-0" in text and "more" in text and "SKU-29" not in text
    assert "30 units, 30 SKUs" in text


def test_labels_are_rendered_the_same_every_time() -> None:
    assert pdf.render_shipping_label_pdf(shipment(), WAREHOUSE) == pdf.render_shipping_label_pdf(shipment(), WAREHOUSE)
