"""Carting prices carts with cataloging's products, stocking's levels, shipping's quotes and the settings,
follows the catalogue's changes on the lines of open carts, and knows from profiling who is VIP."""

from __future__ import annotations

from typing import Any

from administering.v1 import events_pb2 as admin_events
from carting.v1 import cart_service_pb2 as cart_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from profiling.v1 import events_pb2 as profile_events
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from stocking.v1 import events_pb2 as stock_events
from stocking.v1 import stock_service_pb2 as stock_api

from services.carting import domain
from services.runtime.errors import FailedPrecondition
from tests.contracts.values import ABROAD, ADDRESS, REFUSAL, REFUSAL_ASKED, REFUSED_OPTION, eur
from tools.contracts import Consumer, Service, metadata

CONSUMER = Consumer("carting")
PRODUCTS, CUSTOMERS, SETTINGS = "cataloging.products.v1", "profiling.customers.v1", "administering.settings.v1"
SKU, CUSTOMER = "MUG-RED", "customer-1"

PRODUCT = catalog_events.Product(
    product_id="product-1", sku=SKU, seller_id="seller-1", name="Red mug", price=eur(1250), tax_class="standard",
    weight_grams=350, status=catalog_events.PRODUCT_STATUS_PUBLISHED, version=1)
OPTION = shipping_api.ShippingOption(
    shipping_option_id="colissimo.standard", carrier_code="colissimo", carrier_name="Colissimo",
    service_level=shipment_pb2.SERVICE_LEVEL_STANDARD, price=eur(695), estimated_days_min=2, estimated_days_max=3)


async def cart_with_line(service: Service) -> domain.Cart:
    """A customer's cart holding two of PRODUCT; cataloging and stocking answer as carting's contracts say."""
    service.stubs["cataloging"].answers.setdefault(
        "BatchGetProductsBySku", catalog_api.BatchGetProductsBySkuResponse(products=[PRODUCT]))
    service.stubs["stocking"].answers.setdefault(
        "BatchGetStockLevels", stock_api.BatchGetStockLevelsResponse(levels=[stock_events.StockLevel(
            sku=SKU, available=10)]))
    created = await service.call("carting.v1.CartService/CreateCart", cart_api.CreateCartRequest(
        customer_id=CUSTOMER, currency="EUR"))
    await service.call("carting.v1.CartService/AddLine", cart_api.AddLineRequest(
        cart_id=created.cart.cart_id, sku=SKU, quantity=2))
    return cart(service, created.cart.cart_id)


def cart(service: Service, cart_id: str) -> domain.Cart:
    found: domain.Cart = service.parts["carts"].get(cart_id)
    return found


@CONSUMER.call("cataloging.v1.CatalogService/BatchGetProductsBySku",
               catalog_api.BatchGetProductsBySkuRequest(skus=[SKU]),
               catalog_api.BatchGetProductsBySkuResponse(products=[PRODUCT]), given="a product is published")
async def adds_the_product_as_cataloging_describes_it(service: Service,
                                                      answer: catalog_api.BatchGetProductsBySkuResponse) -> None:
    line = (await cart_with_line(service)).lines[0]
    assert (line.product_id, line.seller_id, line.name, line.current_unit_price, line.tax_class,
            line.unit_weight_grams, line.product_version) == ("product-1", "seller-1", "Red mug", 1250, "standard",
                                                              350, 1)


@CONSUMER.call("stocking.v1.StockService/BatchGetStockLevels", stock_api.BatchGetStockLevelsRequest(skus=[SKU]),
               stock_api.BatchGetStockLevelsResponse(levels=[stock_events.StockLevel(sku=SKU, available=10)]),
               given="a SKU is in stock")
async def shows_what_is_available(service: Service, answer: stock_api.BatchGetStockLevelsResponse) -> None:
    shown = await service.call("carting.v1.CartService/GetCart", cart_api.GetCartRequest(
        cart_id=(await cart_with_line(service)).cart_id))
    line = shown.cart.lines[0]
    assert (line.availability, line.available_quantity) == (cart_api.LINE_AVAILABILITY_AVAILABLE, 10)


@CONSUMER.call("shipping.v1.ShippingService/ValidateShippingOption", shipping_api.ValidateShippingOptionRequest(
    shipping_option_id=OPTION.shipping_option_id, destination=ADDRESS, parcel=shipment_pb2.Parcel(weight_grams=700),
    currency="EUR"), shipping_api.ValidateShippingOptionResponse(valid=True, option=OPTION),
    given="shipping serves the destination")
