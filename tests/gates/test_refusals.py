"""A refusal at stages 1-3 says for whom it matters: the consumers whose contracts read the message and field
it names, and where the recipe for a breaking change is; and the gate ends with a table of its stages."""

from __future__ import annotations

import re

from tests.gates.repo import Repo, refused
from tools.gates import RECIPE, for_whom


def test_a_refused_rename_or_type_change_names_its_readers_and_the_v2_recipe(repo: Repo) -> None:
    events = "schemas/ordering/v1/events.proto"
    # buf lint points at the field's line, by its new name; its readers know it by its published one.
    repo.edit(events, "  string payment_method = 11;", "  string paymentMethod = 11;")
    refused(repo.gates(), 'Field name "paymentMethod" should be lower_snake_case',
            "  read by billing, paying: the field ordering.v1.OrderCreated.payment_method", f"  {RECIPE}",
            "gate 1/5 FAILED")

    repo.edit(events, "  string paymentMethod = 11;", "  int64 payment_method = 11;")
    gate = repo.gates()
    refused(gate, 'Field "11" with name "payment_method" on message "OrderCreated" changed type',
            "  read by billing, paying: the field ordering.v1.OrderCreated.payment_method",
            "  read by billing, paying, stocking: the message ordering.v1.OrderCreated", f"  {RECIPE}",
            "gate 2/5 FAILED")
    assert re.search(r"^1/5 buf lint +passed +\d+\.\d s$", gate.stdout, re.MULTILINE), gate.stdout
    assert re.search(r"^2/5 buf breaking .* FAILED +\d+\.\d s$", gate.stdout, re.MULTILINE), gate.stdout
    assert re.search(r"^5/5 contracts .* not run$", gate.stdout, re.MULTILINE), gate.stdout


def test_the_registrys_refusal_and_a_removed_message_name_their_readers() -> None:
    # What the registry (stage 3) and buf (stage 2) print, read against the repository's own contracts.
    said = for_whom("FAIL ordering.orders.v1-value (ordering/v1/events.proto): FIELD_SCALAR_KIND_CHANGED at "
                    "ordering.v1.OrderConfirmed.total_weight_grams\n"
                    'schemas/stocking/v1/events.proto:1:1:Previously present message "StockCommitted" was deleted '
                    "from file.")
    assert said == ["read by shipping: the field ordering.v1.OrderConfirmed.total_weight_grams (consumers-contracts/)",
                    "read by billing, profiling, shipping, stocking: the message ordering.v1.OrderConfirmed "
                    "(consumers-contracts/)",
                    "read by ordering: the message stocking.v1.StockCommitted (consumers-contracts/)", RECIPE]
    assert for_whom("FAIL something nobody reads")[0].startswith("read by no consumer's contract")
