"""The storefront calls every service but paying, for the shopper of the session: anonymously while they
browse and fill a cart, with their token from profiling once they have signed in (docs/security.md). Each
check drives the site's real routes (tests/contracts/sites.py) and asserts what the page shows of the answer."""

from __future__ import annotations

from typing import Any

from administering.v1 import admin_service_pb2 as admin_api
from administering.v1 import events_pb2 as admin_events
from billing.v1 import billing_service_pb2 as billing_api
from carting.v1 import cart_service_pb2 as cart_api
from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1 import events_pb2 as catalog_events
from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from profiling.v1 import events_pb2 as profile_events
from profiling.v1 import profile_service_pb2 as profile_api
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shop.common.v1 import paging_pb2
from stocking.v1 import events_pb2 as stock_events
from stocking.v1 import stock_service_pb2 as stock_api

from sites.storefront.orders import SCAN_LABELS, STATUS, STEPS
from sites.storefront.shop import VIP_SETTING
from tests.contracts import sites
from tests.contracts.sites import ACCESS_TOKEN, CUSTOMER, EMAIL, REFRESH_TOKEN, Site
from tests.contracts.values import ADDRESS, AT, eur
from tools.contracts import CURRENCY, Consumer, one_of

CONSUMER = Consumer("storefront", sites.build)
SKU, PRODUCT_ID, CART_ID, ORDER_ID = "MUG-RED", "product-1", "cart-1", "order-1"
PASSWORD, NEW_PASSWORD = "correct horse battery", "staple battery horse 42"
LATER = Timestamp(seconds=4_102_444_800)  # 2100-01-01: an access token that does not need a refresh
ANONYMOUS, SIGNED_IN = "anonymous", "customer"

# --- what the pages read of each answer ---------------------------------------------------------------------------

CATEGORY = catalog_api.Category(category_id="category-1", name="Kitchen")
LISTED = catalog_api.ListProductsResponse(
    products=[catalog_events.Product(product_id=PRODUCT_ID, name="Red mug", price=eur(1250))],
    page=paging_pb2.PageResponse(total_size=1))
PRODUCT = catalog_events.Product(sku=SKU, name="Red mug", price=eur(1250),
                                 status=catalog_events.PRODUCT_STATUS_PUBLISHED)
LEVEL = stock_events.StockLevel(available=10, low_stock_threshold=5)
VIP_RATE = admin_api.Setting(value=admin_events.SettingValue(basis_points=1000))
SELLER = admin_events.Seller(seller_id="seller-1", name="Mugs & Co")
LINE = cart_api.CartLine(sku=SKU, product_id=PRODUCT_ID, name="Red mug", quantity=2, current_unit_price=eur(1250),
                         availability=cart_api.LINE_AVAILABILITY_AVAILABLE, subtotal=eur(2500))
CART = cart_api.Cart(cart_id=CART_ID, state=cart_api.CART_STATE_OPEN, currency="EUR", lines=[LINE],
                     totals=cart_api.CartTotals(subtotal=eur(2500), grand_total=eur(2500), total_weight_grams=700))
CHANGED_CART = cart_api.Cart(cart_id=CART_ID, lines=[LINE], totals=cart_api.CartTotals(grand_total=eur(2500)))
COUNTED_CART = cart_api.Cart(cart_id=CART_ID, lines=[cart_api.CartLine(quantity=2)])  # what the counter reads
# The cart page words every availability and state: a value carting adds is not one of them until it does.
CART_RULES = {"cart.lines[].availability": one_of(*range(1, 5)), "cart.state": one_of(*range(1, 5)),
              "cart.currency": CURRENCY}
CUSTOMER_SEEN = profile_api.Customer(customer_id=CUSTOMER, email=EMAIL, first_name="Ada", last_name="Lovelace",
                                     status=profile_events.CUSTOMER_STATUS_STANDARD)
STATUSES = one_of(profile_events.CUSTOMER_STATUS_STANDARD, profile_events.CUSTOMER_STATUS_VIP)
ENTRY = profile_api.AddressBookEntry(address_id="address-1", label="Home", address=ADDRESS)
ORDER = order_pb2.Order(
    order_id=ORDER_ID, order_number="ORD-2026-000001", status=order_pb2.ORDER_STATUS_PENDING,
    lines=[order_pb2.OrderLine(sku=SKU, name="Red mug", quantity=2, subtotal=eur(2500))],
    totals=order_pb2.OrderTotals(subtotal=eur(2500), shipping=eur(695), tax=eur(500), total=eur(3695)),
    shipping_address=ADDRESS, shipping_option=order_pb2.OrderShippingOption(carrier_name="Colissimo"))
