"""Administering as a real process with the real profiling, cataloging and stocking beside it, on the
real broker: sellers and their events, product onboarding and its undo, the settings (seeded at first
start, changed by admins, taken by a running service), the stock-level alerts view, and bad input
over every RPC.

One platform serves the whole module (start-up costs seconds); tests keep to their own sellers and SKUs.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import grpc
import pytest
from administering.v1 import admin_service_pb2 as pb
from administering.v1 import events_pb2 as events
from administering.v1.admin_service_pb2_grpc import AdminServiceStub
from cataloging.v1 import catalog_service_pb2 as catalog_pb
from cataloging.v1 import events_pb2 as catalog_events
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from ordering.v1 import events_pb2 as order_events
from ordering.v1 import order_pb2
from profiling.v1 import events_pb2 as profile_events
from profiling.v1 import profile_service_pb2 as profile_pb
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from shop.common.v1 import money_pb2, paging_pb2
from stocking.v1 import events_pb2 as stock_events
from stocking.v1 import stock_service_pb2 as stock_pb
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from tools.platform import Platform, as_customer, eventually

ADMIN_EMAIL, ADMIN_PASSWORD = "root@shop.test", "root-password-for-tests"
PASSWORD = "correct horse battery"
SERVICES = ("profiling", "cataloging", "stocking", "administering")
T = TypeVar("T")


@dataclass
class Shop:
    platform: Platform
    admin: AdminServiceStub
    profiles: ProfileServiceStub
    catalog: CatalogServiceStub
    stock: StockServiceStub
    admin_id: str  # the first admin, from profiling's configuration
    clerk_id: str  # an active STAFF member
    category_id: str


@pytest.fixture(scope="module")
async def shop(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
               schema_registry_url: str) -> AsyncIterator[Shop]:
    platform = Platform(tmp_path_factory.mktemp("administering"), kafka_bootstrap, schema_registry_url,
                        f"t{uuid.uuid4().hex[:12]}")
    try:
        await platform.start(*SERVICES, PROFILING_ADMIN_EMAIL=ADMIN_EMAIL, PROFILING_ADMIN_PASSWORD=ADMIN_PASSWORD)
        profiles = ProfileServiceStub(platform.channel("profiling"))
        catalog = CatalogServiceStub(platform.channel("cataloging"))
        admin = (await profiles.Authenticate(profile_pb.AuthenticateRequest(
            email=ADMIN_EMAIL, password=ADMIN_PASSWORD, account_kind=profile_pb.ACCOUNT_KIND_STAFF))).staff_member
        clerk = (await profiles.CreateStaffMember(profile_pb.CreateStaffMemberRequest(
            email="clerk@shop.test", password=PASSWORD, display_name="Clerk", role=profile_pb.ROLE_STAFF,
            created_by=admin.staff_id))).staff_member
        category = (await catalog.CreateCategory(catalog_pb.CreateCategoryRequest(name="Shoes"))).category
        yield Shop(platform, AdminServiceStub(platform.channel("administering")), profiles, catalog,
                   StockServiceStub(platform.channel("stocking")), admin.staff_id, clerk.staff_id,
                   category.category_id)
    finally:
        await platform.close()


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


def tag() -> str:
    return uuid.uuid4().hex[:8].upper()


def siren_vat(siren: int) -> str:
    """A French VAT number with the right check digits for a 9-digit SIREN."""
    return f"FR{(12 + 3 * (siren % 97)) % 97:02d}{siren:09d}"


def new_vat() -> str:
    return siren_vat(100_000_000 + uuid.uuid4().int % 800_000_000)


async def onboard_seller(shop: Shop, name: str = "Atelier") -> events.Seller:
    return (await shop.admin.OnboardSeller(pb.OnboardSellerRequest(
        name=f"{name} {tag()}", email=f"contact.{tag().lower()}@atelier.fr", vat_number=new_vat(),
        staff_id=shop.clerk_id))).seller


def product_request(shop: Shop, seller_id: str, sku: str, **fields: Any) -> pb.OnboardProductRequest:
    values: dict[str, Any] = {
        "seller_id": seller_id, "sku": sku, "name": "Trail shoe", "description": "Light", "weight_grams": 800,
        "category_id": shop.category_id, "price": eur(8_900), "tax_class": "standard", "attributes": {"size": "42"},
        "initial_stock_quantity": 12, "publish": True, "staff_id": shop.clerk_id,
    } | fields
    return pb.OnboardProductRequest(**values)


async def products_with_sku(shop: Shop, sku: str) -> list[catalog_events.Product]:
    return list((await shop.catalog.BatchGetProductsBySku(catalog_pb.BatchGetProductsBySkuRequest(
        skus=[sku]))).products)


def consumed_to_the_end(platform: Platform, service: str, topic: str) -> bool:
    """Whether the service's consumer group has committed past the last record now on the topic."""
    name = platform.kafka_topic(topic)
    consumer = Consumer({"bootstrap.servers": platform.kafka_bootstrap, "group.id": f"{platform.namespace}.{service}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed"})
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        last: dict[int, int] = {}
        at_end: set[int] = set()
        while len(at_end) < len(partitions):
            for message in consumer.consume(500, timeout=1.0):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())  # type: ignore[arg-type]
                elif error is None:
                    last[message.partition()] = message.offset()  # type: ignore[index, assignment]
        committed = consumer.committed([TopicPartition(name, p) for p in last], timeout=10)
        return all(tp.offset > last[tp.partition] for tp in committed)
    finally:
        consumer.close()


