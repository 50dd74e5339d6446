"""Carting's rules: carts, their lines, merging at sign-in, price refreshes and the one totals function.

Every amount is an int of minor units in the cart's currency (cents for EUR), never a float.

Each use case takes the current record and plain values (catalogue data, stock available, settings,
`now`), checks them, and returns a changed copy: the record it was given is never mutated, so the
store's copy stays as it was until the unit of work commits. A use case that changes nothing returns
a copy with the same `version`, so the wiring writes only when the version moved. Carting publishes
no events, so use cases return records only.

Line availability (in stock, out of stock, archived) is not stored except for the archived flag: the
stock part changes without carting hearing of it, so `compute_totals` derives it from the stock
levels the wiring reads from stocking at that moment.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.values import Address, ShippingQuote

MAX_LINE_QUANTITY = 99
# An anonymous cart left untouched this long expires; customer carts never do (there is no setting
# for it: the storefront's cookie lives as long).
ANONYMOUS_CART_TTL = timedelta(days=7)
TAX_CLASSES = ("standard", "reduced", "super_reduced", "zero")
# Administering's defaults, used until the settings topic says otherwise.
DEFAULT_VIP_DISCOUNT_BPS = 500
DEFAULT_TAX_RATES_BPS = {"standard": 2000, "reduced": 550, "super_reduced": 210, "zero": 0}

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class CartState(StrEnum):
    OPEN = "OPEN"
    CHECKED_OUT = "CHECKED_OUT"
    MERGED = "MERGED"
    EXPIRED = "EXPIRED"


class LineAvailability(StrEnum):
    AVAILABLE = "AVAILABLE"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    ARCHIVED = "ARCHIVED"


class MergeAdjustmentReason(StrEnum):
    STOCK_LIMIT = "STOCK_LIMIT"
    LINE_LIMIT = "LINE_LIMIT"
    ARCHIVED = "ARCHIVED"
    OUT_OF_STOCK = "OUT_OF_STOCK"


# ---------------------------------------------------------------------------------------------- records


@dataclass
class CartLine:
    sku: str
    product_id: str
    seller_id: str
    name: str
    quantity: int
    # Net unit price the shopper last agreed to (when added, or at the last acknowledgement).
    unit_price_seen: int
    # Net unit price in the catalogue now; the totals use this one.
    current_unit_price: int
    tax_class: str
    unit_weight_grams: int
    added_at: datetime
    # The product was archived in the catalogue: the line can no longer be bought.
    archived: bool = False
    # Catalogue version the line's data comes from; older catalogue events are ignored.
    product_version: int = 0

    @property
    def price_changed(self) -> bool:
        return self.current_unit_price != self.unit_price_seen


@dataclass
class CartShipping:
    destination: Address
    # None while only the destination is chosen.
    option: ShippingQuote | None = None


@dataclass
class Cart:
    cart_id: str
    # Empty for an anonymous cart.
    customer_id: str
    currency: str
    created_at: datetime
    updated_at: datetime
    # Anonymous carts only; every shopper change pushes it back.
    expires_at: datetime | None = None
    state: CartState = CartState.OPEN
    # One line per SKU, in the order they were first added.
    lines: list[CartLine] = field(default_factory=list)
    shipping: CartShipping | None = None
    order_id: str = ""
    merged_into_cart_id: str = ""
    merged_into_customer_id: str = ""
    version: int = 1

    @property
    def is_anonymous(self) -> bool:
        return not self.customer_id

    def line(self, sku: str) -> CartLine | None:
        return next((line for line in self.lines if line.sku == sku), None)


@dataclass(frozen=True)
class CatalogProduct:
    """What carting needs of a product, as cataloging returns it (GetProduct or a product event)."""

    product_id: str
    sku: str
    seller_id: str
    name: str
    unit_price: int
    currency: str
    tax_class: str
    unit_weight_grams: int
    archived: bool = False
    version: int = 0


@dataclass(frozen=True)
class PricingSettings:
    """The settings the totals depend on (administering's `customer.vip_discount_bps` and
    `tax.rate_bps.<class>`), with administering's defaults."""

    vip_discount_bps: int = DEFAULT_VIP_DISCOUNT_BPS
    tax_rates_bps: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_TAX_RATES_BPS))

    def tax_rate_bps(self, tax_class: str) -> int:
        if tax_class not in self.tax_rates_bps:
            raise FailedPrecondition(f"no tax rate is set for tax class {tax_class!r}")
        return self.tax_rates_bps[tax_class]

    def with_setting(self, name: str, basis_points: int) -> PricingSettings:
        """These settings after a SettingChanged; settings carting does not read leave them as they are."""
        if name == "customer.vip_discount_bps":
            return replace(self, vip_discount_bps=basis_points)
        if name.startswith("tax.rate_bps."):
            return replace(self, tax_rates_bps={**self.tax_rates_bps, name.removeprefix("tax.rate_bps."): basis_points})
        return self