ORDER_STATUSES = one_of(*STATUS)
OPTION = shipping_api.ShippingOption(shipping_option_id="colissimo.standard", carrier_name="Colissimo",
                                     price=eur(695), estimated_days_min=2, estimated_days_max=3)
SCANS = one_of(*SCAN_LABELS)
PDF = b"%PDF-1.7 a shopper's document"


def order(**fields: Any) -> order_pb2.Order:
    shown = order_pb2.Order()
    shown.CopyFrom(ORDER)
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(shown, name).extend(value)
        else:
            setattr(shown, name, value)
    return shown


def browsing(site: Site) -> None:
    """The other answers of the catalogue's pages."""
    site.answer("cataloging", "GetCategoryTree", catalog_api.GetCategoryTreeResponse(categories=[CATEGORY]))
    site.answer("cataloging", "ListProducts", LISTED)
    site.answer("cataloging", "GetProduct", catalog_api.GetProductResponse(product=PRODUCT))
    site.answer("stocking", "GetStockLevel", stock_api.GetStockLevelResponse(level=LEVEL))
    site.answer("administering", "GetSetting", admin_api.GetSettingResponse(setting=VIP_RATE))
    site.answer("administering", "ListSellers", admin_api.ListSellersResponse(sellers=[SELLER]))


def account(site: Site) -> None:
    """The other answers of the account's pages."""
    site.answer("profiling", "GetCustomer", profile_api.GetCustomerResponse(customer=CUSTOMER_SEEN))
    site.answer("profiling", "ListAddresses", profile_api.ListAddressesResponse(entries=[ENTRY]))
    site.answer("profiling", "Authenticate", profile_api.AuthenticateResponse(
        customer=CUSTOMER_SEEN, access_token=ACCESS_TOKEN, access_token_expires_at=LATER, refresh_token=REFRESH_TOKEN))
    site.answer("administering", "GetSetting", admin_api.GetSettingResponse(setting=VIP_RATE))
    site.answer("carting", "CreateCart", cart_api.CreateCartResponse(cart=cart_api.Cart(cart_id=CART_ID)))


def flash(site: Site) -> list[str]:
    return list(site.session().get("flash", []))


def shown(page: Any, *texts: str) -> None:
    missing = [text for text in texts if text not in page.text]
    assert not missing, f"{page.status_code} {page.request.url.path} does not show {missing}"


def redirected(page: Any, to: str) -> None:
    assert (page.status_code, page.headers.get("location")) == (303, to), (page.status_code, page.text[:300])


# --- cataloging -----------------------------------------------------------------------------------------------


@CONSUMER.call("cataloging.v1.CatalogService/GetCategoryTree", catalog_api.GetCategoryTreeRequest(),
               catalog_api.GetCategoryTreeResponse(categories=[CATEGORY]), given="the catalogue has a category",
               caller=ANONYMOUS)
async def shows_the_categories(site: Site, answer: catalog_api.GetCategoryTreeResponse) -> None:
    browsing(site)
    category = answer.categories[0]
    shown(await site.get("/"), f'<a href="/c/{category.category_id}">{category.name}</a>')


@CONSUMER.call("cataloging.v1.CatalogService/ListProducts", catalog_api.ListProductsRequest(
    query="mug", page=paging_pb2.PageRequest(page_size=12)), LISTED, given="a product is published", caller=ANONYMOUS)
async def lists_what_the_search_finds(site: Site, answer: catalog_api.ListProductsResponse) -> None:
    browsing(site)
    shown(await site.get("/search?q=mug"), "1 product<", f'href="/p/{PRODUCT_ID}"', "Red mug", "€12.50")


@CONSUMER.call("cataloging.v1.CatalogService/GetProduct", catalog_api.GetProductRequest(product_id=PRODUCT_ID),
               catalog_api.GetProductResponse(product=PRODUCT), given="a product is published", caller=ANONYMOUS)
async def shows_the_product(site: Site, answer: catalog_api.GetProductResponse) -> None:
    browsing(site)
    page = await site.get(f"/p/{PRODUCT_ID}")
    shown(page, "<h1>Red mug</h1>", "SKU MUG-RED", '<p class="price">€12.50</p>', 'name="sku" value="MUG-RED"')
    # its stock asked by the SKU cataloging gave
    assert site.stubs["stocking"].calls[-1] == ("GetStockLevel", stock_api.GetStockLevelRequest(sku=answer.product.sku))


# --- stocking and administering -----------------------------------------------------------------------------------


@CONSUMER.call("stocking.v1.StockService/GetStockLevel", stock_api.GetStockLevelRequest(sku=SKU),
               stock_api.GetStockLevelResponse(level=LEVEL), given="a SKU is in stock", caller=ANONYMOUS)
