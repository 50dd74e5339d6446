"""Carting's records and Protobuf messages, mapped once: carts with their totals out, catalogue
products, stock levels, shipping quotes and addresses in."""

from __future__ import annotations

from carting.v1 import cart_service_pb2 as pb
from cataloging.v1 import events_pb2 as catalog_pb
from profiling.v1 import events_pb2 as profiling_pb

from services.carting import domain
from services.runtime.proto import address, money, timestamp

# ------------------------------------------------------------------------------------------- out


def cart(record: domain.Cart, totals: domain.CartTotals) -> pb.Cart:
    """A cart with the amounts compute_totals gave it (one LineAmounts per line, in order)."""
    currency = record.currency
    message = pb.Cart(
        cart_id=record.cart_id, customer_id=record.customer_id, state=pb.CartState.Value(f"CART_STATE_{record.state}"),
        currency=currency, totals=cart_totals(totals, currency), order_id=record.order_id,
        merged_into_cart_id=record.merged_into_cart_id, version=record.version,
        created_at=timestamp(record.created_at), updated_at=timestamp(record.updated_at),
        expires_at=timestamp(record.expires_at),
    )
    for line, amounts in zip(record.lines, totals.lines, strict=True):
        message.lines.append(pb.CartLine(
            sku=line.sku, product_id=line.product_id, seller_id=line.seller_id, name=line.name, quantity=line.quantity,
            unit_price_seen=money(line.unit_price_seen, currency),
            current_unit_price=money(line.current_unit_price, currency), price_changed=line.price_changed,
            availability=pb.LineAvailability.Value(f"LINE_AVAILABILITY_{amounts.availability}"),
            available_quantity=amounts.available_quantity, tax_class=line.tax_class,
            tax_rate_bps=amounts.tax_rate_bps, unit_weight_grams=line.unit_weight_grams,
            subtotal=money(amounts.subtotal, currency), discount=money(amounts.discount, currency),
            tax=money(amounts.tax, currency), total=money(amounts.total, currency), added_at=timestamp(line.added_at),
        ))
    if record.shipping is not None:
        message.shipping.destination.CopyFrom(address(record.shipping.destination))
        if (option := record.shipping.option) is not None:
            message.shipping.MergeFrom(pb.CartShipping(
                shipping_option_id=option.shipping_option_id, carrier_code=option.carrier_code,
                carrier_name=option.carrier_name, service_level=option.service_level,
                price=money(option.price, option.currency), estimated_days_min=option.estimated_days_min,
                estimated_days_max=option.estimated_days_max,
            ))
    return message


def cart_totals(totals: domain.CartTotals, currency: str) -> pb.CartTotals:
    message = pb.CartTotals(
        subtotal=money(totals.subtotal, currency), vip_discount=money(totals.vip_discount, currency),
        vip_discount_bps=totals.vip_discount_bps, tax_estimate=money(totals.tax_estimate, currency),
        grand_total=money(totals.grand_total, currency), item_count=totals.item_count,
        total_weight_grams=totals.total_weight_grams, ready_for_checkout=totals.ready_for_checkout,
    )
    if totals.shipping_estimate is not None:
        message.shipping_estimate.CopyFrom(money(totals.shipping_estimate, currency))
    return message


def merge_adjustment(adjustment: domain.MergeAdjustment) -> pb.MergeAdjustment:
    return pb.MergeAdjustment(
        sku=adjustment.sku, requested_quantity=adjustment.requested_quantity,
        merged_quantity=adjustment.merged_quantity,
        reason=pb.MergeAdjustmentReason.Value(f"MERGE_ADJUSTMENT_REASON_{adjustment.reason}"),
    )


# -------------------------------------------------------------------------------------------- in


def catalog_product_record(product: catalog_pb.Product) -> domain.CatalogProduct | None:
    """What carting needs of a product; None for a DRAFT, which no other service may see yet."""
    if product.status == catalog_pb.PRODUCT_STATUS_DRAFT:
        return None
    return domain.CatalogProduct(
        product_id=product.product_id, sku=product.sku, seller_id=product.seller_id, name=product.name,
        unit_price=product.price.amount_minor, currency=product.price.currency, tax_class=product.tax_class,
        unit_weight_grams=product.weight_grams, archived=product.status == catalog_pb.PRODUCT_STATUS_ARCHIVED,
        version=product.version,
    )


def customer_status_record(status: int) -> str:
    """profiling.v1.CustomerStatus as a name; tiers carting does not know count as STANDARD (as profiling says)."""
    return "VIP" if status == profiling_pb.CUSTOMER_STATUS_VIP else "STANDARD"