async def until_consumed(platform: Platform, service: str, topic: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(consumed_to_the_end, platform, service, topic):
        assert time.monotonic() < deadline, f"{service} did not consume {topic} within {within}s"
        await asyncio.sleep(0.3)


def changelog(platform: Platform, service: str, store: str) -> dict[str, Any]:
    """A store's current content, read from the service's changelog topic as a new instance would restore it."""
    name = f"{platform.namespace}.{service}.changelog"
    consumer = Consumer({"bootstrap.servers": platform.kafka_bootstrap, "group.id": "test-changelog-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed"})
    try:
        consumer.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])
        content: dict[str, Any] = {}
        while True:
            for message in consumer.consume(500, timeout=1.0):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    return content
                if error is None:
                    prefix, _, key = message.key().decode().partition("/")  # type: ignore[union-attr]
                    if prefix == store:
                        value = message.value()
                        content[key] = None if value is None else json.loads(value)
    finally:
        consumer.close()


# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------

SETTING_NAMES = ["customer.vip_discount_bps", "customer.vip_threshold", "saga.step_timeout", "shop.currency",
                 "stock.low_stock_threshold", "stock.reservation_ttl", "tax.rate_bps.reduced",
                 "tax.rate_bps.standard", "tax.rate_bps.super_reduced", "tax.rate_bps.zero"]


async def test_the_defaults_are_seeded_and_published_at_first_start(shop: Shop) -> None:
    listed = (await shop.admin.ListSettings(pb.ListSettingsRequest())).settings
    assert [s.name for s in listed] == SETTING_NAMES
    assert all(s.version >= 1 and s.default_value.WhichOneof("kind") for s in listed)
    taxes = (await shop.admin.ListSettings(pb.ListSettingsRequest(name_prefix="tax."))).settings
    assert [s.basis_points for s in (t.default_value for t in taxes)] == [550, 2000, 210, 0]
    ttl = (await shop.admin.GetSetting(pb.GetSettingRequest(name="stock.reservation_ttl"))).setting
    assert (ttl.kind, ttl.default_value.duration_value.ToTimedelta()) == (pb.SETTING_VALUE_KIND_DURATION,
                                                                          timedelta(minutes=15))
    seeded = await shop.platform.events("administering.settings.v1", at_least=len(SETTING_NAMES),
                                        where=lambda e: e.setting_changed.changed_by == "system")
    assert sorted(e.setting_changed.name for e in seeded) == SETTING_NAMES
    assert all(e.metadata.aggregate_id == e.setting_changed.name and e.setting_changed.version == 1
               and not e.setting_changed.HasField("old_value") for e in seeded)
    vip = next(e.setting_changed for e in seeded if e.setting_changed.name == "customer.vip_threshold")
    assert vip.value.money_value == eur(100_000)


async def test_an_admin_changes_a_setting_and_it_is_published(shop: Shop) -> None:
    before = (await shop.admin.GetSetting(pb.GetSettingRequest(name="tax.rate_bps.reduced"))).setting
    changed = (await shop.admin.UpdateSetting(pb.UpdateSettingRequest(
        name="tax.rate_bps.reduced", value=events.SettingValue(basis_points=600), staff_id=shop.admin_id,
        expected_version=before.version))).setting
    assert (changed.value.basis_points, changed.version, changed.updated_by) == (600, before.version + 1,
                                                                                 shop.admin_id)
    published = await shop.platform.events("administering.settings.v1", where=lambda e: (
        e.setting_changed.name == "tax.rate_bps.reduced" and e.setting_changed.version == changed.version))
    event = published[0].setting_changed
    assert (event.value.basis_points, event.old_value.basis_points, event.changed_by) == (600, 550, shop.admin_id)
    assert published[0].metadata.aggregate_version == changed.version
    # The value it already has: unchanged, nothing published.
    same = (await shop.admin.UpdateSetting(pb.UpdateSettingRequest(
        name="tax.rate_bps.reduced", value=events.SettingValue(basis_points=600), staff_id=shop.admin_id))).setting
    assert same.version == changed.version
    assert (await shop.admin.GetSetting(pb.GetSettingRequest(name="tax.rate_bps.reduced"))).setting == changed


