"""The whole platform for end-to-end tests: the nine services as real processes in a namespace of
their own, a seller and a category onboarded through administering, and shoppers who check out
through gRPC only, as the storefront does.

    shop = await Shop.open(platform)
    sku = await shop.product(price=1250, stock=10)
    shopper = await shop.shopper()
    order = await shopper.checkout({sku: 2})
    await shop.until(order.order_id, CONFIRMED)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from administering.v1 import admin_service_pb2 as admin_api
from administering.v1 import events_pb2 as admin_events
from administering.v1.admin_service_pb2_grpc import AdminServiceStub
from billing.v1 import billing_service_pb2 as billing_api
from billing.v1 import invoice_pb2
from billing.v1.billing_service_pb2_grpc import BillingServiceStub
from carting.v1 import cart_service_pb2 as cart_api
from carting.v1.cart_service_pb2_grpc import CartServiceStub
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from google.protobuf.duration_pb2 import Duration
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from ordering.v1.order_service_pb2_grpc import OrderServiceStub
from paying.v1 import payment_pb2
from paying.v1 import payment_service_pb2 as paying_api
from paying.v1.payment_service_pb2_grpc import PaymentServiceStub
from profiling.v1 import profile_service_pb2 as profile_api
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub
from shop.common.v1.address_pb2 import Address
from shop.common.v1.money_pb2 import Money
from stocking.v1 import stock_service_pb2 as stock_api
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from tools.demo_data import ADMIN_EMAIL, ADMIN_PASSWORD
from tools.platform import SERVICES, Platform, as_customer, eventually

HOME = Address(full_name="Ada Lovelace", line1="1 rue de la Paix", postal_code="75002", city="Paris",
               country_code="FR")
Status = order_pb2.OrderStatus
FINAL_STATUSES = {Status.ORDER_STATUS_CONFIRMED, Status.ORDER_STATUS_SHIPPED, Status.ORDER_STATUS_DELIVERED,
                  Status.ORDER_STATUS_CANCELLED}


def eur(amount: int) -> Money:
    return Money(amount_minor=amount, currency="EUR")


@dataclass
class Shop:
    platform: Platform
    staff_id: str
    seller_id: str
    category_id: str

    @classmethod
    async def open(cls, platform: Platform) -> Shop:
        """Start every service and onboard what a checkout needs, through the services' own RPCs."""
        await platform.start(*SERVICES)
        profile = platform.stub("profiling", ProfileServiceStub)
        staff = (await profile.Authenticate(profile_api.AuthenticateRequest(
            email=ADMIN_EMAIL, password=ADMIN_PASSWORD, account_kind=profile_api.ACCOUNT_KIND_STAFF))).staff_member
        admin = platform.stub("administering", AdminServiceStub)
        seller = (await admin.OnboardSeller(admin_api.OnboardSellerRequest(
            name="Maison Lumière", email=f"shop-{uuid.uuid4().hex[:6]}@maison.example", vat_number="FR40303265045",
            staff_id=staff.staff_id))).seller
        catalog = platform.stub("cataloging", CatalogServiceStub)
        category = (await catalog.CreateCategory(catalog_api.CreateCategoryRequest(name="Kitchen"))).category
        shop = cls(platform, staff.staff_id, seller.seller_id, category.category_id)
        # Cataloging learns of the seller from administering's event, not from the onboarding call.
        await eventually(shop._seller_known, bool, "seller known to cataloging")
        return shop

    async def _seller_known(self) -> bool:
        """Probe with a draft (no listing shows drafts): NOT_FOUND until the seller's event arrived."""
        try:
            await self.catalog.CreateProduct(catalog_api.CreateProductRequest(
                seller_id=self.seller_id, sku=f"PROBE-{uuid.uuid4().hex[:10].upper()}", name="probe",
                price=eur(1)))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return False
        return True

    # --- stubs -----------------------------------------------------------------------------------

    @property
    def admin(self) -> Any:
        return self.platform.stub("administering", AdminServiceStub)

    @property
    def catalog(self) -> Any:
        return self.platform.stub("cataloging", CatalogServiceStub)

    @property
    def stock(self) -> Any:
        return self.platform.stub("stocking", StockServiceStub)

    @property
    def carts(self) -> Any:
        return self.platform.stub("carting", CartServiceStub)

    @property
    def orders(self) -> Any:
        return self.platform.stub("ordering", OrderServiceStub)

    @property
    def payments(self) -> Any:
        return self.platform.stub("paying", PaymentServiceStub)

    @property
    def billing(self) -> Any:
        return self.platform.stub("billing", BillingServiceStub)

    @property
    def shipping(self) -> Any:
        return self.platform.stub("shipping", ShippingServiceStub)

    # --- set-up ----------------------------------------------------------------------------------

    async def product(self, *, price: int, stock: int, weight: int = 300, tax_class: str = "standard") -> str:
        """A published product with its initial stock, onboarded by staff; returns its SKU."""
        sku = f"E2E-{uuid.uuid4().hex[:10].upper()}"
        await self.admin.OnboardProduct(admin_api.OnboardProductRequest(
            seller_id=self.seller_id, sku=sku, name=f"Teapot {sku[-4:]}", description="Cast iron.",
            category_id=self.category_id, price=eur(price), tax_class=tax_class, weight_grams=weight,
            initial_stock_quantity=stock, publish=True, staff_id=self.staff_id))
        return sku

    async def setting(self, name: str, **value: Any) -> None:
        await self.admin.UpdateSetting(admin_api.UpdateSettingRequest(
            name=name, value=admin_events.SettingValue(**value), staff_id=self.staff_id))

    async def step_timeout(self, seconds: int) -> None:
        await self.setting("saga.step_timeout", duration_value=Duration(seconds=seconds))

    async def shopper(self) -> Shopper:
        email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
        customer = (await self.platform.stub("profiling", ProfileServiceStub).RegisterCustomer(
            profile_api.RegisterCustomerRequest(email=email, password="correct horse battery", first_name="Ada",
                                                last_name="Lovelace"))).customer
        return Shopper(self, customer.customer_id, email)

    # --- reading the outcome ---------------------------------------------------------------------

    async def order(self, order_id: str) -> order_pb2.Order:
        found: order_pb2.Order = (await self.orders.GetOrder(order_api.GetOrderRequest(order_id=order_id))).order
        return found

    async def until(self, order_id: str, check: Callable[[order_pb2.Order], bool] | int, what: str = "",
                    within: float = 45) -> order_pb2.Order:
        """The order once `check` holds (a predicate, or a status to reach)."""
        if isinstance(check, int):
            status = check
            what = what or f"status {Status.Name(status)}"  # type: ignore[arg-type]
            check = lambda order: order.status == status  # noqa: E731
        return await eventually(lambda: self.order(order_id), check, what or "expected order", within)

    async def level(self, sku: str) -> Any:
        return (await self.stock.GetStockLevel(stock_api.GetStockLevelRequest(sku=sku))).level

    async def payments_of(self, order_id: str) -> list[payment_pb2.Payment]:
        return list((await self.payments.ListPayments(paying_api.ListPaymentsRequest(order_id=order_id))).payments)

    async def invoice(self, order_id: str) -> invoice_pb2.Invoice:
        found: invoice_pb2.Invoice = (await self.billing.GetOrderInvoice(
            billing_api.GetOrderInvoiceRequest(order_id=order_id))).invoice
        return found

    async def invoice_pdf(self, invoice_id: str) -> bytes:
        parts = [part async for part in self.billing.GetInvoicePdf(billing_api.GetInvoicePdfRequest(
            invoice_id=invoice_id))]
        return b"".join(part.chunk for part in parts if part.WhichOneof("part") == "chunk")

    async def shipment(self, order_id: str) -> shipment_pb2.Shipment:
        found: shipment_pb2.Shipment = (await self.shipping.GetOrderShipment(
            shipping_api.GetOrderShipmentRequest(order_id=order_id))).shipment
        return found

    async def label_pdf(self, shipment_id: str) -> bytes:
        parts = [part async for part in self.shipping.GetShippingLabel(shipping_api.GetShippingLabelRequest(
            shipment_id=shipment_id))]
        return b"".join(part.chunk for part in parts if part.WhichOneof("part") == "chunk")

    async def scan(self, shipment: shipment_pb2.Shipment, status: int) -> None:
        await self.shipping.RecordCarrierScan(shipping_api.RecordCarrierScanRequest(
            shipment_id=shipment.shipment_id, scan_id=f"scan-{uuid.uuid4().hex[:8]}", status=status,  # type: ignore[arg-type]
            location="Paris"))


