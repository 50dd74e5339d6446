"""CatalogService: the category tree and the products, read and changed through the domain.

Locks (each unit names all its records in one `work.lock` call):
- every change of the tree takes the tree's own lock key, since a move's cycle check and a
  sibling's slug check read the whole tree; rename, move and delete also lock the category;
- a product change locks the product, plus the category it goes into (so DeleteCategory cannot
  empty a category a product is entering), plus for a new product its SKU (uniqueness, and the
  stock flag stocking sent for it) and its seller (so a suspension either sees the new product and
  archives it, or comes first and the product is refused); publishing locks the seller too.
"""

from __future__ import annotations

import functools
import heapq
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import grpc
from cataloging.v1 import catalog_service_pb2 as pb
from cataloging.v1 import catalog_service_pb2_grpc

from services.cataloging import domain, messages
from services.runtime.bus import EventBus
from services.runtime.errors import InvalidArgument, NotFound, non_empty
from services.runtime.store import JsonCodec, Store
from services.runtime.transactions import UnitOfWork

PRODUCTS_TOPIC = "cataloging.products.v1"
TREE_LOCK = "*tree*"  # a lock key of the categories store that no category id (a uuid) can be
Publish = Callable[..., Any]  # bus.publish bound to a unit of work, or EventContext.publish


def now() -> datetime:
    return datetime.now(UTC)


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


# --- Listing ----------------------------------------------------------------------------------------


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
    keys: dict[str, domain.SortKey]  # by ProductSort value

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
             page_size: int = 0, page_token: str = "") -> domain.ProductPage:
        size = domain.page_size_of(page_size)
        domain._check_search(search, tree)
        fingerprint = domain._fingerprint(search)
        after = domain._decode_token(page_token, fingerprint) if page_token else None
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

        memo, keyed = self._memo, []
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
            keyed.append((entry.keys[sort], product))
        total = len(keyed)
        if after is not None:
            try:
                keyed = [pair for pair in keyed if pair[0] > after]
            except TypeError as error:  # a forged key whose parts are of the wrong types
                raise InvalidArgument("page token is not one this service issued; "
                                      "start again without a token") from error
        page = heapq.nsmallest(size + 1, keyed, key=itemgetter(0))
        token = domain._encode_token(fingerprint, page[size - 1][0]) if len(page) > size else ""
        return domain.ProductPage(products=[product for _, product in page[:size]], next_page_token=token,
                                  total_size=total)


# --- The service ------------------------------------------------------------------------------------


