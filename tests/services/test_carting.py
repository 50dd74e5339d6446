"""carting as a real process on the real broker: every RPC, the catalogue, customer and settings events
it consumes, and bad input refused with a readable status.

Carting calls cataloging, stocking and shipping: they run as real processes too (`Callees`), and
the tests set the catalogue and the stock up through their RPCs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc
import pytest
from administering.v1 import events_pb2 as admin_events
from carting.v1 import cart_service_pb2 as api
from carting.v1.cart_service_pb2_grpc import CartServiceStub
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from profiling.v1 import events_pb2 as profiling_events
from shop.common.v1.address_pb2 import Address

from services.runtime.inprocess import Service
from services.shipping import domain as shipping_domain
from tests.services.support import HOME, Callees, eur, in_process, refused, start_platform
from tools.platform import Platform, as_customer, eventually

T = TypeVar("T")
PRODUCTS, CUSTOMERS, SETTINGS = "cataloging.products.v1", "profiling.customers.v1", "administering.settings.v1"


# ------------------------------------------------------------------------------- the callees


@pytest.fixture(scope="module")
async def local(schema_registry_url: str) -> AsyncIterator[tuple[Service, Any]]:
    """Carting in this process, its callees stubs that answer nothing: every bad input is refused before a call."""
    async with in_process("carting", schema_registry_url) as (service, channel):
        yield service, CartServiceStub(channel)


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                schema_registry_url: str) -> AsyncIterator[tuple[Platform, Callees]]:
    """One carting process (and its callees) for the whole module; every test works on carts of its own."""
    platform, callees = await start_platform(tmp_path_factory.mktemp("carting"), kafka_bootstrap,
                                             schema_registry_url, "carting")
    try:
        yield platform, callees
    finally:
        await platform.close()
        await callees.stop()


@pytest.fixture(scope="module")
def carts(world: tuple[Platform, Callees]) -> Any:
    return world[0].stub("carting", CartServiceStub)


@pytest.fixture(scope="module")
def callees(world: tuple[Platform, Callees]) -> Callees:
    return world[1]


def sku(name: str) -> str:
    """A SKU of this test's own: events about it reach no other test's carts."""
    return f"{name}-{uuid.uuid4().hex[:8].upper()}"


async def anonymous_cart(carts: Any) -> api.Cart:
    return (await carts.CreateCart(api.CreateCartRequest())).cart


def amounts(cart: api.Cart) -> tuple[int, int, int, int]:
    t = cart.totals
    return t.subtotal.amount_minor, t.vip_discount.amount_minor, t.tax_estimate.amount_minor, t.grand_total.amount_minor


async def test_a_shoppers_cart_from_first_line_to_totals(carts: Any, callees: Callees) -> None:
    mug, book = sku("MUG"), sku("BOOK")
    product = await callees.add_product(mug, price=1250, tax_class="standard", weight=300, stock=10)
    await callees.add_product(book, price=500, tax_class="reduced", weight=400, stock=3)
    cart = await anonymous_cart(carts)
    assert (cart.state, cart.currency, cart.customer_id, len(cart.lines)) == (api.CART_STATE_OPEN, "EUR", "", 0)
    assert cart.expires_at.seconds > cart.created_at.seconds  # anonymous carts expire

    await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=mug, quantity=1))
    cart = (await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=mug, quantity=1))).cart  # same line
    cart = (await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=book, quantity=1))).cart
    assert [(line.sku, line.quantity, line.availability) for line in cart.lines] == [
        (mug, 2, api.LINE_AVAILABILITY_AVAILABLE), (book, 1, api.LINE_AVAILABILITY_AVAILABLE)]
    line = cart.lines[0]
    assert (line.name, line.product_id, line.seller_id, line.tax_class, line.tax_rate_bps, line.unit_weight_grams) == (
        f"Product {mug}", product.product_id, callees.seller_id, "standard", 2000, 300)
    assert (line.subtotal.amount_minor, line.tax.amount_minor, line.total.amount_minor) == (2500, 500, 3000)
    # 2 x 12.50 at 20 % and 1 x 5.00 at 5.5 % (27.5 cents of tax round half up to 28).
    assert amounts(cart) == (3000, 0, 528, 3528)
    assert (cart.totals.item_count, cart.totals.total_weight_grams, cart.totals.ready_for_checkout) == (3, 1000, True)
    assert not cart.totals.HasField("shipping_estimate")

    cart = (await carts.UpdateLineQuantity(api.UpdateLineQuantityRequest(cart_id=cart.cart_id, sku=book,
                                                                         quantity=3))).cart
    assert amounts(cart) == (4000, 0, 583, 4583)  # 15.00 at 5.5 % is 82.5 cents: 83
    totals = await carts.GetCartTotals(api.GetCartTotalsRequest(cart_id=cart.cart_id))
    assert (totals.totals, totals.cart_version) == (cart.totals, cart.version)

    await callees.set_stock(book, 2)  # stock went down since: the line no longer counts
    cart = (await carts.GetCart(api.GetCartRequest(cart_id=cart.cart_id))).cart
    assert (cart.lines[1].availability, cart.lines[1].available_quantity) == (api.LINE_AVAILABILITY_INSUFFICIENT_STOCK,
                                                                              2)
    assert amounts(cart) == (2500, 0, 500, 3000) and not cart.totals.ready_for_checkout

    removed = (await carts.RemoveLine(api.RemoveLineRequest(cart_id=cart.cart_id, sku=book))).cart
    assert [line.sku for line in removed.lines] == [mug] and removed.version == cart.version + 1
    again = (await carts.RemoveLine(api.RemoveLineRequest(cart_id=cart.cart_id, sku=book))).cart
    assert again.version == removed.version  # removing a line that is not there changes nothing
    cleared = (await carts.ClearCart(api.ClearCartRequest(cart_id=cart.cart_id))).cart
    assert (len(cleared.lines), amounts(cleared)) == (0, (0, 0, 0, 0))


async def test_stock_and_catalogue_refusals(carts: Any, callees: Callees) -> None:
    lamp, draft, gone = sku("LAMP"), sku("DRAFT"), sku("GONE")
    await callees.add_product(lamp, stock=5)
    await callees.add_product(draft, status=catalog_events.PRODUCT_STATUS_DRAFT)
    await callees.add_product(gone, status=catalog_events.PRODUCT_STATUS_ARCHIVED)
    cart = await anonymous_cart(carts)
    refusals = [
        (api.AddLineRequest(cart_id=cart.cart_id, sku=lamp, quantity=6), grpc.StatusCode.FAILED_PRECONDITION,
         f"only 5 of {lamp} available, 6 asked"),
        (api.AddLineRequest(cart_id=cart.cart_id, sku="NOPE-1", quantity=1), grpc.StatusCode.NOT_FOUND,
         "no product with SKU 'NOPE-1' in the catalogue"),
        (api.AddLineRequest(cart_id=cart.cart_id, sku=draft, quantity=1), grpc.StatusCode.NOT_FOUND,
         "in the catalogue"),
        (api.AddLineRequest(cart_id=cart.cart_id, sku=gone, quantity=1), grpc.StatusCode.FAILED_PRECONDITION,
         "is no longer sold"),
    ]
    for request, code, message in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await carts.AddLine(request)
        assert (refused.value.code(), message in (refused.value.details() or "")) == (code, True), refused.value
    await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=lamp, quantity=5))
    await callees.set_stock(lamp, 0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await carts.UpdateLineQuantity(api.UpdateLineQuantityRequest(cart_id=cart.cart_id, sku=lamp, quantity=4))
    assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                               f"{lamp} is out of stock")
    cart = (await carts.GetCart(api.GetCartRequest(cart_id=cart.cart_id))).cart
    assert cart.lines[0].availability == api.LINE_AVAILABILITY_OUT_OF_STOCK


async def test_shipping_is_quoted_by_shipping_and_follows_the_parcels_weight(carts: Any, callees: Callees) -> None:
    brick = sku("BRICK")
    await callees.add_product(brick, price=1000, weight=900, stock=50)
    cart = await anonymous_cart(carts)
    await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=brick, quantity=1))
    cart = (await carts.SetShipping(api.SetShippingRequest(cart_id=cart.cart_id, destination=HOME,
                                                           shipping_option_id="colissimo.standard"))).cart

    def quoted(weight: int) -> int:
        check = shipping_domain.validate_shipping_option("colissimo.standard", country_code="FR", postal_code="75002",
                                                         parcel=shipping_domain.Parcel(weight_grams=weight),
                                                         currency="EUR")
        assert check.option is not None
        return check.option.price

    shipping = cart.shipping
    assert (shipping.shipping_option_id, shipping.carrier_code, shipping.service_level) == (
        "colissimo.standard", "colissimo", "standard")
    assert shipping.destination == HOME and shipping.price.amount_minor == quoted(900)
    assert cart.totals.shipping_estimate.amount_minor == quoted(900)
    assert cart.totals.grand_total.amount_minor == 1000 + 200 + quoted(900)

    cart = (await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=brick, quantity=9))).cart
    assert quoted(9000) != quoted(900)  # another weight band: the quote follows the parcel
    assert cart.totals.shipping_estimate.amount_minor == quoted(9000)

    cart = (await carts.SetShipping(api.SetShippingRequest(cart_id=cart.cart_id, destination=HOME))).cart
    assert cart.shipping.destination == HOME and not cart.shipping.shipping_option_id
    assert not cart.totals.HasField("shipping_estimate")
    cart = (await carts.SetShipping(api.SetShippingRequest(cart_id=cart.cart_id))).cart
    assert not cart.HasField("shipping")

    for option, destination, code, message in [
        ("colissimo.teleport", HOME, grpc.StatusCode.NOT_FOUND, "no shipping option 'colissimo.teleport'"),
        ("colissimo.standard", Address(country_code="AQ"), grpc.StatusCode.FAILED_PRECONDITION,
         "shipping: shipping option colissimo.standard does not deliver to AQ"),
        ("colissimo.standard", Address(country_code="fr"), grpc.StatusCode.INVALID_ARGUMENT,
         "shipping: country code must be two upper-case letters"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await carts.SetShipping(api.SetShippingRequest(cart_id=cart.cart_id, destination=destination,
                                                           shipping_option_id=option))
        assert (refused.value.code(), message in (refused.value.details() or "")) == (code, True), refused.value


async def test_a_customer_has_one_open_cart_and_reaches_no_other(carts: Any) -> None:
    customer = f"cus-{uuid.uuid4().hex[:8]}"
    first = await carts.CreateCart(api.CreateCartRequest(customer_id=customer), metadata=as_customer(customer))
    again = await carts.CreateCart(api.CreateCartRequest(customer_id=customer, currency="EUR"))
    assert (first.created, again.created, again.cart.cart_id) == (True, False, first.cart.cart_id)
    assert first.cart.customer_id == customer and not first.cart.HasField("expires_at")  # customer carts stay

    # Another customer's cart answers as if it did not exist; closing a cart is the checkout's (services only).
    for call, code in [
        (carts.GetCart(api.GetCartRequest(cart_id=first.cart.cart_id), metadata=as_customer("someone-else")),
         grpc.StatusCode.NOT_FOUND),
        (carts.CreateCart(api.CreateCartRequest(customer_id=customer), metadata=as_customer("someone-else")),
         grpc.StatusCode.NOT_FOUND),
        (carts.MergeCarts(api.MergeCartsRequest(anonymous_cart_id="x", customer_id=customer),
                          metadata=as_customer("someone-else")), grpc.StatusCode.NOT_FOUND),
        (carts.CloseCart(api.CloseCartRequest(cart_id=first.cart.cart_id, order_id="o-1"),
                         metadata=as_customer(customer)), grpc.StatusCode.PERMISSION_DENIED),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == code, refused.value.details()
    anonymous = await anonymous_cart(carts)  # anonymous carts are reached by their id, signed in or not
    await carts.GetCart(api.GetCartRequest(cart_id=anonymous.cart_id), metadata=as_customer(customer))


async def test_signing_in_merges_the_anonymous_cart_capped_by_stock(carts: Any, callees: Callees) -> None:
    cup, pen, old = sku("CUP"), sku("PEN"), sku("OLD")
    await callees.add_product(cup, stock=5)
    await callees.add_product(pen, stock=10)
    await callees.add_product(old, stock=10)
    customer = f"cus-{uuid.uuid4().hex[:8]}"
    mine = (await carts.CreateCart(api.CreateCartRequest(customer_id=customer))).cart
    await carts.AddLine(api.AddLineRequest(cart_id=mine.cart_id, sku=cup, quantity=4))
    anonymous = await anonymous_cart(carts)
    for item, quantity in ((cup, 3), (pen, 2), (old, 1)):
        await carts.AddLine(api.AddLineRequest(cart_id=anonymous.cart_id, sku=item, quantity=quantity))
    await callees.set_stock(old, 0)

    merged = await carts.MergeCarts(api.MergeCartsRequest(anonymous_cart_id=anonymous.cart_id, customer_id=customer),
                                    metadata=as_customer(customer))
    assert merged.cart.cart_id == mine.cart_id
    assert [(line.sku, line.quantity) for line in merged.cart.lines] == [(cup, 5), (pen, 2)]
    assert [(a.sku, a.requested_quantity, a.merged_quantity, a.reason) for a in merged.adjustments] == [
        (cup, 7, 5, api.MERGE_ADJUSTMENT_REASON_STOCK_LIMIT), (old, 1, 0, api.MERGE_ADJUSTMENT_REASON_OUT_OF_STOCK)]
    source = (await carts.GetCart(api.GetCartRequest(cart_id=anonymous.cart_id))).cart
    assert (source.state, source.merged_into_cart_id) == (api.CART_STATE_MERGED, mine.cart_id)

    repeated = await carts.MergeCarts(api.MergeCartsRequest(anonymous_cart_id=anonymous.cart_id,
                                                            customer_id=customer))
    assert (repeated.cart.version, list(repeated.adjustments)) == (merged.cart.version, [])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await carts.MergeCarts(api.MergeCartsRequest(anonymous_cart_id=anonymous.cart_id, customer_id="cus-other"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already merged into another customer's cart" in (refused.value.details() or "")

    # A customer without a cart gets one from the merge.
    newcomer, other = f"cus-{uuid.uuid4().hex[:8]}", await anonymous_cart(carts)
    await carts.AddLine(api.AddLineRequest(cart_id=other.cart_id, sku=pen, quantity=1))
    created = await carts.MergeCarts(api.MergeCartsRequest(anonymous_cart_id=other.cart_id, customer_id=newcomer))
    assert (created.cart.customer_id, [(line.sku, line.quantity) for line in created.cart.lines]) == (
        newcomer, [(pen, 1)])
    assert (await carts.CreateCart(api.CreateCartRequest(customer_id=newcomer))).cart.cart_id == created.cart.cart_id


async def test_closing_a_cart_for_its_order_is_idempotent(carts: Any, callees: Callees) -> None:
    vase = sku("VASE")
    await callees.add_product(vase)
    customer = f"cus-{uuid.uuid4().hex[:8]}"
    cart = (await carts.CreateCart(api.CreateCartRequest(customer_id=customer))).cart
    cart = (await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=vase, quantity=1))).cart

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await carts.CloseCart(api.CloseCartRequest(cart_id=cart.cart_id, order_id="o-1",
                                                   expected_version=cart.version - 1))
    assert (refused.value.code(), "changed since it was read" in (refused.value.details() or "")) == (
        grpc.StatusCode.FAILED_PRECONDITION, True)
    closed = (await carts.CloseCart(api.CloseCartRequest(cart_id=cart.cart_id, order_id="o-1",
                                                         expected_version=cart.version))).cart
    assert (closed.state, closed.order_id, closed.version) == (api.CART_STATE_CHECKED_OUT, "o-1", cart.version + 1)
    again = (await carts.CloseCart(api.CloseCartRequest(cart_id=cart.cart_id, order_id="o-1",
                                                        expected_version=cart.version))).cart
    assert again == closed
    for call, message in [
        (carts.CloseCart(api.CloseCartRequest(cart_id=cart.cart_id, order_id="o-2")),
         "already checked out by order o-1"),
        (carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=vase, quantity=1)), "is checked out"),
        (carts.ClearCart(api.ClearCartRequest(cart_id=cart.cart_id)), "is checked out"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert (refused.value.code(), message in (refused.value.details() or "")) == (
            grpc.StatusCode.FAILED_PRECONDITION, True), refused.value
    # The customer's next cart is a new one.
    assert (await carts.CreateCart(api.CreateCartRequest(customer_id=customer))).created


async def test_catalogue_events_refresh_prices_names_and_flag_archived_lines(
        world: tuple[Platform, Callees], carts: Any, callees: Callees) -> None:
    platform, catalog = world[0], callees.catalog
    tea, jam = sku("TEA"), sku("JAM")
    tea_product = await callees.add_product(tea, price=800, tax_class="reduced")
    jam_product = await callees.add_product(jam, price=450)
    cart = await anonymous_cart(carts)
    await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=tea, quantity=2))
    await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=jam, quantity=1))

    async def read() -> api.Cart:
        return (await carts.GetCart(api.GetCartRequest(cart_id=cart.cart_id))).cart

    repriced = (await catalog.SetProductPrice(catalog_api.SetProductPriceRequest(
        product_id=tea_product.product_id, price=eur(900)))).product
    changed = await eventually(read, lambda c: c.lines[0].current_unit_price.amount_minor == 900)
    line = changed.lines[0]
    assert (line.unit_price_seen.amount_minor, line.price_changed, line.subtotal.amount_minor) == (800, True, 1800)
    assert not changed.totals.ready_for_checkout

    # An older catalogue version, delivered late, changes nothing.
    await platform.publish(PRODUCTS, tea_product.product_id, product_price_changed=catalog_events.ProductPriceChanged(
        product_id=tea_product.product_id, sku=tea, old_price=eur(800), new_price=eur(700),
        version=repriced.version - 1))
    await catalog.UpdateProduct(catalog_api.UpdateProductRequest(product_id=tea_product.product_id, name="Green tea",
                                                                 weight_grams=250))
    renamed = await eventually(read, lambda c: c.lines[0].name == "Green tea")
    assert (renamed.lines[0].current_unit_price.amount_minor, renamed.lines[0].unit_weight_grams) == (900, 250)

    acknowledged = (await carts.AcknowledgePriceChanges(api.AcknowledgePriceChangesRequest(cart_id=cart.cart_id))).cart
    assert (acknowledged.lines[0].price_changed, acknowledged.lines[0].unit_price_seen.amount_minor) == (False, 900)
    assert acknowledged.totals.ready_for_checkout

    await catalog.ArchiveProduct(catalog_api.ArchiveProductRequest(product_id=jam_product.product_id,
                                                                   reason="recalled"))
    archived = await eventually(read, lambda c: c.lines[1].availability == api.LINE_AVAILABILITY_ARCHIVED)
    assert archived.totals.subtotal.amount_minor == 1800 and not archived.totals.ready_for_checkout


async def test_vip_discount_and_tax_rates_follow_profiling_and_the_settings(
        world: tuple[Platform, Callees], carts: Any, callees: Callees) -> None:
    platform = world[0]
    coat = sku("COAT")
    await callees.add_product(coat, price=10_000, tax_class="standard")
    customer = f"cus-{uuid.uuid4().hex[:8]}"
    cart = (await carts.CreateCart(api.CreateCartRequest(customer_id=customer))).cart
    await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=coat, quantity=1))

    async def read() -> api.Cart:
        return (await carts.GetCart(api.GetCartRequest(cart_id=cart.cart_id))).cart

    def status(new: int) -> profiling_events.CustomerStatusChanged:
        return profiling_events.CustomerStatusChanged(customer_id=customer, new_status=new,  # type: ignore[arg-type]
                                                      source=profiling_events.STATUS_CHANGE_SOURCE_RULE)

    await platform.publish(CUSTOMERS, customer, customer_status_changed=status(profiling_events.CUSTOMER_STATUS_VIP))
    vip = await eventually(read, lambda c: c.totals.vip_discount_bps == 500)
    assert amounts(vip) == (10_000, 500, 1900, 11_400)  # 5 % off, then 20 % tax on 95.00

    async def setting(name: str, basis_points: int, version: int) -> None:
        await platform.publish(SETTINGS, name, setting_changed=admin_events.SettingChanged(
            name=name, value=admin_events.SettingValue(basis_points=basis_points), changed_by="admin-1",
            version=version))

    try:
        await setting("customer.vip_discount_bps", 1000, 1)
        await setting("tax.rate_bps.standard", 1000, 1)
        rerated = await eventually(read, lambda c: amounts(c) == (10_000, 1000, 900, 9900))
        assert (rerated.totals.vip_discount_bps, rerated.lines[0].tax_rate_bps) == (1000, 1000)
    finally:
        await setting("customer.vip_discount_bps", 500, 2)
        await setting("tax.rate_bps.standard", 2000, 2)
    await eventually(read, lambda c: amounts(c) == (10_000, 500, 1900, 11_400))

    await platform.publish(CUSTOMERS, customer,
                           customer_status_changed=status(profiling_events.CUSTOMER_STATUS_STANDARD))
    standard = await eventually(read, lambda c: c.totals.vip_discount_bps == 0)
    assert amounts(standard) == (10_000, 0, 2000, 12_000)


async def test_carts_survive_a_kill_9(world: tuple[Platform, Callees], carts: Any, callees: Callees) -> None:
    platform = world[0]
    hat = sku("HAT")
    await callees.add_product(hat)
    cart = await anonymous_cart(carts)
    cart = (await carts.AddLine(api.AddLineRequest(cart_id=cart.cart_id, sku=hat, quantity=2))).cart
    platform.kill("carting")
    await platform.start("carting")
    assert (await carts.GetCart(api.GetCartRequest(cart_id=cart.cart_id))).cart == cart


def _bad_requests() -> list[tuple[str, Any, grpc.StatusCode, str]]:
    invalid, missing = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    nowhere = str(uuid.uuid4())
    return [
        ("CreateCart", api.CreateCartRequest(customer_id="bad id!"), invalid, "customer id 'bad id!' is malformed"),
        ("CreateCart", api.CreateCartRequest(currency="euro"), invalid, "three-letter ISO 4217 code"),
        ("GetCart", api.GetCartRequest(), invalid, "cart id is required"),
        ("GetCart", api.GetCartRequest(cart_id=nowhere), missing, f"no cart '{nowhere}'"),
        ("GetCartTotals", api.GetCartTotalsRequest(), invalid, "cart id is required"),
        ("GetCartTotals", api.GetCartTotalsRequest(cart_id=nowhere), missing, "no cart"),
        ("AddLine", api.AddLineRequest(sku="A", quantity=1), invalid, "cart id is required"),
        ("AddLine", api.AddLineRequest(cart_id=nowhere, sku="A", quantity=1), missing, "no cart"),
        ("AddLine", api.AddLineRequest(cart_id="{cart}", quantity=1), invalid, "SKU is required"),
        ("AddLine", api.AddLineRequest(cart_id="{cart}", sku="A", quantity=0), invalid,
         "quantity to add must be between 1 and 99, got 0"),
        ("AddLine", api.AddLineRequest(cart_id="{cart}", sku="A", quantity=-3), invalid, "got -3"),
        ("AddLine", api.AddLineRequest(cart_id="{cart}", sku="A", quantity=100), invalid, "got 100"),
        ("UpdateLineQuantity", api.UpdateLineQuantityRequest(cart_id="{cart}", sku="A", quantity=0), invalid,
         "quantity must be between 1 and 99, got 0; use RemoveLine"),
        ("UpdateLineQuantity", api.UpdateLineQuantityRequest(cart_id="{cart}", quantity=1), invalid,
         "SKU is required"),
        ("UpdateLineQuantity", api.UpdateLineQuantityRequest(cart_id="{cart}", sku="A", quantity=2), missing,
         "the cart has no line for SKU 'A'"),
        ("UpdateLineQuantity", api.UpdateLineQuantityRequest(sku="A", quantity=2), invalid, "cart id is required"),
        ("RemoveLine", api.RemoveLineRequest(cart_id="{cart}"), invalid, "SKU is required"),
        ("RemoveLine", api.RemoveLineRequest(cart_id=nowhere, sku="A"), missing, "no cart"),
        ("ClearCart", api.ClearCartRequest(), invalid, "cart id is required"),
        ("ClearCart", api.ClearCartRequest(cart_id=nowhere), missing, "no cart"),
        ("AcknowledgePriceChanges", api.AcknowledgePriceChangesRequest(), invalid, "cart id is required"),
        ("AcknowledgePriceChanges", api.AcknowledgePriceChangesRequest(cart_id=nowhere), missing, "no cart"),
        ("SetShipping", api.SetShippingRequest(), invalid, "cart id is required"),
        ("SetShipping", api.SetShippingRequest(cart_id="{cart}", shipping_option_id="colissimo.standard"), invalid,
         "a shipping option needs a destination"),
        ("SetShipping", api.SetShippingRequest(cart_id="{cart}", destination=Address(city="Paris")), invalid,
         "a shipping destination needs at least a country code"),
        ("MergeCarts", api.MergeCartsRequest(customer_id="cus-1"), invalid, "anonymous cart id is required"),
        ("MergeCarts", api.MergeCartsRequest(anonymous_cart_id="{cart}"), invalid, "customer id is required"),
        ("MergeCarts", api.MergeCartsRequest(anonymous_cart_id=nowhere, customer_id="cus-1"), missing, "no cart"),
        ("MergeCarts", api.MergeCartsRequest(anonymous_cart_id="{customer-cart}", customer_id="cus-1"),
         grpc.StatusCode.FAILED_PRECONDITION, "belongs to a customer; only anonymous carts merge"),
        ("CloseCart", api.CloseCartRequest(order_id="o-1"), invalid, "cart id is required"),
        ("CloseCart", api.CloseCartRequest(cart_id="{cart}"), invalid, "order id is required"),
        ("CloseCart", api.CloseCartRequest(cart_id="{cart}", order_id="o-1", expected_version=-1), invalid,
         "expected version cannot be negative"),
        ("CloseCart", api.CloseCartRequest(cart_id=nowhere, order_id="o-1"), missing, "no cart"),
    ]


@pytest.mark.parametrize(("method", "request_", "code", "message"), _bad_requests(),
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(_bad_requests())])
async def test_bad_input_is_refused_with_a_readable_status(local: tuple[Service, Any], method: str, request_: Any,
                                                           code: grpc.StatusCode, message: str) -> None:
    service, carts = local
    cart = await anonymous_cart(carts)
    customer_cart = (await carts.CreateCart(api.CreateCartRequest(customer_id=f"cus-{uuid.uuid4().hex[:8]}"))).cart
    for field in ("cart_id", "anonymous_cart_id"):
        if getattr(request_, field, None) == "{cart}":
            setattr(request_, field, cart.cart_id)
        elif getattr(request_, field, None) == "{customer-cart}":
            setattr(request_, field, customer_cart.cart_id)
    await refused(getattr(carts, method)(request_), code, message, by=service)


def test_the_bad_input_table_covers_every_rpc() -> None:
    rpcs = set(api.DESCRIPTOR.services_by_name["CartService"].methods_by_name)
    assert {method for method, *_ in _bad_requests()} == rpcs