async def says_whether_it_is_in_stock(site: Site, answer: stock_api.GetStockLevelResponse) -> None:
    browsing(site)
    shown(await site.get(f"/p/{PRODUCT_ID}"), "In stock", 'max="10"')


@CONSUMER.call("administering.v1.AdminService/GetSetting", admin_api.GetSettingRequest(name=VIP_SETTING),
               admin_api.GetSettingResponse(setting=VIP_RATE), given="the VIP discount is set", caller=ANONYMOUS)
async def shows_the_vip_price(site: Site, answer: admin_api.GetSettingResponse) -> None:
    browsing(site)
    shown(await site.get(f"/p/{PRODUCT_ID}"), "VIP members pay €11.25.")


@CONSUMER.call("administering.v1.AdminService/ListSellers", admin_api.ListSellersRequest(
    page=paging_pb2.PageRequest(page_size=50)), admin_api.ListSellersResponse(sellers=[SELLER]),
    given="a seller was onboarded", caller=ANONYMOUS)
async def filters_by_seller(site: Site, answer: admin_api.ListSellersResponse) -> None:
    browsing(site)
    shown(await site.get("/search?q=mug"), '<option value="seller-1">Mugs &amp; Co</option>')


# --- carting ------------------------------------------------------------------------------------------------------


@CONSUMER.call("carting.v1.CartService/CreateCart", cart_api.CreateCartRequest(),
               cart_api.CreateCartResponse(cart=cart_api.Cart(cart_id=CART_ID)), given="carting opens carts",
               caller=ANONYMOUS)
async def opens_a_cart_for_the_first_product(site: Site, answer: cart_api.CreateCartResponse) -> None:
    site.answer("carting", "AddLine", cart_api.AddLineResponse(cart=COUNTED_CART))
    redirected(await site.post("/cart/add", {"sku": SKU, "quantity": "2"}), "/cart")
    added = site.stubs["carting"].calls[-1]
    assert added[0] == "AddLine" and added[1].cart_id == answer.cart.cart_id  # type: ignore[attr-defined]


@CONSUMER.call("carting.v1.CartService/AddLine", cart_api.AddLineRequest(cart_id=CART_ID, sku=SKU, quantity=2),
               cart_api.AddLineResponse(cart=COUNTED_CART), given="an anonymous cart is open", caller=ANONYMOUS)
async def counts_what_the_cart_holds(site: Site, answer: cart_api.AddLineResponse) -> None:
    await site.get("/login")
    site.session()["cart_id"] = CART_ID
    site.answer("carting", "GetCart", cart_api.GetCartResponse(cart=CART))
    page = await site.post("/cart/add", {"sku": SKU, "quantity": "2"}, htmx=True)
    shown(page, "Added to your cart (2).", 'aria-label="2 items">2</span>')


@CONSUMER.call("carting.v1.CartService/GetCart", cart_api.GetCartRequest(cart_id=CART_ID),
               cart_api.GetCartResponse(cart=CART), given="a customer's cart holds a line", caller=SIGNED_IN,
               handles=CART_RULES)
async def shows_the_cart(site: Site, answer: cart_api.GetCartResponse) -> None:
    await site.sign_in(cart_id=CART_ID)
    shown(await site.get("/cart"), f'href="/p/{PRODUCT_ID}">Red mug</a>', "<td>€12.50</td>", 'value="2"',
          "<td>€25.00</td>", '<dd class="grand">€25.00</dd>')


@CONSUMER.call("carting.v1.CartService/UpdateLineQuantity", cart_api.UpdateLineQuantityRequest(
    cart_id=CART_ID, sku=SKU, quantity=2), cart_api.UpdateLineQuantityResponse(cart=CHANGED_CART),
    given="a customer's cart holds a line", caller=SIGNED_IN, handles={"cart.lines[].availability": one_of(1, 2, 3, 4)})
async def shows_the_new_quantity(site: Site, answer: cart_api.UpdateLineQuantityResponse) -> None:
    await site.sign_in(cart_id=CART_ID)
    shown(await site.post("/cart/line", {"sku": SKU, "quantity": "2"}, htmx=True), "Quantity updated.",
          'id="qty-MUG-RED" name="quantity" type="number" min="0" max="99" value="2"',
          '<dd class="grand">€25.00</dd>')


@CONSUMER.call("carting.v1.CartService/RemoveLine", cart_api.RemoveLineRequest(cart_id=CART_ID, sku=SKU),
               cart_api.RemoveLineResponse(cart=cart_api.Cart(cart_id=CART_ID)),
               given="a customer's cart holds a line", caller=SIGNED_IN)
