"""Administering's domain, without Kafka or gRPC: every rule and every refusal."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from services.administering import domain
from services.administering.domain import (
    Money,
    OnboardingState,
    OnboardingStep,
    OnboardingUndo,
    ProductDraft,
    ProductOnboarding,
    Seller,
    SellerOnboarded,
    SellerStatus,
    SellerSuspended,
    SellerUpdated,
    Setting,
    SettingChanged,
    SettingKind,
    SettingValue,
    StaffActor,
    StaffRole,
)
from services.runtime.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
CLERK = StaffActor("clerk-1", StaffRole.STAFF, active=True)
ADMIN = StaffActor("admin-1", StaffRole.ADMIN, active=True)
FORMER_ADMIN = StaffActor("admin-0", StaffRole.ADMIN, active=False)


def onboard(**overrides: Any) -> Seller:
    values: dict[str, Any] = {
        "seller_id": "s-1",
        "name": "Atelier Dupont",
        "email": "contact@atelier-dupont.fr",
        "vat_number": "FR40303265045",
        "actor": CLERK,
        "staff_id": CLERK.staff_id,
        "email_owner_id": None,
        "vat_owner_id": None,
        "now": NOW,
    } | overrides
    seller, _ = domain.onboard_seller(**values)
    return seller


SELLER = onboard()

# --------------------------------------------------------------------------------------------------
# Sellers
# --------------------------------------------------------------------------------------------------


def test_onboarding_a_seller_normalises_it_and_makes_it_active_at_once() -> None:
    seller, events = domain.onboard_seller(
        seller_id="s-1",
        name="  Atelier Dupont ",
        email=" Contact@Atelier-Dupont.FR",
        vat_number="fr 40 303.265.045",
        actor=CLERK,
        staff_id="clerk-1",
        email_owner_id=None,
        vat_owner_id=None,
        now=NOW,
    )
    assert seller == Seller(
        seller_id="s-1",
        name="Atelier Dupont",
        email="contact@atelier-dupont.fr",
        vat_number="FR40303265045",
        status=SellerStatus.ACTIVE,
        created_at=NOW,
        updated_at=NOW,
        version=1,
    )
    assert events == [SellerOnboarded(seller, onboarded_by="clerk-1", occurred_at=NOW)]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("FR40303265045", "FR40303265045"),
        ("FR 40 303 265 045", "FR40303265045"),
        ("FRAB123456789", "FRAB123456789"),  # letter check characters: format only
        ("DE123456789", "DE123456789"),
        ("BE0403170701", "BE0403170701"),
        ("BE 0403.170.701", "BE0403170701"),
        ("ESX1234567X", "ESX1234567X"),
        ("ES12345678Z", "ES12345678Z"),
        ("ESA12345678", "ESA12345678"),
        ("IT12345678901", "IT12345678901"),
        ("nl123456789b01", "NL123456789B01"),
        ("ATU12345678", "ATU12345678"),
        ("EL123456789", "EL123456789"),
        ("PL1234567890", "PL1234567890"),
        ("SE123456789001", "SE123456789001"),
        ("CHE123456789", "CHE123456789"),  # not an EU prefix: 8 to 12 letters or digits
        ("NO123456789MVA", "NO123456789MVA"),
    ],
)
def test_vat_numbers_in_their_countrys_format(typed: str, stored: str) -> None:
    assert domain.normalise_vat_number(typed) == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "vat_number is required"),
        ("  ", "vat_number is required"),
        ("40303265045", "must start with a two-letter country prefix"),
        ("FR41303265045", "has wrong check digits"),
        ("FR4030326504", "does not have the format of a FR VAT number"),
        ("FRIO303265045", "does not have the format of a FR VAT number"),
        ("DE12345678", "does not have the format of a DE VAT number"),
        ("DE1234567890", "does not have the format of a DE VAT number"),
        ("BE0403170702", "has wrong check digits"),
        ("BE2403170701", "does not have the format of a BE VAT number"),
        ("ES123456789", "does not have the format of a ES VAT number"),
        ("IT1234567890", "does not have the format of a IT VAT number"),
        ("NL123456789A01", "does not have the format of a NL VAT number"),
        ("ATE12345678", "does not have the format of a AT VAT number"),
        ("ZZ1234567", "does not have the format of a ZZ VAT number"),
        ("ZZ1234567890123", "does not have the format of a ZZ VAT number"),
        ("FR-40303265045", "does not have the format of a FR VAT number"),
    ],
)
def test_vat_numbers_that_are_refused(typed: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        domain.normalise_vat_number(typed)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"name": ""}, InvalidArgument, "name is required"),
        ({"name": "x" * 201}, InvalidArgument, "name must be at most 200 characters, got 201"),
        ({"email": "contact"}, InvalidArgument, "not a valid email address"),
        ({"email": ""}, InvalidArgument, "email is required"),
        ({"vat_number": "FR123"}, InvalidArgument, "FR VAT number"),
        ({"email_owner_id": "s-2"}, AlreadyExists, "another seller already uses the email"),
        ({"vat_owner_id": "s-2"}, AlreadyExists, "another seller already has the VAT number 'FR40303265045'"),
        ({"actor": None, "staff_id": "ghost"}, PermissionDenied, "'ghost' is not an active staff member"),
        ({"actor": FORMER_ADMIN, "staff_id": "admin-0"}, PermissionDenied, "not an active staff member"),
        ({"actor": None, "name": ""}, PermissionDenied, "not an active staff member"),  # permission first
    ],
)
def test_onboard_seller_refusals(overrides: dict[str, Any], error: type[DomainError], message: str) -> None:
    with pytest.raises(error, match=message):
        onboard(**overrides)


def test_a_200_character_name_is_fine() -> None:
    assert len(onboard(name="x" * 200).name) == 200


def update(seller: Seller | None, **overrides: Any) -> tuple[Seller, list[Any]]:
    values: dict[str, Any] = {"seller_id": "s-1", "actor": CLERK, "staff_id": "clerk-1", "now": LATER} | overrides
    return domain.update_seller(seller, **values)


def test_update_seller_changes_the_given_fields_and_names_them() -> None:
    changed, events = update(SELLER, name="Dupont & Fils", email="Sales@Dupont.fr", vat_number="FR40303265045")
    assert (changed.name, changed.email, changed.vat_number) == ("Dupont & Fils", "sales@dupont.fr", "FR40303265045")
    assert changed.version == 2 and changed.updated_at == LATER
    assert events == [SellerUpdated(changed, ["name", "email"], updated_by="clerk-1", occurred_at=LATER)]


def test_update_seller_with_the_same_values_changes_nothing() -> None:
    unchanged, events = update(SELLER, name=" Atelier Dupont", email="CONTACT@atelier-dupont.fr")
    assert unchanged is SELLER and events == []


def test_an_unchanged_email_is_not_checked_against_the_index() -> None:
    # The wiring may pass the seller's own index entry, or a stale one: only a new email is checked.
    changed, _ = update(SELLER, name="New name", email=SELLER.email, email_owner_id="s-2")
    assert changed.name == "New name"


@pytest.mark.parametrize(
    ("seller", "overrides", "error", "message"),
    [
        (None, {}, NotFound, "no seller with id 's-1'"),
        (SELLER, {"name": ""}, InvalidArgument, "name is required"),
        (SELLER, {"vat_number": "DE123"}, InvalidArgument, "DE VAT number"),
        (SELLER, {"email": "x@y.fr", "email_owner_id": "s-2"}, AlreadyExists, "already uses the email 'x@y.fr'"),
        (SELLER, {"vat_number": "DE123456789", "vat_owner_id": "s-2"}, AlreadyExists, "'DE123456789'"),
        (None, {"actor": None}, PermissionDenied, "not an active staff member"),
    ],
)
def test_update_seller_refusals(
    seller: Seller | None, overrides: dict[str, Any], error: type[DomainError], message: str
) -> None:
    with pytest.raises(error, match=message):
        update(seller, **overrides)


def suspend(seller: Seller | None, reason: str = "counterfeit goods", **overrides: Any) -> tuple[Seller, list[Any]]:
    values: dict[str, Any] = {"seller_id": "s-1", "actor": CLERK, "staff_id": "clerk-1", "now": LATER} | overrides
    return domain.suspend_seller(seller, reason=reason, **values)


def test_suspending_a_seller_keeps_the_reason_and_announces_it() -> None:
    suspended, events = suspend(SELLER, reason=" counterfeit goods ")
    assert suspended.status == SellerStatus.SUSPENDED
    assert (suspended.suspension_reason, suspended.suspended_at, suspended.version) == ("counterfeit goods", LATER, 2)
    assert events == [SellerSuspended(suspended, "counterfeit goods", suspended_by="clerk-1", occurred_at=LATER)]
    again, events = suspend(suspended, reason="another reason")
    assert again is suspended and events == []


@pytest.mark.parametrize(
    ("seller", "reason", "overrides", "error", "message"),
    [
        (SELLER, "", {}, InvalidArgument, "reason is required"),
        (SELLER, "x" * 501, {}, InvalidArgument, "reason must be at most 500 characters"),
        (None, "fraud", {}, NotFound, "no seller with id 's-1'"),
        (SELLER, "fraud", {"actor": None}, PermissionDenied, "not an active staff member"),
    ],
)
def test_suspend_seller_refusals(
    seller: Seller | None, reason: str, overrides: dict[str, Any], error: type[DomainError], message: str
) -> None:
    with pytest.raises(error, match=message):
        suspend(seller, reason, **overrides)


def test_reinstating_a_seller_makes_it_active_again() -> None:
    suspended, _ = suspend(SELLER)
    later = LATER + timedelta(days=1)
    active, events = domain.reinstate_seller(suspended, seller_id="s-1", actor=CLERK, staff_id="clerk-1", now=later)
    assert (active.status, active.suspension_reason, active.suspended_at, active.version) == (
        SellerStatus.ACTIVE,
        "",
        None,
        3,
    )
    assert events == [
        SellerUpdated(active, ["status", "suspension_reason", "suspended_at"], updated_by="clerk-1", occurred_at=later)
    ]
    again, events = domain.reinstate_seller(active, seller_id="s-1", actor=CLERK, staff_id="clerk-1", now=later)
    assert again is active and events == []


def test_reinstate_seller_refusals() -> None:
    with pytest.raises(NotFound, match="no seller with id 's-9'"):
        domain.reinstate_seller(None, seller_id="s-9", actor=CLERK, staff_id="clerk-1", now=LATER)
    with pytest.raises(PermissionDenied):
        domain.reinstate_seller(SELLER, seller_id="s-1", actor=None, staff_id="ghost", now=LATER)


def sellers() -> list[Seller]:
    rows = [
        ("s-1", "zeta Goods", "zeta@goods.example", "DE123456789", SellerStatus.ACTIVE),
        ("s-2", "Alpha Crafts", "hello@alpha.example", "FR40303265045", SellerStatus.SUSPENDED),
        ("s-3", "alpha crafts", "other@alpha.example", "IT12345678901", SellerStatus.ACTIVE),
        ("s-4", "Maison Bleue", "bleue@maison.example", "BE0403170701", SellerStatus.ACTIVE),
    ]
    return [replace(SELLER, seller_id=i, name=n, email=e, vat_number=v, status=status) for i, n, e, v, status in rows]


SELLERS = sellers()


@pytest.mark.parametrize(
    ("statuses", "query", "expected"),
    [
        ([], "", ["s-2", "s-3", "s-4", "s-1"]),  # by name whatever its case, ties by id
        ([SellerStatus.ACTIVE], "", ["s-3", "s-4", "s-1"]),
        ([SellerStatus.SUSPENDED], "", ["s-2"]),
        ([], "ALPHA", ["s-2", "s-3"]),
        ([], "alpha other", ["s-3"]),
        ([], "fr403", ["s-2"]),  # VAT number
        ([], "maison.example", ["s-4"]),  # email
        ([SellerStatus.SUSPENDED], "zeta", []),
    ],
)
def test_list_sellers_filters_by_status_and_text_ordered_by_name(
    statuses: list[SellerStatus], query: str, expected: list[str]
) -> None:
    page = domain.list_sellers(SELLERS, statuses=statuses, query=query)
    assert [s.seller_id for s in page.items] == expected
    assert page.total_size == len(expected)


def test_list_sellers_pages_through_every_seller_once() -> None:
    first = domain.list_sellers(SELLERS, page_size=3)
    assert [s.seller_id for s in first.items] == ["s-2", "s-3", "s-4"] and first.next_page_token
    second = domain.list_sellers(SELLERS, page_size=3, page_token=first.next_page_token)
    assert [s.seller_id for s in second.items] == ["s-1"] and second.next_page_token == ""


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"page_size": -5}, "page_size must be 0"),
        ({"page_token": "%%%"}, "is not one this list issued for these filters and this order"),
        ({"page_token": "bm90IGpzb24"}, "is not one this list issued for these filters and this order"),  # "not json"
    ],
)
def test_list_sellers_refuses_bad_paging(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        domain.list_sellers(SELLERS, **overrides)


def test_list_sellers_refuses_a_token_from_other_filters() -> None:
    token = domain.list_sellers(SELLERS, page_size=1).next_page_token
    with pytest.raises(InvalidArgument, match="is not one this list issued for these filters and this order"):
        domain.list_sellers(SELLERS, statuses=[SellerStatus.ACTIVE], page_token=token)


# --------------------------------------------------------------------------------------------------
# Product onboarding
# --------------------------------------------------------------------------------------------------

DRAFT = ProductDraft(
    sku="MUG-BLUE-01",
    name="Blue mug",
    description="A blue mug.",
    category_id="cat-mugs",
    price=Money(1_290, "EUR"),
    tax_class="standard",
    weight_grams=350,
    attributes={"colour": "blue"},
    image_url="https://img.example/mug.png",
)


def start(existing: ProductOnboarding | None = None, **overrides: Any) -> ProductOnboarding:
    values: dict[str, Any] = {
        "seller": SELLER,
        "seller_id": SELLER.seller_id,
        "product": DRAFT,
        "initial_stock_quantity": 40,
        "publish": True,
        "actor": CLERK,
        "staff_id": "clerk-1",
        "now": NOW,
    } | overrides
    return domain.start_product_onboarding(existing, **values)


def run(
    onboarding: ProductOnboarding, refusals: dict[OnboardingStep, DomainError] | None = None
) -> tuple[ProductOnboarding, list[str]]:
    """What the wiring does, with the other services' RPCs replaced by a list of calls."""
    refusals = refusals or {}
    calls: list[str] = []
    while (step := domain.next_step(onboarding)) is not None:
        calls.append(step)
        if step in refusals:
            onboarding = domain.step_refused(onboarding, step, refusals[step], LATER)
            break
        product_id = "p-1" if step == OnboardingStep.CREATE_PRODUCT else ""
        onboarding = domain.step_succeeded(onboarding, step, LATER, product_id=product_id)
    for undo in domain.pending_undos(onboarding):
        calls.append(undo)
        onboarding = domain.undo_done(onboarding, undo, LATER)
    return onboarding, calls


