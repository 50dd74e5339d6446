"""Cataloging's state: the catalogue's stores and listing index, the product events every change publishes, the topics.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.cataloging import domain, messages
from services.runtime.bus import EventBus, Publish
from services.runtime.errors import NotFound
from services.runtime.paging import Page, SortKey, page_size_of, paginate
from services.runtime.store import JsonCodec, Store
from services.runtime.transactions import UnitOfWork

PRODUCTS_TOPIC = "cataloging.products.v1"
TREE_LOCK = "*tree*"  # a lock key of the categories store that no category id (a uuid) can be


LEVELS_TOPIC = "stocking.levels.v1"
SELLERS_TOPIC = "administering.sellers.v1"


class Catalog:
    """The stores the servicer and the handlers share, and the listing index."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.categories: Store[domain.Category] = bus.store("categories", JsonCodec(domain.Category))
        self.products: Store[domain.Product] = bus.store("products", JsonCodec(domain.Product))
        self.skus: Store[str] = bus.store("skus", JsonCodec(str))  # SKU -> id of the product holding it
        self.sellers: Store[domain.Seller] = bus.store("sellers", JsonCodec(domain.Seller))
        self.stock_flags: Store[domain.StockFlag] = bus.store("stock-flags", JsonCodec(domain.StockFlag))
        self.listing = ProductListing(self.products)

    def tree(self, *changed: domain.Category) -> domain.CategoryTree:
        """The tree as stored, or as it will be with `changed` categories written."""
        by_id = {category.category_id: category for category in self.categories.values()}
        by_id.update((category.category_id, category) for category in changed)
        return domain.CategoryTree(by_id.values())

    def product(self, work: UnitOfWork | None, product_id: str) -> domain.Product:
        found = work.get(self.products, product_id) if work is not None else self.products.get(product_id)
        if found is None:
            raise NotFound(f"product {product_id!r} does not exist")
        return found  # type: ignore[no-any-return]

    def product_by_sku(self, sku: str) -> domain.Product | None:
        product_id = self.skus.get(sku)
        return self.products.get(product_id) if product_id else None


def publish_product_events(publish: Publish, changed: Iterable[domain.Product],
                           events: Iterable[domain.ProductEvent]) -> None:
    """Each event keyed by its product id, with the product's version after the change."""
    versions = {product.product_id: product.version for product in changed}
    for event in events:
        product_id = event.product.product_id if isinstance(
            event, domain.ProductPublished | domain.ProductUpdated) else event.product_id
        publish(PRODUCTS_TOPIC, product_id, aggregate_version=versions[product_id], **messages.product_event(event))


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a listing needs of one product, worked out once per stored version of it: the fields
    the filters read as plain values (an Enum's hash is slow Python code), the folded text the
    query matches, and the product's key in each sort order."""

    product: domain.Product
    status: str
    seller_id: str
    category_id: str
    in_stock: bool
    currency: str
    amount: int
    haystack: str  # folded name, description, SKU and attribute values
    keys: dict[str, SortKey]  # by ProductSort value

    @classmethod
    def of(cls, product: domain.Product) -> _Entry:
        text = " ".join([product.name, product.description, product.sku, *product.attributes.values()])
        return cls(product, product.status.value, product.seller_id, product.category_id, product.in_stock,
                   product.price.currency, product.price.amount_minor, domain._fold(text),
                   {sort.value: domain._sort_key(product, sort) for sort in domain.ProductSort})


class ProductListing:
    """ListProducts over the products store. It answers what domain.list_products answers (same
    checks, filters, sort keys and page tokens; the test suite checks both agree on random
    catalogues) but fast enough for a storefront page over thousands of products: the pure function
    folds every product's text and works out every sort key on each call (about 6 ms for 2,000
    products, 17 ms with a query); this keeps them per product, filters on plain values and picks
    the page with a partial sort (under 1 ms).

    Entries are memoised by the identity of the stored record: the store swaps in a new object for
    every committed change, so a changed product is noticed at the next listing with no hook into
    commits, and nothing uncommitted is ever listed."""

    def __init__(self, products: Store[domain.Product]) -> None:
        self._products = products
        self._memo: dict[str, _Entry] = {}

    def page(self, search: domain.ProductSearch, *, tree: domain.CategoryTree, sellers: Iterable[domain.Seller],
             page_size: int = 0, page_token: str = "") -> Page[domain.Product]:
        page_size_of(page_size)  # refused before the search is checked, as domain.list_products does
        domain._check_search(search, tree)
        # The filters of domain._matcher, on the entries' plain values.
        statuses = {status.value for status in search.statuses} or {domain.ProductStatus.PUBLISHED.value}
        hidden = set() if search.statuses else {
            seller.seller_id for seller in sellers if seller.status is domain.SellerStatus.SUSPENDED}
        categories: set[str] | None = None
        if search.category_id:
            categories = {search.category_id} if search.direct_category_only else tree.subtree_ids(search.category_id)
        bound = search.min_price or search.max_price
        currency = bound.currency if bound else None  # products priced in another currency are left out
        low = search.min_price.amount_minor if search.min_price else None
        high = search.max_price.amount_minor if search.max_price else None
        words = domain._fold(search.query).split()
        seller_id, in_stock_only, sort = search.seller_id, search.in_stock_only, search.sort.value

        memo, matching = self._memo, []
        for product_id, product in self._products.items():
            entry = memo.get(product_id)
            if entry is None or entry.product is not product:
                entry = memo[product_id] = _Entry.of(product)
            if (entry.status not in statuses or entry.seller_id in hidden
                    or (categories is not None and entry.category_id not in categories)
                    or (seller_id and entry.seller_id != seller_id) or (in_stock_only and not entry.in_stock)
                    or (currency is not None and entry.currency != currency)
                    or (low is not None and entry.amount < low) or (high is not None and entry.amount > high)
                    or (words and not all(word in entry.haystack for word in words))):
                continue
            matching.append(entry)
        return paginate(matching, sort_key=lambda entry: entry.keys[sort], filters=domain.search_filters(search),
                        page_size=page_size, page_token=page_token).map(lambda entry: entry.product)
