"""The whole shopper journey in Debian's Chromium against the real services: browse, search, cart,
register (the anonymous cart merged), checkout, the order page turning CONFIRMED live, the invoice
PDF, then cancel (with JavaScript) or refund after delivery (without). Each page is screenshotted
(kept under .run/screenshots) and checked with axe: no serious or critical violation."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub

from tests.sites.browser import DESKTOP, PHONE, SCREENSHOTS, launch_options
from tests.sites.harness import Storefront
from tools.platform import eventually

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
        await expect(page.locator("#order-parcel")).to_contain_text("Delivered · Lyon")  # the scans, live too
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


# --- over HTTP: CSRF, the throttle, no shopper reaching another's things, cookies, schemathesis ----------

class Shopper:
    """A browser without JavaScript, as httpx: it keeps its cookies and sends the form's CSRF token."""

    def __init__(self, site: Storefront) -> None:
        self.client = httpx.AsyncClient(base_url=site.url, follow_redirects=False, timeout=30)

    async def token(self, path: str = "/login") -> str:
        page = (await self.client.get(path)).text
        found = re.search(r'name="csrftoken" value="([^"]+)"', page)
        assert found, page[:500]
        return found.group(1)

    async def post(self, path: str, **form: str) -> httpx.Response:
        return await self.client.post(path, data={"csrftoken": await self.token(), **form})

    async def register(self) -> str:
        email = f"http-{uuid.uuid4().hex[:8]}@example.com"
        answer = await self.post("/register", email=email, password="shopping-2026!", first_name="Ann",
                                 last_name="Example")
        assert answer.status_code == 303, answer.text[:500]
        return email

    async def order(self, site: Storefront) -> str:
        """A real order through the site's own forms."""
        listing = (await self.client.get("/search", params={"q": "cocoa", "in_stock": "true"})).text
        product = re.findall(r'href="(/p/[^"]+)"', listing)[0]
        sku = re.search(r'name="sku" value="([^"]+)"', (await self.client.get(product)).text)
        assert sku
        assert (await self.post("/cart/add", sku=sku.group(1), quantity="1")).status_code == 303
        assert (await self.post("/checkout/address", address_id="new", full_name="Ann Example", line1="1 rue Haute",
                                postal_code="75001", city="Paris", country_code="FR")).status_code == 303
        option = re.search(r'name="option" value="([^"]+)"', (await self.client.get("/checkout")).text)
        assert option
        assert (await self.post("/checkout/shipping", option=option.group(1))).status_code == 303
        assert (await self.post("/checkout/payment", card_name="Ann Example", card_number="5555555555554444",
                                card_expiry="01/40", card_cvc="321")).status_code == 303
        review = (await self.client.get("/checkout")).text
        key = re.search(r'name="key" value="([^"]+)"', review)
        total = re.search(r'name="expected_total" value="(\d+)"', review)
        assert key and total, review[:1000]
        placed = await self.post("/checkout/place", key=key.group(1), expected_total=total.group(1))
        assert placed.status_code == 303 and placed.headers["location"].startswith("/orders/")
        again = await self.post("/checkout/place", key=key.group(1), expected_total=total.group(1))
        assert again.headers["location"] == placed.headers["location"]  # a second submit: the same order
        return placed.headers["location"].rsplit("/", 1)[-1]


async def test_a_state_changing_request_without_the_csrf_token_is_refused(storefront: Storefront) -> None:
    shopper = Shopper(storefront)
    token = await shopper.token()
    without = await shopper.client.post("/cart/add", data={"sku": "CHO-0001", "quantity": "1"})
    forged = await shopper.client.post("/cart/add", data={"sku": "CHO-0001", "quantity": "1", "csrftoken": "x"})
    stranger = await httpx.AsyncClient(base_url=storefront.url).post(  # no cookies at all, as from another site
        "/login", data={"email": "ada@example.com", "password": "ada-lovelace-2026"})
    assert [without.status_code, forged.status_code, stranger.status_code] == [403, 403, 403]
    assert "did not come from this shop" in without.text
    by_header = await shopper.client.post("/logout", headers={"x-csrftoken": token})
    assert by_header.status_code == 303