async def shows_the_cart_without_the_line(site: Site, answer: cart_api.RemoveLineResponse) -> None:
    await site.sign_in(cart_id=CART_ID)
    shown(await site.post("/cart/remove", {"sku": SKU}, htmx=True), "Removed.", "Your cart is empty.",
          'aria-label="0 items"')


@CONSUMER.call("carting.v1.CartService/AcknowledgePriceChanges",
               cart_api.AcknowledgePriceChangesRequest(cart_id=CART_ID),
               cart_api.AcknowledgePriceChangesResponse(cart=CHANGED_CART), given="a customer's cart holds a line",
               caller=SIGNED_IN, handles={"cart.lines[].availability": one_of(1, 2, 3, 4)})
async def shows_the_accepted_prices(site: Site, answer: cart_api.AcknowledgePriceChangesResponse) -> None:
    await site.sign_in(cart_id=CART_ID)
    shown(await site.post("/cart/acknowledge", htmx=True), "New prices accepted.", "<td>€12.50</td>")


@CONSUMER.call("carting.v1.CartService/SetShipping", cart_api.SetShippingRequest(
    cart_id=CART_ID, destination=ADDRESS, shipping_option_id=OPTION.shipping_option_id),
    cart_api.SetShippingResponse(cart=COUNTED_CART), given="a customer's cart holds a line shipping serves",
    caller=SIGNED_IN)
async def goes_on_to_the_payment(site: Site, answer: cart_api.SetShippingResponse) -> None:
    await site.sign_in(cart_id=CART_ID, checkout={"ship": MessageToDict(ADDRESS), "bill": MessageToDict(ADDRESS)})
    site.answer("carting", "GetCart", cart_api.GetCartResponse(cart=CART))
    redirected(await site.post("/checkout/shipping", {"option": OPTION.shipping_option_id}), "/checkout#payment")
    assert site.session()["cart_count"] == 2


@CONSUMER.call("carting.v1.CartService/MergeCarts", cart_api.MergeCartsRequest(
    anonymous_cart_id="cart-0", customer_id=CUSTOMER), cart_api.MergeCartsResponse(cart=COUNTED_CART),
    given="an anonymous cart holds a line when its shopper signs in", caller=SIGNED_IN)
async def keeps_what_was_added_before_signing_in(site: Site, answer: cart_api.MergeCartsResponse) -> None:
    account(site)
    await site.get("/login")
    site.session()["cart_id"] = "cart-0"
    redirected(await site.post("/login", {"email": EMAIL, "password": PASSWORD}), "/account")
    assert site.session()["cart_id"] == answer.cart.cart_id
    shown(await site.get("/account"), "The items you added before signing in are now in your cart.")


# --- profiling: registering, signing in and out -------------------------------------------------------------------


@CONSUMER.call("profiling.v1.ProfileService/CheckEmailAvailability",
               profile_api.CheckEmailAvailabilityRequest(email="grace@example.com"),
               profile_api.CheckEmailAvailabilityResponse(available=True), given="no account uses the email",
               caller=ANONYMOUS)
async def lets_a_free_email_register(site: Site, answer: profile_api.CheckEmailAvailabilityResponse) -> None:
    page = await site.post("/register/check", {"field": "email", "email": "grace@example.com"}, htmx=True)
    shown(page, 'id="email-error"')
    assert "already uses" not in page.text


@CONSUMER.call("profiling.v1.ProfileService/RegisterCustomer", profile_api.RegisterCustomerRequest(
    email="grace@example.com", password=PASSWORD, first_name="Grace", last_name="Hopper"),
    profile_api.RegisterCustomerResponse(), given="no account uses the email", caller=ANONYMOUS)
async def registers_and_signs_in(site: Site, answer: profile_api.RegisterCustomerResponse) -> None:
    account(site)
    site.answer("profiling", "CheckEmailAvailability", profile_api.CheckEmailAvailabilityResponse(available=True))
    redirected(await site.post("/register", {"email": "grace@example.com", "password": PASSWORD,
                                             "first_name": "Grace", "last_name": "Hopper"}), "/account")
    assert flash(site) == ["Welcome! Your account is ready."]


@CONSUMER.call("profiling.v1.ProfileService/Authenticate", profile_api.AuthenticateRequest(
    email=EMAIL, password=PASSWORD, account_kind=profile_api.ACCOUNT_KIND_CUSTOMER),
    profile_api.AuthenticateResponse(customer=CUSTOMER_SEEN, access_token=ACCESS_TOKEN,
                                     access_token_expires_at=LATER, refresh_token=REFRESH_TOKEN),
    given="a customer is registered", caller=ANONYMOUS, handles={"customer.status": STATUSES})
