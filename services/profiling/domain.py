"""Profiling's rules: customers and their address books, loyalty status, staff accounts, sign-in.

Pure: no gRPC, no Kafka, no clock (every use case takes `now`), no id generation (ids are passed in).
Each use case takes the current record(s) and the request's plain values, checks them, and returns
the changed record(s) plus the domain events that happened; a refused request raises one of
`services.runtime.errors`, whose message is shown to the caller as it is.

Records are frozen dataclasses, changed with `dataclasses.replace`, so a use case can never modify
the record the store still holds. A use case that changes nothing returns the record it was given
(the same object) and no events.

Calls that act for a staff member take the acting account (`StaffMember | None`, as looked up by
the wiring) and, when they also act on an existing record, that record as `... | None`: the domain
then refuses in a fixed order — permission, arguments, existence — so a caller who may not act
learns nothing about which records exist.

Passwords are hashed with argon2id through an injected `argon2.PasswordHasher` (tests pass a cheap
one); clear-text passwords are never stored, logged or put in a message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.runtime.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from services.runtime.paging import Page, paginate
from services.runtime.values import Address, Money

# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------


class CustomerStatus(StrEnum):
    """Loyalty tiers, lowest first. A new tier (GOLD) is added after VIP, with its rule."""

    STANDARD = "STANDARD"
    VIP = "VIP"


class StatusChangeSource(StrEnum):
    RULE = "RULE"  # the spend rule (also the source of a new customer's STANDARD)
    STAFF = "STAFF"


class Role(StrEnum):
    CUSTOMER = "CUSTOMER"
    STAFF = "STAFF"
    ADMIN = "ADMIN"


class AccountKind(StrEnum):
    CUSTOMER = "CUSTOMER"
    STAFF = "STAFF"


STAFF_ROLES = (Role.STAFF, Role.ADMIN)


@dataclass(frozen=True)
class AddressBookEntry:
    address_id: str
    label: str
    address: Address
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StatusChange:
    """One line of a customer's status history (staff reasons are kept here)."""

    at: datetime
    old_status: CustomerStatus
    new_status: CustomerStatus
    reason: str
    source: StatusChangeSource
    changed_by: str  # staff id; empty for the rule
    pinned: bool


@dataclass(frozen=True)
class CountedOrder:
    """What the spend rule did with one order: counted (confirmed) or not (cancelled).

    The entry stays once the order is cancelled, so a late or replayed OrderConfirmed of that order
    is ignored instead of counted again."""

    amount: Money
    counted: bool


@dataclass(frozen=True)
class Customer:
    customer_id: str
    email: str
    password_hash: str = field(repr=False)
    first_name: str
    last_name: str
    phone: str
    created_at: datetime
    updated_at: datetime
    status: CustomerStatus = CustomerStatus.STANDARD
    status_source: StatusChangeSource = StatusChangeSource.RULE
    status_pinned: bool = False
    status_history: list[StatusChange] = field(default_factory=list)
    addresses: list[AddressBookEntry] = field(default_factory=list)
    default_shipping_address_id: str = ""
    default_billing_address_id: str = ""
    # Confirmed orders minus cancelled ones, minor units by currency (orders may predate a change
    # of the shop's currency; each currency is summed on its own, never converted).
    confirmed_spend: dict[str, int] = field(default_factory=dict)
    orders: dict[str, CountedOrder] = field(default_factory=dict)  # by order id: idempotency
    version: int = 1

    def spend_in(self, currency: str) -> Money:
        return Money(self.confirmed_spend.get(currency, 0), currency)

    def address(self, address_id: str) -> AddressBookEntry | None:
        return next((entry for entry in self.addresses if entry.address_id == address_id), None)

    @property
    def default_shipping_address(self) -> Address | None:
        entry = self.address(self.default_shipping_address_id)
        return entry.address if entry else None

    @property
    def default_billing_address(self) -> Address | None:
        entry = self.address(self.default_billing_address_id)
        return entry.address if entry else None


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    email: str
    password_hash: str = field(repr=False)
    display_name: str
    role: Role  # STAFF or ADMIN
    active: bool
    created_by: str  # empty for the first admin, created from configuration
    created_at: datetime
    updated_at: datetime
    version: int = 1


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRegistered:
    customer_id: str
    email: str
    first_name: str
    last_name: str
    status: CustomerStatus
    occurred_at: datetime


