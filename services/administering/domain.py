"""Administering's rules: sellers, the product-onboarding plan, and the system settings.

Pure: no gRPC, no Kafka, no clock (every use case takes `now`), no id generation (ids are passed in).
Each use case takes the current record(s) and the request's plain values, checks them, and returns
the changed record(s) plus the domain events that happened; a refused request raises one of
`services.runtime.errors`, whose message is shown to the caller as it is. A use case that changes
nothing returns the record it was given (the same object) and no events.

Every change is made by a staff member whom profiling knows: the wiring looks the id up with
ProfileService.GetStaffMember and passes a `StaffActor` (None when profiling has no such id). The
checks then run in a fixed order — permission, arguments, existence, state — so a caller who may
not act learns nothing about which records exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

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
from services.runtime.values import Money, SellerStatus

# --------------------------------------------------------------------------------------------------
# Who acts
# --------------------------------------------------------------------------------------------------


class StaffRole(StrEnum):
    STAFF = "STAFF"
    ADMIN = "ADMIN"


@dataclass(frozen=True)
class StaffActor:
    """The acting staff member, as profiling's GetStaffMember describes it."""

    staff_id: str
    role: StaffRole
    active: bool


def require_active_staff(actor: StaffActor | None, staff_id: str) -> StaffActor:
    if actor is None or not actor.active:
        raise PermissionDenied(f"{staff_id!r} is not an active staff member")
    return actor


def require_active_admin(actor: StaffActor | None, staff_id: str) -> StaffActor:
    if actor is None or not actor.active or actor.role != StaffRole.ADMIN:
        raise PermissionDenied(f"{staff_id!r} is not an active admin; only admins change system settings")
    return actor


# --------------------------------------------------------------------------------------------------
# Money and currencies
# --------------------------------------------------------------------------------------------------


# ISO 4217 codes of the currencies in use, without fund codes (BOV, CHE, ...), precious metals (XAU,
# ...) and special codes (XDR, XXX): the ones a shop may price in.
_CURRENCY_CODES_TEXT = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
    NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED
    VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
CURRENCY_CODES = frozenset(_CURRENCY_CODES_TEXT.split())


def check_currency(what: str, currency: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise InvalidArgument(f"{what} must be three upper-case letters (ISO 4217), got {currency!r}")
    if currency not in CURRENCY_CODES:
        raise InvalidArgument(f"{what} {currency!r} is not an ISO 4217 currency code")
    return currency


# --------------------------------------------------------------------------------------------------
# Sellers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seller:
    seller_id: str
    name: str
    email: str  # lower case, unique among sellers
    vat_number: str  # upper case, no spaces or dots, unique among sellers
    status: SellerStatus
    created_at: datetime
    updated_at: datetime
    suspension_reason: str = ""
    suspended_at: datetime | None = None
    version: int = 1  # the aggregate_version of the event that carries this state


@dataclass(frozen=True)
class SellerOnboarded:
    seller: Seller
    onboarded_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class SellerUpdated:
    seller: Seller
    changed_fields: list[str]
    updated_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class SellerSuspended:
    seller: Seller
    reason: str
    suspended_by: str
    occurred_at: datetime


SellerEvent = SellerOnboarded | SellerUpdated | SellerSuspended

SELLER_NAME_MAX_LENGTH = 200
REASON_MAX_LENGTH = 500

_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)