def test_onboarding_plans_create_then_stock_then_publish() -> None:
    onboarding = start()
    assert onboarding.state == OnboardingState.IN_PROGRESS
    assert onboarding.planned_steps == [
        OnboardingStep.CREATE_PRODUCT,
        OnboardingStep.SET_INITIAL_STOCK,
        OnboardingStep.PUBLISH_PRODUCT,
    ]
    done, calls = run(onboarding)
    assert calls == ["CREATE_PRODUCT", "SET_INITIAL_STOCK", "PUBLISH_PRODUCT"]
    assert (done.state, done.product_id, done.updated_at) == (OnboardingState.COMPLETED, "p-1", LATER)
    assert domain.next_step(done) is None and domain.pending_undos(done) == []


def test_without_publish_the_product_stays_a_draft() -> None:
    done, calls = run(start(publish=False))
    assert calls == ["CREATE_PRODUCT", "SET_INITIAL_STOCK"]
    assert done.state == OnboardingState.COMPLETED


def test_a_draft_may_lack_a_category_or_a_price_when_it_is_not_published() -> None:
    draft = replace(DRAFT, category_id="", price=Money(0, "EUR"))
    assert start(product=draft, publish=False).state == OnboardingState.IN_PROGRESS


def test_a_refused_stock_step_archives_the_product_so_no_orphan_is_left() -> None:
    refusal = InvalidArgument("quantity too large")
    undone, calls = run(start(), {OnboardingStep.SET_INITIAL_STOCK: refusal})
    assert calls == ["CREATE_PRODUCT", "SET_INITIAL_STOCK", "ARCHIVE_PRODUCT"]
    assert undone.state == OnboardingState.UNDONE
    assert (undone.failed_step, undone.failure_kind, undone.failure_reason) == (
        OnboardingStep.SET_INITIAL_STOCK,
        "InvalidArgument",
        "quantity too large",
    )
    error = domain.onboarding_error(undone)
    assert isinstance(error, InvalidArgument)
    assert error.message == ("onboarding of MUG-BLUE-01 failed at SET_INITIAL_STOCK and was undone: quantity too large")
    assert undone.undo_note == "onboarding of MUG-BLUE-01 undone: SET_INITIAL_STOCK failed: quantity too large"


