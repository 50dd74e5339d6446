"""Carting's domain without Kafka or gRPC: editing, merging, catalogue refreshes, closing, expiry, totals."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from services.carting import domain
from services.carting.domain import (
    ANONYMOUS_CART_TTL,
    Address,
    Cart,
    CartState,
    CatalogProduct,
    LineAvailability,
    MergeAdjustmentReason,
    PricingSettings,
    ShippingQuote,
)
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
PLENTY = 1000


def product(sku: str = "MUG-1", *, price: int = 1250, tax_class: str = "standard", weight: int = 300,
            version: int = 1, archived: bool = False, currency: str = "EUR") -> CatalogProduct:
    return CatalogProduct(
        product_id=f"p-{sku}", sku=sku, seller_id="s-1", name=f"Product {sku}", unit_price=price,
        currency=currency, tax_class=tax_class, unit_weight_grams=weight, archived=archived, version=version,
    )


def anonymous_cart(cart_id: str = "c-anon") -> Cart:
    return domain.create_cart(cart_id=cart_id, customer_id="", currency="EUR", now=NOW)[0]


def customer_cart(customer_id: str = "cust-1", cart_id: str = "c-cust") -> Cart:
    return domain.create_cart(cart_id=cart_id, customer_id=customer_id, currency="EUR", now=NOW)[0]


def with_lines(cart: Cart, *items: tuple[str, int]) -> Cart:
    for sku, quantity in items:
        cart = domain.add_line(cart, sku=sku, quantity=quantity, product=product(sku), available=PLENTY, now=NOW)
    return cart


def in_state(state: CartState) -> Cart:
    cart = with_lines(customer_cart(), ("MUG-1", 1))
    if state is CartState.CHECKED_OUT:
        return domain.close_cart(cart, order_id="o-1", expected_version=0, now=NOW)
    if state is CartState.MERGED:
        return domain.merge_carts(with_lines(anonymous_cart(), ("MUG-1", 1)), None, customer_id="cust-9",
                                  new_cart_id="c-new", available_by_sku={"MUG-1": PLENTY}, now=NOW).anonymous_cart
    if state is CartState.EXPIRED:
        return domain.expire_carts([with_lines(anonymous_cart(), ("MUG-1", 1))], NOW + ANONYMOUS_CART_TTL)[0]
    return cart


# ------------------------------------------------------------------------------------------ creating


def test_an_anonymous_cart_is_open_empty_and_expires_after_the_ttl() -> None:
    cart, created = domain.create_cart(cart_id="c-1", customer_id="", currency="EUR", now=NOW)
    assert created
    assert (cart.state, cart.lines, cart.version, cart.is_anonymous) == (CartState.OPEN, [], 1, True)
    assert cart.expires_at == NOW + ANONYMOUS_CART_TTL


def test_a_customer_cart_never_expires() -> None:
    assert customer_cart().expires_at is None


def test_a_customer_with_an_open_cart_gets_it_back_unchanged() -> None:
    existing = with_lines(customer_cart(), ("MUG-1", 2))
    cart, created = domain.create_cart(cart_id="c-2", customer_id="cust-1", currency="EUR", now=LATER,
                                       existing_open_cart=existing)
    assert not created
    assert cart == existing


@pytest.mark.parametrize(("customer_id", "currency"), [("", "eur"), ("", "EURO"), ("", ""), ("a b", "EUR")])
def test_create_cart_refuses_a_malformed_currency_or_customer_id(customer_id: str, currency: str) -> None:
    with pytest.raises(InvalidArgument):
        domain.create_cart(cart_id="c-1", customer_id=customer_id, currency=currency, now=NOW)


# ------------------------------------------------------------------------------------------- editing


def test_add_line_copies_the_catalogue_data_and_pushes_expiry_back() -> None:
    cart = anonymous_cart()
    changed = domain.add_line(cart, sku="MUG-1", quantity=2, product=product(), available=5, now=LATER)
    line = changed.lines[0]
    assert (line.sku, line.quantity, line.unit_price_seen, line.current_unit_price) == ("MUG-1", 2, 1250, 1250)
    assert (line.name, line.tax_class, line.unit_weight_grams) == ("Product MUG-1", "standard", 300)
    assert line.added_at == LATER
    assert not line.price_changed
    assert changed.version == cart.version + 1
    assert changed.expires_at == LATER + ANONYMOUS_CART_TTL
    assert cart.lines == []  # the given record is never mutated


def test_adding_a_sku_again_adds_to_its_line() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2), ("TEA-1", 1))
    changed = domain.add_line(cart, sku="MUG-1", quantity=3, product=product(), available=PLENTY, now=LATER)
    assert [(line.sku, line.quantity) for line in changed.lines] == [("MUG-1", 5), ("TEA-1", 1)]


@pytest.mark.parametrize(
    ("sku", "quantity", "already", "error", "words"),
    [
        ("", 1, 0, InvalidArgument, "SKU is required"),
        ("MUG-1", 0, 0, InvalidArgument, "at least 1"),
        ("MUG-1", -3, 0, InvalidArgument, "at least 1"),
        ("MUG-1", 100, 0, InvalidArgument, "at most 99"),
        ("MUG-1", 10, 90, InvalidArgument, "would have 100"),
    ],
)
def test_add_line_refuses_bad_quantities(sku: str, quantity: int, already: int, error: type, words: str) -> None:
    cart = with_lines(customer_cart(), ("MUG-1", already)) if already else customer_cart()
    with pytest.raises(error, match=words):
        domain.add_line(cart, sku=sku, quantity=quantity, product=product(), available=PLENTY, now=NOW)


def test_add_line_refuses_an_unknown_sku() -> None:
    with pytest.raises(NotFound, match="NOPE"):
        domain.add_line(customer_cart(), sku="NOPE", quantity=1, product=None, available=0, now=NOW)


def test_add_line_refuses_an_archived_product() -> None:
    with pytest.raises(FailedPrecondition, match="no longer sold"):
        domain.add_line(customer_cart(), sku="MUG-1", quantity=1, product=product(archived=True), available=9, now=NOW)


def test_add_line_refuses_a_product_in_another_currency() -> None:
    with pytest.raises(FailedPrecondition, match="USD"):
        domain.add_line(customer_cart(), sku="MUG-1", quantity=1, product=product(currency="USD"), available=9,
                        now=NOW)


@pytest.mark.parametrize(("available", "words"), [(0, "out of stock"), (2, "only 2 of MUG-1 available, 3 asked")])
def test_add_line_refuses_more_than_the_stock(available: int, words: str) -> None:
    with pytest.raises(FailedPrecondition, match=words):
        domain.add_line(customer_cart(), sku="MUG-1", quantity=3, product=product(), available=available, now=NOW)


def test_the_stock_check_counts_units_already_in_the_line() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2))
    with pytest.raises(FailedPrecondition, match="only 3"):
        domain.add_line(cart, sku="MUG-1", quantity=2, product=product(), available=3, now=NOW)


def test_update_line_quantity_sets_the_quantity() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2))
    changed = domain.update_line_quantity(cart, sku="MUG-1", quantity=7, available=7, now=LATER)
    assert changed.lines[0].quantity == 7
    assert changed.version == cart.version + 1


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_update_line_quantity_refuses_out_of_range(quantity: int) -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2))
    with pytest.raises(InvalidArgument, match="between 1 and 99"):
        domain.update_line_quantity(cart, sku="MUG-1", quantity=quantity, available=PLENTY, now=NOW)


def test_update_line_quantity_refuses_a_missing_line_and_missing_stock() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2))
    with pytest.raises(NotFound, match="TEA-1"):
        domain.update_line_quantity(cart, sku="TEA-1", quantity=1, available=PLENTY, now=NOW)
    with pytest.raises(FailedPrecondition, match="only 4"):
        domain.update_line_quantity(cart, sku="MUG-1", quantity=5, available=4, now=NOW)


def test_remove_line_removes_it_and_removing_an_absent_sku_changes_nothing() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2), ("TEA-1", 1))
    changed = domain.remove_line(cart, sku="MUG-1", now=LATER)
    assert [line.sku for line in changed.lines] == ["TEA-1"]
    unchanged = domain.remove_line(changed, sku="MUG-1", now=LATER)
    assert unchanged == changed


def test_clear_cart_keeps_the_shipping_choice() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2))
    cart = domain.set_shipping(cart, destination=Address(country_code="FR"), quote=None, now=NOW)
    cleared = domain.clear_cart(cart, now=LATER)
    assert cleared.lines == []
    assert cleared.shipping == cart.shipping
    assert domain.clear_cart(cleared, now=LATER).version == cleared.version


def test_set_shipping_stores_the_quote_and_clears_with_no_destination() -> None:
    quote = ShippingQuote("opt-1", "colissimo", "Colissimo", "standard", 590, "EUR", 2, 4)
    cart = domain.set_shipping(customer_cart(), destination=Address(country_code="FR", postal_code="75001"),
                               quote=quote, now=NOW)
    assert cart.shipping is not None and cart.shipping.option == quote
    assert domain.chosen_shipping_price(cart) == 590
    cleared = domain.set_shipping(cart, destination=None, quote=quote, now=NOW)
    assert cleared.shipping is None
    assert domain.chosen_shipping_price(cleared) is None


def test_set_shipping_refuses_a_destination_without_country_or_a_quote_in_another_currency() -> None:
    with pytest.raises(InvalidArgument, match="country code"):
        domain.set_shipping(customer_cart(), destination=Address(postal_code="75001"), quote=None, now=NOW)
    quote = ShippingQuote("opt-1", "ups", "UPS", "express", 900, "USD")
    with pytest.raises(FailedPrecondition, match="USD"):
        domain.set_shipping(customer_cart(), destination=Address(country_code="FR"), quote=quote, now=NOW)


EDITS = {
    "add_line": lambda cart: domain.add_line(cart, sku="MUG-1", quantity=1, product=product(), available=9, now=NOW),
    "update_line_quantity": lambda cart: domain.update_line_quantity(cart, sku="MUG-1", quantity=2, available=9,
                                                                     now=NOW),
    "remove_line": lambda cart: domain.remove_line(cart, sku="MUG-1", now=NOW),
    "clear_cart": lambda cart: domain.clear_cart(cart, now=NOW),
    "set_shipping": lambda cart: domain.set_shipping(cart, destination=None, quote=None, now=NOW),
    "acknowledge_price_changes": lambda cart: domain.acknowledge_price_changes(cart, now=NOW),
}


@pytest.mark.parametrize("state", [CartState.CHECKED_OUT, CartState.MERGED, CartState.EXPIRED])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_only_open_carts_can_change(state: CartState, edit: str) -> None:
    with pytest.raises(FailedPrecondition, match="can no longer change"):
        EDITS[edit](in_state(state))


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_anonymous_cart_past_its_expiry_cannot_change_even_before_the_sweep(edit: str) -> None:
    cart = with_lines(anonymous_cart(), ("MUG-1", 1))
    cart.expires_at = NOW  # the sweep has not marked it EXPIRED yet
    with pytest.raises(FailedPrecondition, match="expired"):
        EDITS[edit](cart)


# ------------------------------------------------------------------------------- catalogue refreshes


def test_a_price_change_flags_the_line_until_acknowledged() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2), ("TEA-1", 1))
    changed = domain.apply_price_change(cart, sku="MUG-1", new_unit_price=1400, currency="EUR", product_version=2,
                                        now=LATER)
    mug = changed.lines[0]
    assert (mug.unit_price_seen, mug.current_unit_price, mug.price_changed) == (1250, 1400, True)
    assert not changed.lines[1].price_changed
    assert changed.version == cart.version + 1

    acknowledged = domain.acknowledge_price_changes(changed, now=LATER)
    assert (acknowledged.lines[0].unit_price_seen, acknowledged.lines[0].price_changed) == (1400, False)
    assert domain.acknowledge_price_changes(acknowledged, now=LATER).version == acknowledged.version


def test_a_price_change_back_to_the_seen_price_clears_the_flag() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 1))
    up = domain.apply_price_change(cart, sku="MUG-1", new_unit_price=1400, currency="EUR", product_version=2, now=NOW)
    back = domain.apply_price_change(up, sku="MUG-1", new_unit_price=1250, currency="EUR", product_version=3, now=NOW)
    assert not back.lines[0].price_changed


@pytest.mark.parametrize(
    ("sku", "version", "currency"),
    [("MUG-1", 1, "EUR"), ("MUG-1", 0, "EUR"), ("OTHER", 5, "EUR"), ("MUG-1", 5, "USD")],
    ids=["same version (duplicate)", "older version", "sku not in cart", "other currency"],
)
def test_price_changes_that_do_not_apply_change_nothing(sku: str, version: int, currency: str) -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 1))
    changed = domain.apply_price_change(cart, sku=sku, new_unit_price=999, currency=currency, product_version=version,
                                        now=LATER)
    assert changed == cart


def test_closed_carts_do_not_follow_the_catalogue() -> None:
    cart = in_state(CartState.CHECKED_OUT)
    assert domain.apply_price_change(cart, sku="MUG-1", new_unit_price=1, currency="EUR", product_version=9,
                                     now=NOW) == cart
    assert domain.apply_product_archived(cart, sku="MUG-1", now=NOW) == cart
    assert domain.apply_product_update(cart, product(version=9), now=NOW) == cart


def test_catalogue_refreshes_do_not_push_an_anonymous_carts_expiry_back() -> None:
    cart = with_lines(anonymous_cart(), ("MUG-1", 1))
    changed = domain.apply_price_change(cart, sku="MUG-1", new_unit_price=1, currency="EUR", product_version=2,
                                        now=LATER)
    assert changed.expires_at == cart.expires_at


def test_a_product_update_refreshes_the_line() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 1))
    updated = CatalogProduct(product_id="p-MUG-1", sku="MUG-1", seller_id="s-2", name="Big mug", unit_price=1250,
                             currency="EUR", tax_class="reduced", unit_weight_grams=450, version=2)
    line = domain.apply_product_update(cart, updated, now=LATER).lines[0]
    assert (line.name, line.seller_id, line.tax_class, line.unit_weight_grams) == ("Big mug", "s-2", "reduced", 450)
    assert domain.apply_product_update(cart, product(version=1), now=LATER) == cart  # stale


def test_an_archived_product_flags_its_line_once() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 1), ("TEA-1", 1))
    archived = domain.apply_product_archived(cart, sku="MUG-1", now=LATER)
    assert [line.archived for line in archived.lines] == [True, False]
    assert domain.apply_product_archived(archived, sku="MUG-1", now=LATER) == archived


# ---------------------------------------------------------------------------------------------- merge


def test_merge_adds_quantities_and_carries_new_lines_over() -> None:
    anonymous = with_lines(anonymous_cart(), ("MUG-1", 2), ("TEA-1", 1))
    mine = with_lines(customer_cart(), ("MUG-1", 3), ("PEN-1", 1))
    result = domain.merge_carts(anonymous, mine, customer_id="cust-1", new_cart_id="unused",
                                available_by_sku={"MUG-1": PLENTY, "TEA-1": PLENTY}, now=LATER)
    assert [(line.sku, line.quantity) for line in result.customer_cart.lines] == [
        ("MUG-1", 5), ("PEN-1", 1), ("TEA-1", 1)
    ]
    assert result.adjustments == []
    assert not result.customer_cart_created
    assert result.customer_cart.version == mine.version + 1
    assert result.anonymous_cart.state is CartState.MERGED
    assert result.anonymous_cart.merged_into_cart_id == mine.cart_id


def test_merge_caps_by_stock_and_line_limit_and_drops_archived_and_out_of_stock_lines() -> None:
    anonymous = with_lines(anonymous_cart(), ("MUG-1", 4), ("TEA-1", 60), ("OLD-1", 1), ("GONE-1", 2))
    anonymous = domain.apply_product_archived(anonymous, sku="OLD-1", now=NOW)
    mine = with_lines(customer_cart(), ("MUG-1", 3), ("TEA-1", 50), ("GONE-1", 1))
    result = domain.merge_carts(anonymous, mine, customer_id="cust-1", new_cart_id="unused",
                                available_by_sku={"MUG-1": 5, "TEA-1": PLENTY, "OLD-1": PLENTY, "GONE-1": 0},
                                now=LATER)
    assert [(line.sku, line.quantity) for line in result.customer_cart.lines] == [("MUG-1", 5), ("TEA-1", 99)]
    assert [(a.sku, a.requested_quantity, a.merged_quantity, a.reason) for a in result.adjustments] == [
        ("MUG-1", 7, 5, MergeAdjustmentReason.STOCK_LIMIT),
        ("TEA-1", 110, 99, MergeAdjustmentReason.LINE_LIMIT),
        ("OLD-1", 1, 0, MergeAdjustmentReason.ARCHIVED),
        ("GONE-1", 3, 0, MergeAdjustmentReason.OUT_OF_STOCK),
    ]


def test_merge_creates_the_customer_cart_when_there_is_none() -> None:
    anonymous = with_lines(anonymous_cart(), ("MUG-1", 2))
    result = domain.merge_carts(anonymous, None, customer_id="cust-1", new_cart_id="c-new",
                                available_by_sku={"MUG-1": PLENTY}, now=LATER)
    assert result.customer_cart_created
    assert (result.customer_cart.cart_id, result.customer_cart.customer_id) == ("c-new", "cust-1")
    assert result.customer_cart.expires_at is None
    assert [(line.sku, line.quantity) for line in result.customer_cart.lines] == [("MUG-1", 2)]


def test_merging_again_for_the_same_customer_returns_the_cart_without_adjustments() -> None:
    anonymous = with_lines(anonymous_cart(), ("MUG-1", 2))
    first = domain.merge_carts(anonymous, None, customer_id="cust-1", new_cart_id="c-new",
                               available_by_sku={"MUG-1": 1}, now=LATER)
    assert first.adjustments
    again = domain.merge_carts(first.anonymous_cart, first.customer_cart, customer_id="cust-1", new_cart_id="c-x",
                               available_by_sku={}, now=LATER)
    assert again.adjustments == []
    assert again.customer_cart == first.customer_cart
    assert again.anonymous_cart == first.anonymous_cart


@pytest.mark.parametrize("state", [CartState.CHECKED_OUT, CartState.EXPIRED])
def test_merge_refuses_a_source_cart_that_is_closed(state: CartState) -> None:
    source = anonymous_cart()
    source.state = state
    with pytest.raises(FailedPrecondition):
        domain.merge_carts(source, None, customer_id="cust-1", new_cart_id="c", available_by_sku={}, now=NOW)


def test_merge_refuses_a_cart_merged_into_another_customer_or_a_customer_cart() -> None:
    merged = in_state(CartState.MERGED)
    with pytest.raises(FailedPrecondition, match="another customer"):
        domain.merge_carts(merged, None, customer_id="cust-1", new_cart_id="c", available_by_sku={}, now=NOW)
    with pytest.raises(FailedPrecondition, match="belongs to a customer"):
        domain.merge_carts(customer_cart("cust-2"), None, customer_id="cust-1", new_cart_id="c", available_by_sku={},
                           now=NOW)
    with pytest.raises(InvalidArgument):
        domain.merge_carts(anonymous_cart(), None, customer_id="", new_cart_id="c", available_by_sku={}, now=NOW)


# ----------------------------------------------------------------------------------- close and expiry


def test_close_cart_checks_it_out_once_per_order() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 1))
    closed = domain.close_cart(cart, order_id="o-1", expected_version=cart.version, now=LATER)
    assert (closed.state, closed.order_id, closed.version) == (CartState.CHECKED_OUT, "o-1", cart.version + 1)
    # A retry with the version ordering read first still succeeds and changes nothing.
    assert domain.close_cart(closed, order_id="o-1", expected_version=cart.version, now=LATER) == closed
    with pytest.raises(FailedPrecondition, match="already checked out by order o-1"):
        domain.close_cart(closed, order_id="o-2", expected_version=0, now=LATER)


def test_close_cart_refuses_a_cart_that_changed_since_it_was_read() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 1))
    with pytest.raises(FailedPrecondition, match="changed since it was read"):
        domain.close_cart(cart, order_id="o-1", expected_version=cart.version - 1, now=LATER)
    assert domain.close_cart(cart, order_id="o-1", expected_version=0, now=LATER).state is CartState.CHECKED_OUT


@pytest.mark.parametrize("state", [CartState.MERGED, CartState.EXPIRED])
def test_close_cart_refuses_merged_and_expired_carts(state: CartState) -> None:
    with pytest.raises(FailedPrecondition):
        domain.close_cart(in_state(state), order_id="o-1", expected_version=0, now=LATER)


def test_close_cart_needs_both_ids() -> None:
    with pytest.raises(InvalidArgument):
        domain.close_cart(customer_cart(), order_id="", expected_version=0, now=NOW)


def test_expire_carts_picks_the_open_anonymous_carts_past_their_expiry() -> None:
    fresh = anonymous_cart("c-fresh")
    fresh.expires_at = NOW + timedelta(seconds=1)
    due = anonymous_cart("c-due")
    due.expires_at = NOW
    merged = in_state(CartState.MERGED)
    merged.expires_at = NOW - timedelta(days=1)
    expired = domain.expire_carts([fresh, due, merged, customer_cart()], NOW)
    assert [(cart.cart_id, cart.state) for cart in expired] == [("c-due", CartState.EXPIRED)]
    assert expired[0].version == due.version + 1
    assert due.state is CartState.OPEN


# --------------------------------------------------------------------------------------------- totals


def totals(cart: Cart, *, vip: bool = False, stock: dict[str, int] | None = None, shipping: int | None = None,
           pricing: PricingSettings | None = None) -> domain.CartTotals:
    available = stock if stock is not None else {line.sku: PLENTY for line in cart.lines}
    return domain.compute_totals(cart, available_by_sku=available, pricing=pricing or PricingSettings(),
                                 customer_is_vip=vip, shipping_estimate=shipping)


def cart_of(*lines: tuple[str, int, int, str]) -> Cart:
    """A customer cart of (sku, unit price, quantity, tax class) lines."""
    cart = customer_cart()
    for sku, price, quantity, tax_class in lines:
        cart = domain.add_line(cart, sku=sku, quantity=quantity, product=product(sku, price=price, tax_class=tax_class),
                               available=PLENTY, now=NOW)
    return cart


def test_totals_of_a_plain_cart() -> None:
    cart = cart_of(("MUG-1", 1999, 3, "standard"), ("BOOK-1", 500, 1, "reduced"))
    result = totals(cart, shipping=590)
    assert [(a.subtotal, a.discount, a.tax, a.total, a.tax_rate_bps) for a in result.lines] == [
        (5997, 0, 1199, 7196, 2000),  # 5997 x 20 % = 1199.4 -> 1199
        (500, 0, 28, 528, 550),  # 500 x 5.5 % = 27.5 -> 28 (half up)
    ]
    assert (result.subtotal, result.vip_discount, result.vip_discount_bps, result.tax_estimate) == (6497, 0, 0, 1227)
    assert (result.shipping_estimate, result.grand_total) == (590, 6497 + 1227 + 590)
    assert (result.item_count, result.total_weight_grams, result.ready_for_checkout) == (4, 1200, True)


@pytest.mark.parametrize(
    ("unit_price", "quantity", "vip", "expected"),
    [
        # expected: (subtotal, discount, tax, total), with VIP 5 % and tax class standard 20 %
        (1000, 1, False, (1000, 0, 200, 1200)),
        (1010, 1, True, (1010, 51, 192, 1151)),  # discount 50.5 -> 51; tax 959 x 20 % = 191.8 -> 192
        (1009, 1, True, (1009, 50, 192, 1151)),  # discount 50.45 -> 50; tax 191.8 -> 192
        (1, 1, True, (1, 0, 0, 1)),  # discount 0.05 -> 0; tax 0.2 -> 0
        (10, 1, True, (10, 1, 2, 11)),  # discount 0.5 -> 1 (half up); tax 9 x 20 % = 1.8 -> 2
        (333, 3, True, (999, 50, 190, 1139)),  # discount 49.95 -> 50; tax 949 x 20 % = 189.8 -> 190
        (1025, 1, False, (1025, 0, 205, 1230)),
        (1, 1, False, (1, 0, 0, 1)),
        (3, 1, False, (3, 0, 1, 4)),  # tax 0.6 -> 1
    ],
)
def test_rounding_is_half_up_per_line(unit_price: int, quantity: int, vip: bool,
                                      expected: tuple[int, int, int, int]) -> None:
    line = totals(cart_of(("MUG-1", unit_price, quantity, "standard")), vip=vip).lines[0]
    assert (line.subtotal, line.discount, line.tax, line.total) == expected


def test_cart_totals_are_sums_of_rounded_lines_not_rounded_sums() -> None:
    # Two lines of 2.5 minor units of tax each: per line each rounds up to 3, so the cart says 6
    # (rounding the sum, 5.0, would say 5).
    result = totals(cart_of(("A-1", 25, 1, "standard"), ("B-1", 25, 1, "standard")),
                    pricing=PricingSettings(tax_rates_bps={"standard": 1000}))
    assert [line.tax for line in result.lines] == [3, 3]
    assert result.tax_estimate == 6


def test_the_vip_discount_applies_only_to_vip_customers_and_never_to_anonymous_carts() -> None:
    cart = cart_of(("MUG-1", 10000, 1, "zero"))
    assert totals(cart, vip=True).vip_discount == 500
    assert totals(cart, vip=True).vip_discount_bps == 500
    assert totals(cart, vip=False).vip_discount == 0
    anonymous = with_lines(anonymous_cart(), ("MUG-1", 1))
    assert totals(anonymous, vip=True).vip_discount_bps == 0


def test_settings_change_the_rates() -> None:
    pricing = PricingSettings().with_setting("customer.vip_discount_bps", 1000).with_setting("tax.rate_bps.zero", 100)
    assert pricing.with_setting("stock.low_stock_threshold", 3) == pricing
    result = totals(cart_of(("MUG-1", 10000, 1, "zero")), vip=True, pricing=pricing)
    assert (result.vip_discount, result.tax_estimate) == (1000, 90)


def test_an_unknown_tax_class_is_refused_with_a_clear_message() -> None:
    with pytest.raises(FailedPrecondition, match="'luxury'"):
        totals(cart_of(("MUG-1", 100, 1, "luxury")))


def test_unavailable_lines_count_for_nothing_and_block_checkout() -> None:
    cart = cart_of(("OK-1", 100, 1, "zero"), ("FEW-1", 100, 5, "zero"), ("NONE-1", 100, 1, "zero"),
                   ("OLD-1", 100, 1, "zero"))
    cart = domain.apply_product_archived(cart, sku="OLD-1", now=NOW)
    result = totals(cart, stock={"OK-1": 9, "FEW-1": 2, "OLD-1": 9})  # NONE-1 missing: none in stock
    assert [(a.availability, a.available_quantity) for a in result.lines] == [
        (LineAvailability.AVAILABLE, 9),
        (LineAvailability.INSUFFICIENT_STOCK, 2),
        (LineAvailability.OUT_OF_STOCK, 0),
        (LineAvailability.ARCHIVED, 9),
    ]
    assert (result.subtotal, result.item_count, result.grand_total) == (100, 1, 100)
    assert not result.ready_for_checkout


def test_an_unacknowledged_price_change_or_an_empty_or_closed_cart_is_not_ready_for_checkout() -> None:
    cart = cart_of(("MUG-1", 100, 1, "zero"))
    assert totals(cart).ready_for_checkout
    changed = domain.apply_price_change(cart, sku="MUG-1", new_unit_price=120, currency="EUR", product_version=2,
                                        now=NOW)
    result = totals(changed)
    assert (result.subtotal, result.ready_for_checkout) == (120, False)  # totals use the current price
    assert not totals(customer_cart()).ready_for_checkout
    assert not totals(in_state(CartState.CHECKED_OUT)).ready_for_checkout


def test_without_a_shipping_option_the_grand_total_leaves_shipping_out() -> None:
    result = totals(cart_of(("MUG-1", 100, 2, "zero")))
    assert (result.shipping_estimate, result.grand_total) == (None, 200)


def test_cart_weight_leaves_archived_lines_out() -> None:
    cart = with_lines(customer_cart(), ("MUG-1", 2), ("OLD-1", 1))
    cart = domain.apply_product_archived(cart, sku="OLD-1", now=NOW)
    assert domain.cart_weight_grams(cart) == 600


def test_basis_points_round_half_up() -> None:
    assert [domain.apply_basis_points(amount, 5000) for amount in (0, 1, 2, 3)] == [0, 1, 1, 2]


# ---------------------------------------------------------------------------------------------- store


def test_a_cart_round_trips_through_json() -> None:
    cart = with_lines(anonymous_cart(), ("MUG-1", 2))
    cart = domain.set_shipping(cart, destination=Address(country_code="FR"),
                               quote=ShippingQuote("opt-1", "colissimo", "Colissimo", "standard", 590, "EUR"), now=NOW)
    cart = domain.apply_price_change(cart, sku="MUG-1", new_unit_price=1300, currency="EUR", product_version=2,
                                     now=NOW)
    adapter = TypeAdapter(Cart)
    assert adapter.validate_json(adapter.dump_json(cart)) == cart


def test_use_cases_never_mutate_the_record_they_are_given() -> None:
    cart = with_lines(anonymous_cart(), ("MUG-1", 2))
    before = copy.deepcopy(cart)
    domain.add_line(cart, sku="MUG-1", quantity=1, product=product(), available=PLENTY, now=LATER)
    domain.update_line_quantity(cart, sku="MUG-1", quantity=5, available=PLENTY, now=LATER)
    domain.apply_price_change(cart, sku="MUG-1", new_unit_price=1, currency="EUR", product_version=9, now=LATER)
    domain.apply_product_archived(cart, sku="MUG-1", now=LATER)
    domain.merge_carts(cart, None, customer_id="cust-1", new_cart_id="c", available_by_sku={"MUG-1": 9}, now=LATER)
    domain.close_cart(cart, order_id="o-1", expected_version=0, now=LATER)
    assert cart == before