async def test_sign_in_is_throttled_per_account(storefront: Storefront) -> None:
    shopper = Shopper(storefront)
    email = f"nobody-{uuid.uuid4().hex[:6]}@example.com"
    codes = [(await shopper.post("/login", email=email, password="wrong-password-1")).status_code for _ in range(6)]
    assert codes == [422] * 5 + [429]
    other = await shopper.post("/login", email="bob@example.com", password="bob-builder-2026")
    assert other.status_code == 303  # another account from the same address is not held back by this one


async def test_no_shopper_reaches_another_shoppers_order_invoice_or_address(storefront: Storefront) -> None:
    ann, eve = Shopper(storefront), Shopper(storefront)
    await ann.register()
    order_id = await ann.order(storefront)
    assert (await ann.post("/account/addresses", label="Home", full_name="Ann Example", line1="1 rue Haute",
                           postal_code="75001", city="Paris", country_code="FR")).status_code == 303
    address_id = re.findall(r'/account/addresses/([\w-]+)/remove', (await ann.client.get("/account/addresses")).text)[0]
    assert (await ann.client.get(f"/orders/{order_id}")).status_code == 200
    await eve.register()
    for path in (f"/orders/{order_id}", f"/orders/{order_id}/invoice.pdf", f"/orders/{order_id}/progress",
                 f"/orders/{order_id}/live"):
        assert (await eve.client.get(path)).status_code in (401, 404), path
    assert (await eve.post(f"/orders/{order_id}/cancel")).status_code == 404
    assert (await eve.post(f"/account/addresses/{address_id}/remove")).status_code == 404
    assert address_id in (await ann.client.get("/account/addresses")).text
    assert order_id not in (await eve.client.get("/orders")).text
    anonymous = Shopper(storefront)
    assert (await anonymous.client.get(f"/orders/{order_id}")).status_code == 303  # to sign-in


async def sse_events(client: httpx.AsyncClient, path: str, count: int, **headers: str) -> list[dict[str, str]]:
    """The first `count` Server-Sent Events of a stream, each as its fields (event, id, data)."""
    events: list[dict[str, str]] = []
    async with client.stream("GET", path, headers=headers) as stream:
        assert stream.status_code == 200
        event: dict[str, str] = {}
        async for line in stream.aiter_lines():
            if line.startswith(":"):
                continue  # a keep-alive
            if not line:
                if event:
                    events.append(event)
                    if len(events) == count:
                        return events
                event = {}
                continue
            field, _, value = line.partition(":")
            event[field] = event.get(field, "") + value.removeprefix(" ")
    return events


async def test_the_live_order_resumes_after_the_last_event_id_and_polling_stops_when_final(
        storefront: Storefront) -> None:
    ann = Shopper(storefront)
    await ann.register()
    order_id = await ann.order(storefront)
    await reload_until_text(ann, f"/orders/{order_id}/progress", "Shipped")
    # A first connection: the status with the whole timeline (out of band into the list), its id the last step's.
    [snapshot] = await sse_events(ann.client, f"/orders/{order_id}/live", 1)
    ids = re.findall(r'<li class="step[^"]*" id="e-([^"]+)"', snapshot["data"])
    assert snapshot["event"] == "status" and 'id="timeline" hx-swap-oob="innerHTML"' in snapshot["data"]
    assert len(ids) >= 4 and snapshot["id"] == ids[-1]
    # A page that reconnects after the second step gets the status (no list) and only the steps after it.
    resumed = await sse_events(ann.client, f"/orders/{order_id}/live", 1 + len(ids) - 2, **{"Last-Event-ID": ids[1]})
    assert resumed[0]["event"] == "status" and "hx-swap-oob=\"innerHTML\"" not in resumed[0]["data"]
    assert [(e["event"], e["id"]) for e in resumed[1:]] == [("step", i) for i in ids[2:]]
    # The polling fallback answers 200 while the order can change, 286 (htmx stops polling) once it is final.
    assert (await ann.client.get(f"/orders/{order_id}/progress", headers={"HX-Request": "true"})).status_code == 200
    assert (await ann.post(f"/orders/{order_id}/cancel")).status_code == 303
    final = await reload_until_text(ann, f"/orders/{order_id}/progress", "Cancelled")
    assert final.status_code == 286