# VAT number formats after the country prefix, for the EU member states (Greece is "EL") and
# Northern Ireland ("XI"). Other prefixes fall back to 8 to 12 letters or digits.
VAT_FORMATS: dict[str, re.Pattern[str]] = {
    prefix: re.compile(pattern)
    for prefix, pattern in [
        ("AT", r"U\d{8}"),
        ("BE", r"[01]\d{9}"),
        ("BG", r"\d{9,10}"),
        ("CY", r"\d{8}[A-Z]"),
        ("CZ", r"\d{8,10}"),
        ("DE", r"\d{9}"),
        ("DK", r"\d{8}"),
        ("EE", r"\d{9}"),
        ("EL", r"\d{9}"),
        ("ES", r"[A-Z]\d{7}[A-Z0-9]|\d{8}[A-Z]"),  # a letter first or last, never only digits
        ("FI", r"\d{8}"),
        ("FR", r"[0-9A-HJ-NP-Z]{2}\d{9}"),  # 2 check characters (no I or O), then the 9-digit SIREN
        ("HR", r"\d{11}"),
        ("HU", r"\d{8}"),
        ("IE", r"\d[A-Z0-9+*]\d{5}[A-W][A-I]?"),
        ("IT", r"\d{11}"),
        ("LT", r"\d{9}|\d{12}"),
        ("LU", r"\d{8}"),
        ("LV", r"\d{11}"),
        ("MT", r"\d{8}"),
        ("NL", r"\d{9}B\d{2}"),
        ("PL", r"\d{10}"),
        ("PT", r"\d{9}"),
        ("RO", r"[1-9]\d{1,9}"),
        ("SE", r"\d{10}01"),
        ("SI", r"\d{8}"),
        ("SK", r"\d{10}"),
        ("XI", r"\d{9}|\d{12}|GD\d{3}|HA\d{3}"),
    ]
}
_ANY_VAT = re.compile(r"[A-Z0-9]{8,12}")


def _check_digits_hold(prefix: str, rest: str) -> bool:
    """The check digits we can verify without a registry: France's numeric key, Belgium's mod 97."""
    if prefix == "FR" and rest[:2].isdigit():
        siren = int(rest[2:])
        return int(rest[:2]) == (12 + 3 * (siren % 97)) % 97
    if prefix == "BE":
        return 97 - int(rest[:8]) % 97 == int(rest[8:])
    return True


def normalise_vat_number(vat_number: str) -> str:
    """Upper-cased, spaces and dots removed; refused unless it has its country's format."""
    normalised = vat_number.upper().replace(" ", "").replace(".", "")
    if not normalised:
        raise InvalidArgument("vat_number is required")
    prefix, rest = normalised[:2], normalised[2:]
    if not prefix.isalpha() or not prefix.isascii():
        raise InvalidArgument(f"vat_number {normalised!r} must start with a two-letter country prefix")
    pattern = VAT_FORMATS.get(prefix, _ANY_VAT)
    if not pattern.fullmatch(rest):
        raise InvalidArgument(f"vat_number {normalised!r} does not have the format of a {prefix} VAT number")
    if not _check_digits_hold(prefix, rest):
        raise InvalidArgument(f"vat_number {normalised!r} has wrong check digits")
    return normalised


def normalise_email(email: str) -> str:
    normalised = email.strip().lower()
    if not normalised:
        raise InvalidArgument("email is required")
    if len(normalised) > 254 or not _EMAIL.fullmatch(normalised):
        raise InvalidArgument(f"email {email.strip()!r} is not a valid email address")
    return normalised


def _seller_name(name: str) -> str:
    text = name.strip()
    if not text:
        raise InvalidArgument("name is required")
    if len(text) > SELLER_NAME_MAX_LENGTH:
        raise InvalidArgument(f"name must be at most {SELLER_NAME_MAX_LENGTH} characters, got {len(text)}")
    return text


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InvalidArgument("reason is required")
    if len(text) > REASON_MAX_LENGTH:
        raise InvalidArgument(f"reason must be at most {REASON_MAX_LENGTH} characters, got {len(text)}")
    return text


def _check_unique(
    seller_id: str, *, email: str, email_owner_id: str | None, vat_number: str, vat_owner_id: str | None
) -> None:
    """The owner ids come from the wiring's indexes (normalised email / VAT number -> seller id)."""
    if email_owner_id is not None and email_owner_id != seller_id:
        raise AlreadyExists(f"another seller already uses the email {email!r}")
    if vat_owner_id is not None and vat_owner_id != seller_id:
        raise AlreadyExists(f"another seller already has the VAT number {vat_number!r}")


def require_seller(seller: Seller | None, seller_id: str) -> Seller:
    if seller is None:
        raise NotFound(f"no seller with id {seller_id!r}")
    return seller