async def signs_the_customer_in(site: Site, answer: profile_api.AuthenticateResponse) -> None:
    account(site)
    redirected(await site.post("/login", {"email": EMAIL, "password": PASSWORD}), "/account")
    session = site.session()
    assert (session["customer_id"], session["tokens"]["access"]) == (answer.customer.customer_id, answer.access_token)
    assert site.stubs["carting"].credentials("CreateCart")[-1]["authorization"] == f"Bearer {answer.access_token}"
    shown(await site.get("/login"), '<a href="/account">Ada</a>')


@CONSUMER.call("profiling.v1.ProfileService/SignOut", profile_api.SignOutRequest(refresh_token=REFRESH_TOKEN),
               profile_api.SignOutResponse(), given="a customer is signed in", caller=SIGNED_IN)
async def signs_the_customer_out(site: Site, answer: profile_api.SignOutResponse) -> None:
    await site.sign_in()
    redirected(await site.post("/logout"), "/")
    shown(await site.get("/login"), '<a href="/register">Register</a>')


@CONSUMER.call("profiling.v1.ProfileService/RefreshToken", profile_api.RefreshTokenRequest(
    refresh_token=REFRESH_TOKEN), profile_api.RefreshTokenResponse(access_token="access-token-2",
                                                                   access_token_expires_at=LATER),
    given="a customer is signed in", caller=ANONYMOUS)
async def calls_with_the_refreshed_token(site: Site, answer: profile_api.RefreshTokenResponse) -> None:
    account(site)
    await site.sign_in(expires_in=10)  # about to expire: refreshed before the next call
    shown(await site.get("/account"), "Hello, Ada")
    assert site.stubs["profiling"].credentials("GetCustomer")[-1]["authorization"] == f"Bearer {answer.access_token}"


# --- profiling: the account ---------------------------------------------------------------------------------------


@CONSUMER.call("profiling.v1.ProfileService/GetCustomer", profile_api.GetCustomerRequest(customer_id=CUSTOMER),
               profile_api.GetCustomerResponse(customer=CUSTOMER_SEEN), given="a customer is registered",
               caller=SIGNED_IN, handles={"customer.status": STATUSES})
async def shows_the_account(site: Site, answer: profile_api.GetCustomerResponse) -> None:
    account(site)
    await site.sign_in()
    shown(await site.get("/account"), "Hello, Ada", f"Email: {EMAIL}", 'value="Lovelace"',
          "pay 10.0 % less on every item")


@CONSUMER.call("profiling.v1.ProfileService/UpdateCustomer", profile_api.UpdateCustomerRequest(
    customer_id=CUSTOMER, first_name="Ada", last_name="King", phone="+33 6 12 34 56 78"),
    profile_api.UpdateCustomerResponse(), given="a customer is registered", caller=SIGNED_IN)
async def saves_the_details(site: Site, answer: profile_api.UpdateCustomerResponse) -> None:
    await site.sign_in()
    redirected(await site.post("/account/profile", {"first_name": "Ada", "last_name": "King",
                                                    "phone": "+33 6 12 34 56 78"}), "/account")
    assert flash(site) == ["Your details are saved."]


@CONSUMER.call("profiling.v1.ProfileService/ChangePassword", profile_api.ChangePasswordRequest(
    customer_id=CUSTOMER, old_password=PASSWORD, new_password=NEW_PASSWORD), profile_api.ChangePasswordResponse(),
    given="a customer is registered", caller=SIGNED_IN)
