"""Who may call each RPC of PaymentService (enforced by the runtime; see services/runtime/auth.py).
The saga creates intents (services only); a customer reads their own payments (the servicer answers
NOT_FOUND for another's); capturing, refunding and voiding by hand are staff work."""

from paying.v1 import payment_service_pb2

from services.runtime.auth import customer_own, service_only, staff

RULES = {payment_service_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name: {
    "CreatePaymentIntent": service_only(),
    "CapturePayment": staff(),
    "GetPayment": customer_own(),
    "ListPayments": customer_own(),
    "RefundPayment": staff(),
    "VoidPayment": staff(),
}}