def test_a_refused_publication_removes_the_stock_then_archives_the_product() -> None:
    refusal = FailedPrecondition("seller is suspended")
    undone, calls = run(start(), {OnboardingStep.PUBLISH_PRODUCT: refusal})
    assert calls[-2:] == ["REMOVE_INITIAL_STOCK", "ARCHIVE_PRODUCT"]
    assert isinstance(domain.onboarding_error(undone), FailedPrecondition)


def test_a_refused_creation_has_nothing_to_undo() -> None:
    undone, calls = run(start(), {OnboardingStep.CREATE_PRODUCT: AlreadyExists("SKU 'MUG-BLUE-01' is taken")})
    assert calls == ["CREATE_PRODUCT"]
    assert undone.state == OnboardingState.UNDONE and undone.product_id == ""
    assert isinstance(domain.onboarding_error(undone), AlreadyExists)


def test_repeating_the_request_of_a_half_made_onboarding_finishes_it() -> None:
    # The stock service was unavailable: no refusal, the record stays at its step.
    half_made = domain.step_succeeded(start(), OnboardingStep.CREATE_PRODUCT, NOW, product_id="p-1")
    resumed = start(half_made, staff_id="admin-1", actor=ADMIN)  # anyone may finish it
    assert resumed is half_made
    done, calls = run(resumed)
    assert calls == ["SET_INITIAL_STOCK", "PUBLISH_PRODUCT"]
    assert done.state == OnboardingState.COMPLETED


