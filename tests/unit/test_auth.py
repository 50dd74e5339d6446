"""Tokens, keys and rules (services/runtime/auth.py) on their own; the check in a running service is
tested by tests/e2e/test_trust_boundary.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from stocking.v1 import stock_service_pb2 as stock_api

from services.runtime import auth
from services.runtime.errors import DomainError, NotFound, PermissionDenied, Unauthenticated


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "keys"


def test_a_token_of_profiling_verifies_and_is_cached_until_it_expires(keys: Path) -> None:
    token = auth.Signer("profiling", keys).sign("ada", auth.Kind.CUSTOMER, session="s1")
    verifier = auth.Verifier(keys)
    principal = verifier.verify(token)
    assert (principal.subject, principal.kind, principal.session) == ("ada", auth.Kind.CUSTOMER, "s1")
    assert verifier.verify(token) is principal  # the second time from the cache


@pytest.mark.parametrize(("signer", "subject", "kind", "words"), [
    ("stocking", "mallory", auth.Kind.STAFF, "issuer that may not vouch"),  # a service cannot sign for a person
    ("stocking", "ordering", auth.Kind.SERVICE, "issuer that may not vouch"),  # nor as another service
])
def test_an_issuer_speaks_only_for_whom_it_may(keys: Path, signer: str, subject: str, kind: auth.Kind,
                                               words: str) -> None:
    token = auth.Signer(signer, keys).sign(subject, kind)
    with pytest.raises(Unauthenticated, match=words):
        auth.Verifier(keys).verify(token)


def test_expired_forged_and_garbled_tokens_are_refused(keys: Path, tmp_path: Path) -> None:
    verifier = auth.Verifier(keys)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(auth.Signer("profiling", keys).sign("ada", auth.Kind.CUSTOMER, seconds=-60))
    elsewhere = auth.Signer("profiling", tmp_path / "other-keys")  # same issuer name, a key nobody trusts
    with pytest.raises(Unauthenticated, match="unknown signing key"):
        verifier.verify(elsewhere.sign("ada", auth.Kind.CUSTOMER))
    with pytest.raises(Unauthenticated, match="not valid"):
        verifier.verify("not.a.token")
    refresh = auth.Signer("profiling", keys).sign("ada", auth.Kind.CUSTOMER, token_use="refresh")
    with pytest.raises(Unauthenticated, match="for refresh"):
        verifier.verify(refresh)  # a refresh token is no access token


def test_a_rotation_accepts_the_old_key_until_it_is_deleted(keys: Path) -> None:
    old_token = auth.Signer("profiling", keys).sign("ada", auth.Kind.CUSTOMER)
    verifier = auth.Verifier(keys)
    verifier.verify(old_token)
    time.sleep(0.01)
    new_private = auth.new_key("profiling", keys)
    new_signer = auth.Signer("profiling", keys)
    assert new_signer.kid == new_private.stem  # the newest key signs
    new_token = new_signer.sign("bob", auth.Kind.CUSTOMER)
    assert verifier.verify(new_token).subject == "bob"  # the running verifier finds the new key
    for path in keys.glob("profiling/*"):
        if not path.name.startswith(new_private.stem):
            path.unlink()
    with pytest.raises(Unauthenticated):
        auth.Verifier(keys).verify(old_token)


def authorise(rule: auth.Rule, request: Any, *metadata: tuple[str, str], keys: Path) -> auth.Principal | None:
    authoriser = auth.Authoriser({"stocking.v1.StockService": {"AdjustStock": rule}}, auth.Verifier(keys))
    authoriser.authorise("/stocking.v1.StockService/AdjustStock", metadata, request)
    return auth.caller.get()


def test_rules_and_the_actor_taken_from_the_token(keys: Path) -> None:
    people = auth.Signer("profiling", keys)
    clerk = auth.bearer(people.sign("clerk-7", auth.Kind.STAFF, roles=[auth.Role.STAFF]))
    ada = auth.bearer(people.sign("ada", auth.Kind.CUSTOMER))
    request = stock_api.AdjustStockRequest(sku="SKU-1", delta=1, staff_id="someone-else")
    authorise(auth.staff(actor="staff_id"), request, *clerk, keys=keys)
    assert request.staff_id == "clerk-7"
    refused: list[type[DomainError]] = []
    for rule, credentials in [(auth.staff(), ada), (auth.staff(auth.Role.ADMIN), clerk), (auth.service_only(), clerk),
                              (auth.customer_own(), ())]:
        try:
            authorise(rule, stock_api.AdjustStockRequest(), *credentials, keys=keys)
        except DomainError as exc:
            refused.append(type(exc))
    assert refused == [PermissionDenied, PermissionDenied, PermissionDenied, Unauthenticated]
    own = auth.Rule(auth.Access.CUSTOMER_OWN, owner="sku")  # any text field serves to test the owner check
    other = stock_api.AdjustStockRequest(sku="bob")
    with pytest.raises(NotFound):
        authorise(own, other, *ada, keys=keys)
    mine = stock_api.AdjustStockRequest()
    authorise(own, mine, *ada, keys=keys)
    assert mine.sku == "ada"  # left empty: the customer's own id filled in


def test_owned_by_hides_another_customers_records(keys: Path) -> None:
    auth.caller.set(auth.Principal("ada", auth.Kind.CUSTOMER))
    auth.owned_by("ada", "invoice 'i-1'")
    with pytest.raises(NotFound, match="no invoice 'i-1'"):
        auth.owned_by("bob", "invoice 'i-1'")
    with pytest.raises(NotFound):
        auth.owned_by("", "shipment 's-1'")  # nobody's record is staff's
    auth.owned_by("", "cart 'c-1'", unowned_is_open=True)  # an anonymous cart is reached by its id
    auth.caller.set(auth.Principal("clerk", auth.Kind.STAFF))
    auth.owned_by("bob", "invoice 'i-1'")
    auth.caller.set(None)  # no call at all: an event handler
    auth.owned_by("bob", "invoice 'i-1'")
