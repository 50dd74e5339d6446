"""Every consumer-provider pair in the code (the topic map's consumers, the stubs each service's bootstrap
declares, the calls each site makes through `Calls`) has its contract, with an interaction for every event and
call; a new pair or call without one fails, and so does a committed contract that is not what its consumer's
declarations write (gate stage 5)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.contracts import CONTRACTS_DIR, ROOT, call_subjects, coverage_problems, stale


def test_every_pair_in_the_code_has_its_contract() -> None:
    assert coverage_problems() == []


def test_a_pair_without_its_contract_is_named(tmp_path: Path) -> None:
    contracts = tmp_path / "consumers-contracts"
    shutil.copytree(CONTRACTS_DIR, contracts)
    (contracts / "ordering-carting.json").unlink()
    [problem] = coverage_problems(contracts)
    assert problem.startswith("ordering consumes from carting (carting.v1.CartService/CloseCart, "
                              "carting.v1.CartService/GetCart) but consumers-contracts/ordering-carting.json")


def test_the_calls_are_found_in_the_services_code() -> None:
    assert call_subjects()[("ordering", "carting")] == {"carting.v1.CartService/GetCart",
                                                        "carting.v1.CartService/CloseCart"}


def test_the_calls_are_found_in_the_sites_code() -> None:
    found = call_subjects()
    assert found[("storefront", "stocking")] == {"stocking.v1.StockService/GetStockLevel"}
    carting = {subject.split("/")[1] for subject in found[("storefront", "carting")]}
    # Calls.of(request).carting.X, calls.carting.X (calls = Calls.of(request)), calls.X (calls = ....carting)
    assert {"GetCart", "MergeCarts", "RemoveLine", "UpdateLineQuantity"} <= carting
    # the runtime's own call for every site that calls profiling: the token refresh
    assert "profiling.v1.ProfileService/RefreshToken" in found[("storefront", "profiling")]


def test_a_new_call_of_a_site_without_its_contract_is_named(tmp_path: Path) -> None:
    code = tmp_path / "repo"
    for folder in ("services", "sites"):
        shutil.copytree(ROOT / folder, code / folder, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    browse = code / "sites" / "storefront" / "browse.py"
    browse.write_text(browse.read_text() + '''

async def category_page(request: Request, category_id: str) -> Any:
    return await Calls.of(request).cataloging.GetCategory(catalog_api.GetCategoryRequest(category_id=category_id))
''')
    assert coverage_problems(root=code) == [
        "storefront-cataloging.json: no interaction for cataloging.v1.CatalogService/GetCategory, which storefront "
        "consumes: add it to tests/contracts/consumers/storefront.py"]


def test_a_site_pair_without_its_contract_is_named(tmp_path: Path) -> None:
    contracts = tmp_path / "consumers-contracts"
    shutil.copytree(CONTRACTS_DIR, contracts)
    (contracts / "storefront-stocking.json").unlink()
    [problem] = coverage_problems(contracts)
    assert problem.startswith("storefront consumes from stocking (stocking.v1.StockService/GetStockLevel) but "
                              "consumers-contracts/storefront-stocking.json does not exist")


def test_a_stale_contract_is_named(tmp_path: Path) -> None:
    contracts = tmp_path / "consumers-contracts"
    shutil.copytree(CONTRACTS_DIR, contracts)
    committed = contracts / "shipping-ordering.json"
    committed.write_text(committed.read_text().replace('"total_weight_grams": 700', '"total_weight_grams": 900'))
    [problem] = stale(contracts)
    assert problem.startswith("consumers-contracts/shipping-ordering.json is stale:") and "900" in problem
