"""The back-office in Debian's Chromium against the real services and the demo shop: staff sign-in (the
demo admin, a STAFF member, a customer refused), every page with and without JavaScript at phone and
desktop widths (axe: no serious or critical violation, screenshots kept under .run/screenshots), the
order page following a checkout live, a stock adjustment in the ledger with the staff member as actor,
ADMIN-only pages refused to STAFF, CSRF, and a session that ends during an htmx request."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright, expect
from profiling.v1 import profile_service_pb2 as profile_api
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub

from services.runtime import auth
from tests.sites.browser import DESKTOP, PHONE, SCREENSHOTS, launch_options
from tests.sites.harness import BackOffice
from tools.demo_data import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = pytest.mark.timeout(600)
SERIOUS = {"serious", "critical"}
STAFF_PASSWORD = "counter-staff-2026"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(**launch_options())
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
async def staff_member(backoffice: BackOffice) -> str:
    """A member of staff with the STAFF role (the demo shop has only its admin), made as the admin would."""
    email = f"clerk-{uuid.uuid4().hex[:6]}@shop.example"
    profiling = ProfileServiceStub(backoffice.platform.bare_channel("profiling"))
    admin = await profiling.Authenticate(profile_api.AuthenticateRequest(
        email=ADMIN_EMAIL, password=ADMIN_PASSWORD, account_kind=profile_api.ACCOUNT_KIND_STAFF), timeout=30)
    await profiling.CreateStaffMember(profile_api.CreateStaffMemberRequest(
        email=email, password=STAFF_PASSWORD, display_name="Casey Clerk", role=profile_api.ROLE_STAFF,
        created_by=admin.staff_member.staff_id), metadata=auth.bearer(admin.access_token), timeout=30)
    return email


class Tab:
    """A staff member's tab: each page it checks is screenshotted and, with JavaScript, checked with axe."""

    def __init__(self, page: Page, site: BackOffice, label: str, *, js: bool) -> None:
        self.page, self.site, self.label, self.js, self.shots = page, site, label, js, 0
        self.axe = Axe() if js else None  # axe runs inside the page, so only where JavaScript runs

    async def check(self, name: str) -> None:
        self.shots += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=SCREENSHOTS / f"backoffice-{self.label}-{self.shots:02d}-{name}.png",
                                   full_page=True)
        if self.axe is None:
            return
        results = await self.axe.run(self.page)
        bad = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
        assert not bad, f"{name}: {results.generate_report()}"

    async def goto(self, path: str, name: str, *, status: int = 200) -> None:
        response = await self.page.goto(self.site.url + path)
        assert response is not None and response.status == status, f"{path}: {response and response.status}"
        await self.check(name)

    async def sign_in(self, email: str, password: str, *, then: str = "Dashboard") -> None:
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()
        await expect(self.page.get_by_role("heading", level=1)).to_have_text(then)


async def open_tab(browser: Browser, site: BackOffice, *, js: bool, viewport: ViewportSize,
                   label: str) -> tuple[BrowserContext, Tab]:
    context = await browser.new_context(viewport=viewport, java_script_enabled=js, accept_downloads=True)
    return context, Tab(await context.new_page(), site, label, js=js)


async def signed_in_tab(browser: Browser, site: BackOffice, *, js: bool = True, viewport: ViewportSize = DESKTOP,
                        label: str = "", email: str = ADMIN_EMAIL,
                        password: str = ADMIN_PASSWORD) -> tuple[BrowserContext, Tab]:
    context, tab = await open_tab(browser, site, js=js, viewport=viewport, label=label or ("js" if js else "nojs"))
    await tab.page.goto(site.url + "/login")
    await tab.sign_in(email, password)
    return context, tab


# --- signing in -----------------------------------------------------------------------------------------

async def test_the_demo_admin_signs_in_sees_every_section_and_signs_out(backoffice: BackOffice,
                                                                        browser: Browser) -> None:
    context, tab = await open_tab(browser, backoffice, js=True, viewport=DESKTOP, label="admin")
    page = tab.page
    await tab.goto("/", "redirected-to-sign-in")  # anonymous: to sign-in, and back after it
    await expect(page.get_by_role("heading", level=1)).to_have_text("Staff sign-in")
    await tab.sign_in(ADMIN_EMAIL, "not-the-password-1", then="Staff sign-in")
    await expect(page.get_by_role("alert")).to_contain_text("incorrect")
    await tab.check("sign-in-refused")
    await tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert page.url.rstrip("/") == backoffice.url
    await expect(page.locator(".who .role")).to_have_text("ADMIN")
    nav = page.get_by_role("navigation", name="Back-office")
    for section in ("Orders", "Stock", "Settings", "Staff accounts"):
        await expect(nav.get_by_role("link", name=section, exact=True)).to_be_visible()
    await tab.check("dashboard")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Staff sign-in")
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert (await page.goto(backoffice.url + "/orders")) is not None
    await expect(page.get_by_role("heading", level=1)).to_have_text("Staff sign-in")  # the session is gone
    await context.close()