# ----------------------------------------------------------------------------------- editing a cart


def create_cart(
    *, cart_id: str, customer_id: str, currency: str, now: datetime, existing_open_cart: Cart | None = None
) -> tuple[Cart, bool]:
    """A new empty OPEN cart, and True; or, for a customer who already has an OPEN cart, that cart
    unchanged and False (a customer has at most one, so the call is safe to repeat)."""
    if customer_id and not _CUSTOMER_ID.match(customer_id):
        raise InvalidArgument(f"customer id {customer_id!r} is malformed")
    if not _CURRENCY.match(currency):
        raise InvalidArgument(f"currency must be a three-letter ISO 4217 code such as EUR, got {currency!r}")
    if customer_id and existing_open_cart is not None:
        return copy.deepcopy(existing_open_cart), False
    cart = Cart(cart_id=cart_id, customer_id=customer_id, currency=currency, created_at=now, updated_at=now)
    if cart.is_anonymous:
        cart.expires_at = now + ANONYMOUS_CART_TTL
    return cart, True


def add_line(
    cart: Cart, *, sku: str, quantity: int, product: CatalogProduct | None, available: int, now: datetime
) -> Cart:
    """Adds `quantity` units of a SKU (to its existing line, if any). `product` is cataloging's answer
    (None when the SKU is not in the catalogue) and `available` stocking's available units."""
    if not sku:
        raise InvalidArgument("SKU is required")
    if quantity < 1:
        raise InvalidArgument(f"quantity to add must be at least 1, got {quantity}")
    _require_open(cart, now)
    if product is None:
        raise NotFound(f"no product with SKU {sku!r} in the catalogue")
    if product.archived:
        raise FailedPrecondition(f"{product.name} ({sku}) is no longer sold")
    if product.currency != cart.currency:
        raise FailedPrecondition(f"{sku} is priced in {product.currency} but the cart is in {cart.currency}")
    existing = cart.line(sku)
    new_quantity = quantity + (existing.quantity if existing else 0)
    if new_quantity > MAX_LINE_QUANTITY:
        raise InvalidArgument(
            f"a line holds at most {MAX_LINE_QUANTITY} units; {sku} would have {new_quantity}"
        )
    _require_stock(sku, new_quantity, available)

    changed = _touched(cart, now)
    line = changed.line(sku)
    if line is None:
        changed.lines.append(
            CartLine(
                sku=sku, product_id=product.product_id, seller_id=product.seller_id, name=product.name,
                quantity=new_quantity, unit_price_seen=product.unit_price, current_unit_price=product.unit_price,
                tax_class=product.tax_class, unit_weight_grams=product.unit_weight_grams, added_at=now,
                product_version=product.version,
            )
        )
    else:
        line.quantity = new_quantity
        _refresh_line_from_catalog(line, product, cart.currency)
    return changed


def update_line_quantity(cart: Cart, *, sku: str, quantity: int, available: int, now: datetime) -> Cart:
    """Sets the quantity of the SKU's line (1 to 99); `available` is stocking's available units."""
    if not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise InvalidArgument(f"quantity must be between 1 and {MAX_LINE_QUANTITY}, got {quantity}")
    _require_open(cart, now)
    if cart.line(sku) is None:
        raise NotFound(f"the cart has no line for SKU {sku!r}")
    _require_stock(sku, quantity, available)
    changed = _touched(cart, now)
    line = changed.line(sku)
    assert line is not None
    line.quantity = quantity
    return changed


