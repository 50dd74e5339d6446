"""Who may call each RPC of CartService (enforced by the runtime; see services/runtime/auth.py).
Shoppers fill carts before they sign in, so a cart's id is enough for a cart nobody owns; a cart that
belongs to a customer answers NOT_FOUND to anyone else but staff and services (the servicer checks,
with auth.owned_by). Closing a cart is the checkout's, so services only."""

from carting.v1 import cart_service_pb2

from services.runtime.auth import anyone, customer_own, service_only

RULES = {cart_service_pb2.DESCRIPTOR.services_by_name["CartService"].full_name: {
    "CreateCart": anyone(owner="customer_id"),
    "GetCart": anyone(),
    "AddLine": anyone(),
    "UpdateLineQuantity": anyone(),
    "RemoveLine": anyone(),
    "ClearCart": anyone(),
    "MergeCarts": customer_own(owner="customer_id"),
    "SetShipping": anyone(),
    "AcknowledgePriceChanges": anyone(),
    "GetCartTotals": anyone(),
    "CloseCart": service_only(),
}}