async def changes_the_password_and_stays_signed_in(site: Site, answer: profile_api.ChangePasswordResponse) -> None:
    account(site)
    await site.sign_in()
    redirected(await site.post("/account/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}),
               "/account")
    assert flash(site)[0].startswith("Your password is changed.")
    assert site.stubs["profiling"].calls[-1][1].password == NEW_PASSWORD  # type: ignore[attr-defined]


@CONSUMER.call("profiling.v1.ProfileService/ListAddresses", profile_api.ListAddressesRequest(customer_id=CUSTOMER),
               profile_api.ListAddressesResponse(entries=[ENTRY]), given="a customer has an address in their book",
               caller=SIGNED_IN)
async def shows_the_address_book(site: Site, answer: profile_api.ListAddressesResponse) -> None:
    await site.sign_in()
    shown(await site.get("/account/addresses"), "<h2>Home", "Ada Lovelace<br>12 rue des Lilas<br>75011 Paris<br>FR",
          'action="/account/addresses/address-1/remove"')


@CONSUMER.call("profiling.v1.ProfileService/AddAddress", profile_api.AddAddressRequest(
    customer_id=CUSTOMER, label="Home", address=ADDRESS), profile_api.AddAddressResponse(),
    given="a customer is registered", caller=SIGNED_IN)
async def adds_the_address(site: Site, answer: profile_api.AddAddressResponse) -> None:
    await site.sign_in()
    redirected(await site.post("/account/addresses", {
        "label": "Home", "full_name": ADDRESS.full_name, "line1": ADDRESS.line1, "postal_code": ADDRESS.postal_code,
        "city": ADDRESS.city, "country_code": ADDRESS.country_code}), "/account/addresses")
    assert flash(site) == ["Address added."]


async def change_own_address(site: Site, path: str, data: dict[str, str], said: str) -> None:
    """A change to an address of the book (ListAddresses answers which are the customer's)."""
    account(site)
    await site.sign_in()
    redirected(await site.post(f"/account/addresses/address-1{path}", data), "/account/addresses")
    assert flash(site) == [said]


@CONSUMER.call("profiling.v1.ProfileService/UpdateAddress", profile_api.UpdateAddressRequest(
    customer_id=CUSTOMER, address_id="address-1", label="Home", address=ADDRESS), profile_api.UpdateAddressResponse(),
    given="a customer has an address in their book", caller=SIGNED_IN)
async def saves_the_address(site: Site, answer: profile_api.UpdateAddressResponse) -> None:
    await change_own_address(site, "", {"label": "Home", "full_name": ADDRESS.full_name, "line1": ADDRESS.line1,
                                        "postal_code": ADDRESS.postal_code, "city": ADDRESS.city,
                                        "country_code": ADDRESS.country_code}, "Address saved.")


@CONSUMER.call("profiling.v1.ProfileService/RemoveAddress", profile_api.RemoveAddressRequest(
    customer_id=CUSTOMER, address_id="address-1"), profile_api.RemoveAddressResponse(),
    given="a customer has an address in their book", caller=SIGNED_IN)
async def removes_the_address(site: Site, answer: profile_api.RemoveAddressResponse) -> None:
    await change_own_address(site, "/remove", {}, "Address removed.")


@CONSUMER.call("profiling.v1.ProfileService/SetDefaultShippingAddress", profile_api.SetDefaultShippingAddressRequest(
    customer_id=CUSTOMER, address_id="address-1"), profile_api.SetDefaultShippingAddressResponse(),
    given="a customer has an address in their book", caller=SIGNED_IN)
async def ships_to_the_default_address(site: Site, answer: profile_api.SetDefaultShippingAddressResponse) -> None:
    await change_own_address(site, "/default", {"kind": "shipping"}, "Default shipping address changed.")


@CONSUMER.call("profiling.v1.ProfileService/SetDefaultBillingAddress", profile_api.SetDefaultBillingAddressRequest(
    customer_id=CUSTOMER, address_id="address-1"), profile_api.SetDefaultBillingAddressResponse(),
    given="a customer has an address in their book", caller=SIGNED_IN)
async def bills_the_default_address(site: Site, answer: profile_api.SetDefaultBillingAddressResponse) -> None:
    await change_own_address(site, "/default", {"kind": "billing"}, "Default billing address changed.")


# --- shipping -----------------------------------------------------------------------------------------------------


@CONSUMER.call("shipping.v1.ShippingService/GetShippingRates", shipping_api.GetShippingRatesRequest(
    destination=ADDRESS, currency="EUR", parcel=shipment_pb2.Parcel(weight_grams=700)),
    shipping_api.GetShippingRatesResponse(options=[OPTION]), given="shipping serves the destination",
    caller=SIGNED_IN)
async def offers_the_options_for_the_address(site: Site, answer: shipping_api.GetShippingRatesResponse) -> None:
    account(site)
    await site.sign_in(cart_id=CART_ID, checkout={"ship": MessageToDict(ADDRESS), "bill": MessageToDict(ADDRESS)})
    site.answer("carting", "GetCart", cart_api.GetCartResponse(cart=CART))
    shown(await site.get("/checkout"), 'value="colissimo.standard"', "<strong>Colissimo</strong> — €6.95 · 2–3 days")


@CONSUMER.call("shipping.v1.ShippingService/GetShipment", shipping_api.GetShipmentRequest(shipment_id="shipment-1"),
               shipping_api.GetShipmentResponse(shipment=shipment_pb2.Shipment(
                   status=shipment_pb2.SHIPMENT_STATUS_LABEL_CREATED)),
               given="a customer's order's shipment was created", caller=SIGNED_IN,
               handles={"shipment.status": SCANS})
async def lets_the_parcel_be_cancelled_until_collected(site: Site, answer: shipping_api.GetShipmentResponse) -> None:
    await site.sign_in()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(
        status=order_pb2.ORDER_STATUS_SHIPPED, shipment_id="shipment-1")))
    site.answer("ordering", "GetOrderTimeline", order_api.GetOrderTimelineResponse())
    site.answer("shipping", "ListTrackingEvents", shipping_api.ListTrackingEventsResponse())
    shown(await site.get(f"/orders/{ORDER_ID}"), "Status: <span", ">Shipped</span>",
          f'action="/orders/{ORDER_ID}/cancel"')


