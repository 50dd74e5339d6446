"""Cataloging's rules: the category tree, products and their life, the sellers and stock flags the
catalogue learns from other services' events, and product listing.

Pure: no I/O, no clock (every use case takes `now`), no id generation (ids come in). Records are
frozen dataclasses on purpose: a use case never changes the record it was given, which may be the
very object a store holds, but returns a changed copy that the unit of work writes once Kafka has
committed. Use cases that other services must hear about return `(record, events)`; the events are
empty when nothing public happened.

Every event's aggregate id is the product id and its aggregate version the product's `version`
after the use case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit

from services.runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.runtime.paging import Page, SortKey, instant, page_size_of, paginate
from services.runtime.values import Money, SellerStatus


class KeySet(Protocol):
    """Anything that answers `key in x`: a set, a dict, or the runtime's Store."""

    def __contains__(self, key: str, /) -> bool: ...


# --- Values ---------------------------------------------------------------------------------------


_CURRENCY = re.compile(r"[A-Z]{3}")


def _check_currency(currency: str, what: str) -> None:
    if not _CURRENCY.fullmatch(currency):
        raise InvalidArgument(f"{what} currency must be a three-letter ISO 4217 code in upper case "
                              f"such as 'EUR', got {currency!r}")


def _check_price(price: Money, what: str = "price") -> None:
    _check_currency(price.currency, what)
    if price.amount_minor < 0:
        raise InvalidArgument(f"{what} must not be negative, got {price.amount_minor} minor units")


def _fold(text: str) -> str:
    """Case- and accent-insensitive form of a text, for slugs, search and name sorting."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def slugify(name: str) -> str:
    """'Home & Garden' -> 'home-garden', 'Café' -> 'cafe': lower case, runs of anything but
    letters and digits become one hyphen. Names that differ only in case or punctuation clash."""
    return re.sub(r"[\W_]+", "-", _fold(name)).strip("-")


# --- Category tree --------------------------------------------------------------------------------

MAX_CATEGORY_NAME = 100


@dataclass(frozen=True)
class Category:
    """A node of the tree. Path, ancestors and depth are not stored: they follow from the parent
    links (see CategoryTree.place), so a rename or a move changes one record, not a whole subtree."""

    category_id: str
    parent_id: str  # "" for a root category
    name: str
    slug: str
    position: int  # sort key among siblings, lower first; ties sort by name
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PlacedCategory:
    """A category with its place in the tree, as the API returns it."""

    category: Category
    path: str  # slugs from the root down, joined by "/"
    ancestor_ids: list[str]  # root first
    depth: int  # 0 for a root


def _sibling_order(category: Category) -> tuple[int, str, str]:
    return (category.position, _fold(category.name), category.category_id)


class CategoryTree:
    """A read-only view of every category, indexed for tree walks. Build one per use case from
    the current records (`CategoryTree(store.values())`)."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self._by_id = {category.category_id: category for category in categories}
        self._children: dict[str, list[Category]] = {}
        for category in self._by_id.values():
            self._children.setdefault(category.parent_id, []).append(category)
        for siblings in self._children.values():
            siblings.sort(key=_sibling_order)

    def __contains__(self, category_id: str) -> bool:
        return category_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, category_id: str, role: str = "category") -> Category:
        category = self._by_id.get(category_id)
        if category is None:
            raise NotFound(f"{role} {category_id!r} does not exist")
        return category

    def children(self, parent_id: str) -> list[Category]:
        """Direct children in sibling order; parent_id "" gives the roots."""
        return list(self._children.get(parent_id, []))

    def ancestors(self, category_id: str) -> list[Category]:
        """The ancestors of a category, root first."""
        chain: list[Category] = []
        parent_id = self.get(category_id).parent_id
        while parent_id:
            parent = self.get(parent_id)
            if len(chain) > len(self._by_id):  # a cycle: moves refuse them, so this is a bug
                raise RuntimeError(f"category tree has a cycle through {category_id!r}")
            chain.append(parent)
            parent_id = parent.parent_id
        return chain[::-1]

    def place(self, category_id: str) -> PlacedCategory:
        category = self.get(category_id)
        ancestors = self.ancestors(category_id)
        return PlacedCategory(
            category=category,
            path="/".join([a.slug for a in ancestors] + [category.slug]),
            ancestor_ids=[a.category_id for a in ancestors],
            depth=len(ancestors),
        )

    def subtree_ids(self, category_id: str) -> set[str]:
        """The category and all its descendants."""
        self.get(category_id)
        found: set[str] = set()
        pending = [category_id]
        while pending:
            current = pending.pop()
            found.add(current)
            pending.extend(child.category_id for child in self._children.get(current, []))
        return found

    def flatten(self, root_category_id: str = "", max_depth: int = 0) -> list[PlacedCategory]:
        """The tree (or the subtree under root_category_id) depth-first, each parent right before
        its children, siblings in sibling order. max_depth counts levels below the root(s) to
        include; 0 means all."""
        if max_depth < 0:
            raise InvalidArgument(f"max_depth must be 0 (no limit) or more, got {max_depth}")
        starts = [self.get(root_category_id)] if root_category_id else self.children("")
        placed: dict[str, PlacedCategory] = {}
        pending = [(category, 0) for category in reversed(starts)]
        while pending:
            category, level = pending.pop()
            # Depth-first order places the parent before its children: extend its place rather
            # than walking up to the root again for every node.
            parent = placed.get(category.parent_id)
            placed[category.category_id] = self.place(category.category_id) if parent is None else PlacedCategory(
                category=category, path=f"{parent.path}/{category.slug}",
                ancestor_ids=[*parent.ancestor_ids, category.parent_id], depth=parent.depth + 1)
            if max_depth == 0 or level < max_depth:
                pending.extend((child, level + 1) for child in reversed(self.children(category.category_id)))
        return list(placed.values())