def test_repeating_the_request_of_a_half_undone_onboarding_finishes_the_undo() -> None:
    undoing = domain.step_refused(
        domain.step_succeeded(
            domain.step_succeeded(start(), OnboardingStep.CREATE_PRODUCT, NOW, product_id="p-1"),
            OnboardingStep.SET_INITIAL_STOCK,
            NOW,
        ),
        OnboardingStep.PUBLISH_PRODUCT,
        FailedPrecondition("no"),
        NOW,
    )
    undoing = domain.undo_done(undoing, OnboardingUndo.REMOVE_INITIAL_STOCK, NOW)
    assert undoing.state == OnboardingState.UNDOING
    resumed = start(undoing)
    assert resumed is undoing
    undone, calls = run(resumed)
    assert calls == ["ARCHIVE_PRODUCT"] and undone.state == OnboardingState.UNDONE


def test_a_failed_creation_frees_the_sku_for_a_new_attempt() -> None:
    undone, _ = run(start(), {OnboardingStep.CREATE_PRODUCT: InvalidArgument("bad attributes")})
    fresh = start(undone, product=replace(DRAFT, attributes={}))
    assert fresh.state == OnboardingState.IN_PROGRESS and fresh.steps_done == []


@pytest.mark.parametrize(
    ("existing", "message"),
    [
        (run(start())[0], "SKU 'MUG-BLUE-01' was already onboarded \\(product 'p-1'\\)"),
        (
            run(start(), {OnboardingStep.SET_INITIAL_STOCK: InvalidArgument("no")})[0],
            "failed \\(no\\) and was undone; its archived draft keeps the SKU",
        ),
        (replace(start(), initial_stock_quantity=1), "with other details is under way"),
        (replace(start(), publish=False), "with other details is under way"),
    ],
)
def test_an_onboarding_that_cannot_be_resumed_answers_already_exists(existing: ProductOnboarding, message: str) -> None:
    with pytest.raises(AlreadyExists, match=message):
        start(existing)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"actor": None, "staff_id": "ghost"}, PermissionDenied, "'ghost' is not an active staff member"),
        ({"product": replace(DRAFT, sku="")}, InvalidArgument, "sku '' must be 1 to 64 characters"),
        ({"product": replace(DRAFT, sku="mug blue")}, InvalidArgument, "among A-Z, 0-9"),
        ({"product": replace(DRAFT, sku="M" * 65)}, InvalidArgument, "1 to 64 characters"),
        ({"initial_stock_quantity": -1}, InvalidArgument, "initial_stock_quantity must be 0 or more, got -1"),
        ({"seller": None, "seller_id": "s-9"}, NotFound, "no seller with id 's-9'"),
        (
            {"seller": replace(SELLER, status=SellerStatus.SUSPENDED)},
            FailedPrecondition,
            "seller 'Atelier Dupont' is suspended",
        ),
        ({"product": replace(DRAFT, category_id="")}, FailedPrecondition, "without a category cannot be published"),
        (
            {"product": replace(DRAFT, price=Money(0, "EUR"))},
            FailedPrecondition,
            "zero price cannot be published",
        ),
    ],
)
def test_start_product_onboarding_refusals(overrides: dict[str, Any], error: type[DomainError], message: str) -> None:
    with pytest.raises(error, match=message):
        start(**overrides)


