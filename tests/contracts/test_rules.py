"""What a consumer says it handles becomes its contract's matching rules, and a declaration that contradicts
itself is refused when the contract is written (pure logic: no provider, no broker)."""

from __future__ import annotations

import pytest
from ordering.v1 import events_pb2 as order_events
from ordering.v1 import order_pb2

from tools.contracts import CURRENCY, DeclarationError, matchers, one_of

CANCELLED = order_events.OrderCancelled(order_id="order-1", reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST)


def regex_of(body: dict, name: str) -> str:
    return body[name].to_matching_rule()["regex"]  # type: ignore[no-any-return]


def test_an_enum_is_pinned_to_the_example_value_or_the_values_the_consumer_handles() -> None:
    assert regex_of(matchers(CANCELLED), "reason") == "^(CANCELLATION_REASON_CUSTOMER_REQUEST)$"
    handled = matchers(CANCELLED, {"reason": one_of(order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST,
                                                    order_pb2.CANCELLATION_REASON_TIMED_OUT)})
    assert regex_of(handled, "reason") == "^(CANCELLATION_REASON_CUSTOMER_REQUEST|CANCELLATION_REASON_TIMED_OUT)$"


def test_a_rule_on_a_field_the_example_does_not_set_is_refused() -> None:
    with pytest.raises(DeclarationError, match="a rule names currency, which the example does not set"):
        matchers(CANCELLED, {"currency": CURRENCY})


def test_an_example_that_breaks_its_own_rule_is_refused() -> None:
    with pytest.raises(DeclarationError, match=r"the example's reason 'CANCELLATION_REASON_CUSTOMER_REQUEST' breaks"):
        matchers(CANCELLED, {"reason": one_of(order_pb2.CANCELLATION_REASON_TIMED_OUT)})
    created = order_events.OrderCreated(order_id="order-1", currency="eur")
    with pytest.raises(DeclarationError, match=r"breaks its own rule .* an ISO 4217 code"):
        matchers(created, {"currency": CURRENCY})