@CONSUMER.call("shipping.v1.ShippingService/ListTrackingEvents", shipping_api.ListTrackingEventsRequest(
    shipment_id="shipment-1"), shipping_api.ListTrackingEventsResponse(tracking_events=[shipment_pb2.TrackingEvent(
        status=shipment_pb2.SHIPMENT_STATUS_PICKED_UP, occurred_at=AT)]),
    given="a customer's parcel was scanned", caller=SIGNED_IN, handles={"tracking_events[].status": SCANS})
async def shows_the_parcel_scans(site: Site, answer: shipping_api.ListTrackingEventsResponse) -> None:
    await site.sign_in()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(
        status=order_pb2.ORDER_STATUS_SHIPPED, shipment_id="shipment-1")))
    site.answer("ordering", "GetOrderTimeline", order_api.GetOrderTimelineResponse())
    site.answer("shipping", "GetShipment", shipping_api.GetShipmentResponse(shipment=shipment_pb2.Shipment(
        status=shipment_pb2.SHIPMENT_STATUS_PICKED_UP)))
    shown(await site.get(f"/orders/{ORDER_ID}"), "<strong>Picked up</strong> <time>1 Jan 2026, 00:00</time>")


# --- ordering -----------------------------------------------------------------------------------------------------


@CONSUMER.call("ordering.v1.OrderService/CreateOrder", order_api.CreateOrderRequest(
    cart_id=CART_ID, shipping_address=ADDRESS, billing_address=ADDRESS, payment_method="card",
    shipping_option_id=OPTION.shipping_option_id, idempotency_key="checkout-0001", customer_email=EMAIL,
    expected_total=eur(3695)), order_api.CreateOrderResponse(order=order_pb2.Order(order_id=ORDER_ID)),
    given="a customer's cart is ready for checkout", caller=SIGNED_IN)
async def places_the_order(site: Site, answer: order_api.CreateOrderResponse) -> None:
    ready = cart_api.Cart()
    ready.CopyFrom(CART)
    ready.shipping.shipping_option_id = OPTION.shipping_option_id
    ready.totals.grand_total.CopyFrom(eur(3695))
    site.answer("carting", "GetCart", cart_api.GetCartResponse(cart=ready))
    await site.sign_in(cart_id=CART_ID, checkout={"ship": MessageToDict(ADDRESS), "bill": MessageToDict(ADDRESS),
                                                  "card": "Visa ending 4242", "key": "checkout-0001"})
    redirected(await site.post("/checkout/place", {"key": "checkout-0001", "expected_total": "3695"}),
               f"/orders/{answer.order.order_id}")
    assert "cart_id" not in site.session().data


@CONSUMER.call("ordering.v1.OrderService/GetOrder", order_api.GetOrderRequest(order_id=ORDER_ID),
               order_api.GetOrderResponse(order=ORDER), given="a customer's order was placed", caller=SIGNED_IN,
               handles={"order.status": ORDER_STATUSES})
async def shows_the_order(site: Site, answer: order_api.GetOrderResponse) -> None:
    await site.sign_in()
    site.answer("ordering", "GetOrderTimeline", order_api.GetOrderTimelineResponse())
    shown(await site.get(f"/orders/{ORDER_ID}"), "<h1>Order ORD-2026-000001</h1>", ">Processing</span>",
          "2 × Red mug", "€25.00", '<dd class="grand">€36.95</dd>', "Ada Lovelace<br>12 rue des Lilas",
          "<p>Colissimo", f'action="/orders/{ORDER_ID}/cancel"')


@CONSUMER.call("ordering.v1.OrderService/GetOrderTimeline", order_api.GetOrderTimelineRequest(order_id=ORDER_ID),
               order_api.GetOrderTimelineResponse(entries=[order_api.TimelineEntry(
                   step=order_api.TIMELINE_STEP_ORDER_CREATED, occurred_at=AT)]),
               given="a customer's order was placed", caller=SIGNED_IN,
               handles={"entries[].step": one_of(*STEPS)})
