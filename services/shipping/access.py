"""Who may call each RPC of ShippingService (enforced by the runtime; see services/runtime/auth.py).
Rates and carriers are public (the storefront quotes them); the saga creates shipments (services
only); a customer follows their own (the servicer answers NOT_FOUND for another's); scans and
cancellations are entered by staff or by a service."""

from shipping.v1 import shipping_service_pb2

from services.runtime.auth import anyone, customer_own, service_only, staff

RULES = {shipping_service_pb2.DESCRIPTOR.services_by_name["ShippingService"].full_name: {
    "GetShippingRates": anyone(),
    "ListCarriers": anyone(),
    "ValidateShippingOption": anyone(),
    "CreateShipment": service_only(),
    "GetShipment": customer_own(),
    "GetOrderShipment": customer_own(),
    "GetShippingLabel": customer_own(),
    "ListTrackingEvents": customer_own(),
    "RecordCarrierScan": staff(),
    "CancelShipment": staff(),
}}