async def test_a_settings_change_reaches_a_running_profiling_without_restart(shop: Shop) -> None:
    customer = (await shop.profiles.RegisterCustomer(profile_pb.RegisterCustomerRequest(
        email=f"vip.{tag().lower()}@example.com", password=PASSWORD, first_name="Vera", last_name="Ip"))).customer
    await shop.admin.UpdateSetting(pb.UpdateSettingRequest(
        name="customer.vip_threshold", value=events.SettingValue(money_value=eur(20_000)), staff_id=shop.admin_id))
    # Two topics have no order between them: the order is sent once profiling has taken the setting.
    await until_consumed(shop.platform, "profiling", "administering.settings.v1")
    order_id = str(uuid.uuid4())  # 250.00 EUR: below the old 1,000.00 threshold, above the new 200.00
    await shop.platform.publish("ordering.orders.v1", order_id, order_confirmed=order_events.OrderConfirmed(
        order_id=order_id, customer_id=customer.customer_id, currency="EUR",
        totals=order_pb2.OrderTotals(total=eur(25_000))))
    now_vip = await eventually(
        lambda: shop.profiles.GetCustomer(profile_pb.GetCustomerRequest(customer_id=customer.customer_id)),
        lambda answer: answer.customer.status == profile_events.CUSTOMER_STATUS_VIP)
    assert now_vip.customer.status == profile_events.CUSTOMER_STATUS_VIP
    assert now_vip.customer.confirmed_spend == eur(25_000)


# --------------------------------------------------------------------------------------------------
# Sellers
# --------------------------------------------------------------------------------------------------


async def test_a_seller_is_onboarded_changed_suspended_and_reinstated_with_its_events(shop: Shop) -> None:
    vat = siren_vat(303265045)
    spaced = f"{vat[:2].lower()} {vat[2:4]} {vat[4:7]}.{vat[7:10]}.{vat[10:]}"
    seller = (await shop.admin.OnboardSeller(pb.OnboardSellerRequest(
        name="  Atelier Dupont ", email=" Contact@Atelier-Dupont.FR", vat_number=spaced,
        staff_id=shop.clerk_id))).seller
    assert (seller.name, seller.email, seller.vat_number, seller.status, seller.version) == (
        "Atelier Dupont", "contact@atelier-dupont.fr", vat, events.SELLER_STATUS_ACTIVE, 1)
    assert (await shop.admin.GetSeller(pb.GetSellerRequest(seller_id=seller.seller_id))).seller == seller

    renamed = (await shop.admin.UpdateSeller(pb.UpdateSellerRequest(
        seller_id=seller.seller_id, name="Dupont & Fils", email="hello@dupont.fr", staff_id=shop.clerk_id))).seller
    assert (renamed.name, renamed.email, renamed.version) == ("Dupont & Fils", "hello@dupont.fr", 2)
    suspended = (await shop.admin.SuspendSeller(pb.SuspendSellerRequest(
        seller_id=seller.seller_id, reason="unpaid fees", staff_id=shop.clerk_id))).seller
    assert (suspended.status, suspended.suspension_reason, suspended.HasField("suspended_at")) == (
        events.SELLER_STATUS_SUSPENDED, "unpaid fees", True)
    again = (await shop.admin.SuspendSeller(pb.SuspendSellerRequest(
        seller_id=seller.seller_id, reason="other reason", staff_id=shop.clerk_id))).seller
    assert again == suspended
    back = (await shop.admin.ReinstateSeller(pb.ReinstateSellerRequest(
        seller_id=seller.seller_id, staff_id=shop.admin_id))).seller
    assert (back.status, back.suspension_reason, back.HasField("suspended_at"), back.version) == (
        events.SELLER_STATUS_ACTIVE, "", False, 4)

    published = await shop.platform.events("administering.sellers.v1", at_least=4,
                                           where=lambda e: e.metadata.aggregate_id == seller.seller_id)
    assert [e.WhichOneof("event") for e in published] == ["seller_onboarded", "seller_updated", "seller_suspended",
                                                          "seller_updated"]
    assert published[0].seller_onboarded.onboarded_by == shop.clerk_id
    assert sorted(published[1].seller_updated.changed_fields) == ["email", "name"]
    assert (published[2].seller_suspended.reason, published[2].seller_suspended.suspended_by) == ("unpaid fees",
                                                                                                  shop.clerk_id)
    assert "status" in published[3].seller_updated.changed_fields
    assert [e.metadata.aggregate_version for e in published] == [1, 2, 3, 4]
    assert published[3].seller_updated.seller == back

    # The old email is free for another seller; the new one is not.
    await shop.admin.OnboardSeller(pb.OnboardSellerRequest(name="Other", email="contact@atelier-dupont.fr",
                                                           vat_number=new_vat(), staff_id=shop.clerk_id))