def remove_line(cart: Cart, *, sku: str, now: datetime) -> Cart:
    """Removes the SKU's line; removing a SKU the cart does not hold changes nothing."""
    _require_open(cart, now)
    if cart.line(sku) is None:
        return copy.deepcopy(cart)
    changed = _touched(cart, now)
    changed.lines = [line for line in changed.lines if line.sku != sku]
    return changed


def clear_cart(cart: Cart, *, now: datetime) -> Cart:
    """Removes every line; the shipping choice is kept."""
    _require_open(cart, now)
    if not cart.lines:
        return copy.deepcopy(cart)
    changed = _touched(cart, now)
    changed.lines = []
    return changed


def set_shipping(cart: Cart, *, destination: Address | None, quote: ShippingQuote | None, now: datetime) -> Cart:
    """Sets the destination and, when `quote` is given, the option as shipping priced it (the wiring
    asks shipping, which refuses an option that does not serve the destination). No destination
    clears both."""
    _require_open(cart, now)
    if destination is not None and not destination.country_code:
        raise InvalidArgument("a shipping destination needs at least a country code")
    if quote is not None and quote.currency != cart.currency:
        raise FailedPrecondition(f"shipping was quoted in {quote.currency} but the cart is in {cart.currency}")
    changed = _touched(cart, now)
    changed.shipping = None if destination is None else CartShipping(destination=destination, option=quote)
    return changed


def acknowledge_price_changes(cart: Cart, *, now: datetime) -> Cart:
    """The shopper accepts the current prices: every changed line's seen price becomes its current one."""
    _require_open(cart, now)
    if not any(line.price_changed for line in cart.lines):
        return copy.deepcopy(cart)
    changed = _touched(cart, now)
    for line in changed.lines:
        line.unit_price_seen = line.current_unit_price
    return changed


# --------------------------------------------------------------------------------- merge at sign-in


@dataclass
class MergeAdjustment:
    sku: str
    # What the two carts held together.
    requested_quantity: int
    # What the merged line holds now (0 when the line was dropped).
    merged_quantity: int
    reason: MergeAdjustmentReason


@dataclass
class MergeResult:
    anonymous_cart: Cart
    customer_cart: Cart
    # Lines whose quantity was cut or that were dropped; empty when everything was carried over.
    adjustments: list[MergeAdjustment]
    # True when the customer had no OPEN cart and `customer_cart` is new.
    customer_cart_created: bool


