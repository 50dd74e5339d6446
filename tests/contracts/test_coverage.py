"""Every consumer-provider pair in the code (the topic map's consumers, the stubs each service's __main__
builds) has its contract, with an interaction for every event and call; a new pair without one fails, and
so does a committed contract that is not what its consumer's declarations write (gate stage 5)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.contracts import CONTRACTS_DIR, call_subjects, coverage_problems, stale


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


def test_a_stale_contract_is_named(tmp_path: Path) -> None:
    contracts = tmp_path / "consumers-contracts"
    shutil.copytree(CONTRACTS_DIR, contracts)
    committed = contracts / "shipping-ordering.json"
    committed.write_text(committed.read_text().replace('"total_weight_grams": 700', '"total_weight_grams": 900'))
    [problem] = stale(contracts)
    assert problem.startswith("consumers-contracts/shipping-ordering.json is stale:") and "900" in problem