def test_zero_initial_stock_is_fine() -> None:
    assert start(initial_stock_quantity=0).initial_stock_quantity == 0


def test_steps_must_be_reported_in_plan_order() -> None:
    onboarding = start()
    with pytest.raises(ValueError, match="is not the next step"):
        domain.step_succeeded(onboarding, OnboardingStep.PUBLISH_PRODUCT, NOW)
    with pytest.raises(ValueError, match="without a product id"):
        domain.step_succeeded(onboarding, OnboardingStep.CREATE_PRODUCT, NOW)
    with pytest.raises(ValueError, match="is not the next step"):
        domain.step_refused(onboarding, OnboardingStep.SET_INITIAL_STOCK, InvalidArgument("x"), NOW)
    with pytest.raises(ValueError, match="is not the next undo"):
        domain.undo_done(onboarding, OnboardingUndo.ARCHIVE_PRODUCT, NOW)


# --------------------------------------------------------------------------------------------------
# System settings
# --------------------------------------------------------------------------------------------------


def seeded() -> dict[str, Setting]:
    settings, _ = domain.seed_default_settings({}, NOW)
    return {setting.name: setting for setting in settings}


SETTINGS = seeded()


def test_first_start_publishes_every_default_by_system() -> None:
    settings, events = domain.seed_default_settings({}, NOW)
    assert [s.name for s in settings] == [e.name for e in events] == list(domain.SETTING_DEFINITIONS)
    for setting, event in zip(settings, events, strict=True):
        assert (setting.version, setting.updated_by, setting.value) == (1, "system", setting.default_value)
        assert event == SettingChanged(setting.name, setting.value, None, "system", 1, NOW)
        assert setting.description


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("shop.currency", SettingValue.of_string("EUR")),
        ("tax.rate_bps.standard", SettingValue.of_basis_points(2000)),
        ("tax.rate_bps.reduced", SettingValue.of_basis_points(550)),
        ("tax.rate_bps.super_reduced", SettingValue.of_basis_points(210)),
        ("tax.rate_bps.zero", SettingValue.of_basis_points(0)),
        ("stock.low_stock_threshold", SettingValue.of_int(5)),
        ("stock.reservation_ttl", SettingValue.of_duration(timedelta(minutes=15))),
        ("customer.vip_threshold", SettingValue.of_money(Money(100_000, "EUR"))),
        ("customer.vip_discount_bps", SettingValue.of_basis_points(500)),
        ("saga.step_timeout", SettingValue.of_duration(timedelta(seconds=30))),
    ],
)
def test_the_defaults_are_those_of_the_schema(name: str, value: SettingValue) -> None:
    assert SETTINGS[name].value == value
    assert SETTINGS[name].kind == value.kind