async def shows_what_happened_to_the_order(site: Site, answer: order_api.GetOrderTimelineResponse) -> None:
    await site.sign_in()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=ORDER))
    shown(await site.get(f"/orders/{ORDER_ID}"), 'id="e-step-0"><span class="what">Order received</span>',
          "<time>1 Jan 2026, 00:00</time>")


@CONSUMER.call("ordering.v1.OrderService/ListCustomerOrders", order_api.ListCustomerOrdersRequest(
    customer_id=CUSTOMER, page=paging_pb2.PageRequest(page_size=50)), order_api.ListCustomerOrdersResponse(
    orders=[order_pb2.Order(order_id=ORDER_ID, order_number="ORD-2026-000001", status=order_pb2.ORDER_STATUS_PENDING,
                            totals=order_pb2.OrderTotals(total=eur(3695)), created_at=AT)]),
    given="a customer's order was placed", caller=SIGNED_IN, handles={"orders[].status": ORDER_STATUSES})
async def lists_the_orders(site: Site, answer: order_api.ListCustomerOrdersResponse) -> None:
    await site.sign_in()
    shown(await site.get("/orders"), f'<a href="/orders/{ORDER_ID}">ORD-2026-000001</a>', "1 Jan 2026, 00:00",
          ">Processing</span>", "<td>€36.95</td>")


@CONSUMER.call("ordering.v1.OrderService/CancelOrder", order_api.CancelOrderRequest(
    order_id=ORDER_ID, reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST, note="cancelled by the shopper"),
    order_api.CancelOrderResponse(), given="a customer's order was placed", caller=SIGNED_IN)
async def cancels_the_order(site: Site, answer: order_api.CancelOrderResponse) -> None:
    await site.sign_in()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=ORDER))
    redirected(await site.post(f"/orders/{ORDER_ID}/cancel"), f"/orders/{ORDER_ID}?done=cancelled")


@CONSUMER.call("ordering.v1.OrderService/RequestRefund", order_api.RequestRefundRequest(
    order_id=ORDER_ID, idempotency_key="refund-0001", lines=[order_api.RefundLineSelection(sku=SKU, quantity=2)],
    reason="broken"), order_api.RequestRefundResponse(), given="a customer's order was delivered", caller=SIGNED_IN)
async def asks_for_the_refund(site: Site, answer: order_api.RequestRefundResponse) -> None:
    await site.sign_in()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(
        status=order_pb2.ORDER_STATUS_DELIVERED)))
    redirected(await site.post(f"/orders/{ORDER_ID}/refund", {"key": "refund-0001", "reason": "broken"}),
               f"/orders/{ORDER_ID}?done=refund")


# --- billing: the documents, streamed -------------------------------------------------------------------------


@CONSUMER.call("billing.v1.BillingService/GetInvoicePdf", billing_api.GetInvoicePdfRequest(invoice_id="invoice-1"),
               [billing_api.GetInvoicePdfResponse(header=billing_api.PdfHeader(filename="INV-2026-000001.pdf")),
                billing_api.GetInvoicePdfResponse(chunk=PDF)],
               given="a customer's order's invoice was finalized", caller=SIGNED_IN)
async def downloads_the_invoice(site: Site, answer: list[billing_api.GetInvoicePdfResponse]) -> None:
    await site.sign_in()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(invoice_id="invoice-1")))
    page = await site.get(f"/orders/{ORDER_ID}/invoice.pdf")
    assert page.content == b"".join(part.chunk for part in answer), page.text[:300]
    assert page.headers["content-disposition"] == f'attachment; filename="{answer[0].header.filename}"'


@CONSUMER.call("billing.v1.BillingService/GetCreditNotePdf", billing_api.GetCreditNotePdfRequest(
    credit_note_id="credit-note-1"),
    [billing_api.GetCreditNotePdfResponse(header=billing_api.PdfHeader(filename="CN-2026-000001.pdf")),
     billing_api.GetCreditNotePdfResponse(chunk=PDF)],
    given="a customer's refund's credit note was issued", caller=SIGNED_IN)
async def downloads_the_credit_note(site: Site, answer: list[billing_api.GetCreditNotePdfResponse]) -> None:
    await site.sign_in()
    site.answer("ordering", "GetOrder", order_api.GetOrderResponse(order=order(
        refunds=[order_pb2.OrderRefund(credit_note_id="credit-note-1")])))
    page = await site.get(f"/orders/{ORDER_ID}/credit-notes/credit-note-1.pdf")
    assert page.content == b"".join(part.chunk for part in answer), page.text[:300]
    assert page.headers["content-disposition"] == f'attachment; filename="{answer[0].header.filename}"'
