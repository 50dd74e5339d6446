"""services.runtime.paging: keyset pages and the one signed page-token format every list RPC uses."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.runtime import paging
from services.runtime.errors import InvalidArgument
from services.runtime.paging import Page, paginate

REFUSED = "is not one this list issued for these filters and this order; start again without a page_token"


@dataclass(frozen=True)
class Item:
    name: str
    item_id: str


def items(*ids: int) -> list[Item]:
    return [Item(f"name-{n:03}", f"id-{n:03}") for n in ids]


def by_name(item: Item) -> tuple[str, str]:
    return item.name, item.item_id


def page_of(matching: list[Item], token: str = "", *, size: int = 3, filters: object = None,
            descending: bool = False) -> Page[Item]:
    return paginate(matching, sort_key=by_name, filters=filters or {"colour": "red"}, page_size=size,
                    page_token=token, descending=descending)


def every_page(matching: list[Item], *, descending: bool = False) -> list[list[str]]:
    pages, token = [], ""
    while True:
        page = page_of(matching, token, descending=descending)
        pages.append([item.item_id for item in page.items])
        if not (token := page.next_page_token):
            return pages


def test_pages_ascending_tell_the_total_and_end_with_no_token() -> None:
    assert every_page(items(5, 1, 4, 2, 3, 6, 7)) == [
        ["id-001", "id-002", "id-003"], ["id-004", "id-005", "id-006"], ["id-007"]]
    page = page_of(items(*range(7)))
    assert page.total_size == 7 and page.next_page_token


def test_pages_descending() -> None:
    assert every_page(items(5, 1, 4, 2, 3, 6, 7), descending=True) == [
        ["id-007", "id-006", "id-005"], ["id-004", "id-003", "id-002"], ["id-001"]]


def test_a_page_never_repeats_or_skips_an_item_when_items_are_added_or_removed_between_pages() -> None:
    matching = items(10, 20, 30, 40, 50, 60)
    first = page_of(matching)
    assert [i.item_id for i in first.items] == ["id-010", "id-020", "id-030"]
    # Meanwhile: one before the cursor and one after it are added, one already shown is removed.
    changed = [*items(5, 45), *matching[1:]]
    second = page_of(changed, first.next_page_token)
    assert [i.item_id for i in second.items] == ["id-040", "id-045", "id-050"]
    third = page_of(changed, second.next_page_token)
    assert ([i.item_id for i in third.items], third.next_page_token) == (["id-060"], "")


def test_default_size_and_cap() -> None:
    many = items(*range(150))
    assert len(page_of(many, size=0).items) == paging.DEFAULT_PAGE_SIZE == 20
    assert len(paginate(many, sort_key=by_name, filters={}, page_size=0, page_token="", default_size=50).items) == 50
    assert len(page_of(many, size=1000).items) == paging.MAX_PAGE_SIZE == 100
    with pytest.raises(InvalidArgument, match=r"page_size must be 0 \(the default\) or more, got -1"):
        page_of(many, size=-1)


def test_a_tampered_token_is_refused() -> None:
    token = page_of(items(*range(10))).next_page_token
    payload, signature = token.rsplit(".", 1)
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == ["name-002", "id-002"]
    moved_on = base64.urlsafe_b64encode(json.dumps(["name-006", "id-006"]).encode()).decode().rstrip("=")
    other_signature = ("B" if signature[0] == "A" else "A") + signature[1:]  # the first character is all signature
    for tampered in (f"{moved_on}.{signature}", f"{payload}.{other_signature}", payload, "garbage"):
        with pytest.raises(InvalidArgument, match=REFUSED):
            page_of(items(*range(10)), tampered)


def test_a_token_reused_with_other_filters_or_another_order_is_refused() -> None:
    token = page_of(items(*range(10)), filters={"colour": "red"}).next_page_token
    assert page_of(items(*range(10)), token, filters={"colour": "red"}).items  # the same query goes on
    with pytest.raises(InvalidArgument, match=REFUSED):
        page_of(items(*range(10)), token, filters={"colour": "blue"})
    with pytest.raises(InvalidArgument, match=REFUSED):
        page_of(items(*range(10)), token, filters={"colour": "red"}, descending=True)


def test_a_token_from_another_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = page_of(items(*range(10))).next_page_token
    monkeypatch.setenv(paging.KEY_SETTING, "another installation's key")
    with pytest.raises(InvalidArgument, match=REFUSED):
        page_of(items(*range(10)), token)


def test_the_message_quotes_only_a_short_prefix_of_a_bad_token() -> None:
    long_token = "x" * 500
    with pytest.raises(InvalidArgument) as refused:
        page_of(items(1, 2), long_token)
    assert refused.value.message == f"page_token 'xxxxxxxxxxxx…' {REFUSED}"


def test_instant_is_exact_and_takes_naive_as_utc() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert paging.instant(moment) == 1767323045678901
    assert paging.instant(moment.replace(tzinfo=None)) == paging.instant(moment)