def onboard_seller(
    *,
    seller_id: str,
    name: str,
    email: str,
    vat_number: str,
    actor: StaffActor | None,
    staff_id: str,
    email_owner_id: str | None,
    vat_owner_id: str | None,
    now: datetime,
) -> tuple[Seller, list[SellerEvent]]:
    """A new seller, ACTIVE at once. The wiring finds the owner ids with `normalise_email` and
    `normalise_vat_number` (a malformed value is refused there already)."""
    require_active_staff(actor, staff_id)
    seller = Seller(
        seller_id=seller_id,
        name=_seller_name(name),
        email=normalise_email(email),
        vat_number=normalise_vat_number(vat_number),
        status=SellerStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )
    _check_unique(
        seller_id,
        email=seller.email,
        email_owner_id=email_owner_id,
        vat_number=seller.vat_number,
        vat_owner_id=vat_owner_id,
    )
    return seller, [SellerOnboarded(seller, onboarded_by=staff_id, occurred_at=now)]


def update_seller(
    seller: Seller | None,
    *,
    seller_id: str,
    name: str | None = None,
    email: str | None = None,
    vat_number: str | None = None,
    actor: StaffActor | None,
    staff_id: str,
    email_owner_id: str | None = None,
    vat_owner_id: str | None = None,
    now: datetime,
) -> tuple[Seller, list[SellerEvent]]:
    """Fields left None keep their value; SellerUpdated names the fields that changed."""
    require_active_staff(actor, staff_id)
    wanted: dict[str, Any] = {}
    if name is not None:
        wanted["name"] = _seller_name(name)
    if email is not None:
        wanted["email"] = normalise_email(email)
    if vat_number is not None:
        wanted["vat_number"] = normalise_vat_number(vat_number)
    current = require_seller(seller, seller_id)
    changes = {field_name: value for field_name, value in wanted.items() if getattr(current, field_name) != value}
    if not changes:
        return current, []
    _check_unique(
        current.seller_id,
        email=changes.get("email", current.email),
        email_owner_id=email_owner_id if "email" in changes else None,
        vat_number=changes.get("vat_number", current.vat_number),
        vat_owner_id=vat_owner_id if "vat_number" in changes else None,
    )
    changed = replace(current, **changes, updated_at=now, version=current.version + 1)
    return changed, [SellerUpdated(changed, list(changes), updated_by=staff_id, occurred_at=now)]


def suspend_seller(
    seller: Seller | None, *, seller_id: str, reason: str, actor: StaffActor | None, staff_id: str, now: datetime
) -> tuple[Seller, list[SellerEvent]]:
    """Cataloging stops selling the seller's products on SellerSuspended. Suspending a suspended
    seller returns it unchanged (its first reason stays)."""
    require_active_staff(actor, staff_id)
    why = _reason(reason)
    current = require_seller(seller, seller_id)
    if current.status == SellerStatus.SUSPENDED:
        return current, []
    changed = replace(
        current,
        status=SellerStatus.SUSPENDED,
        suspension_reason=why,
        suspended_at=now,
        updated_at=now,
        version=current.version + 1,
    )
    return changed, [SellerSuspended(changed, reason=why, suspended_by=staff_id, occurred_at=now)]


def reinstate_seller(
    seller: Seller | None, *, seller_id: str, actor: StaffActor | None, staff_id: str, now: datetime
) -> tuple[Seller, list[SellerEvent]]:
    """A suspended seller is ACTIVE again; reinstating an active seller returns it unchanged."""
    require_active_staff(actor, staff_id)
    current = require_seller(seller, seller_id)
    if current.status == SellerStatus.ACTIVE:
        return current, []
    changed = replace(
        current,
        status=SellerStatus.ACTIVE,
        suspension_reason="",
        suspended_at=None,
        updated_at=now,
        version=current.version + 1,
    )
    changed_fields = ["status", "suspension_reason", "suspended_at"]
    return changed, [SellerUpdated(changed, changed_fields, updated_by=staff_id, occurred_at=now)]


# --------------------------------------------------------------------------------------------------
# Listing sellers
# --------------------------------------------------------------------------------------------------

def list_sellers(
    sellers: Iterable[Seller],
    *,
    statuses: Iterable[SellerStatus] = (),
    query: str = "",
    page_size: int = 0,
    page_token: str = "",
) -> Page[Seller]:
    """Sellers ordered by name (any case), with one of `statuses` (all when empty), whose name,
    email or VAT number contains every word of the query."""
    words = query.casefold().split()
    wanted = sorted(set(statuses))

    def matches(seller: Seller) -> bool:
        searchable = (seller.name.casefold(), seller.email, seller.vat_number.casefold())
        in_status = not wanted or seller.status in wanted
        return in_status and all(any(word in text for text in searchable) for word in words)

    return paginate(
        (seller for seller in sellers if matches(seller)),
        sort_key=lambda seller: (seller.name.casefold(), seller.seller_id),
        filters={"query": words, "statuses": wanted},
        page_size=page_size,
        page_token=page_token,
    )