async def test_sellers_are_listed_by_name_filtered_and_paged(shop: Shop) -> None:
    mark = tag()
    sellers = [(await shop.admin.OnboardSeller(pb.OnboardSellerRequest(
        name=f"{name} {mark}", email=f"{name.lower()}.{mark.lower()}@shop.fr", vat_number=new_vat(),
        staff_id=shop.clerk_id))).seller for name in ("Charlie", "alpha", "Bravo")]
    await shop.admin.SuspendSeller(pb.SuspendSellerRequest(seller_id=sellers[0].seller_id, reason="audit",
                                                           staff_id=shop.clerk_id))
    listed = await shop.admin.ListSellers(pb.ListSellersRequest(query=mark.lower()))
    assert [s.name.split()[0] for s in listed.sellers] == ["alpha", "Bravo", "Charlie"]
    active = await shop.admin.ListSellers(pb.ListSellersRequest(query=mark, statuses=[events.SELLER_STATUS_ACTIVE]))
    assert [s.name.split()[0] for s in active.sellers] == ["alpha", "Bravo"]
    first = await shop.admin.ListSellers(pb.ListSellersRequest(query=mark, page=paging_pb2.PageRequest(page_size=2)))
    rest = await shop.admin.ListSellers(pb.ListSellersRequest(query=mark, page=paging_pb2.PageRequest(
        page_size=2, page_token=first.page.next_page_token)))
    assert [s.name.split()[0] for s in [*first.sellers, *rest.sellers]] == ["alpha", "Bravo", "Charlie"]
    assert (first.page.total_size, rest.page.next_page_token) == (3, "")

    # A shopper (or nobody) sees the active sellers' trading names, and nothing else of them.
    for credentials in ((), as_customer("customer-1")):
        public = await AdminServiceStub(shop.platform.bare_channel("administering")).ListSellers(
            pb.ListSellersRequest(query=mark, statuses=[events.SELLER_STATUS_SUSPENDED]), metadata=credentials)
        assert [(s.name.split()[0], s.email, s.vat_number) for s in public.sellers] == [("alpha", "", ""),
                                                                                         ("Bravo", "", "")]


# --------------------------------------------------------------------------------------------------
# Product onboarding
# --------------------------------------------------------------------------------------------------


async def test_onboarding_creates_the_product_sets_its_stock_and_publishes_it(shop: Shop) -> None:
    seller = await onboard_seller(shop)  # cataloging hears of it a moment later: onboarding waits for that
    sku = f"SHOE-{tag()}"
    done = await shop.admin.OnboardProduct(product_request(shop, seller.seller_id, sku))
    assert (done.product.sku, done.product.seller_id, done.product.status) == (
        sku, seller.seller_id, catalog_events.PRODUCT_STATUS_PUBLISHED)
    assert (done.product.price, done.product.tax_class, dict(done.product.attributes)) == (eur(8_900), "standard",
                                                                                           {"size": "42"})
    assert (done.stock_level.sku, done.stock_level.on_hand, done.stock_level.available) == (sku, 12, 12)
    level = (await shop.stock.GetStockLevel(stock_pb.GetStockLevelRequest(sku=sku))).level
    assert level.on_hand == 12
    movements = (await shop.stock.ListStockMovements(stock_pb.ListStockMovementsRequest(sku=sku))).movements
    assert [(m.change_reason, m.staff_id) for m in movements] == [(stock_pb.STOCK_CHANGE_REASON_INITIAL_STOCK,
                                                                   shop.clerk_id)]
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await shop.admin.OnboardProduct(product_request(shop, seller.seller_id, sku))
    assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert f"SKU {sku!r} was already onboarded" in (again.value.details() or "")

    draft_sku = f"DRAFT-{tag()}"
    draft = await shop.admin.OnboardProduct(product_request(shop, seller.seller_id, draft_sku, publish=False,
                                                            initial_stock_quantity=0, tax_class=""))
    assert (draft.product.status, draft.product.tax_class, draft.stock_level.on_hand) == (
        catalog_events.PRODUCT_STATUS_DRAFT, "standard", 0)