async def test_a_customer_is_refused_with_a_sentence_that_says_why(backoffice: BackOffice, browser: Browser) -> None:
    context, tab = await open_tab(browser, backoffice, js=False, viewport=PHONE, label="customer")
    await tab.goto("/login", "sign-in")
    await tab.sign_in("ada@example.com", "ada-lovelace-2026", then="Staff sign-in")
    await expect(tab.page.get_by_role("alert")).to_contain_text("This is a customer account")
    await tab.check("customer-refused")
    assert (await tab.page.goto(backoffice.url + "/")) is not None
    await expect(tab.page.get_by_role("heading", level=1)).to_have_text("Staff sign-in")
    await context.close()


async def test_a_staff_member_signs_in_and_admin_pages_refuse_them(backoffice: BackOffice, browser: Browser,
                                                                   staff_member: str) -> None:
    context, tab = await signed_in_tab(browser, backoffice, js=False, viewport=PHONE, label="staff",
                                       email=staff_member, password=STAFF_PASSWORD)
    page = tab.page
    await expect(page.locator(".who .role")).to_have_text("STAFF")
    nav = page.get_by_role("navigation", name="Back-office")
    await expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    await tab.check("dashboard")
    for path in ("/settings", "/staff"):
        await tab.goto(path, "admin-only-refused", status=403)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        await expect(page.get_by_text("This page is for administrators")).to_be_visible()
    await context.close()


# --- over HTTP ----------------------------------------------------------------------------------------

class Staff:
    """A browser without JavaScript, as httpx: it keeps its cookies and sends the form's CSRF token."""

    def __init__(self, site: BackOffice) -> None:
        self.client = httpx.AsyncClient(base_url=site.url, follow_redirects=False, timeout=30)

    async def token(self, path: str = "/login") -> str:
        page = (await self.client.get(path)).text
        found = re.search(r'name="csrftoken" value="([^"]+)"', page)
        assert found, page[:500]
        return found.group(1)

    async def post(self, path: str, **form: Any) -> httpx.Response:
        return await self.client.post(path, data={"csrftoken": await self.token(), **form})

    async def sign_in(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> Staff:
        answer = await self.post("/login", email=email, password=password, next="/")
        assert answer.status_code == 303, answer.text[:500]
        return self


async def test_a_state_changing_request_without_the_csrf_token_is_refused(backoffice: BackOffice) -> None:
    staff = await Staff(backoffice).sign_in()
    token = await staff.token("/")
    without = await staff.client.post("/logout")
    forged = await staff.client.post("/logout", data={"csrftoken": "forged"})
    stranger = await httpx.AsyncClient(base_url=backoffice.url).post(  # no cookies at all, as from another site
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert [without.status_code, forged.status_code, stranger.status_code] == [403, 403, 403]
    assert "did not come from the back-office" in without.text
    assert (await staff.client.get("/")).status_code == 200  # still signed in: nothing happened
    by_header = await staff.client.post("/logout", headers={"x-csrftoken": token})
    assert by_header.status_code == 303


async def test_every_page_refuses_anonymous_visitors(backoffice: BackOffice) -> None:
    """Every route of the site but sign-in itself sends a visitor to sign in (htmx: HX-Redirect), never a page."""
    schema = (await httpx.AsyncClient(base_url=backoffice.url).get("/openapi.json")).json()
    anonymous = httpx.AsyncClient(base_url=backoffice.url, follow_redirects=False)
    checked = 0
    for path, operations in schema["paths"].items():
        if path in ("/login", "/logout"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        for method in operations:
            if method != "get":
                continue  # a POST without a session is refused by CSRF first (the test above)
            plain = await anonymous.get(concrete)
            assert plain.status_code == 303 and plain.headers["location"].startswith("/login?next="), path
            htmx = await anonymous.get(concrete, headers={"HX-Request": "true"})
            assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/login?next="), path
            checked += 1
    assert checked >= 1