# --------------------------------------------------------------------------------------------------
# Product onboarding: a plan of steps, each with its compensation
# --------------------------------------------------------------------------------------------------


class OnboardingStep(StrEnum):
    """In the order they run."""

    CREATE_PRODUCT = "CREATE_PRODUCT"  # CatalogService.CreateProduct: a DRAFT nobody sees yet
    SET_INITIAL_STOCK = "SET_INITIAL_STOCK"  # StockService.SetStock, reason INITIAL_STOCK
    PUBLISH_PRODUCT = "PUBLISH_PRODUCT"  # CatalogService.PublishProduct, only when asked


class OnboardingUndo(StrEnum):
    """What undoes a step that succeeded. Publishing is the last step, so it never needs undoing."""

    ARCHIVE_PRODUCT = "ARCHIVE_PRODUCT"  # ArchiveProduct: a draft archived publishes no event
    REMOVE_INITIAL_STOCK = "REMOVE_INITIAL_STOCK"  # SetStock on_hand 0, reason OTHER, note `undo_note`


UNDO_OF_STEP = {
    OnboardingStep.CREATE_PRODUCT: OnboardingUndo.ARCHIVE_PRODUCT,
    OnboardingStep.SET_INITIAL_STOCK: OnboardingUndo.REMOVE_INITIAL_STOCK,
}


