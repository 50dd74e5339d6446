"""Profiling's domain, without Kafka or gRPC: every rule and every refusal."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from pydantic import TypeAdapter

from services.profiling import domain
from services.profiling.domain import (
    Address,
    Customer,
    CustomerRegistered,
    CustomerStatus,
    CustomerStatusChanged,
    CustomerUpdated,
    Money,
    Role,
    SignInAttempts,
    StaffMember,
    StatusChangeSource,
)
from services.runtime.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

# Cheap argon2 costs keep the suite fast; the rules do not depend on the costs.
HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
THRESHOLD = Money(100_000, "EUR")


def register(**overrides: Any) -> Customer:
    values: dict[str, Any] = {
        "customer_id": "c-1",
        "email": "jane@example.com",
        "password": PASSWORD,
        "first_name": "Jane",
        "last_name": "Doe",
        "email_owner_id": None,
        "hasher": HASHER,
        "now": NOW,
    } | overrides
    customer, _ = domain.register_customer(**values)
    return customer


def staff_member(staff_id: str = "s-1", role: Role = Role.ADMIN, active: bool = True, email: str = "") -> StaffMember:
    return StaffMember(
        staff_id=staff_id,
        email=email or f"{staff_id}@shop.example",
        password_hash=HASHER.hash(PASSWORD),
        display_name=f"Staff {staff_id}",
        role=role,
        active=active,
        created_by="",
        created_at=NOW,
        updated_at=NOW,
    )


ADMIN = staff_member("admin-1", Role.ADMIN)
CLERK = staff_member("clerk-1", Role.STAFF)


def home(**overrides: str) -> Address:
    values = {
        "full_name": "Jane Doe",
        "line1": "1 rue de Rivoli",
        "postal_code": "75001",
        "city": "Paris",
        "country_code": "FR",
    } | overrides
    return Address(**values)


def with_addresses(customer: Customer, count: int) -> Customer:
    for number in range(count):
        customer, _, _ = domain.add_address(
            customer,
            address_id=f"a-{number}",
            label="",
            address=home(),
            now=NOW + timedelta(minutes=number),
        )
    return customer


# --------------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------------


def test_register_normalises_the_email_hashes_the_password_and_announces_the_customer() -> None:
    customer, events = domain.register_customer(
        customer_id="c-1",
        email="  Jane.Doe+Shop@Example.COM ",
        password=PASSWORD,
        first_name=" Jane ",
        last_name="Doe",
        phone="+33 6 12 34 56 78",
        email_owner_id=None,
        hasher=HASHER,
        now=NOW,
    )
    assert customer.email == "jane.doe+shop@example.com"
    assert customer.first_name == "Jane"
    assert customer.status == CustomerStatus.STANDARD
    assert not customer.status_pinned
    assert customer.created_at == customer.updated_at == NOW
    assert events == [
        CustomerRegistered("c-1", "jane.doe+shop@example.com", "Jane", "Doe", CustomerStatus.STANDARD, NOW)
    ]


def test_the_password_is_kept_only_as_an_argon2id_hash_and_never_shown() -> None:
    customer = register()
    assert customer.password_hash.startswith("$argon2id$")
    assert PASSWORD not in customer.password_hash
    assert HASHER.verify(customer.password_hash, PASSWORD)
    assert "password_hash" not in repr(customer) and PASSWORD not in repr(customer)


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "no-at-sign",
        "jane@localhost",
        "jane doe@example.com",
        "jane@-example.com",
        "jane@example.c0m",
        "jane@@example.com",
        ".jane@example.com",
        "x" * 65 + "@example.com",
        "jane@" + "a" * 250 + ".com",
    ],
)
def test_register_refuses_a_malformed_email(email: str) -> None:
    with pytest.raises(InvalidArgument, match="email"):
        register(email=email)


@pytest.mark.parametrize(("length", "accepted"), [(9, False), (10, True), (128, True), (129, False), (0, False)])
def test_passwords_must_be_10_to_128_characters(length: int, accepted: bool) -> None:
    if accepted:
        assert register(password="p" * length)
    else:
        with pytest.raises(InvalidArgument, match=f"10 to 128 characters long, got {length}"):
            register(password="p" * length)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "", "first_name is required"),
        ("first_name", "   ", "first_name is required"),
        ("last_name", "", "last_name is required"),
        ("first_name", "x" * 101, "first_name must be at most 100 characters"),
        ("phone", "1" * 41, "phone must be at most 40 characters"),
    ],
)
def test_register_refuses_missing_or_oversized_fields(field: str, value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        register(**{field: value})


def test_register_refuses_an_email_another_customer_uses() -> None:
    with pytest.raises(AlreadyExists, match=re.escape("already uses the email 'jane@example.com'")):
        register(email="JANE@example.com", email_owner_id="c-other")


# --------------------------------------------------------------------------------------------------
# Sign-in and throttling
# --------------------------------------------------------------------------------------------------


def sign_in(customer: Customer | None, attempts: SignInAttempts | None, password: str, now: datetime = NOW) -> Any:
    return domain.sign_in_customer(customer, attempts, password=password, hasher=HASHER, now=now)


def test_the_right_password_signs_a_customer_in_and_clears_the_failures() -> None:
    customer = register()
    failed = SignInAttempts(failures=[NOW - timedelta(minutes=1)])
    outcome = sign_in(customer, failed, PASSWORD)
    assert outcome.account_or_raise() == customer
    assert outcome.role == Role.CUSTOMER
    assert outcome.attempts == SignInAttempts()
    assert not outcome.account_changed


def test_unknown_email_and_wrong_password_get_the_same_answer() -> None:
    wrong_password = sign_in(register(), None, "not the password")
    unknown_email = sign_in(None, None, PASSWORD)
    for outcome in (wrong_password, unknown_email):
        assert isinstance(outcome.refusal, Unauthenticated)
        assert outcome.account is None
        assert outcome.attempts.failures == [NOW]
    assert wrong_password.refusal.message == unknown_email.refusal.message == domain.WRONG_CREDENTIALS
    with pytest.raises(Unauthenticated, match="email or password is incorrect"):
        wrong_password.account_or_raise()


@pytest.mark.parametrize("known_email", [True, False])
def test_five_failures_in_fifteen_minutes_lock_the_email_for_a_cool_down(known_email: bool) -> None:
    customer = register() if known_email else None
    attempts = None
    for minute in range(5):
        outcome = sign_in(customer, attempts, "wrong password", NOW + timedelta(minutes=minute))
        attempts = outcome.attempts
    assert isinstance(outcome.refusal, Unauthenticated)
    assert "try again in 15 minute(s)" in outcome.refusal.message
    assert attempts == SignInAttempts(failures=[], locked_until=NOW + timedelta(minutes=4 + 15))

    # While locked even the right password is refused, without counting as a failure.
    locked = sign_in(customer, attempts, PASSWORD, NOW + timedelta(minutes=10))
    assert isinstance(locked.refusal, Unauthenticated)
    assert locked.refusal.message == "too many failed sign-in attempts for this email; try again in 9 minute(s)"
    assert locked.attempts == attempts

    after_cool_down = sign_in(customer, attempts, PASSWORD, NOW + timedelta(minutes=19))
    if known_email:
        assert after_cool_down.account_or_raise() == customer
    else:
        assert after_cool_down.refusal.message == domain.WRONG_CREDENTIALS


def test_failures_older_than_the_window_do_not_count() -> None:
    old = [NOW - timedelta(minutes=16 + minute) for minute in range(4)]
    outcome = sign_in(register(), SignInAttempts(failures=old), "wrong password")
    assert outcome.attempts == SignInAttempts(failures=[NOW])


def test_the_throttle_is_configurable() -> None:
    strict = domain.SignInThrottle(max_failures=2, window=timedelta(minutes=1), cooldown=timedelta(hours=1))
    first = domain.sign_in_customer(None, None, password="x", hasher=HASHER, now=NOW, throttle=strict)
    second = domain.sign_in_customer(None, first.attempts, password="x", hasher=HASHER, now=NOW, throttle=strict)
    assert second.attempts.locked_until == NOW + timedelta(hours=1)


def test_a_hash_made_with_older_costs_is_upgraded_at_sign_in() -> None:
    customer = register()
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    outcome = domain.sign_in_customer(customer, None, password=PASSWORD, hasher=stronger, now=NOW)
    upgraded = outcome.account_or_raise()
    assert outcome.account_changed
    assert upgraded.password_hash != customer.password_hash
    assert not stronger.check_needs_rehash(upgraded.password_hash)
    assert stronger.verify(upgraded.password_hash, PASSWORD)
    assert upgraded.version == customer.version + 1


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_staff_sign_in_returns_the_role(role: Role) -> None:
    member = staff_member(role=role)
    outcome = domain.sign_in_staff(member, None, password=PASSWORD, hasher=HASHER, now=NOW)
    assert outcome.account_or_raise() == member
    assert outcome.role == role


def test_a_deactivated_staff_member_is_refused_only_once_the_password_is_right() -> None:
    member = staff_member(active=False)
    right = domain.sign_in_staff(member, None, password=PASSWORD, hasher=HASHER, now=NOW)
    assert isinstance(right.refusal, PermissionDenied)
    assert right.refusal.message == "this staff account is deactivated"
    wrong = domain.sign_in_staff(member, None, password="wrong password", hasher=HASHER, now=NOW)
    assert isinstance(wrong.refusal, Unauthenticated)


def test_the_account_kind_is_required() -> None:
    assert domain.require_account_kind(domain.AccountKind.STAFF) == domain.AccountKind.STAFF
    with pytest.raises(InvalidArgument, match="account_kind is required"):
        domain.require_account_kind(None)


def test_email_lookup_key_is_lenient_so_sign_in_never_reveals_a_format_rule() -> None:
    assert domain.email_lookup_key("  Jane@Example.com ") == "jane@example.com"
    assert domain.email_lookup_key("not an email") == "not an email"


# --------------------------------------------------------------------------------------------------
# Password change
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("account", [register(), staff_member()], ids=["customer", "staff"])
def test_change_password_needs_the_current_one(account: Any) -> None:
    changed = domain.change_password(
        account, old_password=PASSWORD, new_password="a brand new secret", hasher=HASHER, now=NOW
    )
    assert HASHER.verify(changed.password_hash, "a brand new secret")
    assert not domain._password_matches(HASHER, changed.password_hash, PASSWORD)
    assert changed.version == account.version + 1
    assert changed.updated_at == NOW


@pytest.mark.parametrize(
    ("old", "new", "error", "message"),
    [
        ("wrong password", "a brand new secret", Unauthenticated, "the current password is incorrect"),
        (PASSWORD, "short", InvalidArgument, "10 to 128 characters"),
        (PASSWORD, PASSWORD, InvalidArgument, "must differ from the current one"),
    ],
)
def test_change_password_refusals(old: str, new: str, error: type[DomainError], message: str) -> None:
    with pytest.raises(error, match=message):
        domain.change_password(register(), old_password=old, new_password=new, hasher=HASHER, now=NOW)


def test_require_customer_and_staff_member_answer_not_found() -> None:
    with pytest.raises(NotFound, match="no customer with id 'c-9'"):
        domain.require_customer(None, "c-9")
    with pytest.raises(NotFound, match="no staff member with id 's-9'"):
        domain.require_staff_member(None, "s-9")


# --------------------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------------------

LATER = NOW + timedelta(days=1)


def test_update_changes_only_the_given_fields_and_names_them() -> None:
    customer = register(phone="0612345678")
    changed, events = domain.update_customer(customer, first_name="Janet", last_name="Doe", phone="", now=LATER)
    assert (changed.first_name, changed.last_name, changed.phone) == ("Janet", "Doe", "")
    assert changed.updated_at == LATER and changed.version == customer.version + 1
    assert events == [
        CustomerUpdated("c-1", "jane@example.com", "Janet", "Doe", "", None, None, ["first_name", "phone"], LATER)
    ]


def test_an_update_that_changes_nothing_returns_the_same_record() -> None:
    customer = register()
    unchanged, events = domain.update_customer(customer, email=" JANE@example.com", first_name="Jane", now=LATER)
    assert unchanged is customer and events == []


def test_a_new_email_is_normalised_and_must_be_free() -> None:
    customer = register()
    changed, events = domain.update_customer(customer, email="New@Example.com", email_owner_id=None, now=LATER)
    assert changed.email == "new@example.com"
    assert events[0].changed_fields == ["email"]
    with pytest.raises(AlreadyExists, match=re.escape("new@example.com")):
        domain.update_customer(customer, email="new@example.com", email_owner_id="c-2", now=LATER)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "nope"}, "not a valid email address"),
        ({"first_name": " "}, "first_name is required"),
        ({"last_name": ""}, "last_name is required"),
        ({"phone": "9" * 41}, "phone must be at most 40 characters"),
    ],
)
def test_update_refuses_bad_values(changes: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        domain.update_customer(register(), now=LATER, **changes)


# --------------------------------------------------------------------------------------------------
# Address book
# --------------------------------------------------------------------------------------------------


def test_the_first_address_becomes_both_defaults() -> None:
    customer, entry, events = domain.add_address(
        register(), address_id="a-1", label=" Home ", address=home(country_code=" fr "), now=LATER
    )
    assert entry.label == "Home" and entry.address.country_code == "FR"
    assert customer.default_shipping_address_id == customer.default_billing_address_id == "a-1"
    assert customer.default_shipping_address == entry.address
    [event] = events
    assert isinstance(event, CustomerUpdated)
    assert event.changed_fields == ["default_shipping_address", "default_billing_address"]
    assert event.default_billing_address == entry.address


def test_later_addresses_become_defaults_only_when_asked() -> None:
    customer = with_addresses(register(), 1)
    plain, _, events = domain.add_address(customer, address_id="a-2", label="", address=home(), now=LATER)
    assert events == [] and plain.default_shipping_address_id == "a-0"

    office = home(line1="2 avenue de l'Opéra")
    shipping, _, events = domain.add_address(
        customer, address_id="a-2", label="Office", address=office, set_default_shipping=True, now=LATER
    )
    assert (shipping.default_shipping_address_id, shipping.default_billing_address_id) == ("a-2", "a-0")
    assert events[0].changed_fields == ["default_shipping_address"]

    billing, _, events = domain.add_address(
        customer, address_id="a-2", label="", address=office, set_default_billing=True, now=LATER
    )
    assert billing.default_billing_address_id == "a-2"
    assert events[0].changed_fields == ["default_billing_address"]


def test_the_address_book_holds_at_most_50_addresses() -> None:
    full = with_addresses(register(), 50)
    with pytest.raises(FailedPrecondition, match="already holds 50 addresses"):
        domain.add_address(full, address_id="a-50", label="", address=home(), now=LATER)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"full_name": ""}, "address.full_name is required"),
        ({"line1": "  "}, "address.line1 is required"),
        ({"postal_code": ""}, "address.postal_code is required"),
        ({"city": ""}, "address.city is required"),
        ({"country_code": ""}, "address.country_code is required"),
        ({"country_code": "XX"}, "'XX' is not an ISO 3166-1 alpha-2 country code"),
        ({"country_code": "FRA"}, "'FRA' is not an ISO 3166-1 alpha-2 country code"),
        ({"line2": "x" * 201}, "address.line2 must be at most 200 characters"),
        ({"city": "x" * 101}, "address.city must be at most 100 characters"),
    ],
)
def test_an_address_needs_its_required_fields_and_a_real_country(changes: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        domain.add_address(register(), address_id="a-1", label="", address=home(**changes), now=LATER)


def test_a_label_is_at_most_50_characters() -> None:
    with pytest.raises(InvalidArgument, match="label must be at most 50 characters"):
        domain.add_address(register(), address_id="a-1", label="x" * 51, address=home(), now=LATER)


@pytest.mark.parametrize(
    ("country", "postal_code", "stored"),
    [
        ("FR", "75001", "75001"),
        ("FR", " 13008 ", "13008"),
        ("MC", "98000", "98000"),
        ("DE", "10115", "10115"),
        ("IT", "00184", "00184"),
        ("ES", "28013", "28013"),
        ("ES", "52001", "52001"),
        ("BE", "1000", "1000"),
        ("NL", "1012 ab", "1012 AB"),
        ("NL", "1012AB", "1012AB"),
        ("GB", "sw1a  1aa", "SW1A 1AA"),
        ("GB", "M1 1AE", "M1 1AE"),
        ("US", "94105", "94105"),
        ("US", "94105-1234", "94105-1234"),
        ("PT", "1000-001", "1000-001"),
        ("CA", "K1A 0B1", "K1A 0B1"),
        ("JP", "100-0001", "100-0001"),  # no specific format: the loose check
    ],
)
def test_postal_codes_that_fit_their_country(country: str, postal_code: str, stored: str) -> None:
    _, entry, _ = domain.add_address(
        register(), address_id="a-1", label="", address=home(country_code=country, postal_code=postal_code), now=NOW
    )
    assert entry.address.postal_code == stored


@pytest.mark.parametrize(
    ("country", "postal_code"),
    [
        ("FR", "7500"),
        ("FR", "750011"),
        ("FR", "75 001"),
        ("FR", "ABCDE"),
        ("DE", "1011"),
        ("IT", "0018A"),
        ("ES", "53001"),
        ("ES", "00123"),
        ("BE", "0999"),
        ("BE", "10000"),
        ("NL", "0123 AB"),
        ("NL", "1012"),
        ("GB", "SW1A"),
        ("GB", "12345"),
        ("US", "9410"),
        ("US", "94105-12"),
        ("JP", "!!!"),
        ("JP", "12345678901"),
    ],
)
def test_postal_codes_that_do_not_fit_their_country(country: str, postal_code: str) -> None:
    address = home(country_code=country, postal_code=postal_code)
    with pytest.raises(InvalidArgument, match=f"not a valid postal code for {country}"):
        domain.add_address(register(), address_id="a-1", label="", address=address, now=NOW)


def test_update_address_replaces_it_and_keeps_its_id_and_default_flags() -> None:
    customer = with_addresses(register(), 2)  # a-0 is both defaults
    moved = home(line1="5 place Bellecour", postal_code="69002", city="Lyon")
    changed, entry, events = domain.update_address(
        customer, address_id="a-0", label="New home", address=moved, now=LATER
    )
    assert (entry.address_id, entry.label, entry.address.city) == ("a-0", "New home", "Lyon")
    assert entry.created_at == NOW and entry.updated_at == LATER
    assert changed.default_shipping_address_id == changed.default_billing_address_id == "a-0"
    assert events[0].changed_fields == ["default_shipping_address", "default_billing_address"]
    assert events[0].default_shipping_address == moved

    not_default, _, events = domain.update_address(customer, address_id="a-1", label="", address=moved, now=LATER)
    assert events == [] and not_default.address("a-1").address == moved  # type: ignore[union-attr]


def test_update_address_with_the_same_values_changes_nothing() -> None:
    customer = with_addresses(register(), 1)
    unchanged, _, events = domain.update_address(customer, address_id="a-0", label="", address=home(), now=LATER)
    assert unchanged is customer and events == []


def test_update_address_refusals() -> None:
    customer = with_addresses(register(), 1)
    with pytest.raises(NotFound, match="has no address with id 'a-9'"):
        domain.update_address(customer, address_id="a-9", label="", address=home(), now=LATER)
    with pytest.raises(InvalidArgument, match=re.escape("address.city is required")):
        domain.update_address(customer, address_id="a-0", label="", address=home(city=""), now=LATER)


def test_removing_a_default_address_clears_the_default_without_promoting_another() -> None:
    customer = with_addresses(register(), 2)
    changed, events = domain.remove_address(customer, address_id="a-0", now=LATER)
    assert [entry.address_id for entry in changed.addresses] == ["a-1"]
    assert changed.default_shipping_address_id == changed.default_billing_address_id == ""
    assert events[0].changed_fields == ["default_shipping_address", "default_billing_address"]
    assert events[0].default_shipping_address is None


def test_removing_another_address_publishes_nothing() -> None:
    customer = with_addresses(register(), 2)
    changed, events = domain.remove_address(customer, address_id="a-1", now=LATER)
    assert len(changed.addresses) == 1 and events == []
    with pytest.raises(NotFound):
        domain.remove_address(customer, address_id="a-9", now=LATER)


def test_addresses_are_listed_defaults_first_then_newest() -> None:
    customer = with_addresses(register(), 4)  # a-0 is both defaults, a-3 is the newest
    customer, _ = domain.set_default_billing_address(customer, address_id="a-2", now=LATER)
    assert [entry.address_id for entry in domain.list_addresses(customer)] == ["a-0", "a-2", "a-3", "a-1"]


@pytest.mark.parametrize(
    ("set_default", "field"),
    [
        (domain.set_default_shipping_address, "default_shipping_address"),
        (domain.set_default_billing_address, "default_billing_address"),
    ],
)
def test_set_a_default_address(set_default: Any, field: str) -> None:
    customer = with_addresses(register(), 2)
    changed, events = set_default(customer, address_id="a-1", now=LATER)
    assert getattr(changed, f"{field}_id") == "a-1"
    assert events[0].changed_fields == [field]
    again, events = set_default(changed, address_id="a-1", now=LATER)
    assert again is changed and events == []
    with pytest.raises(NotFound, match="has no address with id 'a-9'"):
        set_default(customer, address_id="a-9", now=LATER)


# --------------------------------------------------------------------------------------------------
# Status set by staff
# --------------------------------------------------------------------------------------------------


def set_status(customer: Customer | None, **overrides: Any) -> tuple[Customer, list[Any]]:
    values: dict[str, Any] = {
        "customer_id": "c-1",
        "status": CustomerStatus.VIP,
        "reason": "loyal since 2010",
        "pinned": True,
        "staff": CLERK,
        "staff_id": CLERK.staff_id,
        "shop_currency": "EUR",
        "now": LATER,
    } | overrides
    return domain.set_customer_status(customer, **values)


def test_staff_sets_a_status_with_a_reason_and_it_is_announced() -> None:
    customer = register()
    changed, events = set_status(customer)
    assert (changed.status, changed.status_source, changed.status_pinned) == (
        CustomerStatus.VIP,
        StatusChangeSource.STAFF,
        True,
    )
    assert events == [
        CustomerStatusChanged(
            customer_id="c-1",
            old_status=CustomerStatus.STANDARD,
            new_status=CustomerStatus.VIP,
            reason="loyal since 2010",
            source=StatusChangeSource.STAFF,
            changed_by="clerk-1",
            pinned=True,
            confirmed_spend=Money(0, "EUR"),
            occurred_at=LATER,
        )
    ]
    assert changed.status_history[-1] == domain.StatusChange(
        LATER,
        CustomerStatus.STANDARD,
        CustomerStatus.VIP,
        "loyal since 2010",
        StatusChangeSource.STAFF,
        "clerk-1",
        True,
    )
    assert changed.version == customer.version + 1


def test_setting_the_same_status_only_updates_the_pin_and_publishes_nothing() -> None:
    customer = register()
    pinned, events = set_status(customer, status=CustomerStatus.STANDARD, pinned=True)
    assert events == [] and pinned.status_pinned and pinned.status == CustomerStatus.STANDARD
    assert pinned.status_history[-1].reason == "loyal since 2010"
    again, events = set_status(pinned, status=CustomerStatus.STANDARD, pinned=True)
    assert again is pinned and events == []


@pytest.mark.parametrize(
    ("customer", "overrides", "error", "message"),
    [
        (register(), {"status": None}, InvalidArgument, "status is required"),
        (register(), {"reason": "  "}, InvalidArgument, "reason is required"),
        (register(), {"reason": "x" * 501}, InvalidArgument, "reason must be at most 500"),
        (None, {}, NotFound, "no customer with id 'c-1'"),
        (register(), {"staff": None, "staff_id": "ghost"}, PermissionDenied, "'ghost' is not an active staff member"),
        (register(), {"staff": staff_member("old", active=False), "staff_id": "old"}, PermissionDenied, "'old'"),
        # Permission comes first, so a stranger learns nothing about customers.
        (None, {"staff": None, "staff_id": "ghost"}, PermissionDenied, "not an active staff member"),
    ],
)
def test_set_status_refusals(
    customer: Customer | None, overrides: dict[str, Any], error: type[DomainError], message: str
) -> None:
    with pytest.raises(error, match=message):
        set_status(customer, **overrides)


# --------------------------------------------------------------------------------------------------
# Status by the spend rule
# --------------------------------------------------------------------------------------------------


def confirm(customer: Customer, order_id: str, amount: int, currency: str = "EUR") -> tuple[Customer, list[Any]]:
    return domain.record_order_confirmed(
        customer, order_id=order_id, total=Money(amount, currency), vip_threshold=THRESHOLD, now=LATER
    )


def cancel(customer: Customer, order_id: str, amount: int = 0) -> tuple[Customer, list[Any]]:
    return domain.record_order_cancelled(
        customer, order_id=order_id, total=Money(amount, "EUR"), vip_threshold=THRESHOLD, now=LATER
    )


def test_confirmed_spend_below_the_threshold_keeps_the_customer_standard() -> None:
    customer, events = confirm(register(), "o-1", 99_999)
    assert customer.spend_in("EUR") == Money(99_999, "EUR")
    assert customer.status == CustomerStatus.STANDARD and events == []


def test_reaching_the_threshold_makes_the_customer_vip_by_rule() -> None:
    customer, _ = confirm(register(), "o-1", 60_000)
    customer, events = confirm(customer, "o-2", 40_000)  # exactly the threshold
    assert customer.status == CustomerStatus.VIP
    assert customer.status_source == StatusChangeSource.RULE
    [event] = events
    assert isinstance(event, CustomerStatusChanged)
    assert (event.old_status, event.new_status, event.source, event.changed_by, event.pinned) == (
        CustomerStatus.STANDARD,
        CustomerStatus.VIP,
        StatusChangeSource.RULE,
        "",
        False,
    )
    assert event.reason == "confirmed spend reached the VIP threshold"
    assert event.confirmed_spend == Money(100_000, "EUR")


def test_a_confirmed_order_is_counted_once() -> None:
    customer, _ = confirm(register(), "o-1", 150_000)
    replayed, events = confirm(customer, "o-1", 150_000)
    assert replayed is customer and events == []
    assert replayed.spend_in("EUR").amount_minor == 150_000


def test_cancelling_a_counted_order_takes_it_back_and_drops_the_customer_to_standard() -> None:
    customer, _ = confirm(register(), "o-1", 30_000)
    customer, _ = confirm(customer, "o-2", 80_000)
    customer, events = cancel(customer, "o-2", 80_000)
    assert customer.spend_in("EUR").amount_minor == 30_000
    assert customer.status == CustomerStatus.STANDARD
    assert events[0].reason == "confirmed spend fell below the VIP threshold"
    assert events[0].confirmed_spend == Money(30_000, "EUR")

    replayed, events = cancel(customer, "o-2", 80_000)
    assert replayed is customer and events == []


def test_cancellation_takes_back_what_was_counted_not_what_it_says() -> None:
    customer, _ = confirm(register(), "o-1", 5_000)
    customer, _ = cancel(customer, "o-1", 9_999)
    assert customer.spend_in("EUR").amount_minor == 0


def test_a_cancellation_arriving_before_its_confirmation_wins() -> None:
    customer, events = cancel(register(), "o-1", 200_000)
    assert events == [] and customer.spend_in("EUR").amount_minor == 0
    late, events = confirm(customer, "o-1", 200_000)
    assert late is customer and events == []
    assert late.status == CustomerStatus.STANDARD


def test_the_rule_leaves_a_pinned_status_alone() -> None:
    pinned_standard, _ = set_status(register(), status=CustomerStatus.STANDARD, pinned=True)
    customer, events = confirm(pinned_standard, "o-1", 500_000)
    assert customer.status == CustomerStatus.STANDARD and events == []
    assert customer.spend_in("EUR").amount_minor == 500_000  # still counted, for when it is unpinned

    pinned_vip, _ = set_status(register(), status=CustomerStatus.VIP, pinned=True)
    customer, events = confirm(pinned_vip, "o-1", 10)
    assert customer.status == CustomerStatus.VIP and events == []


def test_an_unpinned_staff_status_is_corrected_by_the_next_order() -> None:
    vip, _ = set_status(register(), status=CustomerStatus.VIP, pinned=False)
    customer, events = confirm(vip, "o-1", 10)
    assert customer.status == CustomerStatus.STANDARD
    assert events[0].source == StatusChangeSource.RULE


def test_spend_is_summed_per_currency_and_only_the_thresholds_currency_counts() -> None:
    customer, events = confirm(register(), "o-1", 500_000, currency="USD")
    assert events == [] and customer.status == CustomerStatus.STANDARD
    assert customer.confirmed_spend == {"USD": 500_000}
    customer, _ = confirm(customer, "o-2", 100_000)
    assert customer.status == CustomerStatus.VIP
    assert customer.confirmed_spend == {"USD": 500_000, "EUR": 100_000}


@pytest.mark.parametrize(
    ("total", "message"),
    [
        (Money(-1, "EUR"), "order total must not be negative"),
        (Money(100, "eur"), "three upper-case letters"),
        (Money(100, ""), "three upper-case letters"),
    ],
)
def test_order_totals_must_be_sane(total: Money, message: str) -> None:
    for record in (domain.record_order_confirmed, domain.record_order_cancelled):
        with pytest.raises(InvalidArgument, match=message):
            record(register(), order_id="o-1", total=total, vip_threshold=THRESHOLD, now=LATER)


def test_each_spend_change_bumps_the_version_once() -> None:
    customer = register()
    vip, _ = confirm(customer, "o-1", 100_000)  # counted and status changed: one change
    assert vip.version == customer.version + 1


# --------------------------------------------------------------------------------------------------
# Staff accounts
# --------------------------------------------------------------------------------------------------


def create_staff(**overrides: Any) -> StaffMember:
    values: dict[str, Any] = {
        "staff_id": "s-2",
        "email": "Clerk@Shop.example",
        "password": PASSWORD,
        "display_name": "Clerk",
        "role": Role.STAFF,
        "creator": ADMIN,
        "created_by": ADMIN.staff_id,
        "email_owner_id": None,
        "hasher": HASHER,
        "now": NOW,
    } | overrides
    return domain.create_staff_member(**values)


def test_the_first_admin_comes_from_configuration_once() -> None:
    admin = domain.create_first_admin(
        staff_id="s-1",
        email="Admin@Shop.example",
        password=PASSWORD,
        display_name="Admin",
        existing_staff=[],
        hasher=HASHER,
        now=NOW,
    )
    assert admin is not None
    assert (admin.email, admin.role, admin.active, admin.created_by) == ("admin@shop.example", Role.ADMIN, True, "")
    again = domain.create_first_admin(
        staff_id="s-9",
        email="admin@shop.example",
        password=PASSWORD,
        display_name="Admin",
        existing_staff=[admin],
        hasher=HASHER,
        now=NOW,
    )
    assert again is None


def test_an_admin_creates_a_staff_account() -> None:
    member = create_staff()
    assert (member.email, member.role, member.active, member.created_by) == (
        "clerk@shop.example",
        Role.STAFF,
        True,
        "admin-1",
    )
    assert HASHER.verify(member.password_hash, PASSWORD)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"creator": CLERK, "created_by": "clerk-1"}, PermissionDenied, "'clerk-1' is not an active admin"),
        ({"creator": None, "created_by": "ghost"}, PermissionDenied, "'ghost' is not an active admin"),
        ({"creator": replace(ADMIN, active=False)}, PermissionDenied, "not an active admin"),
        ({"role": None}, InvalidArgument, "role must be STAFF or ADMIN, got none"),
        ({"role": Role.CUSTOMER}, InvalidArgument, "role must be STAFF or ADMIN, got CUSTOMER"),
        ({"email": "clerk"}, InvalidArgument, "not a valid email address"),
        ({"password": "short"}, InvalidArgument, "10 to 128 characters"),
        ({"display_name": " "}, InvalidArgument, "display_name is required"),
        ({"email_owner_id": "s-7"}, AlreadyExists, "a staff account already uses the email 'clerk@shop.example'"),
    ],
)
def test_create_staff_member_refusals(overrides: dict[str, Any], error: type[DomainError], message: str) -> None:
    with pytest.raises(error, match=message):
        create_staff(**overrides)


def update_staff(member: StaffMember | None, **overrides: Any) -> StaffMember:
    values: dict[str, Any] = {
        "staff_id": "clerk-1",
        "updater": ADMIN,
        "updated_by": ADMIN.staff_id,
        "active_admin_count": 2,
        "now": LATER,
    } | overrides
    return domain.update_staff_member(member, **values)


def test_an_admin_changes_a_staff_members_name_role_and_active_flag() -> None:
    changed = update_staff(CLERK, display_name=" Chief ", role=Role.ADMIN, active=False)
    assert (changed.display_name, changed.role, changed.active) == ("Chief", Role.ADMIN, False)
    assert changed.updated_at == LATER and changed.version == CLERK.version + 1
    assert update_staff(CLERK, display_name=CLERK.display_name) is CLERK


@pytest.mark.parametrize("change", [{"role": Role.STAFF}, {"active": False}])
def test_the_last_active_admin_cannot_be_demoted_or_deactivated(change: dict[str, Any]) -> None:
    with pytest.raises(FailedPrecondition, match="is the last active admin"):
        update_staff(ADMIN, staff_id=ADMIN.staff_id, active_admin_count=1, **change)
    assert update_staff(ADMIN, staff_id=ADMIN.staff_id, active_admin_count=2, **change) != ADMIN


@pytest.mark.parametrize(
    ("member", "overrides", "error", "message"),
    [
        (CLERK, {"updater": CLERK, "updated_by": "clerk-1"}, PermissionDenied, "not an active admin"),
        (None, {"updater": None, "updated_by": "ghost"}, PermissionDenied, "not an active admin"),
        (None, {}, NotFound, "no staff member with id 'clerk-1'"),
        (CLERK, {"display_name": ""}, InvalidArgument, "display_name is required"),
        (CLERK, {"role": Role.CUSTOMER}, InvalidArgument, "role must be STAFF or ADMIN"),
    ],
)
def test_update_staff_member_refusals(
    member: StaffMember | None, overrides: dict[str, Any], error: type[DomainError], message: str
) -> None:
    with pytest.raises(error, match=message):
        update_staff(member, **overrides)


def test_list_staff_members_by_email_leaving_out_inactive_ones_unless_asked() -> None:
    staff = [
        staff_member("c", Role.STAFF, email="carol@shop.example"),
        staff_member("a", Role.ADMIN, email="alice@shop.example"),
        staff_member("b", Role.STAFF, active=False, email="bob@shop.example"),
    ]
    assert [m.staff_id for m in domain.list_staff_members(staff).items] == ["a", "c"]
    assert [m.staff_id for m in domain.list_staff_members(staff, include_inactive=True).items] == ["a", "b", "c"]
    assert [m.staff_id for m in domain.list_staff_members(staff, role=Role.STAFF).items] == ["c"]


# --------------------------------------------------------------------------------------------------
# Customer search and paging
# --------------------------------------------------------------------------------------------------


def customers() -> list[Customer]:
    people = [
        ("c-1", "zoe.martin@example.com", "Zoé", "Martin", CustomerStatus.VIP),
        ("c-2", "jean.dupont@example.com", "Jean", "Dupont", CustomerStatus.STANDARD),
        ("c-3", "anna.martin@example.org", "Anna", "Martin", CustomerStatus.STANDARD),
        ("c-4", "marc@example.com", "Marc", "Durand", CustomerStatus.VIP),
        ("c-5", "lea@example.com", "Léa", "Martinez", CustomerStatus.STANDARD),
    ]
    return [
        replace(register(customer_id=i, email=e, first_name=f, last_name=last), status=status)
        for i, e, f, last, status in people
    ]


CUSTOMERS = customers()


@pytest.mark.parametrize(
    ("query", "statuses", "expected"),
    [
        ("", [], ["c-3", "c-2", "c-5", "c-4", "c-1"]),
        ("martin", [], ["c-3", "c-5", "c-1"]),
        ("MARTIN anna", [], ["c-3"]),
        ("example.org", [], ["c-3"]),
        ("martin", [CustomerStatus.VIP], ["c-1"]),
        ("", [CustomerStatus.VIP, CustomerStatus.STANDARD], ["c-3", "c-2", "c-5", "c-4", "c-1"]),
        ("nobody", [], []),
    ],
)
def test_search_matches_every_word_over_email_and_names_ordered_by_email(
    query: str, statuses: list[CustomerStatus], expected: list[str]
) -> None:
    page = domain.search_customers(CUSTOMERS, query=query, statuses=statuses)
    assert [c.customer_id for c in page.items] == expected
    assert page.total_size == len(expected) and page.next_page_token == ""


def test_search_pages_through_every_match_once() -> None:
    seen: list[str] = []
    token = ""
    while True:
        page = domain.search_customers(CUSTOMERS, query="example", page_size=2, page_token=token)
        seen += [c.customer_id for c in page.items]
        assert page.total_size == 5
        token = page.next_page_token
        if not token:
            break
    assert seen == ["c-3", "c-2", "c-5", "c-4", "c-1"]


def test_a_page_token_keeps_working_when_records_change_between_pages() -> None:
    first = domain.search_customers(CUSTOMERS, page_size=2)
    newcomer = register(customer_id="c-6", email="aaron@example.com")
    second = domain.search_customers([*CUSTOMERS, newcomer], page_size=2, page_token=first.next_page_token)
    assert [c.customer_id for c in second.items] == ["c-5", "c-4"]  # after the cursor, no repeats


def test_page_sizes_default_to_20_and_are_capped_at_100() -> None:
    many = [replace(CUSTOMERS[0], customer_id=f"c-{n}", email=f"u{n:03}@example.com") for n in range(150)]
    assert len(domain.search_customers(many).items) == 20
    assert len(domain.search_customers(many, page_size=500).items) == 100


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"page_size": -1}, "page_size must be 0"),
        ({"page_token": "garbage!"}, "is not one this list issued for these filters and this order"),
        ({"page_token": "eyJ4IjogMX0"}, "is not one this list issued for these filters and this order"),  # {"x": 1}
    ],
)
def test_bad_paging_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        domain.search_customers(CUSTOMERS, **overrides)


def test_a_page_token_only_works_with_the_filters_it_was_issued_for() -> None:
    token = domain.search_customers(CUSTOMERS, query="example", page_size=1).next_page_token
    with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
        domain.search_customers(CUSTOMERS, query="martin", page_token=token)
    with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
        domain.search_customers(CUSTOMERS, query="example", statuses=[CustomerStatus.VIP], page_token=token)
    # The same filters written differently (case, spacing) are the same filters.
    assert domain.search_customers(CUSTOMERS, query="  EXAMPLE ", page_token=token).items


# --------------------------------------------------------------------------------------------------
# Records survive the store's JSON
# --------------------------------------------------------------------------------------------------


def test_records_round_trip_through_pydantic_json() -> None:
    customer = with_addresses(register(), 2)
    customer, _ = confirm(customer, "o-1", 120_000)
    customer, _ = cancel(customer, "o-2")
    customer, _ = set_status(customer, status=CustomerStatus.STANDARD, pinned=True)
    for record, kind in [
        (customer, Customer),
        (ADMIN, StaffMember),
        (SignInAttempts(failures=[NOW], locked_until=LATER), SignInAttempts),
    ]:
        adapter: TypeAdapter[Any] = TypeAdapter(kind)
        assert adapter.validate_json(adapter.dump_json(record)) == record