def test_seeding_again_only_adds_settings_that_are_missing() -> None:
    existing = dict(SETTINGS)
    del existing["saga.step_timeout"]
    settings, events = domain.seed_default_settings(existing, LATER)
    assert [s.name for s in settings] == [e.name for e in events] == ["saga.step_timeout"]
    assert domain.seed_default_settings(SETTINGS, LATER) == ([], [])


def test_get_and_list_settings() -> None:
    assert domain.get_setting(SETTINGS, "shop.currency").value.string_value == "EUR"
    assert [s.name for s in domain.list_settings(SETTINGS)] == sorted(SETTINGS)
    assert [s.name for s in domain.list_settings(SETTINGS, "tax.")] == [
        "tax.rate_bps.reduced",
        "tax.rate_bps.standard",
        "tax.rate_bps.super_reduced",
        "tax.rate_bps.zero",
    ]
    assert domain.tax_rate_setting("super_reduced") == "tax.rate_bps.super_reduced"
    with pytest.raises(NotFound, match=re.escape("'shop.colour' is not a system setting")):
        domain.get_setting(SETTINGS, "shop.colour")
    with pytest.raises(NotFound, match="has no value yet"):
        domain.get_setting({}, "shop.currency")


def change(name: str, value: SettingValue | None, settings: dict[str, Setting] | None = None, **overrides: Any) -> Any:
    values: dict[str, Any] = {"actor": ADMIN, "staff_id": "admin-1", "now": LATER} | overrides
    return domain.change_setting(SETTINGS if settings is None else settings, name=name, value=value, **values)