class OnboardingState(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"  # steps left to run; repeating the request runs them
    COMPLETED = "COMPLETED"
    UNDOING = "UNDOING"  # a step was refused; undos left to run
    UNDONE = "UNDONE"  # every step that had succeeded was undone


@dataclass(frozen=True)
class ProductDraft:
    """The catalogue entry, as CatalogService.CreateProduct takes it."""

    sku: str
    name: str
    description: str
    category_id: str
    price: Money
    tax_class: str
    weight_grams: int
    attributes: dict[str, str]
    image_url: str


@dataclass(frozen=True)
class ProductOnboarding:
    """One onboarding, kept by SKU: where it is, so a repeated request or a restart picks it up."""

    sku: str
    seller_id: str
    product: ProductDraft
    initial_stock_quantity: int
    publish: bool
    staff_id: str
    state: OnboardingState
    started_at: datetime
    updated_at: datetime
    product_id: str = ""  # known once CREATE_PRODUCT succeeded
    steps_done: list[OnboardingStep] = field(default_factory=list)
    failed_step: OnboardingStep | None = None
    failure_kind: str = ""  # the DomainError class the refusing service answered with
    failure_reason: str = ""
    undos_done: list[OnboardingUndo] = field(default_factory=list)

    @property
    def planned_steps(self) -> list[OnboardingStep]:
        steps = [OnboardingStep.CREATE_PRODUCT, OnboardingStep.SET_INITIAL_STOCK]
        return [*steps, OnboardingStep.PUBLISH_PRODUCT] if self.publish else steps

    @property
    def undo_note(self) -> str:
        """Why the undo happens, for the stock history and ArchiveProduct's reason."""
        return f"onboarding of {self.sku} undone: {self.failed_step} failed: {self.failure_reason}"

    def same_request(self, other: ProductOnboarding) -> bool:
        fields = ("seller_id", "product", "initial_stock_quantity", "publish")
        return all(getattr(self, name) == getattr(other, name) for name in fields)


_SKU = re.compile(r"[A-Z0-9_-]{1,64}")  # cataloging's SKU format; the key of the onboarding record


def start_product_onboarding(
    existing: ProductOnboarding | None,
    *,
    seller: Seller | None,
    seller_id: str,
    product: ProductDraft,
    initial_stock_quantity: int,
    publish: bool,
    actor: StaffActor | None,
    staff_id: str,
    now: datetime,
) -> ProductOnboarding:
    """The onboarding to run: a new one, or `existing` (the record stored for the SKU) to resume.

    The wiring runs it (see `next_step`, `step_succeeded`, `step_refused`, `pending_undos`,
    `undo_done`):

        onboarding = start_product_onboarding(...)            # store it
        while (step := next_step(onboarding)) is not None:
            try: call the step's RPC
            except DomainError as refusal:                    # the service said no
                onboarding = step_refused(onboarding, step, refusal, now); break
            onboarding = step_succeeded(onboarding, step, now, product_id=...)   # store it
        for undo in pending_undos(onboarding):
            call the undo's RPC; onboarding = undo_done(onboarding, undo, now)   # store it
        if onboarding.state is UNDONE: raise onboarding_error(onboarding)

    A transient failure (service unavailable, deadline) is not a refusal: the record stays at its
    step and repeating the request finishes it. After a crash between CreateProduct and storing its
    outcome, the repeated CreateProduct answers ALREADY_EXISTS: the wiring adopts the seller's DRAFT
    product with that SKU as the step's result.

    Only field checks that decide the plan are made here; cataloging checks the product's fields."""
    require_active_staff(actor, staff_id)
    if not _SKU.fullmatch(product.sku):
        raise InvalidArgument(f"sku {product.sku!r} must be 1 to 64 characters among A-Z, 0-9, '-' and '_'")
    if initial_stock_quantity < 0:
        raise InvalidArgument(f"initial_stock_quantity must be 0 or more, got {initial_stock_quantity}")
    current_seller = require_seller(seller, seller_id)
    if current_seller.status != SellerStatus.ACTIVE:
        raise FailedPrecondition(
            f"seller {current_seller.name!r} is suspended; reinstate it before onboarding products"
        )
    if publish and not product.category_id:
        raise FailedPrecondition("a product without a category cannot be published; give it a category")
    if publish and product.price.amount_minor <= 0:
        raise FailedPrecondition("a product with a zero price cannot be published; give it a price")

    onboarding = ProductOnboarding(
        sku=product.sku,
        seller_id=current_seller.seller_id,
        product=product,
        initial_stock_quantity=initial_stock_quantity,
        publish=publish,
        staff_id=staff_id,
        state=OnboardingState.IN_PROGRESS,
        started_at=now,
        updated_at=now,
    )
    if existing is None:
        return onboarding
    if existing.state == OnboardingState.COMPLETED:
        raise AlreadyExists(f"SKU {product.sku!r} was already onboarded (product {existing.product_id!r})")
    if existing.state == OnboardingState.UNDONE:
        if not existing.product_id:
            return onboarding  # nothing was created: the SKU is still free, start afresh
        raise AlreadyExists(
            f"SKU {product.sku!r} belongs to an onboarding that failed ({existing.failure_reason}) and was undone; "
            "its archived draft keeps the SKU, so choose another"
        )
    if not existing.same_request(onboarding):
        raise AlreadyExists(
            f"an onboarding of SKU {product.sku!r} with other details is under way; "
            "repeat the same request to finish it"
        )
    return existing


def next_step(onboarding: ProductOnboarding) -> OnboardingStep | None:
    if onboarding.state != OnboardingState.IN_PROGRESS:
        return None
    return next((step for step in onboarding.planned_steps if step not in onboarding.steps_done), None)


def _require_next(onboarding: ProductOnboarding, step: OnboardingStep) -> None:
    if next_step(onboarding) != step:
        # A wiring bug, not a caller's mistake: steps are reported in plan order, once each.
        raise ValueError(f"{step} is not the next step of onboarding {onboarding.sku} ({onboarding.state})")


def step_succeeded(
    onboarding: ProductOnboarding, step: OnboardingStep, now: datetime, *, product_id: str = ""
) -> ProductOnboarding:
    """`product_id`: cataloging's id of the new product, required for CREATE_PRODUCT."""
    _require_next(onboarding, step)
    if step == OnboardingStep.CREATE_PRODUCT and not product_id:
        raise ValueError("CREATE_PRODUCT succeeded without a product id")
    steps_done = [*onboarding.steps_done, step]
    finished = len(steps_done) == len(onboarding.planned_steps)
    return replace(
        onboarding,
        product_id=product_id or onboarding.product_id,
        steps_done=steps_done,
        state=OnboardingState.COMPLETED if finished else OnboardingState.IN_PROGRESS,
        updated_at=now,
    )


def step_refused(
    onboarding: ProductOnboarding, step: OnboardingStep, refusal: DomainError, now: datetime
) -> ProductOnboarding:
    """A service refused the step: undo the steps that succeeded, newest first."""
    _require_next(onboarding, step)
    failed = replace(
        onboarding,
        failed_step=step,
        failure_kind=type(refusal).__name__,
        failure_reason=refusal.message,
        updated_at=now,
    )
    nothing_to_undo = not any(done in UNDO_OF_STEP for done in onboarding.steps_done)
    return replace(failed, state=OnboardingState.UNDONE if nothing_to_undo else OnboardingState.UNDOING)


def pending_undos(onboarding: ProductOnboarding) -> list[OnboardingUndo]:
    if onboarding.state != OnboardingState.UNDOING:
        return []
    undos = [UNDO_OF_STEP[step] for step in reversed(onboarding.steps_done) if step in UNDO_OF_STEP]
    return [undo for undo in undos if undo not in onboarding.undos_done]


def undo_done(onboarding: ProductOnboarding, undo: OnboardingUndo, now: datetime) -> ProductOnboarding:
    pending = pending_undos(onboarding)
    if not pending or pending[0] != undo:
        raise ValueError(f"{undo} is not the next undo of onboarding {onboarding.sku} ({onboarding.state})")
    done = replace(onboarding, undos_done=[*onboarding.undos_done, undo], updated_at=now)
    return replace(done, state=OnboardingState.UNDONE) if len(pending) == 1 else done


_REFUSALS: dict[str, type[DomainError]] = {
    kind.__name__: kind
    for kind in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, PermissionDenied, Unauthenticated)
}


