"""A contract is the consumer's word: it pins an enum to the values the consumer's code handles (and a field to
a rule where the meaning matters), so a value added to the schema changes no contract, and a provider that
starts emitting a value a consumer does not handle is refused at stage 4, naming that consumer."""

from __future__ import annotations

from tests.gates.repo import Repo, accepted, refused

ORDER = "schemas/ordering/v1/order.proto"


def test_a_value_added_to_an_enum_changes_no_contract_and_is_refused_where_a_consumer_does_not_handle_it(
        repo: Repo) -> None:
    repo.edit(ORDER, "  CANCELLATION_REASON_TIMED_OUT = 6;\n", "  CANCELLATION_REASON_TIMED_OUT = 6;\n"
              "  // Staff cancelled the duplicate of another order.\n  CANCELLATION_REASON_DUPLICATE_ORDER = 7;\n")
    repo.write_contracts()  # `make contracts`, as the README says to run after a schema change
    assert repo.git("status", "--porcelain", "consumers-contracts") == ""
    accepted(repo.stage(5))

    # Ordering's staff may now cancel a duplicate: its provider state cancels one, and billing, paying and
    # shipping, whose code words only the reasons their contracts list, are named.
    repo.edit("services/ordering/domain.py", '    FRAUD_SUSPECTED = "FRAUD_SUSPECTED"\n',
              '    FRAUD_SUSPECTED = "FRAUD_SUSPECTED"\n    DUPLICATE_ORDER = "DUPLICATE_ORDER"\n')
    repo.edit("services/ordering/domain.py", "    CancellationReason.FRAUD_SUSPECTED,\n)",
              "    CancellationReason.FRAUD_SUSPECTED,\n    CancellationReason.DUPLICATE_ORDER,\n)")
    repo.edit("tests/contracts/consumers/ordering.py", "reason=order_pb2.CANCELLATION_REASON_STAFF_DECISION))",
              "reason=order_pb2.CANCELLATION_REASON_DUPLICATE_ORDER))")
    verified = repo.stage(4, "--provider", "ordering")
    for consumer in ("billing", "paying", "shipping"):
        refused(verified, f"FAIL {consumer} <- ordering.orders.v1 order_cancelled given 'an order was cancelled': "
                "$.order_cancelled.reason Expected 'CANCELLATION_REASON_DUPLICATE_ORDER' to match")
    assert "FAIL stocking" not in verified.stdout and "FAIL profiling" not in verified.stdout  # they read no reason
