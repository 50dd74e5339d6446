"""Cataloging's domain without Kafka or gRPC: the category tree, products, sellers, stock flags, listing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from services.cataloging import domain as d
from services.runtime import paging
from services.runtime.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from services.runtime.paging import Page

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EUR = "EUR"


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def eur(amount: int) -> d.Money:
    return d.Money(amount, EUR)


# --- Builders -------------------------------------------------------------------------------------


def build_tree(*specs: tuple[str, str, str] | tuple[str, str, str, int]) -> d.CategoryTree:
    """Categories from (id, parent id, name[, position]) in creation order."""
    categories: list[d.Category] = []
    for spec in specs:
        category_id, parent_id, name = spec[:3]
        position = spec[3] if len(spec) == 4 else 0
        categories.append(d.create_category(d.CategoryTree(categories), category_id=category_id, name=name,
                                             parent_id=parent_id, position=position, now=NOW))
    return d.CategoryTree(categories)


def shop_tree() -> d.CategoryTree:
    return build_tree(
        ("home", "", "Home & Garden"),
        ("kitchen", "home", "Kitchen"),
        ("knives", "kitchen", "Knives"),
        ("pans", "kitchen", "Pans"),
        ("garden", "home", "Garden"),
        ("fashion", "", "Fashion"),
    )


def with_change(tree: d.CategoryTree, changed: d.Category) -> d.CategoryTree:
    """The tree after the wiring stored one changed category."""
    categories = {placed.category.category_id: placed.category for placed in tree.flatten()}
    return d.CategoryTree({**categories, changed.category_id: changed}.values())


ACTIVE = d.Seller("s1", d.SellerStatus.ACTIVE, "", 1)
SUSPENDED = d.Seller("s1", d.SellerStatus.SUSPENDED, "unpaid fees", 2)


def new_product(**overrides: Any) -> d.Product:
    values: dict[str, Any] = dict(
        product_id="p1", seller_id="s1", sku="SKU-1", name="Chef Knife", description="A sharp knife",
        category_id="knives", price=eur(4990), tax_class="", weight_grams=250,
        attributes={"colour": "black"}, image_url="https://img.example/knife.png",
        seller=ACTIVE, categories={"knives", "pans", "garden", "fashion", "kitchen", "home"},
        sku_taken_by=None, stock=None, now=NOW,
    )
    values.update(overrides)
    return d.create_product(**values)


def published(**overrides: Any) -> d.Product:
    product, _ = d.publish_product(new_product(**overrides), seller=ACTIVE, now=NOW)
    return product


def archived_of(product: d.Product) -> d.Product:
    return d.archive_product(product, reason="", now=NOW)[0]


# --- Slugs and the category tree ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "slug"), [
    ("Home & Garden", "home-garden"),
    ("  Kitchen  ", "kitchen"),
    ("Café Crème", "cafe-creme"),
    ("T-Shirts_2 (men)", "t-shirts-2-men"),
    ("HOME   garden!!", "home-garden"),
    ("日本茶", "日本茶"),
])
def test_slug_is_the_lower_case_hyphenated_name(name: str, slug: str) -> None:
    assert d.slugify(name) == slug


def test_categories_know_their_place_at_any_depth() -> None:
    tree = shop_tree()
    knives = tree.place("knives")
    assert knives.path == "home-garden/kitchen/knives"
    assert knives.ancestor_ids == ["home", "kitchen"]
    assert knives.depth == 2
    root = tree.place("home")
    assert (root.path, root.ancestor_ids, root.depth) == ("home-garden", [], 0)
    assert root.category.parent_id == ""


def test_a_deep_tree_has_no_depth_limit() -> None:
    specs = [("c0", "", "Level 0")] + [(f"c{i}", f"c{i - 1}", f"Level {i}") for i in range(1, 30)]
    tree = build_tree(*specs)
    assert tree.place("c29").depth == 29
    assert tree.place("c29").path.count("/") == 29


def test_created_category_is_stamped_and_trimmed() -> None:
    category = d.create_category(shop_tree(), category_id="c9", name="  Bowls ", parent_id="kitchen", position=3,
                                 now=at(5))
    assert category == d.Category("c9", "kitchen", "Bowls", "bowls", 3, at(5), at(5))


@pytest.mark.parametrize(("name", "parent_id", "error", "words"), [
    ("", "", InvalidArgument, "must not be empty"),
    ("   ", "", InvalidArgument, "must not be empty"),
    ("x" * 101, "", InvalidArgument, "at most 100 characters, got 101"),
    ("!!!", "", InvalidArgument, "at least one letter or digit"),
    ("Bowls", "nowhere", NotFound, "parent category 'nowhere' does not exist"),
    ("home garden", "", AlreadyExists, "already has the slug 'home-garden'"),
    ("KITCHEN", "home", AlreadyExists, "under 'Home & Garden'"),
])
def test_create_category_refusals(name: str, parent_id: str, error: type[DomainError], words: str) -> None:
    with pytest.raises(error, match=words):
        d.create_category(shop_tree(), category_id="new", name=name, parent_id=parent_id, position=0, now=NOW)


def test_a_100_character_name_is_fine_and_equal_slugs_may_sit_under_different_parents() -> None:
    tree = shop_tree()
    d.create_category(tree, category_id="long", name="x" * 100, parent_id="", position=0, now=NOW)
    # "Kitchen" exists under Home & Garden; another one under Fashion is a different path.
    other = d.create_category(tree, category_id="k2", name="Kitchen", parent_id="fashion", position=0, now=NOW)
    assert with_change(tree, other).place("k2").path == "fashion/kitchen"


def test_rename_changes_the_slug_and_every_descendant_path_but_no_id() -> None:
    tree = shop_tree()
    renamed = d.rename_category(tree, category_id="kitchen", name="Cooking", now=at(1))
    assert (renamed.name, renamed.slug, renamed.updated_at) == ("Cooking", "cooking", at(1))
    tree = with_change(tree, renamed)
    assert tree.place("knives").path == "home-garden/cooking/knives"
    assert tree.place("knives").ancestor_ids == ["home", "kitchen"]


def test_rename_to_the_same_name_changes_nothing_and_a_case_change_keeps_the_slug() -> None:
    tree = shop_tree()
    assert d.rename_category(tree, category_id="kitchen", name="Kitchen", now=at(1)) is tree.get("kitchen")
    recased = d.rename_category(tree, category_id="kitchen", name="KITCHEN", now=at(1))
    assert (recased.name, recased.slug) == ("KITCHEN", "kitchen")


@pytest.mark.parametrize(("category_id", "name", "error"), [
    ("kitchen", "", InvalidArgument),
    ("kitchen", "y" * 101, InvalidArgument),
    ("nowhere", "Bowls", NotFound),
    ("kitchen", "Garden", AlreadyExists),
])
def test_rename_refusals(category_id: str, name: str, error: type[DomainError]) -> None:
    with pytest.raises(error):
        d.rename_category(shop_tree(), category_id=category_id, name=name, now=NOW)


def test_move_takes_the_whole_subtree_along() -> None:
    tree = shop_tree()
    moved = d.move_category(tree, category_id="kitchen", new_parent_id="fashion", position=2, now=at(1))
    assert (moved.parent_id, moved.position, moved.updated_at) == ("fashion", 2, at(1))
    tree = with_change(tree, moved)
    assert tree.place("knives").path == "fashion/kitchen/knives"
    assert tree.place("knives").ancestor_ids == ["fashion", "kitchen"]
    assert tree.subtree_ids("home") == {"home", "garden"}


def test_move_to_the_root() -> None:
    tree = shop_tree()
    moved = d.move_category(tree, category_id="knives", new_parent_id="", position=0, now=at(1))
    assert with_change(tree, moved).place("knives").path == "knives"


@pytest.mark.parametrize(("category_id", "new_parent_id", "error", "words"), [
    ("kitchen", "kitchen", FailedPrecondition, "cannot be moved under itself"),
    ("kitchen", "knives", FailedPrecondition, "one of its own descendants"),
    ("home", "pans", FailedPrecondition, "one of its own descendants"),
    ("nowhere", "", NotFound, "category 'nowhere' does not exist"),
    ("kitchen", "nowhere", NotFound, "new parent category 'nowhere' does not exist"),
])
def test_move_refusals(category_id: str, new_parent_id: str, error: type[DomainError], words: str) -> None:
    with pytest.raises(error, match=words):
        d.move_category(shop_tree(), category_id=category_id, new_parent_id=new_parent_id, position=0, now=NOW)


def test_move_refused_when_a_new_sibling_has_the_same_slug() -> None:
    tree = build_tree(("a", "", "A"), ("b", "", "B"), ("a-sale", "a", "Sale"), ("b-sale", "b", "Sale"))
    with pytest.raises(AlreadyExists, match="'sale'"):
        d.move_category(tree, category_id="a-sale", new_parent_id="b", position=0, now=NOW)


def test_move_to_where_it_is_changes_nothing_and_reordering_siblings_is_allowed() -> None:
    tree = shop_tree()
    assert d.move_category(tree, category_id="pans", new_parent_id="kitchen", position=0, now=at(1)) \
        is tree.get("pans")
    first = d.move_category(tree, category_id="pans", new_parent_id="kitchen", position=-1, now=at(1))
    assert [c.category_id for c in with_change(tree, first).children("kitchen")] == ["pans", "knives"]


def test_delete_an_empty_category_returns_it() -> None:
    tree = shop_tree()
    assert d.delete_category(tree, category_id="garden", products=[]) is tree.get("garden")


def test_delete_refused_while_it_has_children() -> None:
    with pytest.raises(FailedPrecondition, match="still has 2 subcategories"):
        d.delete_category(shop_tree(), category_id="kitchen", products=[])


@pytest.mark.parametrize("status", [d.ProductStatus.DRAFT, d.ProductStatus.PUBLISHED])
def test_delete_refused_while_it_holds_live_products(status: d.ProductStatus) -> None:
    product = replace(new_product(category_id="garden"), status=status)
    with pytest.raises(FailedPrecondition, match="still holds 1 draft or published products"):
        d.delete_category(shop_tree(), category_id="garden", products=[product])


def test_delete_allowed_when_only_archived_products_name_it() -> None:
    product = archived_of(new_product(category_id="garden"))
    assert d.delete_category(shop_tree(), category_id="garden", products=[product]).category_id == "garden"


def test_delete_unknown_category() -> None:
    with pytest.raises(NotFound):
        d.delete_category(shop_tree(), category_id="nowhere", products=[])


def test_whole_tree_is_depth_first_with_siblings_by_position_then_name() -> None:
    tree = build_tree(
        ("b", "", "Beta"), ("a", "", "alpha"), ("z", "", "Zeta", -5),
        ("a2", "a", "Second", 2), ("a1", "a", "First", 1), ("a1x", "a1", "Deep"),
    )
    flat = tree.flatten()
    assert [p.category.category_id for p in flat] == ["z", "a", "a1", "a1x", "a2", "b"]
    assert [p.depth for p in flat] == [0, 0, 1, 2, 1, 0]
    assert flat[3].path == "alpha/first/deep"
    assert flat[3].ancestor_ids == ["a", "a1"]
    assert flat == [tree.place(p.category.category_id) for p in flat]


def test_subtree_and_depth_limit() -> None:
    tree = shop_tree()
    assert [p.category.category_id for p in tree.flatten("kitchen")] == ["kitchen", "knives", "pans"]
    assert [p.depth for p in tree.flatten("kitchen")] == [1, 2, 2]
    assert [p.category.category_id for p in tree.flatten(max_depth=1)] == ["fashion", "home", "garden", "kitchen"]
    assert [p.category.category_id for p in tree.flatten("home", max_depth=1)] == ["home", "garden", "kitchen"]
    assert len(tree.flatten(max_depth=0)) == len(tree) == 6


def test_tree_refusals() -> None:
    with pytest.raises(InvalidArgument, match="max_depth"):
        shop_tree().flatten(max_depth=-1)
    with pytest.raises(NotFound):
        shop_tree().flatten("nowhere")


def test_descendants_of_a_category() -> None:
    tree = shop_tree()
    assert tree.subtree_ids("home") == {"home", "kitchen", "knives", "pans", "garden"}
    assert tree.subtree_ids("knives") == {"knives"}


# --- Products -------------------------------------------------------------------------------------


def test_create_product_as_draft() -> None:
    product = new_product()
    assert product.status is d.ProductStatus.DRAFT
    assert product.tax_class == "standard"  # empty means standard
    assert (product.version, product.created_at, product.updated_at, product.published_at) == (1, NOW, NOW, None)
    assert product.in_stock is False


def test_create_product_takes_the_stock_flag_stocking_already_sent() -> None:
    product = new_product(stock=d.StockFlag("SKU-1", in_stock=True, level_version=4))
    assert (product.in_stock, product.stock_version) == (True, 4)


def test_a_draft_may_lack_a_category_and_a_price() -> None:
    product = new_product(category_id="", price=eur(0))
    assert (product.category_id, product.price) == ("", eur(0))


@pytest.mark.parametrize(("overrides", "error", "words"), [
    ({"seller_id": ""}, InvalidArgument, "seller_id"),
    ({"sku": ""}, InvalidArgument, "SKU must be 1 to 64 characters"),
    ({"sku": "sku-1"}, InvalidArgument, "SKU must be"),
    ({"sku": "SKU 1"}, InvalidArgument, "SKU must be"),
    ({"sku": "X" * 65}, InvalidArgument, "SKU must be"),
    ({"name": "  "}, InvalidArgument, "name must not be empty"),
    ({"name": "n" * 201}, InvalidArgument, "at most 200"),
    ({"description": "d" * 10_001}, InvalidArgument, "description"),
    ({"price": eur(-1)}, InvalidArgument, "must not be negative, got -1"),
    ({"price": d.Money(100, "eur")}, InvalidArgument, "ISO 4217"),
    ({"price": d.Money(100, "EURO")}, InvalidArgument, "ISO 4217"),
    ({"tax_class": "luxury"}, InvalidArgument, "tax class must be one of standard, reduced"),
    ({"weight_grams": -5}, InvalidArgument, "weight must not be negative"),
    ({"attributes": {"Colour": "red"}}, InvalidArgument, "lower_snake_case"),
    ({"attributes": {"colour__x": "red"}}, InvalidArgument, "lower_snake_case"),
    ({"attributes": {"k" * 65: "red"}}, InvalidArgument, "lower_snake_case"),
    ({"attributes": {"colour": "r" * 257}}, InvalidArgument, "at most 256"),
    ({"attributes": {f"a{i}": "v" for i in range(51)}}, InvalidArgument, "at most 50 attributes"),
    ({"image_url": "ftp://img.example/a.png"}, InvalidArgument, "http"),
    ({"image_url": "/images/a.png"}, InvalidArgument, "http"),
    ({"image_url": "javascript:alert(1)"}, InvalidArgument, "http"),
    ({"sku_taken_by": "p0"}, AlreadyExists, "SKU 'SKU-1' is already used by product 'p0'"),
    ({"category_id": "nowhere"}, NotFound, "category 'nowhere'"),
    ({"seller": None}, NotFound, "seller 's1' is not known"),
    ({"seller": SUSPENDED}, FailedPrecondition, "suspended"),
])
def test_create_product_refusals(overrides: dict[str, Any], error: type[DomainError], words: str) -> None:
    with pytest.raises(error, match=words):
        new_product(**overrides)


@pytest.mark.parametrize("overrides", [
    {"sku": "A"}, {"sku": "Z" * 64}, {"sku": "AB_12-X"}, {"tax_class": "super_reduced"}, {"tax_class": "zero"},
    {"attributes": {f"a{i}": "v" * 256 for i in range(50)}}, {"image_url": ""}, {"image_url": "http://x.example"},
    {"weight_grams": 0},
])
def test_create_product_accepts_the_limits(overrides: dict[str, Any]) -> None:
    new_product(**overrides)


def test_update_of_a_draft_bumps_the_version_and_publishes_nothing() -> None:
    product, events = d.update_product(new_product(), categories={"pans"}, now=at(1), name="Paring Knife")
    assert (product.name, product.version, product.updated_at) == ("Paring Knife", 2, at(1))
    assert events == []


def test_update_of_a_published_product_names_the_changed_fields() -> None:
    before = published()
    product, events = d.update_product(before, categories={"pans"}, now=at(1), name="Chef Knife",
                                       description="Sharper", category_id="pans", weight_grams=300,
                                       set_attributes={"colour": "black"})
    assert events == [d.ProductUpdated(product=product, changed_fields=["description", "category_id",
                                                                        "weight_grams"])]
    assert product.version == before.version + 1


def test_update_that_changes_nothing_returns_the_product_as_it_was() -> None:
    before = published()
    product, events = d.update_product(before, categories=set(), now=at(1), name=" Chef Knife ", tax_class="",
                                       remove_attribute_keys=["absent"])
    assert product is before
    assert events == []


@pytest.mark.parametrize(("changes", "attributes"), [
    ({"set_attributes": {"size": "20cm"}}, {"colour": "black", "size": "20cm"}),
    ({"set_attributes": {"colour": "red"}}, {"colour": "red"}),
    ({"remove_attribute_keys": ["colour", "unknown"]}, {}),
    ({"set_attributes": {"size": "L"}, "replace_attributes": True}, {"size": "L"}),
    ({"replace_attributes": True}, {}),
])
def test_update_attributes(changes: dict[str, Any], attributes: dict[str, str]) -> None:
    product, events = d.update_product(published(), categories=set(), now=at(1), **changes)
    assert product.attributes == attributes
    assert events == [d.ProductUpdated(product=product, changed_fields=["attributes"])]


def test_update_image_can_remove_it() -> None:
    product, _ = d.update_product(new_product(), categories=set(), now=at(1), image_url="")
    assert product.image_url == ""


@pytest.mark.parametrize(("product", "changes", "error", "words"), [
    (archived_of(new_product()), {"name": "X"}, FailedPrecondition, "archived"),
    (new_product(), {"replace_attributes": True, "remove_attribute_keys": ["a"]}, InvalidArgument,
     "remove_attribute_keys"),
    (new_product(), {"category_id": "nowhere"}, NotFound, "category 'nowhere'"),
    (published(), {"category_id": ""}, InvalidArgument, "must stay in a category"),
    (new_product(), {"name": ""}, InvalidArgument, "name"),
    (new_product(), {"tax_class": "gold"}, InvalidArgument, "tax class"),
    (new_product(), {"weight_grams": -1}, InvalidArgument, "weight"),
    (new_product(), {"image_url": "file:///etc/passwd"}, InvalidArgument, "http"),
    (new_product(), {"set_attributes": {"BAD": "x"}}, InvalidArgument, "lower_snake_case"),
    (new_product(), {"set_attributes": {f"a{i}": "v" for i in range(50)}}, InvalidArgument, "at most 50"),
])
def test_update_refusals(product: d.Product, changes: dict[str, Any], error: type[DomainError], words: str) -> None:
    with pytest.raises(error, match=words):
        d.update_product(product, categories={"pans"}, now=at(1), **changes)


def test_a_draft_may_drop_its_category() -> None:
    product, _ = d.update_product(new_product(), categories=set(), now=at(1), category_id="")
    assert product.category_id == ""


def test_price_change_of_a_published_product_carries_old_and_new() -> None:
    before = published()
    product, events = d.set_product_price(before, price=eur(3990), now=at(1))
    assert product.price == eur(3990)
    assert events == [d.ProductPriceChanged(product_id="p1", sku="SKU-1", seller_id="s1", old_price=eur(4990),
                                            new_price=eur(3990), version=before.version + 1)]


def test_price_change_of_a_draft_is_silent_and_the_same_price_changes_nothing() -> None:
    product, events = d.set_product_price(new_product(), price=eur(1), now=at(1))
    assert (product.price, product.version, events) == (eur(1), 2, [])
    same = published()
    assert d.set_product_price(same, price=eur(4990), now=at(1)) == (same, [])


@pytest.mark.parametrize(("product", "price", "error"), [
    (new_product(), eur(-1), InvalidArgument),
    (new_product(), d.Money(1, "€"), InvalidArgument),
    (published(), eur(0), InvalidArgument),
    (archived_of(new_product()), eur(100), FailedPrecondition),
])
def test_price_refusals(product: d.Product, price: d.Money, error: type[DomainError]) -> None:
    with pytest.raises(error):
        d.set_product_price(product, price=price, now=at(1))


def test_publish_puts_a_draft_on_sale_once() -> None:
    product, events = d.publish_product(new_product(), seller=ACTIVE, now=at(3))
    assert (product.status, product.published_at, product.version) == (d.ProductStatus.PUBLISHED, at(3), 2)
    assert events == [d.ProductPublished(product=product)]
    assert d.publish_product(product, seller=ACTIVE, now=at(4)) == (product, [])


@pytest.mark.parametrize(("product", "seller", "words"), [
    (archived_of(new_product()), ACTIVE, "archived"),
    (new_product(category_id=""), ACTIVE, "needs a category"),
    (new_product(price=eur(0)), ACTIVE, "price above zero"),
    (new_product(), SUSPENDED, "suspended"),
    (new_product(), None, "unknown"),
])
def test_publish_refusals(product: d.Product, seller: d.Seller | None, words: str) -> None:
    with pytest.raises(FailedPrecondition, match=words):
        d.publish_product(product, seller=seller, now=at(1))


def test_archive_of_a_published_product_is_announced_with_its_reason() -> None:
    product, events = d.archive_product(published(), reason=" recalled ", now=at(1))
    assert (product.status, product.archive_reason) == (d.ProductStatus.ARCHIVED, "recalled")
    assert events == [d.ProductArchived(product_id="p1", sku="SKU-1", seller_id="s1", reason="recalled")]


def test_archive_of_a_draft_is_silent_and_archiving_twice_changes_nothing() -> None:
    product, events = d.archive_product(new_product(), reason="", now=at(1))
    assert (product.status, events) == (d.ProductStatus.ARCHIVED, [])
    assert d.archive_product(product, reason="again", now=at(2)) == (product, [])


def test_archive_reason_is_bounded() -> None:
    with pytest.raises(InvalidArgument, match="at most 500"):
        d.archive_product(published(), reason="r" * 501, now=at(1))


@pytest.mark.parametrize(("start", "action", "outcome"), [
    ("DRAFT", "publish", "PUBLISHED"),
    ("DRAFT", "archive", "ARCHIVED"),
    ("PUBLISHED", "publish", "PUBLISHED"),
    ("PUBLISHED", "archive", "ARCHIVED"),
    ("ARCHIVED", "publish", FailedPrecondition),
    ("ARCHIVED", "archive", "ARCHIVED"),
])
def test_status_transitions(start: str, action: str, outcome: str | type[DomainError]) -> None:
    product = {"DRAFT": new_product(), "PUBLISHED": published(), "ARCHIVED": archived_of(new_product())}[start]

    def run() -> d.Product:
        if action == "publish":
            return d.publish_product(product, seller=ACTIVE, now=at(1))[0]
        return d.archive_product(product, reason="", now=at(1))[0]

    if isinstance(outcome, str):
        assert run().status is d.ProductStatus(outcome)
    else:
        with pytest.raises(outcome):
            run()


# --- Sellers and stock flags ----------------------------------------------------------------------


def test_seller_events_apply_in_version_order_only() -> None:
    onboarded = d.record_seller(None, seller_id="s1", status=d.SellerStatus.ACTIVE, suspension_reason="", version=1)
    assert onboarded == ACTIVE
    suspended = d.record_seller(onboarded, seller_id="s1", status=d.SellerStatus.SUSPENDED,
                                suspension_reason="fraud", version=3)
    assert suspended == d.Seller("s1", d.SellerStatus.SUSPENDED, "fraud", 3)
    # A late event (version 2) and a replay (version 3) change nothing.
    assert d.record_seller(suspended, seller_id="s1", status=d.SellerStatus.ACTIVE, suspension_reason="",
                           version=2) is None
    assert d.record_seller(suspended, seller_id="s1", status=d.SellerStatus.SUSPENDED, suspension_reason="fraud",
                           version=3) is None
    reinstated = d.record_seller(suspended, seller_id="s1", status=d.SellerStatus.ACTIVE, suspension_reason="x",
                                 version=4)
    assert reinstated == d.Seller("s1", d.SellerStatus.ACTIVE, "", 4)


def test_a_suspended_sellers_products_are_archived_and_the_public_ones_announced() -> None:
    draft = new_product(product_id="p-draft", sku="D-1")
    on_sale = published(product_id="p-pub", sku="P-1")
    gone = archived_of(published(product_id="p-old", sku="O-1"))
    others = published(product_id="p-other", sku="X-1", seller_id="s2", seller=replace(ACTIVE, seller_id="s2"))
    archived, events = d.archive_products_of_suspended_seller(SUSPENDED, [draft, on_sale, gone, others], now=at(1))
    assert [(p.product_id, p.status) for p in archived] == [("p-draft", d.ProductStatus.ARCHIVED),
                                                            ("p-pub", d.ProductStatus.ARCHIVED)]
    assert events == [d.ProductArchived(product_id="p-pub", sku="P-1", seller_id="s1",
                                        reason="seller suspended: unpaid fees")]
    # Running it again over the stored result changes nothing.
    assert d.archive_products_of_suspended_seller(SUSPENDED, [*archived, gone, others], now=at(2)) == ([], [])


def test_an_active_seller_keeps_its_products() -> None:
    assert d.archive_products_of_suspended_seller(ACTIVE, [published()], now=at(1)) == ([], [])


@pytest.mark.parametrize(("signal", "in_stock"), [
    (d.StockSignal.LOW_STOCK_DETECTED, True),
    (d.StockSignal.OUT_OF_STOCK, False),
    (d.StockSignal.BACK_IN_STOCK, True),
])
def test_stock_signals_set_the_in_stock_flag(signal: d.StockSignal, in_stock: bool) -> None:
    flag = d.record_stock_signal(None, sku="SKU-1", signal=signal, level_version=1)
    assert flag == d.StockFlag("SKU-1", in_stock, 1)
    product = d.apply_stock_flag(new_product(), flag)
    assert product is not None
    assert product.in_stock is in_stock


def test_stock_signals_tolerate_duplicates_and_disorder() -> None:
    out = d.record_stock_signal(None, sku="SKU-1", signal=d.StockSignal.OUT_OF_STOCK, level_version=7)
    assert out is not None
    # BackInStock of version 5 happened before the OutOfStock of version 7: it arrives late.
    assert d.record_stock_signal(out, sku="SKU-1", signal=d.StockSignal.BACK_IN_STOCK, level_version=5) is None
    assert d.record_stock_signal(out, sku="SKU-1", signal=d.StockSignal.OUT_OF_STOCK, level_version=7) is None
    back = d.record_stock_signal(out, sku="SKU-1", signal=d.StockSignal.BACK_IN_STOCK, level_version=8)
    assert back == d.StockFlag("SKU-1", True, 8)

    product = d.apply_stock_flag(new_product(), back)
    assert product is not None
    assert d.apply_stock_flag(product, out) is None
    assert d.apply_stock_flag(product, back) is None
    assert (product.in_stock, product.version, product.updated_at) == (True, 1, NOW)  # not the product's own data


# --- Listing --------------------------------------------------------------------------------------

SELLERS = [ACTIVE, d.Seller("s2", d.SellerStatus.ACTIVE, "", 1), d.Seller("s3", d.SellerStatus.SUSPENDED, "x", 2)]


def catalogue() -> list[d.Product]:
    def item(product_id: str, name: str, price: int, category_id: str, minutes: int, **extra: Any) -> d.Product:
        status = extra.pop("status", d.ProductStatus.PUBLISHED)
        product = replace(new_product(product_id=product_id, sku=product_id.upper(), name=name,
                                      price=d.Money(price, extra.pop("currency", EUR)),
                                      category_id=category_id, description=extra.pop("description", ""),
                                      attributes=extra.pop("attributes", {})),
                          status=status, created_at=at(minutes),
                          published_at=at(minutes + 1) if status is d.ProductStatus.PUBLISHED else None)
        return replace(product, **extra)

    return [
        item("p1", "Chef Knife", 4990, "knives", 1, in_stock=True, description="Forged steel blade"),
        item("p2", "bread knife", 2990, "knives", 2, in_stock=True, attributes={"colour": "Red"}),
        item("p3", "Frying Pan", 3990, "pans", 3, in_stock=False, description="Non-stick, for steel hobs"),
        item("p4", "Kitchen Shears", 1990, "kitchen", 4, in_stock=True, seller_id="s2"),
        item("p5", "Garden Hose", 2990, "garden", 5, in_stock=True),
        item("p6", "Draft Knife", 990, "knives", 6, status=d.ProductStatus.DRAFT),
        item("p7", "Old Knife", 990, "knives", 7, status=d.ProductStatus.ARCHIVED),
        item("p8", "Suspended Knife", 1490, "knives", 8, seller_id="s3", in_stock=True),
        item("p9", "Dollar Knife", 2000, "knives", 9, currency="USD"),
        item("p10", "Scarf", 1500, "fashion", 10, in_stock=True),
    ]


def ids(products: Iterable[d.Product]) -> list[str]:
    return [p.product_id for p in products]


def listed(search: d.ProductSearch, products: list[d.Product] | None = None, **paging: Any) -> Page[d.Product]:
    return d.list_products(catalogue() if products is None else products, search, tree=shop_tree(),
                           sellers=SELLERS, **paging)


def test_storefront_view_is_published_products_of_active_sellers_newest_first() -> None:
    page = listed(d.ProductSearch())
    assert ids(page.items) == ["p10", "p9", "p5", "p4", "p3", "p2", "p1"]
    assert (page.next_page_token, page.total_size) == ("", 7)


def test_explicit_statuses_show_them_and_suspended_sellers_too() -> None:
    page = listed(d.ProductSearch(statuses=(d.ProductStatus.DRAFT, d.ProductStatus.ARCHIVED)))
    assert ids(page.items) == ["p7", "p6"]  # drafts sort by creation time
    page = listed(d.ProductSearch(statuses=(d.ProductStatus.PUBLISHED,), category_id="knives"))
    assert "p8" in ids(page.items)


@pytest.mark.parametrize(("query", "expected"), [
    ("knife", ["p9", "p2", "p1"]),
    ("KNIFE chef", ["p1"]),
    ("chef bread", []),
    ("steel", ["p3", "p1"]),  # descriptions count
    ("red", ["p2"]),  # attribute values count
    ("p4", ["p4"]),  # and SKUs
    ("  ", ["p10", "p9", "p5", "p4", "p3", "p2", "p1"]),
    ("frýing", ["p3"]),  # accents do not matter
])
def test_text_query_needs_every_word_case_insensitively(query: str, expected: list[str]) -> None:
    assert ids(listed(d.ProductSearch(query=query)).items) == expected


def test_category_includes_its_descendants_unless_asked_not_to() -> None:
    assert ids(listed(d.ProductSearch(category_id="kitchen")).items) == ["p9", "p4", "p3", "p2", "p1"]
    assert ids(listed(d.ProductSearch(category_id="home")).items) == ["p9", "p5", "p4", "p3", "p2", "p1"]
    assert ids(listed(d.ProductSearch(category_id="kitchen", direct_category_only=True)).items) == ["p4"]


def test_listing_by_category_follows_a_move() -> None:
    tree = shop_tree()
    moved = with_change(tree, d.move_category(tree, category_id="pans", new_parent_id="fashion", position=0, now=NOW))
    page = d.list_products(catalogue(), d.ProductSearch(category_id="fashion"), tree=moved, sellers=SELLERS)
    assert ids(page.items) == ["p10", "p3"]


@pytest.mark.parametrize(("search", "expected"), [
    (d.ProductSearch(seller_id="s2"), ["p4"]),
    (d.ProductSearch(in_stock_only=True), ["p10", "p5", "p4", "p2", "p1"]),
    (d.ProductSearch(min_price=eur(2990), max_price=eur(3990)), ["p5", "p3", "p2"]),  # inclusive
    (d.ProductSearch(min_price=eur(4000)), ["p1"]),
    (d.ProductSearch(max_price=eur(1990)), ["p10", "p4"]),
    (d.ProductSearch(min_price=d.Money(0, "USD")), ["p9"]),  # other currencies left out
    (d.ProductSearch(query="knife", in_stock_only=True, category_id="knives"), ["p2", "p1"]),
])
def test_filters(search: d.ProductSearch, expected: list[str]) -> None:
    assert ids(listed(search).items) == expected


@pytest.mark.parametrize(("search", "error", "words"), [
    (d.ProductSearch(min_price=eur(10), max_price=eur(5)), InvalidArgument, "must not be above"),
    (d.ProductSearch(min_price=eur(1), max_price=d.Money(5, "USD")), InvalidArgument, "share a currency"),
    (d.ProductSearch(min_price=eur(-1)), InvalidArgument, "negative"),
    (d.ProductSearch(max_price=d.Money(1, "x")), InvalidArgument, "ISO 4217"),
    (d.ProductSearch(category_id="nowhere"), NotFound, "nowhere"),
])
def test_search_refusals(search: d.ProductSearch, error: type[DomainError], words: str) -> None:
    with pytest.raises(error, match=words):
        listed(search)


@pytest.mark.parametrize(("sort", "expected"), [
    (d.ProductSort.PRICE_ASC, ["p4", "p2", "p5", "p3", "p1"]),  # p2 and p5 tie on price: by id
    (d.ProductSort.PRICE_DESC, ["p1", "p3", "p2", "p5", "p4"]),
    (d.ProductSort.NAME_ASC, ["p2", "p1", "p3", "p5", "p4"]),  # case-insensitive
    (d.ProductSort.NEWEST, ["p5", "p4", "p3", "p2", "p1"]),
])
def test_sorts(sort: d.ProductSort, expected: list[str]) -> None:
    assert ids(listed(d.ProductSearch(category_id="home", sort=sort, min_price=eur(0))).items) == expected


def many_products(count: int, start: int = 0) -> list[d.Product]:
    base = new_product()
    return [replace(base, product_id=f"q{n:04d}", sku=f"Q{n}", name=f"Item {n % 7}", price=eur(100 * (n % 5)),
                    status=d.ProductStatus.PUBLISHED, published_at=at(n % 11), in_stock=True)
            for n in range(start, start + count)]


def page_through(products: list[d.Product], search: d.ProductSearch, size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    token = ""
    while True:
        page = listed(search, products, page_size=size, page_token=token)
        pages.append(ids(page.items))
        token = page.next_page_token
        if not token:
            return pages


@pytest.mark.parametrize("sort", list(d.ProductSort))
@pytest.mark.parametrize("size", [1, 7, 10, 47, 100])
def test_paging_is_complete_and_in_order(sort: d.ProductSort, size: int) -> None:
    products = many_products(47)
    search = d.ProductSearch(sort=sort)
    pages = page_through(products, search, size)
    everything = listed(search, products, page_size=100).items
    assert [i for page in pages for i in page] == ids(everything)
    assert len(everything) == 47
    assert all(len(page) == size for page in pages[:-1])


def test_paging_is_stable_under_inserts_and_removals() -> None:
    products = many_products(30)
    search = d.ProductSearch(sort=d.ProductSort.PRICE_ASC)
    first = listed(search, products, page_size=10)
    seen = ids(first.items)
    # Meanwhile: new products land on both sides of the cursor, and one already seen goes away.
    inserted = many_products(10, start=100)
    products = [p for p in products if p.product_id != seen[0]] + inserted
    token = first.next_page_token
    while token:
        page = listed(search, products, page_size=10, page_token=token)
        seen += ids(page.items)
        token = page.next_page_token
    assert len(seen) == len(set(seen))  # nothing twice
    assert {p.product_id for p in many_products(30)} <= set(seen)  # nothing that stayed is skipped
    last_key = (first.items[-1].price.amount_minor, first.items[-1].product_id)
    later_inserts = {p.product_id for p in inserted if (p.price.amount_minor, p.product_id) > last_key}
    assert set(seen) & {p.product_id for p in inserted} == later_inserts


@pytest.mark.parametrize("token", ["garbage!", "e30", "eyJmIjoxfQ", "W10"])
def test_bad_page_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
        listed(d.ProductSearch(), page_token=token)


def test_a_token_only_works_with_the_search_that_issued_it() -> None:
    token = listed(d.ProductSearch(), page_size=2).next_page_token
    assert token
    for other in (d.ProductSearch(query="knife"), d.ProductSearch(sort=d.ProductSort.PRICE_ASC),
                  d.ProductSearch(in_stock_only=True), d.ProductSearch(min_price=eur(1))):
        with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
            listed(other, page_token=token)


def test_a_forged_token_with_keys_of_the_wrong_type_is_refused() -> None:
    search = d.ProductSearch(sort=d.ProductSort.PRICE_ASC)
    token = listed(search, page_size=1).next_page_token
    # The token is "<base64 JSON of the last sort key>.<signature>": swap the key, keep the signature.
    signature = token.rsplit(".", 1)[1]
    forged = base64.urlsafe_b64encode(json.dumps(["cheap", 1]).encode()).decode().rstrip("=") + "." + signature
    with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
        listed(search, page_token=forged)


def test_page_size_default_cap_and_refusal() -> None:
    products = many_products(150)
    assert len(listed(d.ProductSearch(), products).items) == paging.DEFAULT_PAGE_SIZE == 20
    assert len(listed(d.ProductSearch(), products, page_size=1000).items) == paging.MAX_PAGE_SIZE == 100
    with pytest.raises(InvalidArgument, match="page_size must be 0"):
        listed(d.ProductSearch(), products, page_size=-1)


# --- Batch get ------------------------------------------------------------------------------------


def test_batch_get_keeps_the_order_answers_duplicates_once_and_lists_the_missing() -> None:
    by_id = {p.product_id: p for p in catalogue()}
    result = d.batch_get_products(["p3", "zz", "p1", "p3", "p7"], by_id.get)
    assert ids(result.products) == ["p3", "p1", "p7"]  # whatever the status
    assert result.missing == ["zz"]
    by_sku = {p.sku: p for p in catalogue()}
    result = d.batch_get_products_by_sku(["P2", "NOPE", "P2"], by_sku.get)
    assert (ids(result.products), result.missing) == (["p2"], ["NOPE"])


def test_batch_get_accepts_100_and_refuses_more() -> None:
    assert d.batch_get_products([f"x{i}" for i in range(100)], lambda _: None).missing[-1] == "x99"
    for call in (d.batch_get_products, d.batch_get_products_by_sku):
        with pytest.raises(InvalidArgument, match="at most 100"):
            call([f"x{i}" for i in range(101)], lambda _: None)


# --- Records survive the store's JSON -------------------------------------------------------------


@pytest.mark.parametrize("record", [
    published(stock=d.StockFlag("SKU-1", True, 3)),
    archived_of(published()),
    shop_tree().get("knives"),
    SUSPENDED,
    d.StockFlag("SKU-1", False, 9),
])
def test_records_round_trip_through_pydantic_json(record: Any) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(type(record))
    assert adapter.validate_json(adapter.dump_json(record)) == record


def test_use_cases_never_change_the_record_they_were_given() -> None:
    original = published()
    snapshot = replace(original, attributes=dict(original.attributes))
    d.update_product(original, categories=set(), now=at(1), set_attributes={"size": "L"},
                     remove_attribute_keys=["colour"])
    d.set_product_price(original, price=eur(1), now=at(1))
    d.archive_product(original, reason="", now=at(1))
    assert original == snapshot