def onboarding_error(onboarding: ProductOnboarding) -> DomainError:
    """The refusal to answer with once an onboarding is undone: the refusing service's own kind of
    error and message (INVALID_ARGUMENT for a field cataloging refused, ...)."""
    kind = _REFUSALS.get(onboarding.failure_kind, FailedPrecondition)
    step = onboarding.failed_step
    return kind(f"onboarding of {onboarding.sku} failed at {step} and was undone: {onboarding.failure_reason}")


# --------------------------------------------------------------------------------------------------
# System settings
# --------------------------------------------------------------------------------------------------

SYSTEM = "system"  # updated_by / changed_by of the defaults published at first start


class SettingKind(StrEnum):
    INT = "INT"
    STRING = "STRING"
    MONEY = "MONEY"
    BASIS_POINTS = "BASIS_POINTS"
    DURATION = "DURATION"
    BOOL = "BOOL"


@dataclass(frozen=True)
class SettingValue:
    """A typed value: only the field of `kind` means anything (the others keep their zero value,
    so two equal values compare equal). Build one with the `of_*` constructors."""

    kind: SettingKind
    int_value: int = 0
    string_value: str = ""
    money_value: Money | None = None
    basis_points: int = 0
    duration_value: timedelta = timedelta(0)
    bool_value: bool = False

    @staticmethod
    def of_int(value: int) -> SettingValue:
        return SettingValue(SettingKind.INT, int_value=value)

    @staticmethod
    def of_string(value: str) -> SettingValue:
        return SettingValue(SettingKind.STRING, string_value=value)

    @staticmethod
    def of_money(value: Money) -> SettingValue:
        return SettingValue(SettingKind.MONEY, money_value=value)

    @staticmethod
    def of_basis_points(value: int) -> SettingValue:
        return SettingValue(SettingKind.BASIS_POINTS, basis_points=value)

    @staticmethod
    def of_duration(value: timedelta) -> SettingValue:
        return SettingValue(SettingKind.DURATION, duration_value=value)

    @staticmethod
    def of_bool(value: bool) -> SettingValue:
        return SettingValue(SettingKind.BOOL, bool_value=value)


@dataclass(frozen=True)
class SettingDefinition:
    """A system setting's fixed name, kind and default, and the bounds its values must keep."""

    name: str
    kind: SettingKind
    default: SettingValue
    description: str
    int_range: tuple[int, int] = (0, 1_000_000)  # INT only
    duration_range: tuple[timedelta, timedelta] | None = None  # DURATION only
    is_currency_code: bool = False  # STRING only
    in_shop_currency: bool = False  # MONEY only: the amount must be in the setting shop.currency


@dataclass(frozen=True)
class Setting:
    name: str
    kind: SettingKind
    value: SettingValue
    default_value: SettingValue
    description: str
    updated_by: str  # the admin's id, or "system" for the default
    updated_at: datetime
    version: int  # 1 for the default; the version of the latest SettingChanged


