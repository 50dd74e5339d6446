"""The whole shopper journey in Debian's Chromium against the real services: browse, search, cart,
register (the anonymous cart merged), checkout, the order page turning CONFIRMED live, the invoice
PDF, then cancel (with JavaScript) or refund after delivery (without). Each page is screenshotted
(kept under .run/screenshots) and checked with axe: no serious or critical violation."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub

from tests.sites.browser import DESKTOP, PHONE, SCREENSHOTS, launch_options
from tests.sites.harness import Storefront

pytestmark = pytest.mark.timeout(600)
SERIOUS = {"serious", "critical"}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(**launch_options())
        yield launched
        await launched.close()


class Visit:
    """A shopper's tab: each page it lands on is screenshotted and checked with axe."""

    def __init__(self, page: Page, site: Storefront, label: str, *, axe: bool) -> None:
        self.page, self.site, self.label, self.shots = page, site, label, 0
        # axe runs inside the page, so only where JavaScript runs; the journey with it visits every page.
        self.axe = Axe() if axe else None

    async def check(self, name: str) -> None:
        self.shots += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=SCREENSHOTS / f"{self.label}-{self.shots:02d}-{name}.png", full_page=True)
        if self.axe is None:
            return
        results = await self.axe.run(self.page)
        bad = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
        assert not bad, f"{name}: {results.generate_report()}"

    async def goto(self, path: str, name: str) -> None:
        response = await self.page.goto(self.site.url + path)
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        await self.check(name)


async def deliver(site: Storefront, order_id: str) -> None:
    """The carrier's scans, as the back-office records them, up to delivery."""
    shipping = ShippingServiceStub(site.platform.channel("shipping"))
    shipment = (await shipping.GetOrderShipment(shipping_api.GetOrderShipmentRequest(order_id=order_id))).shipment
    for status in (shipment_pb2.SHIPMENT_STATUS_PICKED_UP, shipment_pb2.SHIPMENT_STATUS_IN_TRANSIT,
                   shipment_pb2.SHIPMENT_STATUS_DELIVERED):
        await shipping.RecordCarrierScan(shipping_api.RecordCarrierScanRequest(
            shipment_id=shipment.shipment_id, scan_id=f"scan-{uuid.uuid4().hex[:8]}", status=status,
            location="Lyon", description="Carrier scan"))


async def shipment_ready(site: Storefront, order_id: str) -> Any:
    shipping = ShippingServiceStub(site.platform.channel("shipping"))
    for _ in range(100):
        try:
            return (await shipping.GetOrderShipment(shipping_api.GetOrderShipmentRequest(order_id=order_id))).shipment
        except Exception:
            await asyncio.sleep(0.3)
    raise AssertionError("no shipment for the order")


async def reload_until(page: Page, read: Any, expected: Any, within: int = 60) -> None:
    """Reload (as a shopper without JavaScript would, or the page's own refresh) until `read()` shows it."""
    for _ in range(within):
        value = await read()
        if (expected in value) if isinstance(expected, str) else value >= expected:
            return
        await page.wait_for_timeout(1000)
        await page.reload()
    raise AssertionError(f"still not {expected!r} after {within} reloads: {await read()!r}")


