"""The services in-process, wired as each `services/<name>/__main__.py` wires them, on a local bus
(tools.contracts.local_bus): real stores, handlers and servicers; stubs for the services they call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher

from services.administering.handlers import StockLevelHandlers
from services.administering.servicer import AdminServicer
from services.administering.servicer import Stores as AdminStores
from services.billing.__main__ import BillingSettings
from services.billing.handlers import BillingHandlers
from services.billing.servicer import BillingServicer, Books
from services.carting import domain as carting
from services.carting.handlers import CustomerStatusView, Handlers
from services.carting.servicer import SETTING_DEFAULTS as CARTING_SETTINGS
from services.carting.servicer import CartServicer
from services.cataloging.handlers import Handlers as CatalogHandlers
from services.cataloging.servicer import Catalog, CatalogServicer
from services.ordering import domain as ordering
from services.ordering.handlers import SagaHandlers
from services.ordering.servicer import CartClaim, OrderServicer
from services.paying.handlers import PaymentHandlers
from services.paying.servicer import Payments, PaymentServicer
from services.profiling.handlers import OrderHandlers
from services.profiling.servicer import SETTING_DEFAULTS as PROFILING_SETTINGS
from services.profiling.servicer import ProfileServicer
from services.profiling.servicer import Stores as ProfileStores
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import JsonCodec
from services.shipping.__main__ import ShippingSettings
from services.shipping.handlers import ShippingHandlers
from services.shipping.servicer import Shipments, ShippingServicer
from services.stocking.handlers import Handlers as StockHandlers
from services.stocking.servicer import SETTING_DEFAULTS as STOCKING_SETTINGS
from services.stocking.servicer import Stock, StockServicer
from tools.contracts import FakeStub, Service, local_bus


def _stubs(**services: str) -> dict[str, Any]:
    return {callee: FakeStub(service) for callee, service in services.items()}


def administering() -> Service:
    bus = local_bus("administering")
    stores = AdminStores.on(bus)
    stubs = _stubs(profiling="profiling.v1.ProfileService", cataloging="cataloging.v1.CatalogService",
                   stocking="stocking.v1.StockService")
    servicer = AdminServicer(bus, stores, profiles=stubs["profiling"], catalog=stubs["cataloging"],
                             stock=stubs["stocking"])
    StockLevelHandlers(stores).register(bus)
    return Service("administering", bus, servicer, stubs, {"stores": stores})


def billing() -> Service:
    bus = local_bus("billing")
    books = Books(bus)
    handlers = BillingHandlers(bus, books, BillingSettings.load("billing").seller())
    return Service("billing", bus, BillingServicer(bus, books), parts={"books": books, "settings": handlers.settings})


def carting_service() -> Service:
    bus = local_bus("carting")
    carts = bus.store("carts", JsonCodec(carting.Cart))
    customer_carts = bus.store("customer-carts", JsonCodec(str))
    statuses = bus.store("customer-statuses", JsonCodec(CustomerStatusView))
    Handlers(bus, carts, statuses)
    settings = ShopSettings(bus, defaults=CARTING_SETTINGS)
    stubs = _stubs(cataloging="cataloging.v1.CatalogService", stocking="stocking.v1.StockService",
                   shipping="shipping.v1.ShippingService")
    servicer = CartServicer(bus, settings, carts, customer_carts, statuses, catalog=stubs["cataloging"],
                            stock=stubs["stocking"], shipping=stubs["shipping"])
    return Service("carting", bus, servicer, stubs, {"carts": carts, "statuses": statuses, "settings": settings})


def cataloging() -> Service:
    bus = local_bus("cataloging")
    catalog = Catalog(bus)
    CatalogHandlers(catalog)
    return Service("cataloging", bus, CatalogServicer(catalog), parts={"catalog": catalog})


def ordering_service() -> Service:
    bus = local_bus("ordering")
    orders = bus.store("orders", JsonCodec(ordering.Order))
    keys = bus.store("idempotency-keys", JsonCodec(str))
    claims = bus.store("cart-claims", JsonCodec(CartClaim))
    settings = ShopSettings(bus, defaults={"saga.step_timeout": ordering.DEFAULT_STEP_TIMEOUT})
    SagaHandlers(bus, orders)
    stubs = _stubs(carting="carting.v1.CartService", shipping="shipping.v1.ShippingService")
    servicer = OrderServicer(bus, orders, keys, claims, carting=stubs["carting"], shipping=stubs["shipping"])
    return Service("ordering", bus, servicer, stubs, {"orders": orders, "claims": claims, "settings": settings})


def paying() -> Service:
    bus = local_bus("paying")
    payments = Payments(bus)
    PaymentHandlers(bus, payments)
    return Service("paying", bus, PaymentServicer(bus, payments), parts={"payments": payments})


def profiling() -> Service:
    bus = local_bus("profiling")
    stores = ProfileStores.on(bus)
    settings = ShopSettings(bus, defaults=PROFILING_SETTINGS)
    OrderHandlers(stores, settings).register(bus)
    servicer = ProfileServicer(bus, stores, settings, PasswordHasher())
    return Service("profiling", bus, servicer, parts={"stores": stores, "settings": settings})


def shipping() -> Service:
    bus = local_bus("shipping")
    shipments = Shipments(bus)
    ShippingHandlers(bus, shipments)
    servicer = ShippingServicer(bus, shipments, ShippingSettings.load("shipping").sender())
    return Service("shipping", bus, servicer, parts={"shipments": shipments})


def stocking() -> Service:
    bus = local_bus("stocking")
    stock = Stock(bus, ShopSettings(bus, defaults=STOCKING_SETTINGS), clock=lambda: datetime.now(UTC))
    StockHandlers(stock)
    return Service("stocking", bus, StockServicer(stock), parts={"stock": stock})


BUILDERS: dict[str, Callable[[], Service]] = {
    "administering": administering, "billing": billing, "carting": carting_service, "cataloging": cataloging,
    "ordering": ordering_service, "paying": paying, "profiling": profiling, "shipping": shipping,
    "stocking": stocking,
}


def build(name: str) -> Service:
    return BUILDERS[name]()
