"""What the service suites share: a customer's address and metadata, euros, a seller the catalogue knows,
and carting's callees as real processes (ordering's suite starts them too)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from administering.v1 import events_pb2 as admin_pb
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from shop.common.v1.address_pb2 import Address
from shop.common.v1.money_pb2 import Money
from stocking.v1 import stock_service_pb2 as stock_api
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.runtime.inprocess import Service, build
from tools.platform import Platform, eventually

HOME = Address(full_name="Ada Lovelace", line1="1 rue de la Paix", postal_code="75002", city="Paris",
               country_code="FR")


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


@contextlib.asynccontextmanager
async def in_process(name: str, registry_url: str) -> AsyncIterator[tuple[Service, grpc.aio.Channel]]:
    """The service in this process, behind a real gRPC server (services/runtime/inprocess.py): for the
    bad-input tables, which need no broker and no process."""
    service = build(name, registry_url)
    async with service.serving() as channel:
        yield service, channel


async def refused(call: Any, code: grpc.StatusCode, message: str, *, by: Service | None = None) -> None:
    """The call (unary, or a whole server stream) fails with `code` and a message holding `message`; with `by`
    (a service in this process), having published nothing: a refusal comes before anything leaves."""
    published = by.publishes_nothing("a refused call") if by else contextlib.nullcontext()
    with published, pytest.raises(grpc.aio.AioRpcError) as error:
        answer = [part async for part in call] if hasattr(call, "__aiter__") else await call
        raise AssertionError(f"accepted: {answer}")
    assert error.value.code() == code, error.value.details()
    assert message in (error.value.details() or ""), error.value.details()


class Callees:
    """Carting's callees, cataloging, stocking and shipping, as real processes, with helpers to set the
    catalogue and the stock up through their own RPCs. `apart` runs them in a namespace of their own:
    ordering's tests publish the saga's events themselves, so stocking must not hear their orders."""

    def __init__(self, platform: Platform, apart: bool) -> None:
        self.platform = platform
        self.home = Platform(platform.run_dir / "callees", platform.kafka_bootstrap, platform.registry_url,
                             f"{platform.namespace}c") if apart else platform
        self.seller_id = self.category_id = ""

    async def start(self) -> None:
        await self.home.start("cataloging", "stocking", "shipping")
        if self.home is not self.platform:
            self.platform.ports.update({s: self.home.ports[s] for s in ("cataloging", "stocking", "shipping")})
        self.seller_id = await onboarded_seller(self.home, self.catalog)
        self.category_id = (await self.catalog.CreateCategory(catalog_api.CreateCategoryRequest(
            name="Everything"))).category.category_id

    async def stop(self) -> None:
        if self.home is not self.platform:
            await self.home.close()

    @property
    def catalog(self) -> Any:
        return self.home.stub("cataloging", CatalogServiceStub)

    @property
    def stock(self) -> Any:
        return self.home.stub("stocking", StockServiceStub)

    async def add_product(self, sku: str, *, price: int = 1250, tax_class: str = "standard", weight: int = 300,
                          stock: int = 10, status: int = catalog_events.PRODUCT_STATUS_PUBLISHED) -> Any:
        """A product in the catalogue (published unless `status` says otherwise) with `stock` units on hand."""
        product = (await self.catalog.CreateProduct(catalog_api.CreateProductRequest(
            seller_id=self.seller_id, sku=sku, name=f"Product {sku}", category_id=self.category_id,
            price=eur(price), tax_class=tax_class, weight_grams=weight))).product
        if status != catalog_events.PRODUCT_STATUS_DRAFT:
            product = (await self.catalog.PublishProduct(catalog_api.PublishProductRequest(
                product_id=product.product_id))).product
        if status == catalog_events.PRODUCT_STATUS_ARCHIVED:
            product = (await self.catalog.ArchiveProduct(catalog_api.ArchiveProductRequest(
                product_id=product.product_id, reason="discontinued"))).product
        await self.set_stock(sku, stock)
        return product

    async def set_stock(self, sku: str, on_hand: int) -> None:
        await self.stock.SetStock(stock_api.SetStockRequest(sku=sku, on_hand=on_hand, staff_id="staff-1",
                                                            reason=stock_api.STOCK_CHANGE_REASON_COUNT_CORRECTION))


async def start_platform(tmp: Path, kafka: str, registry: str, *services: str,
                         apart: bool = False) -> tuple[Platform, Callees]:
    platform = Platform(tmp, kafka, registry, f"t{uuid.uuid4().hex[:12]}")
    callees = Callees(platform, apart)
    await callees.start()
    await platform.start(*services)
    return platform, callees


SELLERS = "administering.sellers.v1"


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:10].upper()}"


def seller_message(seller_id: str, version: int, suspended: bool = False) -> admin_pb.Seller:
    return admin_pb.Seller(seller_id=seller_id, name=f"Seller {seller_id}", version=version,
                           status=admin_pb.SELLER_STATUS_SUSPENDED if suspended else admin_pb.SELLER_STATUS_ACTIVE,
                           suspension_reason="unpaid fees" if suspended else "")


async def onboarded_seller(platform: Platform | Service, catalog: CatalogServiceStub) -> str:
    """A seller administering announced (through Kafka to a real process, or handed to one in this process),
    once the catalogue knows it."""
    seller_id = f"seller-{uuid.uuid4().hex[:8]}"
    await platform.publish(SELLERS, seller_id, seller_onboarded=admin_pb.SellerOnboarded(
        seller=seller_message(seller_id, 1), onboarded_by="admin-1"))

    async def known() -> bool:
        # No read shows sellers: probe with a draft (which the tests' listings never show).
        try:
            await catalog.CreateProduct(catalog_api.CreateProductRequest(seller_id=seller_id, sku=sku(), name="probe",
                                                                price=eur(1)))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return False
        return True

    await eventually(known)
    return seller_id