@dataclass
class Shopper:
    shop: Shop
    customer_id: str
    email: str

    @property
    def me(self) -> tuple[tuple[str, str], ...]:
        return as_customer(self.customer_id)

    async def cart(self, lines: dict[str, int], option: str = "colissimo.standard") -> cart_api.Cart:
        carts = self.shop.carts
        cart = (await carts.CreateCart(cart_api.CreateCartRequest(customer_id=self.customer_id),
                                       metadata=self.me)).cart
        for sku, quantity in lines.items():
            await carts.AddLine(cart_api.AddLineRequest(cart_id=cart.cart_id, sku=sku, quantity=quantity),
                                metadata=self.me)
        answer = await carts.SetShipping(cart_api.SetShippingRequest(cart_id=cart.cart_id, destination=HOME,
                                                                    shipping_option_id=option), metadata=self.me)
        return answer.cart

    async def checkout(self, lines: dict[str, int], option: str = "colissimo.standard") -> order_pb2.Order:
        return await self.place(await self.cart(lines, option))

    async def place(self, cart: cart_api.Cart) -> order_pb2.Order:
        """CreateOrder for a cart whose shipping is set, for the total the shopper saw."""
        order: order_pb2.Order = (await self.shop.orders.CreateOrder(order_api.CreateOrderRequest(
            cart_id=cart.cart_id, shipping_address=HOME, billing_address=HOME, payment_method="card",
            shipping_option_id=cart.shipping.shipping_option_id, idempotency_key=str(uuid.uuid4()),
            customer_email=self.email, expected_total=cart.totals.grand_total), metadata=self.me)).order
        return order

    async def cancel(self, order_id: str) -> order_pb2.Order:
        cancelled: order_pb2.Order = (await self.shop.orders.CancelOrder(order_api.CancelOrderRequest(
            order_id=order_id, reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST, note="changed my mind"),
            metadata=self.me)).order
        return cancelled


def stock_of(level: Any) -> tuple[int, int, int]:
    return level.on_hand, level.reserved, level.available


def settled(order: order_pb2.Order) -> bool:
    """Shipped with stock committed and the invoice final, or cancelled with everything given back."""
    if order.status == Status.ORDER_STATUS_SHIPPED:
        return (order.stock_state, order.invoice_state) == (order_pb2.STOCK_STATE_COMMITTED,
                                                            order_pb2.INVOICE_STATE_FINALIZED)
    return order.status == Status.ORDER_STATUS_CANCELLED and order.stock_state in (
        order_pb2.STOCK_STATE_RELEASED, order_pb2.STOCK_STATE_FAILED) and order.invoice_state == (
        order_pb2.INVOICE_STATE_VOIDED)
