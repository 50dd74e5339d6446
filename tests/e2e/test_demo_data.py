"""The demo shop `make up` loads (tools/demo_data.py), on real services: what a newcomer sees, and
that loading it again adds nothing."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from cataloging.v1 import catalog_service_pb2 as catalog_api
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from profiling.v1 import events_pb2 as profiling_events
from profiling.v1 import profile_service_pb2 as profile_api
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from shop.common.v1.paging_pb2 import PageRequest
from stocking.v1 import stock_service_pb2 as stock_api
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from tools.demo_data import ADMIN_EMAIL, ADMIN_PASSWORD, CUSTOMERS
from tools.platform import ROOT, Platform


def load(platform: Platform) -> str:
    env = platform.env("administering")  # every <SERVICE>_ADDR of the namespace
    result = subprocess.run([sys.executable, "-m", "tools.demo_data"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_the_demo_shop_is_realistic_and_loads_once(tmp_path: Path, kafka_bootstrap: str,
                                                         schema_registry_url: str) -> None:
    platform = Platform(tmp_path, kafka_bootstrap, schema_registry_url, f"demo{uuid.uuid4().hex[:8]}")
    try:
        await platform.start("profiling", "cataloging", "stocking", "administering")
        first = load(platform)
        assert "216 products added" in first and f"{ADMIN_EMAIL} / {ADMIN_PASSWORD}" in first

        catalog = platform.stub("cataloging", CatalogServiceStub)
        tree = (await catalog.GetCategoryTree(catalog_api.GetCategoryTreeRequest())).categories
        by_id = {c.category_id: c for c in tree}

        def depth(category_id: str) -> int:
            parent = by_id[category_id].parent_id
            return 1 if not parent else 1 + depth(parent)

        assert max(depth(c.category_id) for c in tree) == 3
        products, token = [], ""
        while True:
            page = await catalog.ListProducts(catalog_api.ListProductsRequest(
                page=PageRequest(page_size=100, page_token=token)))
            products += page.products
            if not (token := page.page.next_page_token):
                break
        assert len(products) == 216
        assert len({p.seller_id for p in products}) == 4
        assert all(p.price.amount_minor > 0 and p.weight_grams > 0 and p.image_url.startswith("http")
                   for p in products)
        assert {p.tax_class for p in products} == {"standard", "reduced"}
        stock, skus = platform.stub("stocking", StockServiceStub), [p.sku for p in products]
        levels = [level for start in range(0, len(skus), 100) for level in (await stock.BatchGetStockLevels(
            stock_api.BatchGetStockLevelsRequest(skus=skus[start:start + 100]))).levels]
        assert any(level.available == 0 for level in levels) and any(0 < level.available <= 5 for level in levels)

        profiles = platform.stub("profiling", ProfileServiceStub)
        statuses = []
        for email, password, *_ in CUSTOMERS:
            signed_in = await profiles.Authenticate(profile_api.AuthenticateRequest(
                email=email, password=password, account_kind=profile_api.ACCOUNT_KIND_CUSTOMER))
            statuses.append(signed_in.customer.status)
        assert sorted(statuses) == sorted([profiling_events.CUSTOMER_STATUS_STANDARD,
                                           profiling_events.CUSTOMER_STATUS_VIP])

        assert "0 products added" in load(platform)
    finally:
        await platform.close()