def _category_name(name: str) -> tuple[str, str]:
    """The trimmed name and its slug, or InvalidArgument."""
    name = name.strip()
    if not name:
        raise InvalidArgument("category name must not be empty")
    if len(name) > MAX_CATEGORY_NAME:
        raise InvalidArgument(f"category name must be at most {MAX_CATEGORY_NAME} characters, got {len(name)}")
    slug = slugify(name)
    if not slug:
        raise InvalidArgument(f"category name must contain at least one letter or digit, got {name!r}")
    return name, slug


def _check_slug_free(tree: CategoryTree, parent_id: str, slug: str, moving_id: str = "") -> None:
    for sibling in tree.children(parent_id):
        if sibling.slug == slug and sibling.category_id != moving_id:
            where = f"under {tree.get(parent_id).name!r}" if parent_id else "at the root"
            raise AlreadyExists(f"category {sibling.name!r} {where} already has the slug {slug!r}; "
                                "choose a name that differs by more than case or punctuation")


def create_category(tree: CategoryTree, *, category_id: str, name: str, parent_id: str, position: int,
                    now: datetime) -> Category:
    """A new category under parent_id, or a root category when parent_id is empty."""
    name, slug = _category_name(name)
    if parent_id:
        tree.get(parent_id, "parent category")
    if category_id in tree:
        raise AlreadyExists(f"category id {category_id!r} is already used")
    _check_slug_free(tree, parent_id, slug)
    return Category(category_id=category_id, parent_id=parent_id, name=name, slug=slug, position=position,
                    created_at=now, updated_at=now)


def rename_category(tree: CategoryTree, *, category_id: str, name: str, now: datetime) -> Category:
    """The category with a new name and the slug that follows it (its descendants' paths follow too)."""
    name, slug = _category_name(name)
    category = tree.get(category_id)
    if name == category.name:
        return category
    _check_slug_free(tree, category.parent_id, slug, moving_id=category_id)
    return replace(category, name=name, slug=slug, updated_at=now)


def move_category(tree: CategoryTree, *, category_id: str, new_parent_id: str, position: int,
                  now: datetime) -> Category:
    """The category under a new parent ("" for the root) at a position; its subtree and their
    products come along, since they only point at their parent."""
    category = tree.get(category_id)
    if new_parent_id:
        new_parent = tree.get(new_parent_id, "new parent category")
        if new_parent_id == category_id:
            raise FailedPrecondition(f"category {category.name!r} cannot be moved under itself")
        if new_parent_id in tree.subtree_ids(category_id):
            raise FailedPrecondition(f"category {category.name!r} cannot be moved under {new_parent.name!r}, "
                                     "which is one of its own descendants")
    if new_parent_id == category.parent_id and position == category.position:
        return category
    _check_slug_free(tree, new_parent_id, category.slug, moving_id=category_id)
    return replace(category, parent_id=new_parent_id, position=position, updated_at=now)


