"""Proof that the gate bites: each test makes one change in a copy of the repository and runs the gate's
stages there, exactly as `make gates` runs them (tools/gates.py), then says what was refused and why."""

from __future__ import annotations

import re

from tests.gates.repo import Repo, accepted, refused

ORDER_EVENTS, STOCK_EVENTS = "schemas/ordering/v1/events.proto", "schemas/stocking/v1/events.proto"
ORDER_MESSAGES = "services/ordering/messages.py"


# --- breaking schema changes: refused by buf and by the registry, naming the field --------------------------

def test_a_field_type_changed_is_refused(repo: Repo) -> None:
    repo.edit(ORDER_EVENTS, "  string cart_id = 12;", "  int64 cart_id = 12;")
    refused(repo.stage(2), 'Field "12" with name "cart_id" on message "OrderCreated" changed type from "string" to '
            '"int64"')
    refused(repo.stage(3), "FIELD_SCALAR_KIND_CHANGED at ordering.v1.OrderCreated.cart_id")


def test_a_field_renumbered_is_refused(repo: Repo) -> None:
    repo.edit(ORDER_EVENTS, "  int32 total_weight_grams = 10;", "  int32 total_weight_grams = 11;")
    repo.edit(ORDER_EVENTS, "  string payment_id = 11;", "  string payment_id = 10;")
    refused(repo.stage(2), 'Field "10" on message "OrderConfirmed" changed name from "total_weight_grams" to '
            '"payment_id"')
    refused(repo.stage(3), "at ordering.v1.OrderConfirmed.payment_id: field 10 changed from int32 to string")


def test_a_message_removed_is_refused(repo: Repo) -> None:
    repo.edit(STOCK_EVENTS, "    StockCommitted stock_committed = 13;\n", "")
    repo.edit(STOCK_EVENTS, "message StockCommitted {\n  string order_id = 1;\n  repeated StockLine lines = 2;\n}\n",
              "")
    refused(repo.stage(2), 'Previously present message "StockCommitted" was deleted')
    refused(repo.stage(3), "MESSAGE_REMOVED at stocking.v1.StockCommitted")


# --- contract changes: refused at verification, naming the consumer, the interaction and the field --------

def test_a_field_a_consumer_reads_removed_from_the_providers_event_is_refused(repo: Repo) -> None:
    # Removing a field is compatible for the registry (readers skip what they do not know; buf's FILE rules
    # refuse any removal, without saying who reads the field) ...
    repo.edit(ORDER_EVENTS, "  string payment_method = 11;\n", "")
    repo.edit(ORDER_MESSAGES, "payment_method=event.payment_method, cart_id", "cart_id")
    assert re.search(r"ordering\.orders\.v1-value +2 +\d+ +compatible, new version", repo.stage(3).stdout)
    # ... but paying charges with it and billing prints it: their contracts say so.
    verified = repo.stage(4, "--provider", "ordering")
    for consumer in ("paying", "billing"):
        refused(verified, f"FAIL {consumer} <- ordering.orders.v1 order_created given 'an order was placed': "
                "$.order_created Actual map is missing the following keys: payment_method")


def test_a_provider_that_stops_filling_a_field_a_consumer_relies_on_is_refused(repo: Repo) -> None:
    repo.edit(ORDER_MESSAGES, " total_weight_grams=event.total_weight_grams,", "")
    refused(repo.stage(4, "--provider", "ordering"),
            "FAIL shipping <- ordering.orders.v1 order_confirmed given 'an order was confirmed': "
            "$.order_confirmed Actual map is missing the following keys: total_weight_grams")


def test_a_consumer_that_starts_requiring_a_field_no_provider_sends_is_refused(repo: Repo) -> None:
    repo.edit("tests/contracts/consumers/carting.py", "customer_id=CUSTOMER, new_status=",
              'customer_id=CUSTOMER, changed_by="staff-1", new_status=')
    repo.write_contracts()
    gate = repo.gates()
    refused(gate, "gate 3/5: registry compatibility", "gate 4/5 FAILED",
            "FAIL carting <- profiling.customers.v1 customer_status_changed given \"a customer's status changed\": "
            "$.customer_status_changed Actual map is missing the following keys: changed_by")
    assert "gate 5/5" not in gate.stdout


# --- compatible changes: accepted by every stage --------------------------------------------------------

def accepted_by(repo: Repo, *stages: int) -> None:
    for number in stages:
        accepted(repo.stage(number, *(["--provider", "ordering"] if number == 4 else [])))


def test_an_optional_field_added_is_accepted(repo: Repo) -> None:
    repo.edit(ORDER_EVENTS, "  google.protobuf.Timestamp created_at = 13;\n",
              "  google.protobuf.Timestamp created_at = 13;\n  // Printed on the packing slip; empty for none.\n"
              "  string gift_message = 14;\n")
    accepted_by(repo, 1, 2, 3, 4, 5)


def test_a_new_event_added_is_accepted(repo: Repo) -> None:
    repo.edit(ORDER_EVENTS, "    OrderRefundRequested order_refund_requested = 13;\n",
              "    OrderRefundRequested order_refund_requested = 13;\n    OrderNoteAdded order_note_added = 14;\n")
    repo.edit(ORDER_EVENTS, "message OrderCreated {", "// Staff wrote a note on the order.\nmessage OrderNoteAdded {\n"
              "  string order_id = 1;\n  string note = 2;\n}\n\nmessage OrderCreated {")
    events = "events: [order_created, order_confirmed, order_cancelled, order_refund_requested"
    repo.edit("schemas/topics.yaml", f"{events}]", f"{events}, order_note_added]")
    accepted_by(repo, 1, 2, 3, 4, 5)


def test_a_new_consumer_of_an_existing_field_is_accepted(repo: Repo) -> None:
    repo.edit("tests/contracts/consumers/shipping.py", 'order_number="ORD-2026-000001", currency="EUR",',
              'order_number="ORD-2026-000001", customer_email="ada@example.com", currency="EUR",')
    repo.write_contracts()
    accepted_by(repo, 4, 5)  # no schema changed: the stages before have nothing new to look at