@dataclass(frozen=True)
class SettingChanged:
    name: str
    value: SettingValue
    old_value: SettingValue | None  # None for a setting's first value
    changed_by: str
    version: int
    occurred_at: datetime


SHOP_CURRENCY = "shop.currency"
TAX_CLASSES = ("standard", "reduced", "super_reduced", "zero")


def tax_rate_setting(tax_class: str) -> str:
    """The setting holding a tax class's rate ("reduced" -> "tax.rate_bps.reduced")."""
    return f"tax.rate_bps.{tax_class}"


_TAX_DEFAULTS_BPS = {"standard": 2000, "reduced": 550, "super_reduced": 210, "zero": 0}

SETTING_DEFINITIONS: Mapping[str, SettingDefinition] = MappingProxyType(
    {
        definition.name: definition
        for definition in [
            SettingDefinition(
                SHOP_CURRENCY,
                SettingKind.STRING,
                SettingValue.of_string("EUR"),
                "ISO 4217 code of every price and total; read by every service that handles money. "
                "Changing it converts nothing.",
                is_currency_code=True,
            ),
            *(
                SettingDefinition(
                    tax_rate_setting(tax_class),
                    SettingKind.BASIS_POINTS,
                    SettingValue.of_basis_points(_TAX_DEFAULTS_BPS[tax_class]),
                    f'VAT rate of tax class "{tax_class}", in basis points (2000 = 20 %); read by carting and billing.',
                )
                for tax_class in TAX_CLASSES
            ),
            SettingDefinition(
                "stock.low_stock_threshold",
                SettingKind.INT,
                SettingValue.of_int(5),
                "Available units at or below which a SKU without its own threshold is low on stock; read by stocking.",
            ),
            SettingDefinition(
                "stock.reservation_ttl",
                SettingKind.DURATION,
                SettingValue.of_duration(timedelta(minutes=15)),
                "How long an order's stock stays reserved unless committed (1 minute to 24 hours); read by stocking.",
                duration_range=(timedelta(minutes=1), timedelta(hours=24)),
            ),
            SettingDefinition(
                "customer.vip_threshold",
                SettingKind.MONEY,
                SettingValue.of_money(Money(100_000, "EUR")),
                "Confirmed spend that makes a customer VIP by rule, in the shop's currency; read by profiling.",
                in_shop_currency=True,
            ),
            SettingDefinition(
                "customer.vip_discount_bps",
                SettingKind.BASIS_POINTS,
                SettingValue.of_basis_points(500),
                "Discount on a VIP customer's cart, in basis points (500 = 5 %); read by carting.",
            ),
            SettingDefinition(
                "saga.step_timeout",
                SettingKind.DURATION,
                SettingValue.of_duration(timedelta(seconds=30)),
                "Longest wait for one step of the checkout saga before ordering compensates "
                "(1 second to 1 hour); read by ordering.",
                duration_range=(timedelta(seconds=1), timedelta(hours=1)),
            ),
        ]
    }
)


def setting_definition(name: str) -> SettingDefinition:
    definition = SETTING_DEFINITIONS.get(name)
    if definition is None:
        raise NotFound(f"{name!r} is not a system setting; the settings are {', '.join(sorted(SETTING_DEFINITIONS))}")
    return definition


def _describe(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size} {unit}(s)"
    return f"{duration.total_seconds():g} second(s)"


