"""Administering checks staff with profiling, onboards products through cataloging and stocking (a small
saga that undoes its steps when one is refused) and keeps stocking's level events as alerts."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from administering.v1 import admin_service_pb2 as admin_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from profiling.v1 import profile_service_pb2 as profile_api
from stocking.v1 import events_pb2 as stock_events
from stocking.v1 import stock_service_pb2 as stock_api

from services.administering import domain
from services.runtime.errors import DomainError
from tests.contracts.values import AT, eur
from tools.contracts import Consumer, Service, metadata

CONSUMER = Consumer("administering")
LEVELS = "stocking.levels.v1"
SKU, STAFF_ID = "MUG-RED", "staff-1"

STAFF = profile_api.StaffMember(staff_id=STAFF_ID, role=profile_api.ROLE_ADMIN, active=True)
DRAFT = catalog_events.Product(product_id="product-1", sku=SKU, seller_id="seller-1",
                               status=catalog_events.PRODUCT_STATUS_DRAFT)
PUBLISHED = catalog_events.Product(product_id="product-1", sku=SKU, status=catalog_events.PRODUCT_STATUS_PUBLISHED)
LEVEL = stock_events.StockLevel(sku=SKU, on_hand=10, available=10)


def refusal(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


async def onboard_seller(service: Service) -> str:
    service.stubs["profiling"].answers.setdefault("GetStaffMember", profile_api.GetStaffMemberResponse(
        staff_member=STAFF))
    answer = await service.call("administering.v1.AdminService/OnboardSeller", admin_api.OnboardSellerRequest(
        name="Mugs & Co", email="sales@mugs.example", vat_number="FR40303265045", staff_id=STAFF_ID))
    return str(answer.seller.seller_id)


async def onboard_product(service: Service, seller_id: str, *, publish: bool = True) -> Any:
    """OnboardProduct of SKU; cataloging and stocking answer as administering's contracts say."""
    catalog, stock = service.stubs["cataloging"], service.stubs["stocking"]
    catalog.answers.setdefault("CreateProduct", catalog_api.CreateProductResponse(product=DRAFT))
    catalog.answers.setdefault("PublishProduct", catalog_api.PublishProductResponse(product=PUBLISHED))
    stock.answers.setdefault("SetStock", stock_api.SetStockResponse(level=LEVEL))
    return await service.call("administering.v1.AdminService/OnboardProduct", admin_api.OnboardProductRequest(
        seller_id=seller_id, sku=SKU, name="Red mug", category_id="category-1", price=eur(1250),
        tax_class="standard", weight_grams=350, initial_stock_quantity=10, publish=publish, staff_id=STAFF_ID))


def onboarding(service: Service) -> domain.ProductOnboarding:
    found: domain.ProductOnboarding = service.parts["stores"].onboardings.get(SKU)
    return found


@CONSUMER.call("profiling.v1.ProfileService/GetStaffMember", profile_api.GetStaffMemberRequest(staff_id=STAFF_ID),
               profile_api.GetStaffMemberResponse(staff_member=STAFF), given="an admin can act")
async def lets_active_staff_act(service: Service, answer: profile_api.GetStaffMemberResponse) -> None:
    seller_id = await onboard_seller(service)
    assert service.parts["stores"].sellers.get(seller_id).status is domain.SellerStatus.ACTIVE
    assert service.event("administering.sellers.v1", "seller_onboarded").onboarded_by == STAFF_ID


@CONSUMER.call("cataloging.v1.CatalogService/CreateProduct", catalog_api.CreateProductRequest(
    seller_id="seller-1", sku=SKU, name="Red mug", category_id="category-1", price=eur(1250), tax_class="standard",
    weight_grams=350), catalog_api.CreateProductResponse(product=DRAFT), given="a seller may sell in a category")
async def creates_the_product(service: Service, answer: catalog_api.CreateProductResponse) -> None:
    await onboard_product(service, await onboard_seller(service))
    assert onboarding(service).product_id == "product-1"


@CONSUMER.call("stocking.v1.StockService/SetStock", stock_api.SetStockRequest(
    sku=SKU, on_hand=10, reason=stock_api.STOCK_CHANGE_REASON_INITIAL_STOCK, note="onboarding of MUG-RED",
    staff_id=STAFF_ID), stock_api.SetStockResponse(level=LEVEL), given="stocking tracks SKUs")
async def sets_the_initial_stock(service: Service, answer: stock_api.SetStockResponse) -> None:
    onboarded = await onboard_product(service, await onboard_seller(service))
    assert domain.OnboardingStep.SET_INITIAL_STOCK in onboarding(service).steps_done
    assert (onboarded.stock_level.sku, onboarded.stock_level.available) == (SKU, 10)


@CONSUMER.call("cataloging.v1.CatalogService/PublishProduct",
               catalog_api.PublishProductRequest(product_id="product-1"),
               catalog_api.PublishProductResponse(product=PUBLISHED),
               given="a seller's draft product is ready to publish")
async def publishes_the_product(service: Service, answer: catalog_api.PublishProductResponse) -> None:
    onboarded = await onboard_product(service, await onboard_seller(service))
    assert onboarding(service).state is domain.OnboardingState.COMPLETED
    assert onboarded.product.status == catalog_events.PRODUCT_STATUS_PUBLISHED


@CONSUMER.call("cataloging.v1.CatalogService/GetProduct", catalog_api.GetProductRequest(product_id="product-1"),
               catalog_api.GetProductResponse(product=DRAFT), given="a seller's draft product is ready to publish")
