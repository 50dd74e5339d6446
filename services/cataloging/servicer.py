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
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from cataloging.v1 import catalog_service_pb2 as pb
from cataloging.v1 import catalog_service_pb2_grpc

from services.cataloging import domain, messages
from services.cataloging.stores import TREE_LOCK, Catalog, publish_product_events
from services.runtime import proto
from services.runtime.clock import now
from services.runtime.errors import InvalidArgument, non_empty
from services.runtime.store import Store
from services.runtime.transactions import UnitOfWork

# --- Listing ----------------------------------------------------------------------------------------


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
                price=proto.money_record(request.price), tax_class=request.tax_class,
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
        price = proto.money_record(request.price)
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
        page = catalog.listing.page(messages.product_search_record(request), tree=catalog.tree(),
                                    sellers=catalog.sellers.values(), page_size=request.page.page_size,
                                    page_token=request.page.page_token)
        return pb.ListProductsResponse(products=[messages.product(p) for p in page.items], page=proto.page(page))