def test_an_admin_changes_a_setting_and_it_is_announced_with_old_and_new_value() -> None:
    changed, events = change("stock.low_stock_threshold", SettingValue.of_int(8))
    assert (changed.value, changed.version, changed.updated_by, changed.updated_at) == (
        SettingValue.of_int(8),
        2,
        "admin-1",
        LATER,
    )
    assert changed.default_value == SettingValue.of_int(5)
    assert events == [
        SettingChanged(
            name="stock.low_stock_threshold",
            value=SettingValue.of_int(8),
            old_value=SettingValue.of_int(5),
            changed_by="admin-1",
            version=2,
            occurred_at=LATER,
        )
    ]


def test_setting_the_current_value_changes_nothing() -> None:
    current = SETTINGS["tax.rate_bps.standard"]
    unchanged, events = change("tax.rate_bps.standard", SettingValue.of_basis_points(2000))
    assert unchanged is current and events == []
    # Only the field of the value's kind counts.
    noisy = SettingValue(SettingKind.BASIS_POINTS, basis_points=2000, string_value="ignored")
    assert change("tax.rate_bps.standard", noisy)[1] == []


def test_a_conditional_change_needs_the_current_version() -> None:
    assert change("tax.rate_bps.zero", SettingValue.of_basis_points(10), expected_version=1)[0].version == 2
    with pytest.raises(FailedPrecondition, match="is at version 1, not 3: someone changed it meanwhile"):
        change("tax.rate_bps.zero", SettingValue.of_basis_points(10), expected_version=3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"actor": CLERK, "staff_id": "clerk-1"}, "'clerk-1' is not an active admin"),
        ({"actor": FORMER_ADMIN, "staff_id": "admin-0"}, "'admin-0' is not an active admin"),
        ({"actor": None, "staff_id": "ghost"}, "'ghost' is not an active admin"),
    ],
)
def test_only_active_admins_change_settings(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PermissionDenied, match=message):
        change("tax.rate_bps.zero", SettingValue.of_basis_points(10), **overrides)