async def journey(site: Storefront, browser: Browser, *, js: bool) -> None:
    label = "js-desktop" if js else "nojs-phone"
    context = await browser.new_context(viewport=DESKTOP if js else PHONE, java_script_enabled=js,
                                        accept_downloads=True)
    page = await context.new_page()
    shop = Visit(page, site, label, axe=js)

    # Browse: home, a category (its descendants' products included), search with filters.
    await shop.goto("/", "home")
    categories = page.get_by_role("navigation", name="Categories", exact=True)
    await categories.get_by_role("link", name="Home & Kitchen").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Home & Kitchen")
    await expect(page.locator(".grid .card").first).to_be_visible()
    await shop.check("category")
    await page.get_by_role("search").get_by_label("Search products").fill("knife")
    await page.get_by_role("search").get_by_role("button", name="Search").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("knife")
    await page.get_by_label("In stock only").check()
    await page.get_by_label("Sort by").select_option("price-asc")
    if not js:
        await page.get_by_role("button", name="Apply filters").click()
    await expect(page).to_have_url(re.compile(r"in_stock=true.*sort=price-asc|sort=price-asc.*in_stock=true"))
    await shop.check("search")
    prices = [float(re.sub(r"[^\d.]", "", t)) for t in await page.locator(".grid .price").all_inner_texts()]
    assert prices and prices == sorted(prices)

    # The product page, then the cart (anonymous).
    await page.locator(".grid .card a").first.click()
    await expect(page.locator(".stock")).to_have_text(re.compile("In stock|Only \\d+ left"))
    await shop.check("product")
    await page.get_by_label("Quantity").fill("2")
    await page.get_by_role("button", name="Add to cart").click()
    if js:  # a toast and the header's counter, swapped out of band; the page stays
        await expect(page.locator("#toast")).to_contain_text("Added to your cart")
        await expect(page.locator("#cart-count .count")).to_have_text("2")
        await page.locator("#cart-count").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    await expect(page.locator("#cart-count .count")).to_have_text("2")
    quantity = page.locator("table.lines input[name=quantity]").first
    await quantity.fill("3")
    if js:
        await quantity.dispatch_event("change")
    else:
        await page.locator("table.lines").get_by_role("button", name="Update").first.click()
    await expect(page.locator("#cart-count .count")).to_have_text("3")
    await shop.check("cart")

    # Register: inline validation with JavaScript, the same errors on submit without; the cart comes along.
    await page.get_by_role("link", name="Register").click()
    email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("short")
    if js:
        await page.get_by_label("Password").blur()
        await expect(page.locator("#password-error")).to_have_text("Use at least 10 characters.")
    else:
        await page.get_by_label("First name").fill("Grace")
        await page.get_by_label("Last name").fill("Hopper")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.locator("#password-error")).to_have_text("Use at least 10 characters.")
    await shop.check("register-invalid")
    await page.get_by_label("Password").fill("compilers-1952")
    await page.get_by_label("First name").fill("Grace")
    await page.get_by_label("Last name").fill("Hopper")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Hello, Grace")
    await expect(page.get_by_text("The items you added before signing in are now in your cart.")).to_be_visible()
    await expect(page.locator("#cart-count .count")).to_have_text("3")
    await shop.check("account")

    # Checkout: a new address, the rates for it, a card (a wrong one first), review, place.
    await page.locator("#cart-count").click()
    await page.get_by_role("link", name="Go to checkout").click()
    await page.get_by_label("Full name").fill("Grace Hopper")
    await page.get_by_label("Address", exact=True).fill("3 place Bellecour")
    await page.get_by_label("Postal code").fill("69002")
    await page.get_by_label("City").fill("Lyon")
    await shop.check("checkout-address")
    await page.get_by_role("button", name="Deliver here").click()
    await expect(page.locator(".steps [aria-current=step]")).to_have_text("Shipping")
    await expect(page.locator("#shipping input[name=option]").first).to_be_visible()
    await shop.check("checkout-shipping")
    await page.get_by_role("button", name="Use this option").click()
    await expect(page.locator(".steps [aria-current=step]")).to_have_text("Payment")
    await page.get_by_label("Name on card").fill("Grace Hopper")
    await page.get_by_label("Card number").fill("4242 4242 4242 4241")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("Security code").fill("123")
    await page.get_by_role("button", name="Use this card").click()
    await expect(page.locator("#card_number-error")).to_contain_text("not valid")
    await shop.check("checkout-card-invalid")
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry (MM/YY)").fill("12/39")
    await page.get_by_label("Security code").fill("123")
    await page.get_by_role("button", name="Use this card").click()
    await expect(page.get_by_text("Visa ending 4242")).to_be_visible()
    await shop.check("checkout-review")
    await page.get_by_role("button", name=re.compile("Place order")).click()

    # The order page follows the saga: with JavaScript live over SSE, without by reloading.
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Order ")
    order_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    status = page.locator("#status-box")
    timeline = page.locator("#timeline")
    if js:
        await expect(timeline).to_contain_text("Order confirmed", timeout=60_000)
        await expect(timeline).to_contain_text("Payment captured")
    else:
        await reload_until(page, lambda: timeline.inner_text(), "Order confirmed")
    await expect(status).to_contain_text(re.compile("Confirmed|Shipped"))
    await shop.check("order-confirmed")
    await reload_until(page, lambda: page.get_by_role("link", name="Invoice (PDF)").count(), 1)
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Invoice (PDF)").click()
    assert (await (await download_info.value).path()).read_bytes()[:5] == b"%PDF-"

    if js:  # the carrier's scans arrive while the page is open: shown live, the page never reloaded
        await shipment_ready(site, order_id)
        await page.reload()
        await page.evaluate("window.stillTheSamePage = true")
        await deliver(site, order_id)
        await expect(status).to_contain_text("Delivered", timeout=60_000)
        await expect(timeline).to_contain_text("Delivered")
        assert await page.evaluate("window.stillTheSamePage === true")
        await shop.check("order-delivered-live")
        await page.get_by_role("button", name="Request a refund").click()
        await expect(status).to_contain_text(re.compile("[Rr]efunded"), timeout=60_000)
        await expect(timeline).to_contain_text("Refund completed", timeout=60_000)
        await reload_until(page, lambda: page.get_by_role("link", name=re.compile("Credit note")).count(), 1)
        await shop.check("order-refunded")
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name=re.compile("Credit note")).first.click()
        assert (await (await download_info.value).path()).read_bytes()[:5] == b"%PDF-"
    else:  # cancelled before the carrier takes the parcel
        await page.get_by_role("button", name="Cancel this order").click()
        await reload_until(page, lambda: status.inner_text(), "Cancelled")
        await reload_until(page, lambda: timeline.inner_text(), "Reserved items released")
        await shop.check("order-cancelled")

    await shop.goto("/orders", "orders")
    await expect(page.get_by_role("link", name=re.compile(r"\w"))).not_to_have_count(0)
    await shop.goto("/account/addresses", "addresses")
    await context.close()


async def test_the_whole_journey_with_javascript(storefront: Storefront, browser: Browser) -> None:
    await journey(storefront, browser, js=True)


async def test_the_whole_journey_without_javascript(storefront: Storefront, browser: Browser) -> None:
    await journey(storefront, browser, js=False)