async def reload_until_text(shopper: Shopper, path: str, text: str, within: float = 60) -> httpx.Response:
    async def read() -> httpx.Response:
        return await shopper.client.get(path, headers={"HX-Request": "true"})
    return await eventually(read, lambda answer: text in answer.text, f"{path} showing {text!r}", within)


async def test_a_restart_signs_everyone_out_and_the_per_address_throttle_holds(storefront: Storefront) -> None:
    """Restarts the module's site twice: with a low per-address limit, then as it was."""
    ann = Shopper(storefront)
    await ann.register()
    assert (await ann.client.get("/account")).status_code == 200
    await storefront.restart(SITE_SIGNIN_PER_ADDRESS="3/minute")
    try:
        # Sessions live in the process: after a restart the browser's cookie names nothing, so sign in again.
        assert (await ann.client.get("/account")).headers.get("location", "").startswith("/login")
        # Many accounts tried from one address: held back after the limit, whichever the account.
        codes = [(await ann.post("/login", email=f"x{n}-{uuid.uuid4().hex[:6]}@example.com",
                                 password="wrong-password-1")).status_code for n in range(4)]
        assert codes == [422, 422, 422, 429]
    finally:
        await storefront.restart(SITE_SIGNIN_PER_ADDRESS="1000/minute")


async def test_cookies_are_http_only_and_same_site(storefront: Storefront) -> None:
    answer = await httpx.AsyncClient(base_url=storefront.url).get("/login")
    cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
    assert "httponly" in cookies["session"] and "samesite=lax" in cookies["session"]
    assert "samesite=lax" in cookies["csrftoken"]  # read by no script: the form carries it
    assert "Vary" in answer.headers and "HX-Request" in answer.headers["Vary"]


async def test_schemathesis_finds_no_server_error(storefront: Storefront, tmp_path: Path) -> None:
    shopper = Shopper(storefront)
    await shopper.register()
    token = await shopper.token("/account")
    cookie = "; ".join(f"{name}={value}" for name, value in shopper.client.cookies.items())
    run = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "schemathesis.cli", "run", f"{storefront.url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "8", "--workers", "1", "--request-timeout", "20",
        "-H", f"Cookie: {cookie}", "-H", f"x-csrftoken: {token}",
        # the live stream stays open by design; signing out would end the session the rest runs with
        "--exclude-path", "/orders/{order_id}/live", "--exclude-path", "/logout",
    ], capture_output=True, text=True, timeout=400, cwd=tmp_path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "schemathesis.txt").write_text(run.stdout)  # kept with the screenshots: what it tried
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    tested = re.search(r"Tested: (\d+)", run.stdout)
    cases = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert tested and int(tested.group(1)) >= 30, run.stdout[-2000:]  # every route but the two left out
    assert cases and int(cases.group(1)) > 100 and cases.group(1) == cases.group(2), run.stdout[-2000:]


async def test_a_service_down_gives_a_page_that_says_so_and_the_rest_still_works(storefront: Storefront) -> None:
    """Runs last: it stops services of the module's shared platform."""
    shopper = Shopper(storefront)
    product = re.findall(r'href="(/p/[^"]+)"', (await shopper.client.get("/search?q=cocoa")).text)[0]
    storefront.platform.kill("stocking")
    without_stock = await shopper.client.get(product)
    assert without_stock.status_code == 200 and "Stock status is unavailable right now." in without_stock.text
    assert "Add to cart" in without_stock.text
    storefront.platform.kill("cataloging")
    down = await shopper.client.get("/")
    assert down.status_code == 503 and "handles the catalogue is not answering" in down.text
    assert "Traceback" not in down.text and "Lumière" in down.text  # the shop's own page, no trace
    assert (await shopper.client.get("/login")).status_code == 200  # what needs no catalogue still works