def merge_carts(
    anonymous_cart: Cart,
    customer_cart: Cart | None,
    *,
    customer_id: str,
    new_cart_id: str,
    available_by_sku: Mapping[str, int],
    now: datetime,
) -> MergeResult:
    """Merges a shopper's anonymous cart into their customer cart when they sign in.

    `customer_cart` is the customer's OPEN cart, or None (one is then created with `new_cart_id`).
    `available_by_sku` holds stocking's available units for the SKUs of the anonymous cart; a SKU
    missing from it counts as none in stock. For each anonymous line, the quantities of the two carts
    are added, then capped by the stock available and the per-line maximum; an archived product or
    one out of stock is dropped, the customer's own line for it included, so every merged line can be
    bought as it stands. Every cut is reported. The anonymous cart ends MERGED; repeating the merge
    for the same customer returns the customer cart unchanged, with no adjustments.
    """
    if not customer_id:
        raise InvalidArgument("customer id is required")
    if not anonymous_cart.is_anonymous:
        raise FailedPrecondition(f"cart {anonymous_cart.cart_id} belongs to a customer; only anonymous carts merge")
    if customer_cart is not None and (
        customer_cart.customer_id != customer_id or customer_cart.state is not CartState.OPEN
    ):
        raise FailedPrecondition(f"cart {customer_cart.cart_id} is not an OPEN cart of customer {customer_id}")

    created = customer_cart is None
    target = customer_cart or create_cart(
        cart_id=new_cart_id, customer_id=customer_id, currency=anonymous_cart.currency, now=now
    )[0]
    if anonymous_cart.state is CartState.MERGED:
        if anonymous_cart.merged_into_customer_id != customer_id:
            raise FailedPrecondition(f"cart {anonymous_cart.cart_id} was already merged into another customer's cart")
        return MergeResult(copy.deepcopy(anonymous_cart), copy.deepcopy(target), [], created)
    _require_open(anonymous_cart, now)
    if target.currency != anonymous_cart.currency:
        raise FailedPrecondition(
            f"the anonymous cart is in {anonymous_cart.currency} but the customer's cart is in {target.currency}"
        )

    # A brand-new target starts at version 1; an existing one moves on only if something is merged in.
    merged = _touched(target, now) if anonymous_cart.lines and not created else copy.deepcopy(target)
    adjustments: list[MergeAdjustment] = []
    for incoming in anonymous_cart.lines:
        existing = merged.line(incoming.sku)
        requested = incoming.quantity + (existing.quantity if existing else 0)
        available = max(0, available_by_sku.get(incoming.sku, 0))
        archived = incoming.archived or (existing is not None and existing.archived)
        quantity = 0 if archived else min(requested, MAX_LINE_QUANTITY, available)
        if quantity < requested:
            adjustments.append(
                MergeAdjustment(incoming.sku, requested, quantity, _merge_cut_reason(archived, quantity, available))
            )
        if quantity == 0:
            merged.lines = [line for line in merged.lines if line.sku != incoming.sku]
        elif existing is None:
            merged.lines.append(replace(incoming, quantity=quantity))
        else:
            existing.quantity = quantity

    source = _changed(anonymous_cart, now)
    source.state = CartState.MERGED
    source.merged_into_cart_id = merged.cart_id
    source.merged_into_customer_id = customer_id
    return MergeResult(source, merged, adjustments, created)


def _merge_cut_reason(archived: bool, quantity: int, available: int) -> MergeAdjustmentReason:
    if archived:
        return MergeAdjustmentReason.ARCHIVED
    if quantity == 0:
        return MergeAdjustmentReason.OUT_OF_STOCK
    if quantity == available:
        return MergeAdjustmentReason.STOCK_LIMIT
    return MergeAdjustmentReason.LINE_LIMIT


# ------------------------------------------------------------------------------ closing and expiry


def close_cart(cart: Cart, *, order_id: str, expected_version: int, now: datetime) -> Cart:
    """Closes the cart once ordering stored the order made from it (CHECKED_OUT, remembering the order).

    Idempotent: a cart already closed by the same order comes back unchanged, whatever its version
    (the first close moved it). `expected_version` is the version ordering priced; 0 skips the check.
    """
    if not cart.cart_id or not order_id:
        raise InvalidArgument("cart id and order id are both required")
    if cart.state is CartState.CHECKED_OUT:
        if cart.order_id == order_id:
            return copy.deepcopy(cart)
        raise FailedPrecondition(f"cart {cart.cart_id} was already checked out by order {cart.order_id}")
    _require_open(cart, now)
    if expected_version and expected_version != cart.version:
        # Stands for ABORTED until the runtime has it: the cart changed after ordering priced it.
        raise FailedPrecondition(
            f"cart {cart.cart_id} changed since it was read (version {cart.version}, expected {expected_version}); "
            "read it again"
        )
    changed = _changed(cart, now)
    changed.state = CartState.CHECKED_OUT
    changed.order_id = order_id
    return changed


def is_expired(cart: Cart, now: datetime) -> bool:
    """True for an OPEN anonymous cart left untouched past its expiry time."""
    return cart.state is CartState.OPEN and cart.expires_at is not None and now >= cart.expires_at


def expire_carts(carts: Iterable[Cart], now: datetime) -> list[Cart]:
    """The carts that expire at `now`, each as it is once EXPIRED; the others are left out."""
    expired = []
    for cart in carts:
        if is_expired(cart, now):
            changed = _changed(cart, now)
            changed.state = CartState.EXPIRED
            expired.append(changed)
    return expired


# ------------------------------------------------------------------------------ catalogue refreshes
# Only OPEN carts follow the catalogue: a closed cart is a record of what was. These are not the
# shopper's doing, so they do not push an anonymous cart's expiry back.


