"""Who may call each RPC of CatalogService (enforced by the runtime; see services/runtime/auth.py).
The catalogue is public to read; changing it is staff work (administering calls the writes for staff)."""

from cataloging.v1 import catalog_service_pb2

from services.runtime.auth import anyone, staff

RULES = {catalog_service_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name: {
    "CreateCategory": staff(),
    "GetCategory": anyone(),
    "RenameCategory": staff(),
    "MoveCategory": staff(),
    "DeleteCategory": staff(),
    "GetCategoryTree": anyone(),
    "CreateProduct": staff(),
    "UpdateProduct": staff(),
    "SetProductPrice": staff(),
    "PublishProduct": staff(),
    "ArchiveProduct": staff(),
    "GetProduct": anyone(),
    "BatchGetProducts": anyone(),
    "BatchGetProductsBySku": anyone(),
    "ListProducts": anyone(),
}}