async def test_onboarding_refused_at_the_stock_step_leaves_no_orphan_product(shop: Shop) -> None:
    seller = await onboard_seller(shop)
    sku = f"HELD-{tag()}"
    # Stocking already holds 3 units of this SKU for an order, so it refuses to set its stock to 0.
    await shop.stock.SetStock(stock_pb.SetStockRequest(sku=sku, on_hand=5, reason=stock_pb.STOCK_CHANGE_REASON_RESTOCK,
                                                       staff_id=shop.clerk_id))
    reserved = await shop.stock.ReserveOrderStock(stock_pb.ReserveOrderStockRequest(
        order_id=str(uuid.uuid4()), lines=[stock_events.StockLine(sku=sku, quantity=3)]))
    assert reserved.reservation.state == stock_pb.RESERVATION_STATE_ACTIVE

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.admin.OnboardProduct(product_request(shop, seller.seller_id, sku, initial_stock_quantity=0))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"onboarding of {sku} failed at SET_INITIAL_STOCK and was undone" in (refused.value.details() or "")
    assert "3 units are reserved" in (refused.value.details() or "")
    # The product created by the first step is archived: nothing is left for sale or in drafts.
    products = await products_with_sku(shop, sku)
    assert [p.status for p in products] == [catalog_events.PRODUCT_STATUS_ARCHIVED]
    listed = await shop.catalog.ListProducts(catalog_pb.ListProductsRequest(
        seller_id=seller.seller_id, statuses=[catalog_events.PRODUCT_STATUS_DRAFT,
                                              catalog_events.PRODUCT_STATUS_PUBLISHED]))
    assert sku not in [p.sku for p in listed.products]
    # The SKU stays with its archived draft; the same request is told so.
    with pytest.raises(grpc.aio.AioRpcError) as repeated:
        await shop.admin.OnboardProduct(product_request(shop, seller.seller_id, sku, initial_stock_quantity=0))
    assert repeated.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "failed" in (repeated.value.details() or "") and "was undone" in (repeated.value.details() or "")


async def test_onboarding_with_stocking_down_is_finished_once_stocking_is_back(shop: Shop) -> None:
    seller = await onboard_seller(shop)
    sku = f"LATE-{tag()}"
    request = product_request(shop, seller.seller_id, sku, initial_stock_quantity=7)
    shop.platform.kill("stocking")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as stopped:
            await shop.admin.OnboardProduct(request)
        assert stopped.value.code() == grpc.StatusCode.UNAVAILABLE
        assert f"onboarding of {sku} stopped at SET_INITIAL_STOCK" in (stopped.value.details() or "")
        assert "repeat the same request to finish it" in (stopped.value.details() or "")
        # Not a refusal: the draft is kept for the onboarding to go on from.
        assert [p.status for p in await products_with_sku(shop, sku)] == [catalog_events.PRODUCT_STATUS_DRAFT]
    finally:
        await shop.platform.start("stocking")
    try:
        finished = await shop.admin.OnboardProduct(request)
        assert finished.stock_level.on_hand == 7
    except grpc.aio.AioRpcError as exc:  # the background sweep finished it first
        assert exc.code() == grpc.StatusCode.ALREADY_EXISTS, exc.details()
    products = await products_with_sku(shop, sku)
    assert [p.status for p in products] == [catalog_events.PRODUCT_STATUS_PUBLISHED]
    assert (await shop.stock.GetStockLevel(stock_pb.GetStockLevelRequest(sku=sku))).level.on_hand == 7


# --------------------------------------------------------------------------------------------------
# Consumed events: stock-level alerts
# --------------------------------------------------------------------------------------------------


def level(sku: str, available: int, seconds: int) -> stock_events.StockLevel:
    return stock_events.StockLevel(sku=sku, on_hand=available, available=available, low_stock_threshold=5,
                                   updated_at=Timestamp(seconds=seconds))