def delete_category(tree: CategoryTree, *, category_id: str, products: Iterable[Product]) -> Category:
    """Checks that the category is empty and returns it, for the caller to delete. Archived
    products may keep pointing at a deleted category."""
    category = tree.get(category_id)
    if subcategories := tree.children(category_id):
        raise FailedPrecondition(f"category {category.name!r} still has {len(subcategories)} subcategories; "
                                 "move or delete them first")
    live = sum(1 for p in products if p.category_id == category_id and p.status is not ProductStatus.ARCHIVED)
    if live:
        raise FailedPrecondition(f"category {category.name!r} still holds {live} draft or published products; "
                                 "move or archive them first")
    return category


# --- Sellers and stock, as the catalogue learns them ----------------------------------------------


@dataclass(frozen=True)
class Seller:
    """What the catalogue knows of an administering seller: enough to accept or refuse products."""

    seller_id: str
    status: SellerStatus
    suspension_reason: str
    version: int  # the seller's version in administering; orders its events


def record_seller(current: Seller | None, *, seller_id: str, status: SellerStatus, suspension_reason: str,
                  version: int) -> Seller | None:
    """The seller as a seller event describes it, or None when the catalogue already knows this
    version or a newer one: events may arrive twice or out of order, and an old one must not undo
    a newer change (a late 'suspended' after a reinstatement, say)."""
    if current is not None and version <= current.version:
        return None
    return Seller(seller_id=seller_id, status=status,
                  suspension_reason=suspension_reason if status is SellerStatus.SUSPENDED else "", version=version)


class StockSignal(Enum):
    """The stock-level events of stocking.levels.v1 (the oneof's field names)."""

    LOW_STOCK_DETECTED = "low_stock_detected"
    OUT_OF_STOCK = "out_of_stock"
    BACK_IN_STOCK = "back_in_stock"

    @property
    def in_stock(self) -> bool:
        # Low stock is still stock: only zero availability takes a product off the in-stock list.
        return self is not StockSignal.OUT_OF_STOCK


@dataclass(frozen=True)
class StockFlag:
    """Whether stocking last said a SKU has available units. Kept per SKU, whether or not a product
    has the SKU yet, so a product created after its stock still starts with the right flag."""

    sku: str
    in_stock: bool
    level_version: int  # the stock level's version (the event's aggregate_version)


def record_stock_signal(current: StockFlag | None, *, sku: str, signal: StockSignal,
                        level_version: int) -> StockFlag | None:
    """The SKU's flag after a stock-level event, or None when the event is not newer than the
    last one applied (a replay, or one overtaken by a later event)."""
    if current is not None and level_version <= current.level_version:
        return None
    return StockFlag(sku=sku, in_stock=signal.in_stock, level_version=level_version)


# --- Products -------------------------------------------------------------------------------------