async def answers_a_resumed_onboarding_with_the_product(service: Service,
                                                        answer: catalog_api.GetProductResponse) -> None:
    seller_id = await onboard_seller(service)
    stock = service.stubs["stocking"]
    stock.answers["SetStock"] = refusal(grpc.StatusCode.UNAVAILABLE, "stocking is restarting")
    with pytest.raises(grpc.aio.AioRpcError, match="stocking is restarting"):
        await onboard_product(service, seller_id, publish=False)
    stock.answers["SetStock"] = stock_api.SetStockResponse(level=LEVEL)
    shown = (await onboard_product(service, seller_id, publish=False)).product
    assert (shown.product_id, shown.status) == ("product-1", catalog_events.PRODUCT_STATUS_DRAFT)


@CONSUMER.call("stocking.v1.StockService/GetStockLevel", stock_api.GetStockLevelRequest(sku=SKU),
               stock_api.GetStockLevelResponse(level=LEVEL), given="a SKU is in stock")
async def answers_a_resumed_onboarding_with_the_level(service: Service,
                                                      answer: stock_api.GetStockLevelResponse) -> None:
    seller_id = await onboard_seller(service)
    catalog = service.stubs["cataloging"]
    catalog.answers["PublishProduct"] = refusal(grpc.StatusCode.UNAVAILABLE, "cataloging is restarting")
    with pytest.raises(grpc.aio.AioRpcError, match="cataloging is restarting"):
        await onboard_product(service, seller_id)
    catalog.answers["PublishProduct"] = catalog_api.PublishProductResponse(product=PUBLISHED)
    shown = (await onboard_product(service, seller_id)).stock_level
    assert (shown.sku, shown.on_hand, shown.available) == (SKU, 10, 10)


@CONSUMER.call("cataloging.v1.CatalogService/ArchiveProduct", catalog_api.ArchiveProductRequest(
    product_id="product-1", reason="onboarding of MUG-RED undone"), catalog_api.ArchiveProductResponse(),
    given="a product is published")
async def archives_the_product_of_an_undone_onboarding(service: Service,
                                                       answer: catalog_api.ArchiveProductResponse) -> None:
    service.stubs["cataloging"].answers["PublishProduct"] = refusal(grpc.StatusCode.FAILED_PRECONDITION,
                                                                    "the product has no image")
    with pytest.raises(DomainError, match="the product has no image"):
        await onboard_product(service, await onboard_seller(service))
    assert onboarding(service).state is domain.OnboardingState.UNDONE
    assert domain.OnboardingUndo.ARCHIVE_PRODUCT in onboarding(service).undos_done


@CONSUMER.call("cataloging.v1.CatalogService/BatchGetProductsBySku",
               catalog_api.BatchGetProductsBySkuRequest(skus=[SKU]),
               catalog_api.BatchGetProductsBySkuResponse(products=[DRAFT]),
               given="a seller's draft product is ready to publish")
async def adopts_its_draft_when_resuming(service: Service, answer: catalog_api.BatchGetProductsBySkuResponse) -> None:
    seller_id = await onboard_seller(service)
    answer.products[0].seller_id = seller_id  # the draft cataloging holds for this seller
    catalog = service.stubs["cataloging"]
    catalog.answers["CreateProduct"] = refusal(grpc.StatusCode.UNAVAILABLE, "cataloging is restarting")
    with pytest.raises(grpc.aio.AioRpcError, match="cataloging is restarting"):
        await onboard_product(service, seller_id)
    catalog.answers["CreateProduct"] = refusal(grpc.StatusCode.ALREADY_EXISTS, "SKU 'MUG-RED' is already used")
    await onboard_product(service, seller_id)
    assert onboarding(service).product_id == "product-1"


@CONSUMER.event(LEVELS, stock_events.StockLevelEvent(
    metadata=metadata(), low_stock_detected=stock_events.LowStockDetected(
        sku=SKU, alert_id="alert-1", level=stock_events.StockLevel(
            on_hand=3, available=3, low_stock_threshold=5, updated_at=AT))),
    given="a SKU's stock ran low")
async def raises_a_low_stock_alert(service: Service, envelope: Any) -> None:
    await service.deliver(LEVELS, envelope)
    alert = service.parts["stores"].stock_alerts.get(SKU)
    assert (alert.condition, alert.alert_id, alert.available, alert.low_stock_threshold) == ("LOW_STOCK", "alert-1",
                                                                                              3, 5)


@CONSUMER.event(LEVELS, stock_events.StockLevelEvent(
    metadata=metadata(), out_of_stock=stock_events.OutOfStock(
        sku=SKU, alert_id="alert-2", level=stock_events.StockLevel(low_stock_threshold=5, updated_at=AT))),
    given="a SKU ran out of stock")
async def raises_an_out_of_stock_alert(service: Service, envelope: Any) -> None:
    await service.deliver(LEVELS, envelope)
    alert = service.parts["stores"].stock_alerts.get(SKU)
    assert (alert.condition, alert.alert_id, alert.available, alert.low_stock_threshold) == ("OUT_OF_STOCK",
                                                                                             "alert-2", 0, 5)


@CONSUMER.event(LEVELS, stock_events.StockLevelEvent(
    metadata=metadata(), back_in_stock=stock_events.BackInStock(
        sku=SKU, level=stock_events.StockLevel(on_hand=10, available=10, updated_at=AT))),
    given="a SKU came back in stock")
async def clears_the_alert(service: Service, envelope: Any) -> None:
    await service.deliver(LEVELS, envelope)
    alert = service.parts["stores"].stock_alerts.get(SKU)
    assert (alert.condition, alert.available) == ("BACK_IN_STOCK", 10)