async def test_stock_level_events_keep_the_alerts_view_current(shop: Shop) -> None:
    low, out, stale = f"LOW-{tag()}", f"OUT-{tag()}", 1_800_000_000
    await shop.platform.publish("stocking.levels.v1", low, low_stock_detected=stock_events.LowStockDetected(
        sku=low, level=level(low, 3, stale), alert_id="alert-1"))
    await shop.platform.publish("stocking.levels.v1", out, out_of_stock=stock_events.OutOfStock(
        sku=out, level=level(out, 0, stale + 10), alert_id="alert-2"))
    # Arrives late: its level is older than the one already seen, so it changes nothing.
    await shop.platform.publish("stocking.levels.v1", out, back_in_stock=stock_events.BackInStock(
        sku=out, level=level(out, 4, stale)))
    await shop.platform.publish("stocking.levels.v1", low, back_in_stock=stock_events.BackInStock(
        sku=low, level=level(low, 9, stale + 20)))

    await until_consumed(shop.platform, "administering", "stocking.levels.v1")
    view = await asyncio.to_thread(changelog, shop.platform, "administering", "stock-alerts")
    assert (view[low]["condition"], view[low]["alert_id"], view[low]["available"]) == ("BACK_IN_STOCK", "", 9)
    assert (view[out]["condition"], view[out]["alert_id"], view[out]["available"]) == ("OUT_OF_STOCK", "alert-2", 0)


# --------------------------------------------------------------------------------------------------
# Bad input, over every RPC
# --------------------------------------------------------------------------------------------------


@dataclass
class Known:
    admin_id: str
    clerk_id: str
    category_id: str
    seller: events.Seller
    other: events.Seller
    suspended: events.Seller


@pytest.fixture(scope="module")
async def known(shop: Shop) -> Known:
    seller, other, suspended = await onboard_seller(shop), await onboard_seller(shop), await onboard_seller(shop)
    await shop.admin.SuspendSeller(pb.SuspendSellerRequest(seller_id=suspended.seller_id, reason="audit",
                                                           staff_id=shop.clerk_id))
    return Known(shop.admin_id, shop.clerk_id, shop.category_id, seller, other, suspended)


def seconds(value: int) -> Duration:
    return Duration(seconds=value)


def product(k: Known, **fields: Any) -> pb.OnboardProductRequest:
    values: dict[str, Any] = {
        "seller_id": k.seller.seller_id, "sku": f"BAD-{tag()}", "name": "Shoe", "category_id": k.category_id,
        "price": eur(1_000), "initial_stock_quantity": 1, "publish": True, "staff_id": k.clerk_id} | fields
    return pb.OnboardProductRequest(**values)


def seller_request(k: Known, **fields: Any) -> pb.OnboardSellerRequest:
    values: dict[str, Any] = {"name": "Shop", "email": f"x.{tag().lower()}@shop.fr", "vat_number": new_vat(),
                              "staff_id": k.clerk_id} | fields
    return pb.OnboardSellerRequest(**values)


def setting(k: Known, name: str, value: events.SettingValue | None, **fields: Any) -> pb.UpdateSettingRequest:
    return pb.UpdateSettingRequest(**({"name": name, "value": value, "staff_id": k.admin_id} | fields))


Code = grpc.StatusCode
INVALID, NOT_FOUND, EXISTS = Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.ALREADY_EXISTS
DENIED, PRECONDITION = Code.PERMISSION_DENIED, Code.FAILED_PRECONDITION
Case = tuple[str, Callable[[Known], Any], grpc.StatusCode, str]

