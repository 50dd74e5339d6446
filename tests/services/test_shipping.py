"""shipping as a real process on the real broker: ordering's events in, shipments, labels and
shipping's events out; carrier scans through to delivery; every RPC; bad input refused with a
readable status."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from ordering.v1 import events_pb2 as ordering_events
from ordering.v1 import order_pb2
from pypdf import PdfReader
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as api
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub
from shop.common.v1.address_pb2 import Address
from shop.common.v1.money_pb2 import Money

from services.runtime.inprocess import Service
from tests.services.support import in_process, refused
from tools.platform import Platform

ORDERS, SHIPMENTS = "ordering.orders.v1", "shipping.shipments.v1"
S = shipment_pb2  # statuses read better as S.SHIPMENT_STATUS_...
LYON = Address(full_name="Camille Dupont", line1="12 rue des Lilas", postal_code="69003", city="Lyon",
               country_code="FR", phone="+33 6 12 34 56 78")


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                   schema_registry_url: str) -> AsyncIterator[Platform]:
    """One shipping process for the whole module; every test works on orders of its own."""
    running = Platform(tmp_path_factory.mktemp("shipping"), kafka_bootstrap, schema_registry_url,
                       f"t{uuid.uuid4().hex[:12]}")
    try:
        await running.start("shipping", SHIPPING_SENDER_COMPANY="Maison Lumière SAS")
        yield running
    finally:
        await running.close()


@pytest.fixture(scope="module")
async def local(schema_registry_url: str) -> AsyncIterator[tuple[Service, Any]]:
    """Shipping in this process: the bad-input table needs no broker."""
    async with in_process("shipping", schema_registry_url) as (service, channel):
        yield service, ShippingServiceStub(channel)


@pytest.fixture(scope="module")
def stub(platform: Platform) -> Any:
    return platform.stub("shipping", ShippingServiceStub)


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


def order_confirmed(order_id: str, option: str = "colissimo.standard") -> ordering_events.OrderConfirmed:
    lines = [order_pb2.OrderLine(sku="LAMP-1", name="Brass lamp", quantity=1, unit_weight_grams=900),
             order_pb2.OrderLine(sku="BOOK-7", name="Lyon by night", quantity=2, unit_weight_grams=150)]
    return ordering_events.OrderConfirmed(
        order_id=order_id, order_number=f"ORD-{order_id[:8]}", customer_id="cus-1", currency="EUR", lines=lines,
        shipping_address=LYON, total_weight_grams=1_200, payment_id="pay-1",
        shipping_option=order_pb2.OrderShippingOption(shipping_option_id=option, price=eur(1_095)))


def order_cancelled(order_id: str) -> ordering_events.OrderCancelled:
    return ordering_events.OrderCancelled(order_id=order_id, order_number=f"ORD-{order_id[:8]}",
                                          customer_id="cus-1", reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST,
                                          note="changed my mind", currency="EUR")


async def shipping_events(platform: Platform, order_id: str, kind: str, at_least: int = 1) -> list[Any]:
    return [getattr(e, kind) for e in await platform.events(
        SHIPMENTS, at_least=at_least, where=lambda e: e.metadata.aggregate_id == order_id and e.HasField(kind))]


def at(minutes: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(minutes=minutes))
    return stamp


async def test_order_confirmed_ships_once_with_a_label_and_scans_take_it_to_delivered(
        platform: Platform, stub: Any) -> None:
    order_id = str(uuid.uuid4())
    sent = await platform.publish(ORDERS, order_id, order_confirmed=order_confirmed(order_id))
    [created] = await shipping_events(platform, order_id, "shipment_created")
    assert (created.carrier_code, created.service_level) == ("colissimo", S.SERVICE_LEVEL_STANDARD)
    assert created.tracking_number.startswith("6A") and created.tracking_number in created.tracking_url
    assert created.status == S.SHIPMENT_STATUS_LABEL_CREATED
    platform.produce_envelope(ORDERS, sent)  # the same event again, and under a new id: still one shipment
    await platform.publish(ORDERS, order_id, order_confirmed=order_confirmed(order_id))
    await platform.drained("shipping", ORDERS)
    assert len(await shipping_events(platform, order_id, "shipment_created")) == 1

    shipment = (await stub.GetOrderShipment(api.GetOrderShipmentRequest(order_id=order_id))).shipment
    assert shipment.shipment_id == created.shipment_id and shipment.parcel.weight_grams == 1_200
    assert [(i.sku, i.quantity) for i in shipment.items] == [("LAMP-1", 1), ("BOOK-7", 2)]
    assert shipment.shipping_price == eur(1_095) and shipment.destination == LYON
    assert (await stub.GetShipment(api.GetShipmentRequest(shipment_id=shipment.shipment_id))).shipment == shipment

    parts = [part async for part in stub.GetShippingLabel(api.GetShippingLabelRequest(
        shipment_id=shipment.shipment_id))]
    header, data = parts[0].header, b"".join(part.chunk for part in parts[1:])
    assert header.filename == f"label-{created.tracking_number}.pdf" and header.size_bytes == len(data)
    assert header.content_type == "application/pdf" and all(len(p.chunk) <= 64 * 1024 for p in parts[1:])
    assert data.startswith(b"%PDF")
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert created.tracking_number in text and "Maison Lumière SAS" in text and "LYON" in text

    # Scans through to delivery, found by tracking number or shipment id, each publishing a status change.
    journey = [S.SHIPMENT_STATUS_PICKED_UP, S.SHIPMENT_STATUS_IN_TRANSIT, S.SHIPMENT_STATUS_OUT_FOR_DELIVERY,
               S.SHIPMENT_STATUS_DELIVERED]
    for step, status in enumerate(journey, start=1):
        where = {"tracking_number": created.tracking_number} if step % 2 else {"shipment_id": created.shipment_id}
        scanned = await stub.RecordCarrierScan(api.RecordCarrierScanRequest(
            **where, scan_id=f"scan-{step}", status=status, occurred_at=at(step), location=f"Hub {step}",
            description=f"step {step}"))
        assert scanned.status_changed and scanned.shipment.status == status
        assert scanned.tracking_event.scan_id == f"scan-{step}"
    repeated = await stub.RecordCarrierScan(api.RecordCarrierScanRequest(
        shipment_id=created.shipment_id, scan_id="scan-2", status=S.SHIPMENT_STATUS_IN_TRANSIT))
    late = await stub.RecordCarrierScan(api.RecordCarrierScanRequest(
        shipment_id=created.shipment_id, scan_id="scan-late", status=S.SHIPMENT_STATUS_IN_TRANSIT,
        occurred_at=at(2)))
    assert not repeated.status_changed and not late.status_changed
    assert late.shipment.status == S.SHIPMENT_STATUS_DELIVERED and late.shipment.HasField("delivered_at")

    changes = await shipping_events(platform, order_id, "shipment_status_changed", at_least=4)
    assert [(c.previous_status, c.status) for c in changes] == list(
        zip([S.SHIPMENT_STATUS_LABEL_CREATED, *journey[:-1]], journey, strict=True))
    assert [c.location for c in changes] == ["Hub 1", "Hub 2", "Hub 3", "Hub 4"]
    envelopes = await platform.events(SHIPMENTS, at_least=5, where=lambda e: e.metadata.aggregate_id == order_id)
    assert [e.metadata.aggregate_version for e in envelopes] == [1, 2, 3, 4, 5]
    assert envelopes[0].metadata.causation_id == sent.metadata.event_id

    history = (await stub.ListTrackingEvents(api.ListTrackingEventsRequest(
        shipment_id=created.shipment_id))).tracking_events
    assert [e.scan_id for e in history] == [f"label:{created.shipment_id}", "scan-1", "scan-2", "scan-late",
                                            "scan-3", "scan-4"]

    # Too late to cancel: the order's cancellation leaves the parcel alone; the RPC says why.
    await platform.publish(ORDERS, order_id, order_cancelled=order_cancelled(order_id))
    await platform.drained("shipping", ORDERS)
    assert not await shipping_events(platform, order_id, "shipment_cancelled", at_least=0)
    await refused(stub.CancelShipment(api.CancelShipmentRequest(shipment_id=created.shipment_id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "the carrier already collected the parcel")
    await refused(stub.RecordCarrierScan(api.RecordCarrierScanRequest(
        shipment_id=created.shipment_id, scan_id="x", status=S.SHIPMENT_STATUS_LABEL_CREATED)),
        grpc.StatusCode.INVALID_ARGUMENT, "not LABEL_CREATED")
    await refused(stub.RecordCarrierScan(api.RecordCarrierScanRequest(
        shipment_id=created.shipment_id, status=S.SHIPMENT_STATUS_IN_TRANSIT)),
        grpc.StatusCode.INVALID_ARGUMENT, "a scan needs the carrier's scan id")


async def test_cancellation_before_pickup_voids_the_shipment_and_its_label(platform: Platform, stub: Any) -> None:
    order_id = str(uuid.uuid4())
    await platform.publish(ORDERS, order_id, order_confirmed=order_confirmed(order_id, "chronopost.express"))
    [created] = await shipping_events(platform, order_id, "shipment_created")
    assert created.carrier_code == "chronopost" and created.tracking_number.startswith("XR")
    await platform.publish(ORDERS, order_id, order_cancelled=order_cancelled(order_id))
    await platform.publish(ORDERS, order_id, order_cancelled=order_cancelled(order_id))
    [cancelled] = await shipping_events(platform, order_id, "shipment_cancelled")
    assert (cancelled.shipment_id, cancelled.previous_status, cancelled.status) == (
        created.shipment_id, S.SHIPMENT_STATUS_LABEL_CREATED, S.SHIPMENT_STATUS_CANCELLED)
    assert "customer request (changed my mind)" in cancelled.reason

    shipment = (await stub.GetOrderShipment(api.GetOrderShipmentRequest(order_id=order_id))).shipment
    assert shipment.status == S.SHIPMENT_STATUS_CANCELLED and shipment.cancellation_reason == cancelled.reason
    again = await stub.CancelShipment(api.CancelShipmentRequest(shipment_id=created.shipment_id))
    assert again.shipment == shipment
    await refused(stub.GetShippingLabel(api.GetShippingLabelRequest(shipment_id=created.shipment_id)),
                  grpc.StatusCode.FAILED_PRECONDITION, "was cancelled: its label is void")
    await refused(stub.RecordCarrierScan(api.RecordCarrierScanRequest(
        tracking_number=created.tracking_number, scan_id="s1", status=S.SHIPMENT_STATUS_PICKED_UP)),
        grpc.StatusCode.FAILED_PRECONDITION, "was cancelled")

    late = str(uuid.uuid4())  # its OrderConfirmed comes after its OrderCancelled: nothing is shipped
    await platform.publish(ORDERS, late, order_cancelled=order_cancelled(late))
    await platform.publish(ORDERS, late, order_confirmed=order_confirmed(late))
    await platform.drained("shipping", ORDERS)
    assert not await platform.events(SHIPMENTS, within=0, where=lambda e: e.metadata.aggregate_id == late)
    await refused(stub.GetOrderShipment(api.GetOrderShipmentRequest(order_id=late)), grpc.StatusCode.NOT_FOUND,
                  "has no shipment")


async def test_quotes_carriers_validation_and_shipments_made_through_the_api(platform: Platform, stub: Any) -> None:
    parcel = shipment_pb2.Parcel(weight_grams=1_200)
    options = (await stub.GetShippingRates(api.GetShippingRatesRequest(
        destination=Address(country_code="FR", postal_code="69003"), parcel=parcel))).options
    prices = [o.price.amount_minor for o in options]
    assert prices == sorted(prices) and all(o.price.currency == "EUR" for o in options)
    by_id = {o.shipping_option_id: o for o in options}
    assert by_id["colissimo.standard"].price.amount_minor == 1_095
    assert by_id["colissimo.express"].display_name == "Colissimo Express"
    abroad = (await stub.GetShippingRates(api.GetShippingRatesRequest(
        destination=Address(country_code="US"), parcel=parcel))).options
    assert {o.shipping_option_id for o in abroad} == {"colissimo.standard", "chronopost.express"}

    carriers = (await stub.ListCarriers(api.ListCarriersRequest())).carriers
    assert [c.carrier_code for c in carriers] == ["colissimo", "chronopost", "mondial_relay"]
    assert carriers[0].service_levels == [S.SERVICE_LEVEL_STANDARD, S.SERVICE_LEVEL_EXPRESS,
                                          S.SERVICE_LEVEL_PICKUP_POINT]
    assert "FR" in carriers[0].country_codes and carriers[0].max_weight_grams == 30_000

    valid = await stub.ValidateShippingOption(api.ValidateShippingOptionRequest(
        shipping_option_id="colissimo.express", destination=LYON, parcel=parcel))
    assert valid.valid and valid.option.price.amount_minor == 2_195
    not_served = await stub.ValidateShippingOption(api.ValidateShippingOptionRequest(
        shipping_option_id="colissimo.pickup_point", destination=Address(country_code="DE"), parcel=parcel))
    unknown = await stub.ValidateShippingOption(api.ValidateShippingOptionRequest(
        shipping_option_id="dhl.express", destination=LYON, parcel=parcel))
    assert (not_served.valid, not_served.rejection) == (False, api.OPTION_REJECTION_DESTINATION_NOT_SERVED)
    assert (unknown.valid, unknown.rejection) == (False, api.OPTION_REJECTION_UNKNOWN_OPTION)
    assert not not_served.HasField("option")
    assert (not_served.rejection_message, unknown.rejection_message) == (
        "shipping option colissimo.pickup_point does not deliver to DE", "no shipping option 'dhl.express'")
    assert not valid.rejection_message

    order_id = str(uuid.uuid4())
    request = api.CreateShipmentRequest(
        order_id=order_id, order_number="ORD-API-1", shipping_option_id="mondial_relay.pickup_point",
        destination=LYON, parcel=parcel, items=[shipment_pb2.ShipmentItem(sku="TEA-3", name="Tea", quantity=3)],
        shipping_price=eur(749))
    made = await stub.CreateShipment(request)
    again = await stub.CreateShipment(request)
    assert made.created and not again.created and again.shipment == made.shipment
    assert made.shipment.service_level == S.SERVICE_LEVEL_PICKUP_POINT
    [created] = await shipping_events(platform, order_id, "shipment_created")
    assert created.shipment_id == made.shipment.shipment_id
    cancelled = await stub.CancelShipment(api.CancelShipmentRequest(shipment_id=made.shipment.shipment_id,
                                                                    reason="address typo"))
    assert cancelled.shipment.status == S.SHIPMENT_STATUS_CANCELLED
    [event] = await shipping_events(platform, order_id, "shipment_cancelled")
    assert event.reason == "address typo"
    # A new shipment for the order once the first one is cancelled.
    remade = await stub.CreateShipment(request)
    assert remade.created and remade.shipment.shipment_id != made.shipment.shipment_id
    shown = (await stub.GetOrderShipment(api.GetOrderShipmentRequest(order_id=order_id))).shipment
    assert shown.shipment_id == remade.shipment.shipment_id


def _bad_requests() -> list[tuple[str, Any, grpc.StatusCode, str]]:
    missing = "00000000-0000-4000-8000-000000000404"  # fixed: xdist workers must collect the same test ids
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    parcel = shipment_pb2.Parcel(weight_grams=1_000)

    def rates(country: str = "FR", weight: int = 1_000, currency: str = "") -> api.GetShippingRatesRequest:
        return api.GetShippingRatesRequest(destination=Address(country_code=country),
                                           parcel=shipment_pb2.Parcel(weight_grams=weight), currency=currency)

    def create(**changes: Any) -> api.CreateShipmentRequest:
        fields: dict[str, Any] = {
            "order_id": "ord-bad", "shipping_option_id": "colissimo.standard", "destination": LYON, "parcel": parcel,
            "items": [shipment_pb2.ShipmentItem(sku="A", name="A", quantity=1)], **changes}
        return api.CreateShipmentRequest(**fields)

    return [
        ("GetShippingRates", rates(country=""), invalid, "the destination has no country code"),
        ("GetShippingRates", rates(country="fr"), invalid, "country code must be two upper-case letters"),
        ("GetShippingRates", rates(weight=0), invalid, "parcel weight must be positive, got 0 g"),
        ("GetShippingRates", rates(weight=-10), invalid, "parcel weight must be positive, got -10 g"),
        ("GetShippingRates", rates(currency="USD"), invalid, "shipping rates are priced in EUR"),
        ("ValidateShippingOption", api.ValidateShippingOptionRequest(destination=LYON, parcel=parcel), invalid,
         "shipping option id is missing"),
        ("ValidateShippingOption", api.ValidateShippingOptionRequest(shipping_option_id="colissimo.standard",
                                                                     parcel=parcel), invalid,
         "the destination has no country code"),
        ("CreateShipment", create(order_id=""), invalid, "order id is missing"),
        ("CreateShipment", create(items=[]), invalid, "has no items to ship"),
        ("CreateShipment", create(items=[shipment_pb2.ShipmentItem(sku="A", quantity=0)]), invalid,
         "every item needs a SKU and a positive quantity"),
        ("CreateShipment", create(destination=Address(country_code="FR")), invalid,
         "the destination address lacks its full name, street (line 1), city, postal code"),
        ("CreateShipment", create(parcel=shipment_pb2.Parcel()), invalid, "parcel weight must be positive"),
        ("CreateShipment", create(shipping_option_id="dhl.express"), not_found, "no shipping option 'dhl.express'"),
        ("CreateShipment", create(shipping_option_id="colissimo.pickup_point",
                                  destination=Address(full_name="A B", line1="1 Hauptstr.", postal_code="10115",
                                                      city="Berlin", country_code="DE")),
         grpc.StatusCode.FAILED_PRECONDITION, "shipping option colissimo.pickup_point does not deliver to DE"),
        ("GetShipment", api.GetShipmentRequest(), invalid, "shipment id is missing"),
        ("GetShipment", api.GetShipmentRequest(shipment_id=missing), not_found, f"no shipment '{missing}'"),
        ("GetOrderShipment", api.GetOrderShipmentRequest(), invalid, "order id is missing"),
        ("GetOrderShipment", api.GetOrderShipmentRequest(order_id=missing), not_found, "has no shipment"),
        ("GetShippingLabel", api.GetShippingLabelRequest(), invalid, "shipment id is missing"),
        ("GetShippingLabel", api.GetShippingLabelRequest(shipment_id=missing), not_found, "no shipment"),
        ("ListTrackingEvents", api.ListTrackingEventsRequest(), invalid, "shipment id is missing"),
        ("ListTrackingEvents", api.ListTrackingEventsRequest(shipment_id=missing), not_found, "no shipment"),
        ("RecordCarrierScan", api.RecordCarrierScanRequest(scan_id="s", status=S.SHIPMENT_STATUS_PICKED_UP), invalid,
         "give exactly one of shipment id and tracking number, got neither"),
        ("RecordCarrierScan", api.RecordCarrierScanRequest(shipment_id="a", tracking_number="b", scan_id="s",
                                                           status=S.SHIPMENT_STATUS_PICKED_UP), invalid, "got both"),
        ("RecordCarrierScan", api.RecordCarrierScanRequest(shipment_id=missing, scan_id="s"), invalid,
         "the scan's status is missing"),
        ("RecordCarrierScan", api.RecordCarrierScanRequest(shipment_id=missing, scan_id="s",
                                                           status=99),  # type: ignore[arg-type]
         invalid, "unknown shipment status 99"),
        ("RecordCarrierScan", api.RecordCarrierScanRequest(shipment_id=missing, scan_id="s",
                                                           status=S.SHIPMENT_STATUS_PICKED_UP), not_found,
         "no shipment"),
        ("RecordCarrierScan", api.RecordCarrierScanRequest(tracking_number="6A000", scan_id="s",
                                                           status=S.SHIPMENT_STATUS_PICKED_UP), not_found,
         "no shipment has tracking number '6A000'"),
        ("CancelShipment", api.CancelShipmentRequest(), invalid, "shipment id is missing"),
        ("CancelShipment", api.CancelShipmentRequest(shipment_id=missing), not_found, "no shipment"),
    ]


@pytest.mark.parametrize(("method", "request_", "code", "message"),
                         [pytest.param(*case, id=f"{case[0]}: {case[3]}") for case in _bad_requests()])
async def test_bad_input_is_refused_with_a_readable_status(local: tuple[Service, Any], method: str, request_: Any,
                                                           code: grpc.StatusCode, message: str) -> None:
    service, stub = local
    await refused(getattr(stub, method)(request_), code, message, by=service)