def apply_price_change(
    cart: Cart, *, sku: str, new_unit_price: int, currency: str, product_version: int, now: datetime
) -> Cart:
    """ProductPriceChanged: the SKU's line gets the new current price, and says the price changed
    until the shopper acknowledges it. An older catalogue version than the line's changes nothing."""
    line = cart.line(sku)
    if cart.state is not CartState.OPEN or line is None or product_version <= line.product_version:
        return copy.deepcopy(cart)
    if currency != cart.currency:
        # The shop sells in one currency (setting shop.currency); a price in another cannot apply.
        return copy.deepcopy(cart)
    changed = _changed(cart, now)
    changed_line = changed.line(sku)
    assert changed_line is not None
    changed_line.current_unit_price = new_unit_price
    changed_line.product_version = product_version
    return changed


def apply_product_update(cart: Cart, product: CatalogProduct, *, now: datetime) -> Cart:
    """ProductUpdated (or any fresher view of the product): name, seller, tax class, weight and price
    follow the catalogue. An older catalogue version than the line's changes nothing."""
    line = cart.line(product.sku)
    if cart.state is not CartState.OPEN or line is None or product.version <= line.product_version:
        return copy.deepcopy(cart)
    changed = _changed(cart, now)
    changed_line = changed.line(product.sku)
    assert changed_line is not None
    _refresh_line_from_catalog(changed_line, product, cart.currency)
    return changed


def apply_product_archived(cart: Cart, *, sku: str, now: datetime) -> Cart:
    """ProductArchived: the SKU's line is flagged; it no longer counts and blocks checkout."""
    line = cart.line(sku)
    if cart.state is not CartState.OPEN or line is None or line.archived:
        return copy.deepcopy(cart)
    changed = _changed(cart, now)
    changed_line = changed.line(sku)
    assert changed_line is not None
    changed_line.archived = True
    return changed


def _refresh_line_from_catalog(line: CartLine, product: CatalogProduct, cart_currency: str) -> None:
    line.product_id = product.product_id
    line.seller_id = product.seller_id
    line.name = product.name
    line.tax_class = product.tax_class
    line.unit_weight_grams = product.unit_weight_grams
    if product.currency == cart_currency:
        line.current_unit_price = product.unit_price
    line.archived = line.archived or product.archived
    line.product_version = max(line.product_version, product.version)


# -------------------------------------------------------------------------------------------- totals


@dataclass
class LineAmounts:
    sku: str
    availability: LineAvailability
    # Units that can be bought now (stocking's available, never below 0).
    available_quantity: int
    tax_rate_bps: int
    subtotal: int
    discount: int
    tax: int
    total: int


@dataclass
class CartTotals:
    # One per cart line, in the cart's order; amounts are shown for every line, counted only when AVAILABLE.
    lines: list[LineAmounts]
    subtotal: int
    vip_discount: int
    # The VIP rate applied; 0 when none.
    vip_discount_bps: int
    tax_estimate: int
    # None while no shipping option is chosen; the grand total then leaves shipping out.
    shipping_estimate: int | None
    grand_total: int
    item_count: int
    total_weight_grams: int
    ready_for_checkout: bool


def apply_basis_points(amount: int, basis_points: int) -> int:
    """amount x basis_points / 10000, rounded half up to the minor unit, in integers only (amounts
    here are never negative, so half up and half away from zero agree)."""
    return (amount * basis_points + 5000) // 10000


