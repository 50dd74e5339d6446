"""A card form checked as a real shop would before it asks the provider: the number's Luhn checksum
and length, an expiry not in the past, a security code of the brand's length. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

BRANDS = [("American Express", re.compile(r"^3[47]"), (15,), 4), ("Visa", re.compile(r"^4"), (13, 16, 19), 3),
          ("Mastercard", re.compile(r"^(5[1-5]|2[2-7])"), (16,), 3)]


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str

    def __str__(self) -> str:
        return f"{self.brand} ending {self.last4}"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def check_card(number: str, expiry: str, cvc: str, today: date) -> tuple[Card | None, dict[str, str]]:
    """The card (brand and last four digits, nothing more is kept) or the problem with each field."""
    errors: dict[str, str] = {}
    digits = re.sub(r"[\s-]", "", number)
    brand = next(((name, lengths, cvc_len) for name, prefix, lengths, cvc_len in BRANDS if prefix.match(digits)),
                 None)
    if not digits.isdigit() or brand is None:
        errors["card_number"] = "Enter a Visa, Mastercard or American Express card number."
    elif len(digits) not in brand[1] or not luhn_ok(digits):
        errors["card_number"] = "This card number is not valid; check it for a typo."
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", expiry)
    if not match or not 1 <= int(match.group(1)) <= 12:
        errors["card_expiry"] = "Enter the expiry as MM/YY."
    else:
        month, year = int(match.group(1)), int(match.group(2))
        year += 2000 if year < 100 else 0
        if (year, month) < (today.year, today.month):
            errors["card_expiry"] = "This card has expired."
        elif year > today.year + 20:
            errors["card_expiry"] = "Check the expiry year."
    expected = brand[2] if brand else 3
    if not re.fullmatch(rf"\d{{{expected}}}", cvc.strip()):
        errors["card_cvc"] = f"Enter the {expected}-digit security code from the card."
    if errors or brand is None:
        return None, errors
    return Card(brand[0], digits[-4:]), {}