def check_setting_value(definition: SettingDefinition, value: SettingValue | None, shop_currency: str) -> SettingValue:
    """`value` in its canonical form, or InvalidArgument naming what is wrong with it."""
    name, kind = definition.name, definition.kind
    if value is None:
        raise InvalidArgument(f"setting {name!r} needs a value")
    if value.kind != kind:
        raise InvalidArgument(f"setting {name!r} takes a {kind.lower()} value, got a {value.kind.lower()} value")
    if kind == SettingKind.INT:
        low, high = definition.int_range
        if not low <= value.int_value <= high:
            raise InvalidArgument(f"setting {name!r} must be between {low} and {high}, got {value.int_value}")
        return SettingValue.of_int(value.int_value)
    if kind == SettingKind.BASIS_POINTS:
        if not 0 <= value.basis_points <= 10_000:
            raise InvalidArgument(
                f"setting {name!r} is in basis points and must be between 0 and 10000, got {value.basis_points}"
            )
        return SettingValue.of_basis_points(value.basis_points)
    if kind == SettingKind.DURATION:
        duration = value.duration_value
        if duration <= timedelta(0):
            raise InvalidArgument(f"setting {name!r} must be a duration above zero, got {duration.total_seconds():g}s")
        if definition.duration_range:
            low_duration, high_duration = definition.duration_range
            if not low_duration <= duration <= high_duration:
                raise InvalidArgument(
                    f"setting {name!r} must be between {_describe(low_duration)} and {_describe(high_duration)}, "
                    f"got {_describe(duration)}"
                )
        return SettingValue.of_duration(duration)
    if kind == SettingKind.STRING:
        text = value.string_value
        if definition.is_currency_code:
            check_currency(f"setting {name!r}", text)
        elif not text.strip():
            raise InvalidArgument(f"setting {name!r} must not be empty")
        return SettingValue.of_string(text)
    if kind == SettingKind.MONEY:
        money = value.money_value
        if money is None:
            raise InvalidArgument(f"setting {name!r} needs an amount of money")
        check_currency(f"setting {name!r} currency", money.currency)
        if money.amount_minor < 0:
            raise InvalidArgument(f"setting {name!r} must not be negative, got {money.amount_minor}")
        if definition.in_shop_currency and money.currency != shop_currency:
            raise InvalidArgument(
                f"setting {name!r} must be in the shop's currency {shop_currency}, got {money.currency}"
            )
        return SettingValue.of_money(Money(money.amount_minor, money.currency))
    return SettingValue.of_bool(value.bool_value)


def seed_default_settings(existing: Mapping[str, Setting], now: datetime) -> tuple[list[Setting], list[SettingChanged]]:
    """The settings `existing` lacks, at their defaults (version 1, by "system"), with their
    SettingChanged: everything at first start, only newly defined settings afterwards."""
    settings, events = [], []
    for definition in SETTING_DEFINITIONS.values():
        if definition.name in existing:
            continue
        settings.append(
            Setting(
                name=definition.name,
                kind=definition.kind,
                value=definition.default,
                default_value=definition.default,
                description=definition.description,
                updated_by=SYSTEM,
                updated_at=now,
                version=1,
            )
        )
        events.append(SettingChanged(definition.name, definition.default, None, SYSTEM, 1, now))
    return settings, events


def get_setting(settings: Mapping[str, Setting], name: str) -> Setting:
    definition = setting_definition(name)
    setting = settings.get(definition.name)
    if setting is None:
        raise NotFound(f"setting {name!r} has no value yet; administering publishes the defaults at start-up")
    return setting


def list_settings(settings: Mapping[str, Setting], name_prefix: str = "") -> list[Setting]:
    return sorted((s for name, s in settings.items() if name.startswith(name_prefix)), key=lambda s: s.name)


def shop_currency(settings: Mapping[str, Setting]) -> str:
    current = settings.get(SHOP_CURRENCY)
    return (current.value if current else SETTING_DEFINITIONS[SHOP_CURRENCY].default).string_value


def change_setting(
    settings: Mapping[str, Setting],
    *,
    name: str,
    value: SettingValue | None,
    actor: StaffActor | None,
    staff_id: str,
    expected_version: int = 0,
    now: datetime,
) -> tuple[Setting, list[SettingChanged]]:
    """An admin changes a setting. `settings` holds every current setting (the VIP threshold is
    checked against shop.currency). `expected_version` above 0 makes the change conditional, so
    two admins editing at once do not overwrite each other unknowingly. The value the setting
    already has changes nothing and publishes nothing."""
    require_active_admin(actor, staff_id)
    definition = setting_definition(name)
    new_value = check_setting_value(definition, value, shop_currency(settings))
    current = get_setting(settings, name)
    if expected_version > 0 and expected_version != current.version:
        raise FailedPrecondition(
            f"setting {name!r} is at version {current.version}, not {expected_version}: "
            "someone changed it meanwhile; reload it and try again"
        )
    if new_value == current.value:
        return current, []
    changed = replace(current, value=new_value, updated_by=staff_id, updated_at=now, version=current.version + 1)
    return changed, [SettingChanged(name, new_value, current.value, staff_id, changed.version, now)]