def compute_totals(
    cart: Cart,
    *,
    available_by_sku: Mapping[str, int],
    pricing: PricingSettings,
    customer_is_vip: bool,
    shipping_estimate: int | None,
) -> CartTotals:
    """Prices the cart: the one place carting's pricing rules (cart_service.proto) are applied.

    Per line, from the current unit price:
        subtotal = current unit price x quantity
        discount = subtotal x VIP rate, rounded half up to the minor unit (VIP customers only; never
                   on an anonymous cart)
        tax      = (subtotal - discount) x the tax class's rate, rounded half up
        total    = subtotal - discount + tax
    Rounding happens per line, half up (x.5 minor units go up), in integer arithmetic; cart totals are
    plain sums of the line amounts, so they always add up to what the lines show.
    Only AVAILABLE lines count: archived, out of stock, or fewer in stock than the quantity
    (`available_by_sku` is stocking's available units; a SKU missing from it counts as none).
    grand total = subtotal - VIP discount + tax + shipping estimate (the chosen option's price, outside
    tax; None while none is chosen).
    """
    vip_bps = pricing.vip_discount_bps if customer_is_vip and not cart.is_anonymous else 0
    lines: list[LineAmounts] = []
    for line in cart.lines:
        available = max(0, available_by_sku.get(line.sku, 0))
        subtotal = line.current_unit_price * line.quantity
        discount = apply_basis_points(subtotal, vip_bps)
        tax_rate = pricing.tax_rate_bps(line.tax_class)
        tax = apply_basis_points(subtotal - discount, tax_rate)
        lines.append(
            LineAmounts(
                sku=line.sku, availability=_availability(line, available), available_quantity=available,
                tax_rate_bps=tax_rate, subtotal=subtotal, discount=discount, tax=tax, total=subtotal - discount + tax,
            )
        )

    counted = [(line, amounts) for line, amounts in zip(cart.lines, lines, strict=True)
               if amounts.availability is LineAvailability.AVAILABLE]
    subtotal = sum(amounts.subtotal for _, amounts in counted)
    vip_discount = sum(amounts.discount for _, amounts in counted)
    tax = sum(amounts.tax for _, amounts in counted)
    ready = (
        cart.state is CartState.OPEN
        and bool(cart.lines)
        and len(counted) == len(cart.lines)
        and not any(line.price_changed for line in cart.lines)
    )
    return CartTotals(
        lines=lines,
        subtotal=subtotal,
        vip_discount=vip_discount,
        vip_discount_bps=vip_bps,
        tax_estimate=tax,
        shipping_estimate=shipping_estimate,
        grand_total=subtotal - vip_discount + tax + (shipping_estimate or 0),
        item_count=sum(line.quantity for line, _ in counted),
        total_weight_grams=sum(line.unit_weight_grams * line.quantity for line, _ in counted),
        ready_for_checkout=ready,
    )


def cart_weight_grams(cart: Cart) -> int:
    """Parcel weight of the lines that can still be sold, for asking shipping for a quote."""
    return sum(line.unit_weight_grams * line.quantity for line in cart.lines if not line.archived)


def chosen_shipping_price(cart: Cart) -> int | None:
    """The stored quote's price, or None when no option is chosen."""
    return cart.shipping.option.price if cart.shipping and cart.shipping.option else None


def _availability(line: CartLine, available: int) -> LineAvailability:
    if line.archived:
        return LineAvailability.ARCHIVED
    if available == 0:
        return LineAvailability.OUT_OF_STOCK
    if available < line.quantity:
        return LineAvailability.INSUFFICIENT_STOCK
    return LineAvailability.AVAILABLE


# ------------------------------------------------------------------------------------------- helpers


def _require_open(cart: Cart, now: datetime) -> None:
    if is_expired(cart, now):
        raise FailedPrecondition(f"cart {cart.cart_id} has expired: start a new one")
    if cart.state is not CartState.OPEN:
        state = cart.state.value.lower().replace("_", " ")
        raise FailedPrecondition(f"cart {cart.cart_id} is {state}: it can no longer change")


def _require_stock(sku: str, quantity: int, available: int) -> None:
    if available < quantity:
        if available <= 0:
            raise FailedPrecondition(f"{sku} is out of stock")
        raise FailedPrecondition(f"only {available} of {sku} available, {quantity} asked")


def _changed(cart: Cart, now: datetime) -> Cart:
    """A copy to change, one version on."""
    changed = copy.deepcopy(cart)
    changed.version += 1
    changed.updated_at = now
    return changed


def _touched(cart: Cart, now: datetime) -> Cart:
    """A copy to change for a shopper's action, which also pushes an anonymous cart's expiry back."""
    changed = _changed(cart, now)
    if changed.is_anonymous:
        changed.expires_at = now + ANONYMOUS_CART_TTL
    return changed
