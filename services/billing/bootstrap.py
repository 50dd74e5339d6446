"""Billing put together: its settings, the services it calls, `wire()`, and its declaration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.v1.billing_service_pb2_grpc import add_BillingServiceServicer_to_server
from pydantic import Field

from services.billing import domain
from services.billing.domain import Address, Party
from services.billing.handlers import DEFAULT_TAX_RATES, BillingHandlers
from services.billing.servicer import BillingServicer
from services.billing.stores import Books
from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.process import ServiceProcess, Wired
from services.runtime.shop_settings import ShopSettings


class BillingSettings(ServiceSettings):
    """The shop as the seller on every invoice and credit note (the merchant of record)."""

    seller_id: str = Field("RCS Paris 912 345 678", validation_alias="BILLING_SELLER_ID", min_length=1)
    seller_name: str = Field("Shop Platform SAS", validation_alias="BILLING_SELLER_NAME", min_length=1)
    seller_email: str = Field("billing@shop.example", validation_alias="BILLING_SELLER_EMAIL")
    seller_vat_number: str = Field("FR40303265045", validation_alias="BILLING_SELLER_VAT_NUMBER")
    seller_line1: str = Field("48 boulevard Voltaire", validation_alias="BILLING_SELLER_LINE1")
    seller_postal_code: str = Field("75011", validation_alias="BILLING_SELLER_POSTAL_CODE")
    seller_city: str = Field("Paris", validation_alias="BILLING_SELLER_CITY")
    seller_country_code: str = Field("FR", validation_alias="BILLING_SELLER_COUNTRY_CODE", pattern=r"^[A-Z]{2}$",
                                     description="an ISO 3166-1 alpha-2 code, upper case")

    def seller(self) -> Party:
        return Party(party_id=self.seller_id, name=self.seller_name, email=self.seller_email,
                     vat_number=self.seller_vat_number,
                     address=Address(line1=self.seller_line1, postal_code=self.seller_postal_code,
                                     city=self.seller_city, country_code=self.seller_country_code))


def wire(bus: EventBus, callees: Mapping[str, Any], settings: BillingSettings) -> Wired:
    """Billing's books, handlers and servicer on `bus` (billing calls no other service: `callees` is empty)."""
    books = Books(bus)
    shop_settings = ShopSettings(bus, defaults={
        f"{domain.TAX_RATE_SETTING_PREFIX}{tax_class}": rate for tax_class, rate in DEFAULT_TAX_RATES.items()})
    BillingHandlers(books, settings.seller(), shop_settings).register(bus)
    return Wired(BillingServicer(bus, books), add_BillingServiceServicer_to_server,
                 parts={"books": books, "settings": shop_settings})


PROCESS = ServiceProcess("billing", port=9007, wire=wire, settings=BillingSettings)