@dataclass(frozen=True)
class CustomerUpdated:
    """The whole profile after the change (never the password hash) and what changed."""

    customer_id: str
    email: str
    first_name: str
    last_name: str
    phone: str
    default_shipping_address: Address | None
    default_billing_address: Address | None
    changed_fields: list[str]
    occurred_at: datetime


@dataclass(frozen=True)
class CustomerStatusChanged:
    customer_id: str
    old_status: CustomerStatus
    new_status: CustomerStatus
    reason: str
    source: StatusChangeSource
    changed_by: str
    pinned: bool
    confirmed_spend: Money
    occurred_at: datetime


CustomerEvent = CustomerRegistered | CustomerUpdated | CustomerStatusChanged

# --------------------------------------------------------------------------------------------------
# Field checks
# --------------------------------------------------------------------------------------------------

PASSWORD_MIN_LENGTH = 10  # profile_service.proto: 10 to 128 characters
PASSWORD_MAX_LENGTH = 128
NAME_MAX_LENGTH = 100
PHONE_MAX_LENGTH = 40
REASON_MAX_LENGTH = 500

# Practical rather than RFC 5322: ASCII local part and a dotted domain with a letters-only TLD.
_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)


def email_lookup_key(email: str) -> str:
    """The form emails are stored and indexed in; for looking up an email typed at sign-in."""
    return email.strip().lower()


def normalise_email(email: str) -> str:
    """Lower-cased and trimmed; refused when it is not a plausible address."""
    normalised = email_lookup_key(email)
    if not normalised:
        raise InvalidArgument("email is required")
    local_part = normalised.partition("@")[0]
    if len(normalised) > 254 or len(local_part) > 64 or not _EMAIL.fullmatch(normalised):
        raise InvalidArgument(f"email {email.strip()!r} is not a valid email address")
    return normalised


def check_password(password: str) -> None:
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise InvalidArgument(
            f"password must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters long, got {len(password)}"
        )


def _required_text(what: str, value: str, max_length: int) -> str:
    text = value.strip()
    if not text:
        raise InvalidArgument(f"{what} is required")
    return _optional_text(what, text, max_length)


def _optional_text(what: str, value: str, max_length: int) -> str:
    text = value.strip()
    if len(text) > max_length:
        raise InvalidArgument(f"{what} must be at most {max_length} characters, got {len(text)}")
    return text


def _check_owner(kind: str, email: str, owner_id: str | None, own_id: str) -> None:
    """`owner_id` is who holds `email` in the wiring's email index (None when nobody does)."""
    if owner_id is not None and owner_id != own_id:
        raise AlreadyExists(f"a {kind} account already uses the email {email!r}")


# --------------------------------------------------------------------------------------------------
# Passwords and sign-in
# --------------------------------------------------------------------------------------------------

AccountT = TypeVar("AccountT", Customer, StaffMember)

WRONG_CREDENTIALS = "email or password is incorrect"

# A hash to verify against when the email is unknown, so that answer takes as long as a wrong
# password (timing must not tell whether an email has an account). One per hasher cost setting.
_decoy_hashes: dict[tuple[object, ...], str] = {}


def _decoy_hash(hasher: PasswordHasher) -> str:
    costs = (hasher.type, hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len)
    if costs not in _decoy_hashes:
        _decoy_hashes[costs] = hasher.hash("decoy password for unknown accounts")
    return _decoy_hashes[costs]


