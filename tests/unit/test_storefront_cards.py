"""The storefront's card form checks, as a real shop makes them before asking the provider."""

from __future__ import annotations

from datetime import date

import pytest

from sites.storefront.cards import check_card, luhn_ok

TODAY = date(2026, 12, 3)


@pytest.mark.parametrize(("number", "brand"), [("4242 4242 4242 4242", "Visa"), ("5555-5555-5555-4444", "Mastercard"),
                                               ("378282246310005", "American Express")])
def test_a_valid_card_keeps_only_its_brand_and_last_four_digits(number: str, brand: str) -> None:
    cvc = "1234" if brand == "American Express" else "123"
    card, errors = check_card(number, "12/26", cvc, TODAY)
    assert errors == {} and card is not None
    assert str(card) == f"{brand} ending {number[-4:]}"


def test_the_checksum_the_length_and_the_brand_are_checked() -> None:
    assert not luhn_ok("4242424242424241")
    assert "not valid" in check_card("4242 4242 4242 4241", "12/30", "123", TODAY)[1]["card_number"]
    assert "not valid" in check_card("4242 4242 4242", "12/30", "123", TODAY)[1]["card_number"]
    assert "Visa, Mastercard" in check_card("6011 1111 1111 1117", "12/30", "123", TODAY)[1]["card_number"]


@pytest.mark.parametrize(("expiry", "problem"), [("11/26", "expired"), ("13/30", "MM/YY"), ("1230", "MM/YY"),
                                                 ("12/2090", "year")])
def test_the_expiry_must_be_a_month_to_come(expiry: str, problem: str) -> None:
    assert problem in check_card("4242424242424242", expiry, "123", TODAY)[1]["card_expiry"]


def test_the_security_code_has_the_brands_length() -> None:
    assert "3-digit" in check_card("4242424242424242", "12/30", "1234", TODAY)[1]["card_cvc"]
    assert "4-digit" in check_card("378282246310005", "12/30", "123", TODAY)[1]["card_cvc"]