def test_an_unknown_setting_is_not_found() -> None:
    with pytest.raises(NotFound, match=re.escape("'tax.rate_bps.luxury' is not a system setting")):
        change("tax.rate_bps.luxury", SettingValue.of_basis_points(3000))


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("tax.rate_bps.standard", SettingValue.of_basis_points(0), True),
        ("tax.rate_bps.standard", SettingValue.of_basis_points(10_000), True),
        ("tax.rate_bps.standard", SettingValue.of_basis_points(-1), False),
        ("customer.vip_discount_bps", SettingValue.of_basis_points(10_001), False),
        ("stock.low_stock_threshold", SettingValue.of_int(0), True),
        ("stock.low_stock_threshold", SettingValue.of_int(-1), False),
        ("stock.low_stock_threshold", SettingValue.of_int(1_000_001), False),
        ("stock.reservation_ttl", SettingValue.of_duration(timedelta(minutes=1)), True),
        ("stock.reservation_ttl", SettingValue.of_duration(timedelta(hours=24)), True),
        ("stock.reservation_ttl", SettingValue.of_duration(timedelta(seconds=59)), False),
        ("stock.reservation_ttl", SettingValue.of_duration(timedelta(hours=24, seconds=1)), False),
        ("stock.reservation_ttl", SettingValue.of_duration(timedelta(0)), False),
        ("saga.step_timeout", SettingValue.of_duration(timedelta(seconds=1)), True),
        ("saga.step_timeout", SettingValue.of_duration(timedelta(hours=1)), True),
        ("saga.step_timeout", SettingValue.of_duration(timedelta(milliseconds=500)), False),
        ("saga.step_timeout", SettingValue.of_duration(timedelta(seconds=-5)), False),
        ("saga.step_timeout", SettingValue.of_duration(timedelta(hours=2)), False),
        ("shop.currency", SettingValue.of_string("USD"), True),
        ("shop.currency", SettingValue.of_string("usd"), False),
        ("shop.currency", SettingValue.of_string("EU"), False),
        ("shop.currency", SettingValue.of_string("ABC"), False),
        ("shop.currency", SettingValue.of_string(""), False),
        ("customer.vip_threshold", SettingValue.of_money(Money(0, "EUR")), True),
        ("customer.vip_threshold", SettingValue.of_money(Money(250_000, "EUR")), True),
        ("customer.vip_threshold", SettingValue.of_money(Money(-1, "EUR")), False),
        ("customer.vip_threshold", SettingValue.of_money(Money(100_000, "USD")), False),
        ("customer.vip_threshold", SettingValue.of_money(Money(100_000, "XYZ")), False),
        ("customer.vip_threshold", SettingValue(SettingKind.MONEY), False),
    ],
)
def test_setting_values_are_kept_in_range(name: str, value: SettingValue, accepted: bool) -> None:
    if accepted:
        assert change(name, value)[0].value == value
    else:
        with pytest.raises(InvalidArgument, match=f"setting '{name}'"):
            change(name, value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("shop.currency", None, "setting 'shop.currency' needs a value"),
        ("shop.currency", SettingValue.of_int(978), "takes a string value, got a int value"),
        ("stock.reservation_ttl", SettingValue.of_int(900), "takes a duration value, got a int value"),
        ("tax.rate_bps.zero", SettingValue.of_int(0), "takes a basis_points value, got a int value"),
        (
            "stock.reservation_ttl",
            SettingValue.of_duration(timedelta(seconds=30)),
            "must be between 1 minute\\(s\\) and 24 hour\\(s\\), got 30 second\\(s\\)",
        ),
        ("tax.rate_bps.zero", SettingValue.of_basis_points(20_000), "must be between 0 and 10000, got 20000"),
        ("customer.vip_threshold", SettingValue.of_money(Money(5, "USD")), "in the shop's currency EUR, got USD"),
    ],
)
def test_refused_values_say_what_is_wrong(name: str, value: SettingValue | None, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        change(name, value)


def test_after_a_currency_change_the_vip_threshold_follows_the_new_currency() -> None:
    dollars, _ = change("shop.currency", SettingValue.of_string("USD"))
    settings = SETTINGS | {"shop.currency": dollars}
    assert settings["customer.vip_threshold"].value.money_value == Money(100_000, "EUR")  # nothing converted
    assert domain.shop_currency(settings) == "USD"
    changed, _ = change("customer.vip_threshold", SettingValue.of_money(Money(120_000, "USD")), settings)
    assert changed.value.money_value == Money(120_000, "USD")
    with pytest.raises(InvalidArgument, match="shop's currency USD, got EUR"):
        change("customer.vip_threshold", SettingValue.of_money(Money(120_000, "EUR")), settings)


def test_bool_settings_take_bool_values() -> None:
    # No setting is a switch yet; the kind is there for the first one.
    switch = domain.SettingDefinition("demo.switch", SettingKind.BOOL, SettingValue.of_bool(False), "demo")
    assert domain.check_setting_value(switch, SettingValue.of_bool(True), "EUR") == SettingValue.of_bool(True)


# --------------------------------------------------------------------------------------------------
# Records survive the store's JSON
# --------------------------------------------------------------------------------------------------


def test_records_round_trip_through_pydantic_json() -> None:
    suspended, _ = suspend(SELLER)
    undoing, _ = run(start(), {OnboardingStep.PUBLISH_PRODUCT: FailedPrecondition("no")})
    for record, kind in [
        (suspended, Seller),
        (undoing, ProductOnboarding),
        *((setting, Setting) for setting in SETTINGS.values()),
    ]:
        adapter: TypeAdapter[Any] = TypeAdapter(kind)
        assert adapter.validate_json(adapter.dump_json(record)) == record