def _password_matches(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SignInThrottle:
    """After `max_failures` failed sign-ins for one email within `window`, refuse for `cooldown`."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    cooldown: timedelta = timedelta(minutes=15)


DEFAULT_SIGN_IN_THROTTLE = SignInThrottle()


@dataclass(frozen=True)
class SignInAttempts:
    """Recent failed sign-ins for one account kind and email, a record the wiring stores.

    Kept for unknown emails too, so throttling never reveals whether an email has an account."""

    failures: list[datetime] = field(default_factory=list)
    locked_until: datetime | None = None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime, throttle: SignInThrottle) -> SignInAttempts:
        recent = [at for at in self.failures if now - at < throttle.window] + [now]
        if len(recent) >= throttle.max_failures:
            return SignInAttempts(failures=[], locked_until=now + throttle.cooldown)
        return SignInAttempts(failures=recent, locked_until=None)


@dataclass(frozen=True)
class SignIn(Generic[AccountT]):
    """The outcome of a sign-in: store `attempts` (and `account` when `account_changed`) whether or
    not it succeeded, commit, and only then call `account_or_raise()` — raising inside the unit of
    work would discard the failure count."""

    attempts: SignInAttempts
    account: AccountT | None
    role: Role | None
    refusal: DomainError | None
    account_changed: bool = False  # the password hash was upgraded to the hasher's current costs

    def account_or_raise(self) -> AccountT:
        if self.refusal is not None:
            raise self.refusal
        assert self.account is not None
        return self.account


def require_account_kind(kind: AccountKind | None) -> AccountKind:
    if kind is None:
        raise InvalidArgument("account_kind is required: CUSTOMER for the storefront, STAFF for the back-office")
    return kind


def sign_in_customer(
    customer: Customer | None,
    attempts: SignInAttempts | None,
    *,
    password: str,
    hasher: PasswordHasher,
    now: datetime,
    throttle: SignInThrottle = DEFAULT_SIGN_IN_THROTTLE,
) -> SignIn[Customer]:
    """`customer` is the one whose email was typed (`email_lookup_key`), None when there is none."""
    return _sign_in(customer, attempts, password, hasher, now, throttle)


def sign_in_staff(
    staff_member: StaffMember | None,
    attempts: SignInAttempts | None,
    *,
    password: str,
    hasher: PasswordHasher,
    now: datetime,
    throttle: SignInThrottle = DEFAULT_SIGN_IN_THROTTLE,
) -> SignIn[StaffMember]:
    return _sign_in(staff_member, attempts, password, hasher, now, throttle)


def _sign_in(
    account: AccountT | None,
    attempts: SignInAttempts | None,
    password: str,
    hasher: PasswordHasher,
    now: datetime,
    throttle: SignInThrottle,
) -> SignIn[AccountT]:
    attempts = attempts or SignInAttempts()
    if attempts.is_locked(now):
        # Refused without checking the password, so guessing gains nothing while locked.
        assert attempts.locked_until is not None
        minutes = math.ceil((attempts.locked_until - now) / timedelta(minutes=1))
        message = f"too many failed sign-in attempts for this email; try again in {minutes} minute(s)"
        return SignIn(attempts, None, None, Unauthenticated(message))

    if account is None:
        _password_matches(hasher, _decoy_hash(hasher), password)
        matched = False
    else:
        matched = _password_matches(hasher, account.password_hash, password)
    if not matched:
        attempts = attempts.after_failure(now, throttle)
        message = WRONG_CREDENTIALS
        if attempts.is_locked(now):
            minutes = math.ceil(throttle.cooldown / timedelta(minutes=1))
            message += f"; too many failed attempts, try again in {minutes} minute(s)"
        return SignIn(attempts, None, None, Unauthenticated(message))

    assert account is not None
    cleared = SignInAttempts()
    # Only after the right password, so a deactivated account is not revealed to a guesser.
    if isinstance(account, StaffMember) and not account.active:
        return SignIn(cleared, None, None, PermissionDenied("this staff account is deactivated"))
    role = account.role if isinstance(account, StaffMember) else Role.CUSTOMER
    if hasher.check_needs_rehash(account.password_hash):
        upgraded = replace(account, password_hash=hasher.hash(password), updated_at=now, version=account.version + 1)
        return SignIn(cleared, upgraded, role, None, account_changed=True)
    return SignIn(cleared, account, role, None)


def change_password(
    account: AccountT,
    *,
    old_password: str,
    new_password: str,
    hasher: PasswordHasher,
    now: datetime,
) -> AccountT:
    """For a customer or a staff member; the current password is required."""
    check_password(new_password)
    if not _password_matches(hasher, account.password_hash, old_password):
        raise Unauthenticated("the current password is incorrect")
    if new_password == old_password:
        raise InvalidArgument("the new password must differ from the current one")
    return replace(account, password_hash=hasher.hash(new_password), updated_at=now, version=account.version + 1)


# --------------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------------


def require_customer(customer: Customer | None, customer_id: str) -> Customer:
    if customer is None:
        raise NotFound(f"no customer with id {customer_id!r}")
    return customer


def _bump(customer: Customer) -> Customer:
    return replace(customer, version=customer.version + 1)


def _customer_updated(customer: Customer, changed_fields: list[str], now: datetime) -> CustomerUpdated:
    return CustomerUpdated(
        customer_id=customer.customer_id,
        email=customer.email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        phone=customer.phone,
        default_shipping_address=customer.default_shipping_address,
        default_billing_address=customer.default_billing_address,
        changed_fields=changed_fields,
        occurred_at=now,
    )


def register_customer(
    *,
    customer_id: str,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    phone: str = "",
    email_owner_id: str | None,
    hasher: PasswordHasher,
    now: datetime,
) -> tuple[Customer, list[CustomerRegistered]]:
    """`email_owner_id`: the customer the normalised email already belongs to, if any."""
    normalised_email = normalise_email(email)
    check_password(password)
    first = _required_text("first_name", first_name, NAME_MAX_LENGTH)
    last = _required_text("last_name", last_name, NAME_MAX_LENGTH)
    phone = _optional_text("phone", phone, PHONE_MAX_LENGTH)
    _check_owner("customer", normalised_email, email_owner_id, customer_id)
    customer = Customer(
        customer_id=customer_id,
        email=normalised_email,
        password_hash=hasher.hash(password),
        first_name=first,
        last_name=last,
        phone=phone,
        created_at=now,
        updated_at=now,
    )
    registered = CustomerRegistered(customer_id, normalised_email, first, last, customer.status, now)
    return customer, [registered]


def update_customer(
    customer: Customer,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    phone: str | None = None,
    email_owner_id: str | None = None,
    now: datetime,
) -> tuple[Customer, list[CustomerUpdated]]:
    """Fields left None keep their value; phone "" removes the number."""
    wanted: dict[str, Any] = {}
    if email is not None:
        wanted["email"] = normalise_email(email)
    if first_name is not None:
        wanted["first_name"] = _required_text("first_name", first_name, NAME_MAX_LENGTH)
    if last_name is not None:
        wanted["last_name"] = _required_text("last_name", last_name, NAME_MAX_LENGTH)
    if phone is not None:
        wanted["phone"] = _optional_text("phone", phone, PHONE_MAX_LENGTH)
    changes = {name: value for name, value in wanted.items() if getattr(customer, name) != value}
    if not changes:
        return customer, []
    if "email" in changes:
        _check_owner("customer", changes["email"], email_owner_id, customer.customer_id)
    changed = _bump(replace(customer, **changes, updated_at=now))
    return changed, [_customer_updated(changed, list(changes), now)]


# --------------------------------------------------------------------------------------------------
# Address book
# --------------------------------------------------------------------------------------------------

MAX_ADDRESSES = 50
LABEL_MAX_LENGTH = 50
ADDRESS_LINE_MAX_LENGTH = 200
CITY_MAX_LENGTH = 100

# ISO 3166-1 alpha-2, the officially assigned codes.
_COUNTRY_CODES_TEXT = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_COUNTRY_CODES_TEXT.split())

# Postal code formats, checked on the upper-cased code with runs of spaces made single. Countries
# not listed get a loose check (1 to 10 letters, digits, spaces or hyphens).
POSTAL_CODE_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    country: (re.compile(pattern), example)
    for country, pattern, example in [
        ("FR", r"\d{5}", "75001"),
        ("MC", r"980\d{2}", "98000"),
        ("DE", r"\d{5}", "10115"),
        ("IT", r"\d{5}", "00184"),
        ("ES", r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}", "28013"),  # the first two digits are a province, 01-52
        ("BE", r"[1-9]\d{3}", "1000"),
        ("AT", r"[1-9]\d{3}", "1010"),
        ("CH", r"[1-9]\d{3}", "8001"),
        ("DK", r"[1-9]\d{3}", "1050"),
        ("LU", r"(?:L-)?\d{4}", "L-1009"),
        ("NL", r"[1-9]\d{3} ?[A-Z]{2}", "1012 AB"),
        ("PT", r"\d{4}-\d{3}", "1000-001"),
        ("PL", r"\d{2}-\d{3}", "00-950"),
        ("SE", r"\d{3} ?\d{2}", "114 55"),
        ("IE", r"[A-Z]\d[\dW] ?[A-Z\d]{4}", "D02 X285"),
        ("GB", r"GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "SW1A 1AA"),
        ("US", r"\d{5}(?:-\d{4})?", "94105 or 94105-1234"),
        ("CA", r"[A-Z]\d[A-Z] ?\d[A-Z]\d", "K1A 0B1"),
    ]
}
_ANY_POSTAL_CODE = re.compile(r"[A-Z0-9][A-Z0-9 -]{0,9}")


def check_address(address: Address) -> Address:
    """The address with trimmed fields, an upper-case country code and a normalised postal code."""
    country = address.country_code.strip().upper()
    if not country:
        raise InvalidArgument("address.country_code is required")
    if country not in COUNTRY_CODES:
        raise InvalidArgument(
            f"address.country_code {address.country_code.strip()!r} is not an ISO 3166-1 alpha-2 country code"
        )
    postal_code = " ".join(address.postal_code.upper().split())
    if not postal_code:
        raise InvalidArgument("address.postal_code is required")
    pattern, example = POSTAL_CODE_FORMATS.get(country, (_ANY_POSTAL_CODE, ""))
    if not pattern.fullmatch(postal_code):
        hint = f" (for example {example})" if example else ""
        raise InvalidArgument(f"address.postal_code {postal_code!r} is not a valid postal code for {country}{hint}")
    return Address(
        full_name=_required_text("address.full_name", address.full_name, ADDRESS_LINE_MAX_LENGTH),
        line1=_required_text("address.line1", address.line1, ADDRESS_LINE_MAX_LENGTH),
        postal_code=postal_code,
        city=_required_text("address.city", address.city, CITY_MAX_LENGTH),
        country_code=country,
        company=_optional_text("address.company", address.company, ADDRESS_LINE_MAX_LENGTH),
        line2=_optional_text("address.line2", address.line2, ADDRESS_LINE_MAX_LENGTH),
        region=_optional_text("address.region", address.region, CITY_MAX_LENGTH),
        phone=_optional_text("address.phone", address.phone, PHONE_MAX_LENGTH),
    )


def _require_address(customer: Customer, address_id: str) -> AddressBookEntry:
    entry = customer.address(address_id)
    if entry is None:
        raise NotFound(f"customer {customer.customer_id!r} has no address with id {address_id!r}")
    return entry


def _changed_defaults(before: Customer, after: Customer) -> list[str]:
    changed = []
    if before.default_shipping_address != after.default_shipping_address:
        changed.append("default_shipping_address")
    if before.default_billing_address != after.default_billing_address:
        changed.append("default_billing_address")
    return changed


def _with_defaults_event(before: Customer, after: Customer, now: datetime) -> tuple[Customer, list[CustomerUpdated]]:
    """CustomerUpdated carries the default addresses, so it is published when one of them changed."""
    changed_fields = _changed_defaults(before, after)
    return after, [_customer_updated(after, changed_fields, now)] if changed_fields else []


def add_address(
    customer: Customer,
    *,
    address_id: str,
    label: str,
    address: Address,
    set_default_shipping: bool = False,
    set_default_billing: bool = False,
    now: datetime,
) -> tuple[Customer, AddressBookEntry, list[CustomerUpdated]]:
    """The first address of a book becomes both defaults, whatever the flags say."""
    entry = AddressBookEntry(
        address_id=address_id,
        label=_optional_text("label", label, LABEL_MAX_LENGTH),
        address=check_address(address),
        created_at=now,
        updated_at=now,
    )
    if len(customer.addresses) >= MAX_ADDRESSES:
        raise FailedPrecondition(
            f"the address book already holds {MAX_ADDRESSES} addresses; remove one before adding another"
        )
    first = not customer.addresses
    changed = _bump(
        replace(
            customer,
            addresses=[*customer.addresses, entry],
            default_shipping_address_id=address_id
            if first or set_default_shipping
            else customer.default_shipping_address_id,
            default_billing_address_id=address_id
            if first or set_default_billing
            else customer.default_billing_address_id,
            updated_at=now,
        )
    )
    changed, events = _with_defaults_event(customer, changed, now)
    return changed, entry, events


def update_address(
    customer: Customer, *, address_id: str, label: str, address: Address, now: datetime
) -> tuple[Customer, AddressBookEntry, list[CustomerUpdated]]:
    """Replaces label and address as a whole; the entry keeps its id and its default flags."""
    new_label = _optional_text("label", label, LABEL_MAX_LENGTH)
    new_address = check_address(address)
    entry = _require_address(customer, address_id)
    if (entry.label, entry.address) == (new_label, new_address):
        return customer, entry, []
    updated_entry = replace(entry, label=new_label, address=new_address, updated_at=now)
    addresses = [updated_entry if e.address_id == address_id else e for e in customer.addresses]
    changed = _bump(replace(customer, addresses=addresses, updated_at=now))
    changed, events = _with_defaults_event(customer, changed, now)
    return changed, updated_entry, events


def remove_address(customer: Customer, *, address_id: str, now: datetime) -> tuple[Customer, list[CustomerUpdated]]:
    """A default that pointed at the address is cleared; no other address is promoted."""
    _require_address(customer, address_id)
    changed = _bump(
        replace(
            customer,
            addresses=[e for e in customer.addresses if e.address_id != address_id],
            default_shipping_address_id=""
            if customer.default_shipping_address_id == address_id
            else customer.default_shipping_address_id,
            default_billing_address_id=""
            if customer.default_billing_address_id == address_id
            else customer.default_billing_address_id,
            updated_at=now,
        )
    )
    return _with_defaults_event(customer, changed, now)


def list_addresses(customer: Customer) -> list[AddressBookEntry]:
    """Default shipping, then default billing, then the others, most recently added first."""

    def rank(entry: AddressBookEntry) -> tuple[int, float, str]:
        if entry.address_id == customer.default_shipping_address_id:
            place = 0
        elif entry.address_id == customer.default_billing_address_id:
            place = 1
        else:
            place = 2
        return place, -entry.created_at.timestamp(), entry.address_id

    return sorted(customer.addresses, key=rank)


def set_default_shipping_address(
    customer: Customer, *, address_id: str, now: datetime
) -> tuple[Customer, list[CustomerUpdated]]:
    _require_address(customer, address_id)
    if customer.default_shipping_address_id == address_id:
        return customer, []
    changed = _bump(replace(customer, default_shipping_address_id=address_id, updated_at=now))
    return changed, [_customer_updated(changed, ["default_shipping_address"], now)]


def set_default_billing_address(
    customer: Customer, *, address_id: str, now: datetime
) -> tuple[Customer, list[CustomerUpdated]]:
    _require_address(customer, address_id)
    if customer.default_billing_address_id == address_id:
        return customer, []
    changed = _bump(replace(customer, default_billing_address_id=address_id, updated_at=now))
    return changed, [_customer_updated(changed, ["default_billing_address"], now)]


# --------------------------------------------------------------------------------------------------
# Status: by staff, and by the spend rule
# --------------------------------------------------------------------------------------------------

DEFAULT_VIP_THRESHOLD = Money(100_000, "EUR")  # setting customer.vip_threshold at first start

_CURRENCY = re.compile(r"[A-Z]{3}")


def _change_status(
    customer: Customer,
    *,
    new_status: CustomerStatus,
    reason: str,
    source: StatusChangeSource,
    changed_by: str,
    pinned: bool,
    spend_currency: str,
    now: datetime,
) -> tuple[Customer, list[CustomerStatusChanged]]:
    """The status change and its event; the caller bumps the version, once per use case."""
    history_line = StatusChange(now, customer.status, new_status, reason, source, changed_by, pinned)
    changed = replace(
        customer,
        status=new_status,
        status_source=source,
        status_pinned=pinned,
        status_history=[*customer.status_history, history_line],
        updated_at=now,
    )
    event = CustomerStatusChanged(
        customer_id=customer.customer_id,
        old_status=customer.status,
        new_status=new_status,
        reason=reason,
        source=source,
        changed_by=changed_by,
        pinned=pinned,
        confirmed_spend=changed.spend_in(spend_currency),
        occurred_at=now,
    )
    return changed, [event]


def set_customer_status(
    customer: Customer | None,
    *,
    customer_id: str,
    status: CustomerStatus | None,
    reason: str,
    pinned: bool,
    staff: StaffMember | None,
    staff_id: str,
    shop_currency: str,
    now: datetime,
) -> tuple[Customer, list[CustomerStatusChanged]]:
    """Staff sets a status, with a reason. `pinned` keeps the spend rule off this customer.

    Setting the status the customer already has only updates `pinned` (kept in the history, no
    event). `shop_currency` names the currency of the spend the event reports."""
    require_active_staff(staff, staff_id)
    if status is None:
        raise InvalidArgument("status is required")
    why = _required_text("reason", reason, REASON_MAX_LENGTH)
    customer = require_customer(customer, customer_id)
    if status == customer.status:
        if pinned == customer.status_pinned:
            return customer, []
        history_line = StatusChange(now, status, status, why, StatusChangeSource.STAFF, staff_id, pinned)
        changed = replace(
            customer, status_pinned=pinned, status_history=[*customer.status_history, history_line], updated_at=now
        )
        return _bump(changed), []
    changed, events = _change_status(
        customer,
        new_status=status,
        reason=why,
        source=StatusChangeSource.STAFF,
        changed_by=staff_id,
        pinned=pinned,
        spend_currency=shop_currency,
        now=now,
    )
    return _bump(changed), events


def _check_money(what: str, money: Money) -> None:
    if money.amount_minor < 0:
        raise InvalidArgument(f"{what} must not be negative, got {money.amount_minor}")
    if not _CURRENCY.fullmatch(money.currency):
        raise InvalidArgument(f"{what} currency must be three upper-case letters, got {money.currency!r}")


def _apply_spend_rule(
    customer: Customer, vip_threshold: Money, now: datetime
) -> tuple[Customer, list[CustomerStatusChanged]]:
    """VIP when the spend in the threshold's currency reaches it, STANDARD below; pinned customers
    are left alone. The rule runs on order events only: a change of the threshold itself takes
    effect at each customer's next confirmed or cancelled order."""
    if customer.status_pinned:
        return customer, []
    reached = customer.spend_in(vip_threshold.currency).amount_minor >= vip_threshold.amount_minor
    target = CustomerStatus.VIP if reached else CustomerStatus.STANDARD
    if target == customer.status:
        return customer, []
    reason = "confirmed spend reached the VIP threshold" if reached else "confirmed spend fell below the VIP threshold"
    return _change_status(
        customer,
        new_status=target,
        reason=reason,
        source=StatusChangeSource.RULE,
        changed_by="",
        pinned=False,
        spend_currency=vip_threshold.currency,
        now=now,
    )


def record_order_confirmed(
    customer: Customer, *, order_id: str, total: Money, vip_threshold: Money, now: datetime
) -> tuple[Customer, list[CustomerStatusChanged]]:
    """Counts a confirmed order's total (OrderConfirmed.totals.total) into the spend, once per order.

    An order already seen — counted, or cancelled before its confirmation arrived — changes nothing."""
    _check_money("order total", total)
    if order_id in customer.orders:
        return customer, []
    spend = dict(customer.confirmed_spend)
    spend[total.currency] = spend.get(total.currency, 0) + total.amount_minor
    counted = replace(
        customer,
        confirmed_spend=spend,
        orders={**customer.orders, order_id: CountedOrder(total, counted=True)},
        updated_at=now,
    )
    return _apply_spend_rule(_bump(counted), vip_threshold, now)


def record_order_cancelled(
    customer: Customer, *, order_id: str, total: Money, vip_threshold: Money, now: datetime
) -> tuple[Customer, list[CustomerStatusChanged]]:
    """Takes a counted order back out of the spend (the amount counted, not the one given here).

    A cancellation of an order never counted (cancelled while PENDING, or arriving before its
    confirmation) is remembered, so a later OrderConfirmed of it is ignored."""
    _check_money("order total", total)
    seen = customer.orders.get(order_id)
    if seen is not None and not seen.counted:
        return customer, []
    orders = {**customer.orders, order_id: CountedOrder(seen.amount if seen else total, counted=False)}
    if seen is None:
        return _bump(replace(customer, orders=orders, updated_at=now)), []
    spend = dict(customer.confirmed_spend)
    spend[seen.amount.currency] = spend.get(seen.amount.currency, 0) - seen.amount.amount_minor
    uncounted = replace(customer, confirmed_spend=spend, orders=orders, updated_at=now)
    return _apply_spend_rule(_bump(uncounted), vip_threshold, now)


# --------------------------------------------------------------------------------------------------
# Staff accounts
# --------------------------------------------------------------------------------------------------

SYSTEM_STAFF_ID = ""  # created_by of the first admin, which comes from configuration


def require_staff_member(staff_member: StaffMember | None, staff_id: str) -> StaffMember:
    if staff_member is None:
        raise NotFound(f"no staff member with id {staff_id!r}")
    return staff_member


def require_active_staff(staff: StaffMember | None, staff_id: str) -> StaffMember:
    if staff is None or not staff.active:
        raise PermissionDenied(f"{staff_id!r} is not an active staff member")
    return staff


def require_active_admin(staff: StaffMember | None, staff_id: str) -> StaffMember:
    if staff is None or not staff.active or staff.role != Role.ADMIN:
        raise PermissionDenied(f"{staff_id!r} is not an active admin")
    return staff


def require_staff_role(role: Role | None) -> Role:
    if role not in STAFF_ROLES:
        raise InvalidArgument(f"role must be STAFF or ADMIN, got {role or 'none'}")
    assert role is not None
    return role


def _new_staff_member(
    *,
    staff_id: str,
    email: str,
    password: str,
    display_name: str,
    role: Role | None,
    created_by: str,
    email_owner_id: str | None,
    hasher: PasswordHasher,
    now: datetime,
) -> StaffMember:
    normalised_email = normalise_email(email)
    check_password(password)
    name = _required_text("display_name", display_name, NAME_MAX_LENGTH)
    staff_role = require_staff_role(role)
    _check_owner("staff", normalised_email, email_owner_id, staff_id)
    return StaffMember(
        staff_id=staff_id,
        email=normalised_email,
        password_hash=hasher.hash(password),
        display_name=name,
        role=staff_role,
        active=True,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )


def create_first_admin(
    *,
    staff_id: str,
    email: str,
    password: str,
    display_name: str,
    existing_staff: Iterable[StaffMember],
    hasher: PasswordHasher,
    now: datetime,
) -> StaffMember | None:
    """The admin from start-up configuration; None when an account already has that email (a
    restart), so start-up can call it every time."""
    normalised_email = normalise_email(email)
    if any(member.email == normalised_email for member in existing_staff):
        return None
    return _new_staff_member(
        staff_id=staff_id,
        email=normalised_email,
        password=password,
        display_name=display_name,
        role=Role.ADMIN,
        created_by=SYSTEM_STAFF_ID,
        email_owner_id=None,
        hasher=hasher,
        now=now,
    )


def create_staff_member(
    *,
    staff_id: str,
    email: str,
    password: str,
    display_name: str,
    role: Role | None,
    creator: StaffMember | None,
    created_by: str,
    email_owner_id: str | None,
    hasher: PasswordHasher,
    now: datetime,
) -> StaffMember:
    """An admin creates a staff account; `email_owner_id` is the staff account holding the email."""
    require_active_admin(creator, created_by)
    return _new_staff_member(
        staff_id=staff_id,
        email=email,
        password=password,
        display_name=display_name,
        role=role,
        created_by=created_by,
        email_owner_id=email_owner_id,
        hasher=hasher,
        now=now,
    )


def update_staff_member(
    staff_member: StaffMember | None,
    *,
    staff_id: str,
    display_name: str | None = None,
    role: Role | None = None,
    active: bool | None = None,
    updater: StaffMember | None,
    updated_by: str,
    active_admin_count: int,
    now: datetime,
) -> StaffMember:
    """Fields left None keep their value. `active_admin_count`: active admins before the change,
    this one included; the change may not leave none. (An explicitly unspecified role in the
    request goes through `require_staff_role` in the wiring.)"""
    require_active_admin(updater, updated_by)
    name = None if display_name is None else _required_text("display_name", display_name, NAME_MAX_LENGTH)
    new_role = None if role is None else require_staff_role(role)
    member = require_staff_member(staff_member, staff_id)
    changed = replace(
        member,
        display_name=member.display_name if name is None else name,
        role=member.role if new_role is None else new_role,
        active=member.active if active is None else active,
    )
    if changed == member:
        return member
    was_admin = member.active and member.role == Role.ADMIN
    still_admin = changed.active and changed.role == Role.ADMIN
    if was_admin and not still_admin and active_admin_count <= 1:
        raise FailedPrecondition(f"{member.email} is the last active admin; make another admin first")
    return replace(changed, updated_at=now, version=member.version + 1)


# --------------------------------------------------------------------------------------------------
# Searches and lists (paged by services.runtime.paging)
# --------------------------------------------------------------------------------------------------

def search_customers(
    customers: Iterable[Customer],
    *,
    query: str = "",
    statuses: Iterable[CustomerStatus] = (),
    page_size: int = 0,
    page_token: str = "",
) -> Page[Customer]:
    """Customers whose email, first or last name contains every word of the query (any case),
    with one of `statuses` (all when empty), ordered by email."""
    words = query.casefold().split()
    wanted = sorted(set(statuses))

    def matches(customer: Customer) -> bool:
        searchable = (customer.email.casefold(), customer.first_name.casefold(), customer.last_name.casefold())
        in_status = not wanted or customer.status in wanted
        return in_status and all(any(word in text for text in searchable) for word in words)

    return paginate(
        (customer for customer in customers if matches(customer)),
        sort_key=lambda customer: (customer.email,),
        filters={"query": words, "statuses": wanted},
        page_size=page_size,
        page_token=page_token,
    )


def list_staff_members(
    staff: Iterable[StaffMember],
    *,
    role: Role | None = None,
    include_inactive: bool = False,
    page_size: int = 0,
    page_token: str = "",
) -> Page[StaffMember]:
    """Staff accounts ordered by email; `role` None keeps every role."""
    return paginate(
        (m for m in staff if (role is None or m.role == role) and (include_inactive or m.active)),
        sort_key=lambda member: (member.email,),
        filters={"role": role, "include_inactive": include_inactive},
        page_size=page_size,
        page_token=page_token,
    )