async def prices_the_chosen_option(service: Service, answer: shipping_api.ValidateShippingOptionResponse) -> None:
    cart_id = (await cart_with_line(service)).cart_id
    await service.call("carting.v1.CartService/SetShipping", cart_api.SetShippingRequest(
        cart_id=cart_id, destination=ADDRESS, shipping_option_id=OPTION.shipping_option_id))
    shipping = cart(service, cart_id).shipping
    assert shipping is not None and shipping.option is not None
    assert (shipping.option.price, shipping.option.carrier_name, shipping.option.service_level) == (
        695, "Colissimo", "standard")


@CONSUMER.call("shipping.v1.ShippingService/ValidateShippingOption", REFUSAL_ASKED, REFUSAL,
               given="shipping does not serve the destination", variant="refused")
async def shows_shippings_refusal_in_its_words(service: Service,
                                               answer: shipping_api.ValidateShippingOptionResponse) -> None:
    cart_id = (await cart_with_line(service)).cart_id
    try:
        await service.call("carting.v1.CartService/SetShipping", cart_api.SetShippingRequest(
            cart_id=cart_id, destination=ABROAD, shipping_option_id=REFUSED_OPTION))
    except FailedPrecondition as refused:
        assert refused.message == f"shipping: {answer.rejection_message}"
    else:
        raise AssertionError("carting took an option shipping refused")


@CONSUMER.event(PRODUCTS, catalog_events.ProductEvent(
    metadata=metadata(), product_price_changed=catalog_events.ProductPriceChanged(
        sku=SKU, new_price=eur(1500), version=2)), given="a product's price changed")
async def flags_the_new_price(service: Service, envelope: Any) -> None:
    cart_id = (await cart_with_line(service)).cart_id
    await service.deliver(PRODUCTS, envelope)
    line = cart(service, cart_id).lines[0]
    assert (line.current_unit_price, line.price_changed) == (1500, True)


@CONSUMER.event(PRODUCTS, catalog_events.ProductEvent(
    metadata=metadata(), product_updated=catalog_events.ProductUpdated(product=catalog_events.Product(
        product_id="product-1", sku=SKU, seller_id="seller-1", name="Red mug, large", price=eur(1250),
        tax_class="reduced", weight_grams=420, status=catalog_events.PRODUCT_STATUS_PUBLISHED, version=2))),
    given="a published product was updated")
async def follows_the_catalogue(service: Service, envelope: Any) -> None:
    cart_id = (await cart_with_line(service)).cart_id
    await service.deliver(PRODUCTS, envelope)
    line = cart(service, cart_id).lines[0]
    assert (line.name, line.tax_class, line.unit_weight_grams) == ("Red mug, large", "reduced", 420)


@CONSUMER.event(PRODUCTS, catalog_events.ProductEvent(
    metadata=metadata(), product_archived=catalog_events.ProductArchived(sku=SKU)), given="a product was archived")
async def flags_the_archived_line(service: Service, envelope: Any) -> None:
    cart_id = (await cart_with_line(service)).cart_id
    await service.deliver(PRODUCTS, envelope)
    assert cart(service, cart_id).lines[0].archived


@CONSUMER.event(CUSTOMERS, profile_events.CustomerEvent(
    metadata=metadata(aggregate_version=3), customer_status_changed=profile_events.CustomerStatusChanged(
        customer_id=CUSTOMER, new_status=profile_events.CUSTOMER_STATUS_VIP)),
    given="a customer's status changed")
async def knows_who_is_vip(service: Service, envelope: Any) -> None:
    await service.deliver(CUSTOMERS, envelope)
    assert service.parts["statuses"].get(CUSTOMER).status == "VIP"


@CONSUMER.event(SETTINGS, admin_events.SettingEvent(metadata=metadata(), setting_changed=admin_events.SettingChanged(
    name="customer.vip_discount_bps", value=admin_events.SettingValue(basis_points=1000), version=2)),
    given="an admin changed a setting", name="customer.vip_discount_bps")
async def applies_the_new_vip_discount(service: Service, envelope: Any) -> None:
    await service.deliver(SETTINGS, envelope)
    assert service.parts["settings"].integer("customer.vip_discount_bps") == 1000
