"""The floor under every request's text (services/runtime/inputs.py)."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from ordering.v1 import order_service_pb2 as order_api
from profiling.v1 import profile_service_pb2 as profile_api
from shop.common.v1.address_pb2 import Address

from services.runtime.errors import InvalidArgument
from services.runtime.inputs import MAX_TEXT, check_request


@pytest.mark.parametrize(("request_", "words"), [
    (profile_api.AddAddressRequest(customer_id="c", address=Address(city="Pa\x00ris")),
     r"address.city must not contain control characters \(found U\+0000 at position 2\)"),
    (profile_api.RegisterCustomerRequest(first_name="x" * (MAX_TEXT + 1)), "first_name must be at most 10,000"),
    (profile_api.SearchCustomersRequest(query="\x1b[2J"), "query must not contain control characters"),
    (order_api.ListOrdersRequest(created_after=Timestamp(seconds=1, nanos=-5)), "created_after must be a time"),
    (order_api.ListOrdersRequest(created_before=Timestamp(seconds=-(2**63) + 1)), "created_before must be a time"),
])
def test_text_too_long_or_with_control_characters_is_refused(request_: object, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        check_request(request_)


def test_ordinary_text_with_line_breaks_passes() -> None:
    check_request(profile_api.AddAddressRequest(customer_id="c", label="Home\tflat 2\r\nback door",
                                                address=Address(city="Zürich", full_name="Zoë Ó'Brien")))
    check_request({"json": "requests of the runtime's own tests are not Protobuf"})
