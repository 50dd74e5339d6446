"""Who may call each RPC of OrderService (enforced by the runtime; see services/runtime/auth.py).
A customer places and follows their own orders (the servicer answers NOT_FOUND for another's);
listing every order is staff work."""

from ordering.v1 import order_service_pb2

from services.runtime.auth import customer_own, staff

RULES = {order_service_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name: {
    "CreateOrder": customer_own(),
    "GetOrder": customer_own(),
    "ListCustomerOrders": customer_own(owner="customer_id"),
    "ListOrders": staff(),
    "CancelOrder": customer_own(),
    "RequestRefund": customer_own(),
    "GetOrderTimeline": customer_own(),
}}