class CatalogServicer(catalog_service_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.bus = catalog.bus

    # --- categories ---------------------------------------------------------------------------

    async def CreateCategory(self, request: pb.CreateCategoryRequest, context: grpc.aio.ServicerContext) -> Any:
        catalog = self.catalog
        async with self.bus.unit_of_work() as work:
            await work.lock((catalog.categories, TREE_LOCK))
            created = domain.create_category(catalog.tree(), category_id=str(uuid.uuid4()), name=request.name,
                                             parent_id=request.parent_id, position=request.position, now=now())
            work.put(catalog.categories, created.category_id, created)
            placed = catalog.tree(created).place(created.category_id)
        return pb.CreateCategoryResponse(category=messages.category(placed))

    async def GetCategory(self, request: pb.GetCategoryRequest, context: grpc.aio.ServicerContext) -> Any:
        category_id = non_empty(request.category_id, "category_id")
        return pb.GetCategoryResponse(category=messages.category(self.catalog.tree().place(category_id)))

    async def RenameCategory(self, request: pb.RenameCategoryRequest, context: grpc.aio.ServicerContext) -> Any:
        category_id = non_empty(request.category_id, "category_id")
        return pb.RenameCategoryResponse(category=await self._change_category(
            category_id, functools.partial(domain.rename_category, category_id=category_id, name=request.name)))

    async def MoveCategory(self, request: pb.MoveCategoryRequest, context: grpc.aio.ServicerContext) -> Any:
        category_id = non_empty(request.category_id, "category_id")
        return pb.MoveCategoryResponse(category=await self._change_category(
            category_id, functools.partial(domain.move_category, category_id=category_id,
                                           new_parent_id=request.new_parent_id, position=request.position)))

    async def _change_category(self, category_id: str, change: Callable[..., domain.Category]) -> Any:
        catalog = self.catalog
        async with self.bus.unit_of_work() as work:
            await work.lock((catalog.categories, TREE_LOCK), (catalog.categories, category_id))
            before = catalog.tree()
            changed = change(before, now=now())
            if changed is not before.get(category_id):
                work.put(catalog.categories, category_id, changed)
            placed = catalog.tree(changed).place(category_id)
        return messages.category(placed)

    async def DeleteCategory(self, request: pb.DeleteCategoryRequest, context: grpc.aio.ServicerContext) -> Any:
        catalog = self.catalog
        category_id = non_empty(request.category_id, "category_id")
        async with self.bus.unit_of_work() as work:
            await work.lock((catalog.categories, TREE_LOCK), (catalog.categories, category_id))
            domain.delete_category(catalog.tree(), category_id=category_id, products=catalog.products.values())
            work.delete(catalog.categories, category_id)
        return pb.DeleteCategoryResponse()

    async def GetCategoryTree(self, request: pb.GetCategoryTreeRequest, context: grpc.aio.ServicerContext) -> Any:
        placed = self.catalog.tree().flatten(request.root_category_id, request.max_depth)
        return pb.GetCategoryTreeResponse(categories=[messages.category(p) for p in placed])

    # --- products -----------------------------------------------------------------------------

    async def CreateProduct(self, request: pb.CreateProductRequest, context: grpc.aio.ServicerContext) -> Any:
        catalog = self.catalog
        product_id, sku, seller_id = str(uuid.uuid4()), request.sku, request.seller_id
        locks: list[tuple[Store[Any], str]] = [(catalog.products, product_id), (catalog.skus, sku),
                                               (catalog.stock_flags, sku), (catalog.sellers, seller_id)]
        if request.category_id:
            locks.append((catalog.categories, request.category_id))
        async with self.bus.unit_of_work() as work:
            await work.lock(*locks)
            created = domain.create_product(
                product_id=product_id, seller_id=seller_id, sku=sku, name=request.name,
                description=request.description, category_id=request.category_id,
                price=messages.money_in(request.price), tax_class=request.tax_class,
                weight_grams=request.weight_grams, attributes=dict(request.attributes), image_url=request.image_url,
                seller=work.get(catalog.sellers, seller_id), categories=catalog.categories,
                sku_taken_by=work.get(catalog.skus, sku), stock=work.get(catalog.stock_flags, sku), now=now())
            work.put(catalog.products, product_id, created)
            work.put(catalog.skus, sku, product_id)
        return pb.CreateProductResponse(product=messages.product(created))

    async def UpdateProduct(self, request: pb.UpdateProductRequest, context: grpc.aio.ServicerContext) -> Any:
        def optional(field: str) -> Any:
            return getattr(request, field) if request.HasField(field) else None  # type: ignore[arg-type]

        category_id = optional("category_id")
        return pb.UpdateProductResponse(product=await self._change_product(
            request.product_id,
            lambda product, work: domain.update_product(
                product, categories=self.catalog.categories, now=now(), name=optional("name"),
                description=optional("description"), category_id=category_id, tax_class=optional("tax_class"),
                weight_grams=optional("weight_grams"), image_url=optional("image_url"),
                set_attributes=dict(request.set_attributes), remove_attribute_keys=list(request.remove_attribute_keys),
                replace_attributes=request.replace_attributes),
            also_lock=[(self.catalog.categories, category_id)] if category_id else []))

    async def SetProductPrice(self, request: pb.SetProductPriceRequest, context: grpc.aio.ServicerContext) -> Any:
        if not request.HasField("price"):
            raise InvalidArgument("price must be set")
        price = messages.money_in(request.price)
        return pb.SetProductPriceResponse(product=await self._change_product(
            request.product_id, lambda product, work: domain.set_product_price(product, price=price, now=now())))

    async def PublishProduct(self, request: pb.PublishProductRequest, context: grpc.aio.ServicerContext) -> Any:
        catalog = self.catalog
        # A product's seller never changes, so it can be read before the locks are taken.
        seller_id = catalog.product(None, non_empty(request.product_id, "product_id")).seller_id
        return pb.PublishProductResponse(product=await self._change_product(
            request.product_id,
            lambda product, work: domain.publish_product(product, seller=work.get(catalog.sellers, seller_id),
                                                         now=now()),
            also_lock=[(catalog.sellers, seller_id)]))

    async def ArchiveProduct(self, request: pb.ArchiveProductRequest, context: grpc.aio.ServicerContext) -> Any:
        return pb.ArchiveProductResponse(product=await self._change_product(
            request.product_id, lambda product, work: domain.archive_product(product, reason=request.reason,
                                                                             now=now())))

    async def _change_product(self, product_id: str, change: Callable[[domain.Product, UnitOfWork], Any],
                              also_lock: Iterable[tuple[Store[Any], str]] = ()) -> Any:
        """One product changed under its lock, with the events the domain returned published."""
        catalog = self.catalog
        non_empty(product_id, "product_id")
        async with self.bus.unit_of_work() as work:
            await work.lock((catalog.products, product_id), *also_lock)
            product = catalog.product(work, product_id)
            changed, events = change(product, work)
            if changed is not product:
                work.put(catalog.products, product_id, changed)
            publish_product_events(functools.partial(self.bus.publish, work), [changed], events)
        return messages.product(changed)

    async def GetProduct(self, request: pb.GetProductRequest, context: grpc.aio.ServicerContext) -> Any:
        product = self.catalog.product(None, non_empty(request.product_id, "product_id"))
        return pb.GetProductResponse(product=messages.product(product))

    async def BatchGetProducts(self, request: pb.BatchGetProductsRequest, context: grpc.aio.ServicerContext) -> Any:
        found = domain.batch_get_products(list(request.product_ids), self.catalog.products.get)
        return pb.BatchGetProductsResponse(products=[messages.product(p) for p in found.products],
                                           missing_product_ids=found.missing)

    async def BatchGetProductsBySku(self, request: pb.BatchGetProductsBySkuRequest,
                                    context: grpc.aio.ServicerContext) -> Any:
        found = domain.batch_get_products_by_sku(list(request.skus), self.catalog.product_by_sku)
        return pb.BatchGetProductsBySkuResponse(products=[messages.product(p) for p in found.products],
                                                missing_skus=found.missing)

    async def ListProducts(self, request: pb.ListProductsRequest, context: grpc.aio.ServicerContext) -> Any:
        catalog = self.catalog
        page = catalog.listing.page(messages.product_search(request), tree=catalog.tree(),
                                    sellers=catalog.sellers.values(), page_size=request.page.page_size,
                                    page_token=request.page.page_token)
        response = pb.ListProductsResponse(products=[messages.product(p) for p in page.products])
        response.page.next_page_token = page.next_page_token
        response.page.total_size = page.total_size
        return response
