"""Who may call each RPC of BillingService (enforced by the runtime; see services/runtime/auth.py).
A customer reads their own invoices and credit notes (the servicer answers NOT_FOUND for another's);
tax rates are public to read and a setting to change (ADMIN)."""

from billing.v1 import billing_service_pb2

from services.runtime.auth import Role, anyone, customer_own, staff

RULES = {billing_service_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name: {
    "GetInvoice": customer_own(),
    "GetOrderInvoice": customer_own(),
    "ListInvoices": customer_own(owner="customer_id"),
    "GetInvoicePdf": customer_own(),
    "GetCreditNote": customer_own(),
    "ListCreditNotes": customer_own(),
    "GetCreditNotePdf": customer_own(),
    "ListTaxRates": anyone(),
    "GetTaxRate": anyone(),
    "SetTaxRate": staff(Role.ADMIN),
}}