BAD_INPUT: list[Case] = [
    ("OnboardSeller", lambda k: seller_request(k, staff_id=""), INVALID, "staff_id is required"),
    ("OnboardSeller", lambda k: seller_request(k, staff_id="s-missing"), DENIED,
     "'s-missing' is not an active staff member"),
    ("OnboardSeller", lambda k: seller_request(k, name=" "), INVALID, "name is required"),
    ("OnboardSeller", lambda k: seller_request(k, name="x" * 201), INVALID,
     "name must be at most 200 characters, got 201"),
    ("OnboardSeller", lambda k: seller_request(k, email="nobody@"), INVALID,
     "email 'nobody@' is not a valid email address"),
    ("OnboardSeller", lambda k: seller_request(k, vat_number="FR123"), INVALID,
     "vat_number 'FR123' does not have the format of a FR VAT number"),
    ("OnboardSeller", lambda k: seller_request(k, vat_number="FR00303265045"), INVALID,
     "vat_number 'FR00303265045' has wrong check digits"),
    ("OnboardSeller", lambda k: seller_request(k, email=k.seller.email.upper()), EXISTS,
     "another seller already uses the email"),
    ("OnboardSeller", lambda k: seller_request(k, vat_number=k.seller.vat_number), EXISTS,
     "another seller already has the VAT number"),
    ("GetSeller", lambda k: pb.GetSellerRequest(), INVALID, "seller_id is required"),
    ("GetSeller", lambda k: pb.GetSellerRequest(seller_id="s-missing"), NOT_FOUND, "no seller with id 's-missing'"),
    ("UpdateSeller", lambda k: pb.UpdateSellerRequest(seller_id=k.seller.seller_id, name="New",
                                                      staff_id="s-missing"),
     DENIED, "'s-missing' is not an active staff member"),
    ("UpdateSeller", lambda k: pb.UpdateSellerRequest(name="New", staff_id=k.clerk_id), INVALID,
     "seller_id is required"),
    ("UpdateSeller", lambda k: pb.UpdateSellerRequest(seller_id="s-missing", name="New", staff_id=k.clerk_id),
     NOT_FOUND, "no seller with id 's-missing'"),
    ("UpdateSeller", lambda k: pb.UpdateSellerRequest(seller_id=k.seller.seller_id, name="", staff_id=k.clerk_id),
     INVALID, "name is required"),
    ("UpdateSeller", lambda k: pb.UpdateSellerRequest(seller_id=k.seller.seller_id, vat_number="DE12",
                                                      staff_id=k.clerk_id),
     INVALID, "does not have the format of a DE VAT number"),
    ("UpdateSeller", lambda k: pb.UpdateSellerRequest(seller_id=k.seller.seller_id, email=k.other.email,
                                                      staff_id=k.clerk_id),
     EXISTS, "another seller already uses the email"),
    ("SuspendSeller", lambda k: pb.SuspendSellerRequest(seller_id=k.seller.seller_id, reason="x",
                                                        staff_id="s-missing"),
     DENIED, "'s-missing' is not an active staff member"),
    ("SuspendSeller", lambda k: pb.SuspendSellerRequest(seller_id=k.seller.seller_id, reason=" ",
                                                        staff_id=k.clerk_id),
     INVALID, "reason is required"),
    ("SuspendSeller", lambda k: pb.SuspendSellerRequest(seller_id="s-missing", reason="x", staff_id=k.clerk_id),
     NOT_FOUND, "no seller with id 's-missing'"),
    ("ReinstateSeller", lambda k: pb.ReinstateSellerRequest(seller_id=k.suspended.seller_id), INVALID,
     "staff_id is required"),
    ("ReinstateSeller", lambda k: pb.ReinstateSellerRequest(staff_id=k.clerk_id), INVALID, "seller_id is required"),
    ("ReinstateSeller", lambda k: pb.ReinstateSellerRequest(seller_id="s-missing", staff_id=k.clerk_id),
     NOT_FOUND, "no seller with id 's-missing'"),
    ("ListSellers", lambda k: pb.ListSellersRequest(statuses=[events.SELLER_STATUS_UNSPECIFIED]), INVALID,
     "statuses must hold SELLER_STATUS_ACTIVE or SELLER_STATUS_SUSPENDED, got 0"),
    ("ListSellers", lambda k: pb.ListSellersRequest(page=paging_pb2.PageRequest(page_token="???")), INVALID,
     "page_token '???' is not one this list issued for these filters and this order"),
    ("ListSellers", lambda k: pb.ListSellersRequest(page=paging_pb2.PageRequest(page_size=-5)), INVALID,
     "page_size must be 0 (the default) or more, got -5"),
    ("OnboardProduct", lambda k: product(k, staff_id="s-missing"), DENIED, "'s-missing' is not an active staff"),
    ("OnboardProduct", lambda k: product(k, seller_id=""), INVALID, "seller_id is required"),
    ("OnboardProduct", lambda k: product(k, sku="lower case"), INVALID,
     "sku 'lower case' must be 1 to 64 characters among A-Z, 0-9, '-' and '_'"),
    ("OnboardProduct", lambda k: product(k, initial_stock_quantity=-1), INVALID,
     "initial_stock_quantity must be 0 or more, got -1"),
    ("OnboardProduct", lambda k: product(k, seller_id="s-missing"), NOT_FOUND, "no seller with id 's-missing'"),
    ("OnboardProduct", lambda k: product(k, seller_id=k.suspended.seller_id), PRECONDITION,
     "is suspended; reinstate it before onboarding products"),
    ("OnboardProduct", lambda k: product(k, category_id=""), PRECONDITION,
     "a product without a category cannot be published"),
    ("OnboardProduct", lambda k: product(k, price=eur(0)), PRECONDITION,
     "a product with a zero price cannot be published"),
    ("OnboardProduct", lambda k: product(k, category_id="cat-missing"), NOT_FOUND,
     "failed at CREATE_PRODUCT and was undone"),
    ("OnboardProduct", lambda k: product(k, name=""), INVALID, "failed at CREATE_PRODUCT and was undone"),
    ("GetSetting", lambda k: pb.GetSettingRequest(), INVALID, "name is required"),
    ("GetSetting", lambda k: pb.GetSettingRequest(name="shop.colour"), NOT_FOUND,
     "'shop.colour' is not a system setting; the settings are customer.vip_discount_bps"),
    ("UpdateSetting", lambda k: setting(k, "stock.low_stock_threshold", events.SettingValue(int_value=3),
                                        staff_id=k.clerk_id),
     DENIED, "is not an active admin; only admins change system settings"),
    ("UpdateSetting", lambda k: setting(k, "stock.low_stock_threshold", events.SettingValue(int_value=3),
                                        staff_id=""),
     INVALID, "staff_id is required"),
    ("UpdateSetting", lambda k: setting(k, "", events.SettingValue(int_value=3)), INVALID, "name is required"),
    ("UpdateSetting", lambda k: setting(k, "shop.colour", events.SettingValue(string_value="red")), NOT_FOUND,
     "'shop.colour' is not a system setting"),
    ("UpdateSetting", lambda k: setting(k, "stock.low_stock_threshold", None), INVALID,
     "setting 'stock.low_stock_threshold' needs a value"),
    ("UpdateSetting", lambda k: setting(k, "stock.low_stock_threshold", events.SettingValue(string_value="3")),
     INVALID, "setting 'stock.low_stock_threshold' takes a int value, got a string value"),
    ("UpdateSetting", lambda k: setting(k, "stock.low_stock_threshold", events.SettingValue(int_value=-1)),
     INVALID, "setting 'stock.low_stock_threshold' must be between 0 and 1000000, got -1"),
    ("UpdateSetting", lambda k: setting(k, "tax.rate_bps.standard", events.SettingValue(basis_points=10_001)),
     INVALID, "is in basis points and must be between 0 and 10000, got 10001"),
    ("UpdateSetting", lambda k: setting(k, "shop.currency", events.SettingValue(string_value="eur")),
     INVALID, "must be three upper-case letters (ISO 4217), got 'eur'"),
    ("UpdateSetting", lambda k: setting(k, "customer.vip_threshold", events.SettingValue(
        money_value=money_pb2.Money(amount_minor=5_000, currency="USD"))),
     INVALID, "setting 'customer.vip_threshold' must be in the shop's currency EUR, got USD"),
    ("UpdateSetting", lambda k: setting(k, "stock.reservation_ttl", events.SettingValue(
        duration_value=seconds(10))), INVALID, "must be between 1 minute(s) and 24 hour(s), got 10 second(s)"),
    ("UpdateSetting", lambda k: setting(k, "saga.step_timeout", events.SettingValue(
        duration_value=seconds(10**15))), INVALID, "value.duration_value must be a duration of at most 10,000 years"),
    ("UpdateSetting", lambda k: setting(k, "stock.low_stock_threshold", events.SettingValue(int_value=4),
                                        expected_version=99),
     PRECONDITION, "not 99: someone changed it meanwhile; reload it and try again"),
    ("UpdateSetting", lambda k: setting(k, "stock.low_stock_threshold", events.SettingValue(int_value=4),
                                        expected_version=-1),
     INVALID, "expected_version must be 0 (any) or a version, got -1"),
]
# ListSettings takes no input that can be wrong: an unknown prefix lists nothing (checked below).
NO_BAD_INPUT = {"ListSettings"}


def test_the_bad_input_table_covers_every_rpc() -> None:
    methods = set(pb.DESCRIPTOR.services_by_name["AdminService"].methods_by_name)
    assert {case[0] for case in BAD_INPUT} == methods - NO_BAD_INPUT


async def test_list_settings_with_an_unknown_prefix_lists_nothing(shop: Shop) -> None:
    assert not (await shop.admin.ListSettings(pb.ListSettingsRequest(name_prefix="no.such."))).settings


@pytest.mark.parametrize(("method", "request_of", "code", "message"), BAD_INPUT,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(BAD_INPUT)])
async def test_bad_input_is_refused_with_the_right_code_and_a_readable_message(
        shop: Shop, known: Known, method: str, request_of: Callable[[Known], Any], code: grpc.StatusCode,
        message: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await getattr(shop.admin, method)(request_of(known))
    assert refused.value.code() == code, refused.value.details()
    assert message in (refused.value.details() or ""), refused.value.details()
