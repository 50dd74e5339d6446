"""Cataloging's records and Protobuf messages, mapped once: categories, products and product events
out; requests' money, sorts and statuses, and administering's sellers, in."""

from __future__ import annotations

from typing import Any

from administering.v1 import events_pb2 as admin_pb
from cataloging.v1 import catalog_service_pb2 as pb
from cataloging.v1 import events_pb2 as events_pb

from services.cataloging import domain
from services.runtime.errors import InvalidArgument
from services.runtime.proto import money, money_record, timestamp

# ------------------------------------------------------------------------------------------- out


def category(placed: domain.PlacedCategory) -> pb.Category:
    record = placed.category
    return pb.Category(
        category_id=record.category_id, parent_id=record.parent_id, name=record.name, slug=record.slug,
        path=placed.path, ancestor_ids=placed.ancestor_ids, depth=placed.depth, position=record.position,
        created_at=timestamp(record.created_at), updated_at=timestamp(record.updated_at),
    )


def product(record: domain.Product) -> events_pb.Product:
    return events_pb.Product(
        product_id=record.product_id, seller_id=record.seller_id, sku=record.sku, name=record.name,
        description=record.description, category_id=record.category_id, price=money(record.price),
        tax_class=record.tax_class, weight_grams=record.weight_grams, attributes=record.attributes,
        image_url=record.image_url, status=events_pb.ProductStatus.Value(f"PRODUCT_STATUS_{record.status.value}"),
        in_stock=record.in_stock, created_at=timestamp(record.created_at), updated_at=timestamp(record.updated_at),
        published_at=timestamp(record.published_at), version=record.version,
    )


def product_event(event: domain.ProductEvent) -> dict[str, Any]:
    """The envelope field and message of a domain event, as `bus.publish(..., **product_event(e))` wants."""
    if isinstance(event, domain.ProductPublished):
        return {"product_published": events_pb.ProductPublished(product=product(event.product))}
    if isinstance(event, domain.ProductUpdated):
        return {"product_updated": events_pb.ProductUpdated(product=product(event.product),
                                                            changed_fields=event.changed_fields)}
    if isinstance(event, domain.ProductPriceChanged):
        return {"product_price_changed": events_pb.ProductPriceChanged(
            product_id=event.product_id, sku=event.sku, seller_id=event.seller_id, old_price=money(event.old_price),
            new_price=money(event.new_price), version=event.version)}
    return {"product_archived": events_pb.ProductArchived(
        product_id=event.product_id, sku=event.sku, seller_id=event.seller_id, reason=event.reason)}


# -------------------------------------------------------------------------------------------- in

SORTS = {
    pb.PRODUCT_SORT_UNSPECIFIED: domain.ProductSort.NEWEST,
    pb.PRODUCT_SORT_NEWEST: domain.ProductSort.NEWEST,
    pb.PRODUCT_SORT_PRICE_ASC: domain.ProductSort.PRICE_ASC,
    pb.PRODUCT_SORT_PRICE_DESC: domain.ProductSort.PRICE_DESC,
    pb.PRODUCT_SORT_NAME_ASC: domain.ProductSort.NAME_ASC,
}


def product_search_record(request: pb.ListProductsRequest) -> domain.ProductSearch:
    if request.sort not in SORTS:
        raise InvalidArgument(f"sort must be one of {', '.join(pb.ProductSort.keys())}, got {request.sort}")
    statuses = []
    for status in request.statuses:
        name = events_pb.ProductStatus.Name(status) if status in events_pb.ProductStatus.values() else str(status)
        if status == events_pb.PRODUCT_STATUS_UNSPECIFIED or not name.startswith("PRODUCT_STATUS_"):
            raise InvalidArgument(f"statuses may hold PRODUCT_STATUS_DRAFT, PRODUCT_STATUS_PUBLISHED and "
                                  f"PRODUCT_STATUS_ARCHIVED only, got {name}")
        statuses.append(domain.ProductStatus(name.removeprefix("PRODUCT_STATUS_")))
    return domain.ProductSearch(
        query=request.query, category_id=request.category_id, direct_category_only=request.direct_category_only,
        seller_id=request.seller_id,
        min_price=money_record(request.min_price) if request.HasField("min_price") else None,
        max_price=money_record(request.max_price) if request.HasField("max_price") else None,
        in_stock_only=request.in_stock_only, statuses=tuple(dict.fromkeys(statuses)), sort=SORTS[request.sort],
    )


SELLER_STATUSES = {
    admin_pb.SELLER_STATUS_ACTIVE: domain.SellerStatus.ACTIVE,
    admin_pb.SELLER_STATUS_SUSPENDED: domain.SellerStatus.SUSPENDED,
}


def seller_status_record(seller: admin_pb.Seller) -> domain.SellerStatus:
    if seller.status not in SELLER_STATUSES:
        raise InvalidArgument(f"seller {seller.seller_id!r} has no status cataloging knows ({seller.status})")
    return SELLER_STATUSES[seller.status]