class ProductStatus(Enum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


TAX_CLASSES = ("standard", "reduced", "super_reduced", "zero")
MAX_SKU = 64
MAX_PRODUCT_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 256
MAX_IMAGE_URL = 2048
MAX_ARCHIVE_REASON = 500

_SKU = re.compile(rf"[A-Z0-9_-]{{1,{MAX_SKU}}}")
_ATTRIBUTE_KEY = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


@dataclass(frozen=True)
class Product:
    product_id: str
    seller_id: str
    sku: str  # never changes; stocking keys stock by it
    name: str
    description: str
    category_id: str  # "" allowed while DRAFT
    price: Money  # net of tax, per unit
    tax_class: str  # one of TAX_CLASSES
    weight_grams: int
    attributes: dict[str, str]
    image_url: str  # "" or an absolute http(s) URL
    status: ProductStatus
    in_stock: bool
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    version: int  # 1 at creation, +1 with every change of the product's own data
    # The stock level version in_stock was taken from; a stock flag is not the product's own
    # data, so applying one changes neither version nor updated_at.
    stock_version: int = 0
    archive_reason: str = ""


@dataclass(frozen=True)
class ProductPublished:
    product: Product


@dataclass(frozen=True)
class ProductUpdated:
    product: Product
    changed_fields: list[str]  # Product field names, in field order


@dataclass(frozen=True)
class ProductPriceChanged:
    product_id: str
    sku: str
    seller_id: str
    old_price: Money
    new_price: Money
    version: int


@dataclass(frozen=True)
class ProductArchived:
    product_id: str
    sku: str
    seller_id: str
    reason: str


ProductEvent = ProductPublished | ProductUpdated | ProductPriceChanged | ProductArchived


def _check_sku(sku: str) -> None:
    if not _SKU.fullmatch(sku):
        raise InvalidArgument(f"SKU must be 1 to {MAX_SKU} characters among A-Z, 0-9, '-' and '_', got {sku!r}")


def _product_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidArgument("product name must not be empty")
    if len(name) > MAX_PRODUCT_NAME:
        raise InvalidArgument(f"product name must be at most {MAX_PRODUCT_NAME} characters, got {len(name)}")
    return name


def _check_description(description: str) -> None:
    if len(description) > MAX_DESCRIPTION:
        raise InvalidArgument(f"description must be at most {MAX_DESCRIPTION} characters, got {len(description)}")


def _tax_class(code: str) -> str:
    code = code or "standard"
    if code not in TAX_CLASSES:
        raise InvalidArgument(f"tax class must be one of {', '.join(TAX_CLASSES)}, got {code!r}")
    return code


def _check_weight(weight_grams: int) -> None:
    if weight_grams < 0:
        raise InvalidArgument(f"weight must not be negative, got {weight_grams} g")


def _check_attributes(attributes: Mapping[str, str]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidArgument(f"a product has at most {MAX_ATTRIBUTES} attributes, got {len(attributes)}")
    for key, value in attributes.items():
        if len(key) > MAX_ATTRIBUTE_KEY or not _ATTRIBUTE_KEY.fullmatch(key):
            raise InvalidArgument(f"attribute key must be lower_snake_case, at most {MAX_ATTRIBUTE_KEY} "
                                  f"characters, got {key!r}")
        if len(value) > MAX_ATTRIBUTE_VALUE:
            raise InvalidArgument(f"attribute {key!r} must be at most {MAX_ATTRIBUTE_VALUE} characters, "
                                  f"got {len(value)}")


def _check_image_url(url: str) -> None:
    if not url:
        return
    parts = urlsplit(url)
    if len(url) > MAX_IMAGE_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f"image URL must be an absolute http(s) URL of at most {MAX_IMAGE_URL} "
                              f"characters, got {url[:100]!r}")


def _check_category(category_id: str, categories: KeySet) -> None:
    if category_id and category_id not in categories:
        raise NotFound(f"category {category_id!r} does not exist")


def _check_seller_may_sell(seller_id: str, seller: Seller | None) -> None:
    if seller is None:
        raise NotFound(f"seller {seller_id!r} is not known to the catalogue; sellers arrive from "
                       "administering shortly after onboarding, so retry in a moment")
    if seller.status is SellerStatus.SUSPENDED:
        raise FailedPrecondition(f"seller {seller_id!r} is suspended and may not sell products")


def _changed(product: Product, now: datetime, **changes: Any) -> Product:
    return replace(product, **changes, version=product.version + 1, updated_at=now)


def create_product(*, product_id: str, seller_id: str, sku: str, name: str, description: str, category_id: str,
                   price: Money, tax_class: str, weight_grams: int, attributes: Mapping[str, str], image_url: str,
                   seller: Seller | None, categories: KeySet, sku_taken_by: str | None, stock: StockFlag | None,
                   now: datetime) -> Product:
    """A new DRAFT product. Drafts publish nothing, so there are no events.

    seller: the catalogue's record of seller_id (None if unknown); categories: the existing
    category ids; sku_taken_by: the id of the product already holding the SKU, archived ones
    included (None if free); stock: the SKU's stock flag, if stocking already spoke of it."""
    if not seller_id:
        raise InvalidArgument("seller_id must not be empty")
    _check_sku(sku)
    name = _product_name(name)
    _check_description(description)
    _check_price(price)
    tax_class = _tax_class(tax_class)
    _check_weight(weight_grams)
    _check_attributes(attributes)
    _check_image_url(image_url)
    if sku_taken_by is not None:
        raise AlreadyExists(f"SKU {sku!r} is already used by product {sku_taken_by!r}")
    _check_category(category_id, categories)
    _check_seller_may_sell(seller_id, seller)
    return Product(
        product_id=product_id, seller_id=seller_id, sku=sku, name=name, description=description,
        category_id=category_id, price=price, tax_class=tax_class, weight_grams=weight_grams,
        attributes=dict(attributes), image_url=image_url, status=ProductStatus.DRAFT,
        in_stock=stock.in_stock if stock else False, created_at=now, updated_at=now, published_at=None,
        version=1, stock_version=stock.level_version if stock else 0,
    )


_UPDATABLE_FIELDS = ("name", "description", "category_id", "tax_class", "weight_grams", "attributes", "image_url")


def update_product(product: Product, *, categories: KeySet, now: datetime, name: str | None = None,
                   description: str | None = None, category_id: str | None = None, tax_class: str | None = None,
                   weight_grams: int | None = None, image_url: str | None = None,
                   set_attributes: Mapping[str, str] | None = None, remove_attribute_keys: Sequence[str] = (),
                   replace_attributes: bool = False) -> tuple[Product, list[ProductEvent]]:
    """The product with its details changed; None keeps a field. Attributes: set_attributes adds
    or overwrites keys and remove_attribute_keys drops them, or with replace_attributes the
    attributes become exactly set_attributes. ProductUpdated (with the changed fields) only when
    the product is published and something changed."""
    if product.status is ProductStatus.ARCHIVED:
        raise FailedPrecondition(f"product {product.sku!r} is archived and can no longer be changed")
    if replace_attributes and remove_attribute_keys:
        raise InvalidArgument("remove_attribute_keys must be empty when replace_attributes is set")
    after: dict[str, Any] = {}
    if name is not None:
        after["name"] = _product_name(name)
    if description is not None:
        _check_description(description)
        after["description"] = description
    if category_id is not None:
        if not category_id and product.status is ProductStatus.PUBLISHED:
            raise InvalidArgument("a published product must stay in a category")
        _check_category(category_id, categories)
        after["category_id"] = category_id
    if tax_class is not None:
        after["tax_class"] = _tax_class(tax_class)
    if weight_grams is not None:
        _check_weight(weight_grams)
        after["weight_grams"] = weight_grams
    if image_url is not None:
        _check_image_url(image_url)
        after["image_url"] = image_url
    if replace_attributes or set_attributes or remove_attribute_keys:
        attributes = {} if replace_attributes else dict(product.attributes)
        attributes.update(set_attributes or {})
        for key in remove_attribute_keys:
            attributes.pop(key, None)
        _check_attributes(attributes)
        after["attributes"] = attributes
    changed_fields = [f for f in _UPDATABLE_FIELDS if f in after and after[f] != getattr(product, f)]
    if not changed_fields:
        return product, []
    updated = _changed(product, now, **{f: after[f] for f in changed_fields})
    if updated.status is ProductStatus.PUBLISHED:
        return updated, [ProductUpdated(product=updated, changed_fields=changed_fields)]
    return updated, []


def set_product_price(product: Product, *, price: Money, now: datetime) -> tuple[Product, list[ProductEvent]]:
    """The product at a new unit price; ProductPriceChanged (old and new) when it is published and
    the price differs."""
    _check_price(price)
    if product.status is ProductStatus.ARCHIVED:
        raise FailedPrecondition(f"product {product.sku!r} is archived and can no longer be repriced")
    if price == product.price:
        return product, []
    if product.status is ProductStatus.PUBLISHED and price.amount_minor == 0:
        raise InvalidArgument(f"product {product.sku!r} is on sale, so its price must be above zero")
    updated = _changed(product, now, price=price)
    if updated.status is not ProductStatus.PUBLISHED:
        return updated, []
    return updated, [ProductPriceChanged(product_id=updated.product_id, sku=updated.sku, seller_id=updated.seller_id,
                                         old_price=product.price, new_price=price, version=updated.version)]


def publish_product(product: Product, *, seller: Seller | None, now: datetime) -> tuple[Product, list[ProductEvent]]:
    """The product on sale, with ProductPublished. Publishing a published product changes nothing."""
    if product.status is ProductStatus.PUBLISHED:
        return product, []
    if product.status is ProductStatus.ARCHIVED:
        raise FailedPrecondition(f"product {product.sku!r} is archived and cannot be published again")
    if not product.category_id:
        raise FailedPrecondition(f"product {product.sku!r} needs a category before it can be published")
    if product.price.amount_minor == 0:
        raise FailedPrecondition(f"product {product.sku!r} needs a price above zero before it can be published")
    if seller is None or seller.status is SellerStatus.SUSPENDED:
        state = "unknown to the catalogue" if seller is None else "suspended"
        raise FailedPrecondition(f"seller {product.seller_id!r} is {state}, so product {product.sku!r} "
                                 "cannot be published")
    published = _changed(product, now, status=ProductStatus.PUBLISHED, published_at=now)
    return published, [ProductPublished(product=published)]


def archive_product(product: Product, *, reason: str, now: datetime) -> tuple[Product, list[ProductEvent]]:
    """The product withdrawn for good. Only a published product announces it (ProductArchived):
    a draft was never public. Archiving an archived product changes nothing."""
    reason = reason.strip()
    if len(reason) > MAX_ARCHIVE_REASON:
        raise InvalidArgument(f"archive reason must be at most {MAX_ARCHIVE_REASON} characters, got {len(reason)}")
    if product.status is ProductStatus.ARCHIVED:
        return product, []
    archived = _changed(product, now, status=ProductStatus.ARCHIVED, archive_reason=reason)
    if product.status is not ProductStatus.PUBLISHED:
        return archived, []
    return archived, [ProductArchived(product_id=product.product_id, sku=product.sku, seller_id=product.seller_id,
                                      reason=reason)]


def archive_products_of_suspended_seller(seller: Seller, products: Iterable[Product], *,
                                         now: datetime) -> tuple[list[Product], list[ProductEvent]]:
    """A suspended seller's draft and published products, archived (with ProductArchived for the
    published ones, so carts flag them). Nothing for an active seller. Running it twice changes
    nothing the second time."""
    if seller.status is not SellerStatus.SUSPENDED:
        return [], []
    reason = f"seller suspended: {seller.suspension_reason}" if seller.suspension_reason else "seller suspended"
    archived: list[Product] = []
    events: list[ProductEvent] = []
    for product in products:
        if product.seller_id == seller.seller_id and product.status is not ProductStatus.ARCHIVED:
            changed, product_events = archive_product(product, reason=reason[:MAX_ARCHIVE_REASON], now=now)
            archived.append(changed)
            events.extend(product_events)
    return archived, events


def apply_stock_flag(product: Product, flag: StockFlag) -> Product | None:
    """The product with the SKU's in-stock flag, or None when the product already reflects this
    stock level or a newer one."""
    if flag.level_version <= product.stock_version:
        return None
    return replace(product, in_stock=flag.in_stock, stock_version=flag.level_version)


# --- Listing --------------------------------------------------------------------------------------

MAX_BATCH = 100


class ProductSort(Enum):
    NEWEST = "NEWEST"  # most recently published first (created, for drafts); also the default
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    NAME_ASC = "NAME_ASC"  # case- and accent-insensitive


@dataclass(frozen=True)
class ProductSearch:
    """ListProducts' filters and sort. Empty values keep everything."""

    query: str = ""  # every word must appear in name, description, SKU or an attribute value
    category_id: str = ""
    direct_category_only: bool = False  # otherwise descendants of category_id count too
    seller_id: str = ""
    min_price: Money | None = None  # inclusive
    max_price: Money | None = None  # inclusive
    in_stock_only: bool = False
    # Empty means PUBLISHED only, and then products of suspended sellers are hidden too.
    statuses: tuple[ProductStatus, ...] = ()
    sort: ProductSort = ProductSort.NEWEST


def _sort_key(product: Product, sort: ProductSort) -> SortKey:
    # Every key ends with the product id, so no two products tie and a cursor is exact.
    if sort is ProductSort.PRICE_ASC:
        return (product.price.amount_minor, product.price.currency, product.product_id)
    if sort is ProductSort.PRICE_DESC:
        return (-product.price.amount_minor, product.price.currency, product.product_id)
    if sort is ProductSort.NAME_ASC:
        return (_fold(product.name), product.product_id)
    return (-instant(product.published_at or product.created_at), product.product_id)


def _check_search(search: ProductSearch, tree: CategoryTree) -> None:
    bounds = [b for b in (search.min_price, search.max_price) if b is not None]
    for bound in bounds:
        _check_price(bound, "price bound")
    if search.min_price and search.max_price:
        if search.min_price.currency != search.max_price.currency:
            raise InvalidArgument(f"min_price and max_price must share a currency, got "
                                  f"{search.min_price.currency} and {search.max_price.currency}")
        if search.min_price.amount_minor > search.max_price.amount_minor:
            raise InvalidArgument(f"min_price ({search.min_price.amount_minor}) must not be above max_price "
                                  f"({search.max_price.amount_minor})")
    if search.category_id:
        tree.get(search.category_id)


def _matcher(search: ProductSearch, tree: CategoryTree, sellers: Iterable[Seller]) -> Callable[[Product], bool]:
    words = _fold(search.query).split()
    statuses = set(search.statuses) or {ProductStatus.PUBLISHED}
    hidden_sellers = set() if search.statuses else {
        s.seller_id for s in sellers if s.status is SellerStatus.SUSPENDED}
    categories: set[str] | None = None
    if search.category_id:
        categories = {search.category_id} if search.direct_category_only else tree.subtree_ids(search.category_id)
    bound = search.min_price or search.max_price
    currency = bound.currency if bound else None  # products priced in another currency are left out

    def matches(product: Product) -> bool:
        price = product.price
        if product.status not in statuses or product.seller_id in hidden_sellers:
            return False
        if (categories is not None and product.category_id not in categories) or (
                search.seller_id and product.seller_id != search.seller_id):
            return False
        if search.in_stock_only and not product.in_stock:
            return False
        if currency is not None and price.currency != currency:
            return False
        if search.min_price and price.amount_minor < search.min_price.amount_minor:
            return False
        if search.max_price and price.amount_minor > search.max_price.amount_minor:
            return False
        if words:
            haystack = _fold(" ".join([product.name, product.description, product.sku, *product.attributes.values()]))
            return all(word in haystack for word in words)
        return True

    return matches


def search_filters(search: ProductSearch) -> list[Any]:
    """The search as plain values, which its page tokens are bound to (filters and sort)."""
    def money(m: Money | None) -> list[Any] | None:
        return None if m is None else [m.amount_minor, m.currency]

    return [search.query, search.category_id, search.direct_category_only, search.seller_id,
            money(search.min_price), money(search.max_price), search.in_stock_only,
            sorted(s.value for s in search.statuses), search.sort.value]


def list_products(products: Iterable[Product], search: ProductSearch, *, tree: CategoryTree,
                  sellers: Iterable[Seller], page_size: int = 0, page_token: str = "") -> Page[Product]:
    """One page of the products matching a search, in its sort order (services.runtime.paging)."""
    page_size_of(page_size)  # a bad size is refused before the search is checked, as it always was
    _check_search(search, tree)
    matches = _matcher(search, tree, sellers)
    return paginate((p for p in products if matches(p)), sort_key=lambda p: _sort_key(p, search.sort),
                    filters=search_filters(search), page_size=page_size, page_token=page_token)


@dataclass(frozen=True)
class BatchResult:
    products: list[Product]  # in the order asked, duplicates once
    missing: list[str]  # keys that matched nothing, in the order asked


def _batch_get(keys: Sequence[str], lookup: Callable[[str], Product | None], what: str) -> BatchResult:
    if len(keys) > MAX_BATCH:
        raise InvalidArgument(f"at most {MAX_BATCH} {what} per call, got {len(keys)}")
    found: list[Product] = []
    missing: list[str] = []
    for key in dict.fromkeys(keys):  # drops duplicates, keeps the order
        product = lookup(key)
        if product is None:
            missing.append(key)
        else:
            found.append(product)
    return BatchResult(products=found, missing=missing)


def batch_get_products(product_ids: Sequence[str], lookup: Callable[[str], Product | None]) -> BatchResult:
    """Products by id, whatever their status; lookup is e.g. the products store's `get`."""
    return _batch_get(product_ids, lookup, "product ids")


def batch_get_products_by_sku(skus: Sequence[str], lookup: Callable[[str], Product | None]) -> BatchResult:
    """Products by SKU, whatever their status; lookup finds the product holding a SKU."""
    return _batch_get(skus, lookup, "SKUs")
