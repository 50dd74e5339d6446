"""Fill a running platform with a realistic shop, through the services' own RPCs; safe to run again.

    python -m tools.demo_data          # addresses from <SERVICE>_ADDR, the declared ports by default

A three-level category tree, four sellers and 216 published products with prices, weights, tax
classes, images (SVG drawn here, no download) and stock — a few low, a few out — plus two demo
customers (one VIP by staff decision) with addresses. Everything is looked up before it is made, so a
second run changes nothing. Prints the credentials to sign in with.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
from administering.v1 import admin_service_pb2 as admin
from administering.v1 import admin_service_pb2_grpc as admin_grpc
from cataloging.v1 import catalog_service_pb2 as catalog
from cataloging.v1 import catalog_service_pb2_grpc as catalog_grpc
from profiling.v1 import events_pb2 as profiling_events
from profiling.v1 import profile_service_pb2 as profile
from profiling.v1 import profile_service_pb2_grpc as profile_grpc
from shop.common.v1 import address_pb2, money_pb2

from services.profiling.bootstrap import ProfilingSettings
from services.runtime import auth
from services.runtime.process import default_port

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "sites" / "static" / "products"

# The first admin is the one profiling creates at start-up, from the same variables and defaults.
ADMIN_EMAIL = os.environ.get("PROFILING_ADMIN_EMAIL", ProfilingSettings.model_fields["admin_email"].default)
ADMIN_PASSWORD = os.environ.get("PROFILING_ADMIN_PASSWORD", ProfilingSettings.model_fields["admin_password"].default)
CUSTOMERS = [
    ("ada@example.com", "ada-lovelace-2026", "Ada", "Lovelace", True),
    ("bob@example.com", "bob-builder-2026", "Bob", "Martin", False),
]

# root -> child -> leaves, each leaf with (tax class, product nouns, price range in cents, weight range in grams)
TREE: dict[str, dict[str, dict[str, tuple[str, list[str], tuple[int, int], tuple[int, int]]]]] = {
    "Home & Kitchen": {
        "Cookware": {"Frying Pans": ("standard", ["Frying Pan", "Skillet", "Sauté Pan"], (1990, 8990), (900, 2200)),
                     "Knives": ("standard", ["Chef Knife", "Paring Knife", "Bread Knife"], (1490, 12990), (120, 400))},
        "Tableware": {"Plates": ("standard", ["Dinner Plate", "Side Plate", "Soup Bowl"], (590, 3490), (300, 900)),
                      "Glasses": ("standard", ["Wine Glass", "Tumbler", "Carafe"], (490, 2990), (150, 800))},
    },
    "Electronics": {
        "Audio": {"Headphones": ("standard", ["Headphones", "Earbuds", "Headset"], (2990, 29990), (40, 350)),
                  "Speakers": ("standard", ["Speaker", "Soundbar", "Radio"], (3990, 39990), (400, 4000))},
        "Computing": {"Keyboards": ("standard", ["Keyboard", "Keypad", "Keyboard Cover"], (1990, 17990), (200, 1200)),
                      "Mice": ("standard", ["Mouse", "Trackball", "Mouse Pad"], (990, 8990), (60, 300))},
    },
    "Books & Food": {
        "Books": {"Novels": ("reduced", ["Novel", "Short Stories", "Thriller"], (890, 2490), (250, 700)),
                  "Cookbooks": ("reduced", ["Cookbook", "Baking Book", "Spice Guide"], (1490, 3990), (500, 1400))},
        "Grocery": {"Coffee & Tea": ("reduced", ["Coffee Beans", "Green Tea", "Herbal Tea"], (490, 2490), (100, 1000)),
                    "Chocolate": ("reduced", ["Dark Chocolate", "Praline Box", "Cocoa"], (290, 1990), (100, 600))},
    },
}
ADJECTIVES = ["Classic", "Nordic", "Pro", "Compact", "Heritage", "Urban", "Artisan", "Everyday", "Deluxe"]
SELLERS = [
    ("Maison Lumière", "contact@maison-lumiere.example", "FR40303265045"),
    ("Nordwerk GmbH", "hallo@nordwerk.example", "DE123456789"),
    ("Casa Verde Srl", "info@casaverde.example", "IT01234567890"),
    ("Dutch Crafts BV", "sales@dutchcrafts.example", "NL123456789B01"),
]
CURRENCY = "EUR"
# Catalogue image URLs are absolute: the storefront serves the pictures drawn here.
STOREFRONT_URL = os.environ.get("STOREFRONT_URL", f"http://localhost:{default_port('storefront') or 9000}")


@dataclass
class Clients:
    catalog: catalog_grpc.CatalogServiceStub
    admin: admin_grpc.AdminServiceStub
    profile: profile_grpc.ProfileServiceStub


def _address(service: str) -> str:
    return os.environ.get(f"{service.upper()}_ADDR", f"127.0.0.1:{default_port(service)}")


def product_image(sku: str, title: str) -> str:
    """Draw a simple product picture (SVG) and return its URL; the storefront serves /static."""
    hue = int(hashlib.sha256(sku.encode()).hexdigest()[:4], 16) % 360
    initials = "".join(word[0] for word in title.split()[:2]).upper()
    IMAGES.mkdir(parents=True, exist_ok=True)
    (IMAGES / f"{sku}.svg").write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="480" height="480" viewBox="0 0 480 480">'
        f'<rect width="480" height="480" fill="hsl({hue},55%,88%)"/>'
        f'<circle cx="240" cy="210" r="120" fill="hsl({hue},45%,62%)"/>'
        f'<text x="240" y="232" font-family="sans-serif" font-size="72" text-anchor="middle" fill="white">'
        f'{initials}</text><text x="240" y="410" font-family="sans-serif" font-size="26" text-anchor="middle" '
        f'fill="hsl({hue},40%,30%)">{title}</text></svg>')
    return f"{STOREFRONT_URL}/static/products/{sku}.svg"


async def sign_in(email: str, password: str, kind: int) -> profile.AuthenticateResponse:
    """profiling's answer to a sign-in, with the account's tokens."""
    async with grpc.aio.insecure_channel(_address("profiling")) as channel:
        return await profile_grpc.ProfileServiceStub(channel).Authenticate(  # type: ignore[no-any-return]
            profile.AuthenticateRequest(email=email, password=password, account_kind=kind))  # type: ignore[arg-type]


async def staff_id(clients: Clients) -> str:
    answer = await clients.profile.Authenticate(profile.AuthenticateRequest(
        email=ADMIN_EMAIL, password=ADMIN_PASSWORD, account_kind=profile.ACCOUNT_KIND_STAFF))
    return str(answer.staff_member.staff_id)


async def categories(clients: Clients) -> dict[tuple[str, ...], str]:
    """Create the tree where missing; returns path of names -> category id for the leaves."""
    existing = (await clients.catalog.GetCategoryTree(catalog.GetCategoryTreeRequest())).categories
    by_key = {(c.parent_id, c.name): c.category_id for c in existing}

    async def ensure(name: str, parent_id: str, position: int) -> str:
        if (parent_id, name) not in by_key:
            made = await clients.catalog.CreateCategory(catalog.CreateCategoryRequest(
                name=name, parent_id=parent_id, position=position))
            by_key[(parent_id, name)] = made.category.category_id
        return by_key[(parent_id, name)]

    leaves: dict[tuple[str, ...], str] = {}
    for i, (root, children) in enumerate(TREE.items()):
        root_id = await ensure(root, "", i)
        for j, (child, grandchildren) in enumerate(children.items()):
            child_id = await ensure(child, root_id, j)
            for k, leaf in enumerate(grandchildren):
                leaves[(root, child, leaf)] = await ensure(leaf, child_id, k)
    return leaves


async def sellers(clients: Clients, staff: str) -> list[str]:
    found = (await clients.admin.ListSellers(admin.ListSellersRequest())).sellers
    by_email = {s.email: s.seller_id for s in found}
    ids = []
    for name, email, vat in SELLERS:
        if email not in by_email:
            made = await clients.admin.OnboardSeller(admin.OnboardSellerRequest(
                name=name, email=email, vat_number=vat, staff_id=staff))
            by_email[email] = made.seller.seller_id
        ids.append(by_email[email])
    return ids


def demo_products(leaves: dict[tuple[str, ...], str], seller_ids: list[str]) -> list[admin.OnboardProductRequest]:
    """Deterministic: the same 216 products, prices and stock on every run."""
    requests = []
    n = 0
    for (_root, _child, leaf), category_id in leaves.items():
        tax_class, nouns, (low, high), (light, heavy) = TREE[_root][_child][leaf]
        for i in range(18):
            n += 1
            noun, adjective = nouns[i % len(nouns)], ADJECTIVES[(i * 7 + n) % len(ADJECTIVES)]
            title = f"{adjective} {noun}"
            sku = f"{leaf[:3].upper()}-{n:04d}"
            step = (high - low) // 17
            price = low + step * ((i * 5) % 18) - (low + step * ((i * 5) % 18)) % 100 + 90
            stock = 0 if n % 23 == 0 else 3 if n % 11 == 0 else 20 + (n * 37) % 180
            requests.append(admin.OnboardProductRequest(
                seller_id=seller_ids[n % len(seller_ids)], sku=sku, name=title,
                description=f"The {title.lower()} from our {leaf.lower()} range: made to last, easy to care for, "
                            f"and chosen by our buyers for everyday use.",
                category_id=category_id, price=money_pb2.Money(amount_minor=price, currency=CURRENCY),
                tax_class=tax_class, weight_grams=light + (heavy - light) * ((i * 3) % 18) // 17,
                attributes={"colour": ["black", "white", "sage", "terracotta", "navy"][n % 5]},
                image_url=product_image(sku, title), initial_stock_quantity=stock, publish=True))
    return requests


async def products(clients: Clients, requests: list[admin.OnboardProductRequest], staff: str) -> int:
    missing = []
    for start in range(0, len(requests), 100):
        chunk = requests[start:start + 100]
        known = await clients.catalog.BatchGetProductsBySku(
            catalog.BatchGetProductsBySkuRequest(skus=[r.sku for r in chunk]))
        existing = {p.sku for p in known.products}
        missing += [r for r in chunk if r.sku not in existing]
    in_flight = asyncio.Semaphore(8)

    async def onboard(request: admin.OnboardProductRequest) -> None:
        request.staff_id = staff
        async with in_flight:
            await clients.admin.OnboardProduct(request)

    await asyncio.gather(*(onboard(r) for r in missing))
    return len(missing)


async def customers(clients: Clients, staff: str) -> None:
    for email, password, first, last, vip in CUSTOMERS:
        try:
            signed_in = await clients.profile.Authenticate(profile.AuthenticateRequest(
                email=email, password=password, account_kind=profile.ACCOUNT_KIND_CUSTOMER))
            continue_with = signed_in.customer.customer_id
            new = False
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            registered = await clients.profile.RegisterCustomer(profile.RegisterCustomerRequest(
                email=email, password=password, first_name=first, last_name=last))
            continue_with, new = registered.customer.customer_id, True
        if new:
            await clients.profile.AddAddress(profile.AddAddressRequest(
                customer_id=continue_with, label="Home", set_default_shipping=True, set_default_billing=True,
                address=address_pb2.Address(full_name=f"{first} {last}", line1="12 rue des Lilas",
                                            postal_code="69003", city="Lyon", country_code="FR")))
            if vip:
                await clients.profile.SetCustomerStatus(profile.SetCustomerStatusRequest(
                    customer_id=continue_with, status=profiling_events.CUSTOMER_STATUS_VIP,
                    reason="Demo customer: a loyal shopper", staff_id=staff, pinned=True))


async def load() -> None:
    # Everything below is done as the admin: the token rides on every call of these channels.
    admin_token = (await sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, profile.ACCOUNT_KIND_STAFF)).access_token
    channels = {name: grpc.aio.insecure_channel(_address(name), interceptors=[auth.WithToken(admin_token)])
                for name in ("cataloging", "administering", "profiling")}
    clients = Clients(catalog_grpc.CatalogServiceStub(channels["cataloging"]),
                      admin_grpc.AdminServiceStub(channels["administering"]),
                      profile_grpc.ProfileServiceStub(channels["profiling"]))
    try:
        staff = await staff_id(clients)
        leaves = await categories(clients)
        seller_ids = await sellers(clients, staff)
        made = await products(clients, demo_products(leaves, seller_ids), staff)
        await customers(clients, staff)
    finally:
        for channel in channels.values():
            await channel.close()
    print(f"demo data: {len(leaves)} leaf categories, {len(seller_ids)} sellers, {made} products added")
    print(f"  staff admin: {ADMIN_EMAIL} / {ADMIN_PASSWORD}")
    for email, password, _first, _last, vip in CUSTOMERS:
        print(f"  customer{' (VIP)' if vip else ''}: {email} / {password}")


if __name__ == "__main__":
    try:
        asyncio.run(load())
    except grpc.aio.AioRpcError as exc:
        print(f"demo data: {exc.code().name}: {exc.details()}", file=sys.stderr)
        sys.exit(1)
