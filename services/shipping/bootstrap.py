"""Shipping put together: its settings, the services it calls, `wire()`, and its declaration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from shipping.v1.shipping_service_pb2_grpc import add_ShippingServiceServicer_to_server

from services.runtime.bus import EventBus
from services.runtime.config import ServiceSettings
from services.runtime.process import ServiceProcess, Wired
from services.shipping.domain import Address
from services.shipping.handlers import ShippingHandlers
from services.shipping.servicer import ShippingServicer
from services.shipping.stores import Shipments


class ShippingSettings(ServiceSettings):
    """Where parcels leave from and come back to, printed on every label."""

    sender_name: str = Field("Shipping department", validation_alias="SHIPPING_SENDER_NAME")
    sender_company: str = Field("Shop Platform SAS", validation_alias="SHIPPING_SENDER_COMPANY")
    sender_line1: str = Field("3 rue du Bac", validation_alias="SHIPPING_SENDER_LINE1", min_length=1)
    sender_postal_code: str = Field("92390", validation_alias="SHIPPING_SENDER_POSTAL_CODE")
    sender_city: str = Field("Villeneuve-la-Garenne", validation_alias="SHIPPING_SENDER_CITY", min_length=1)
    sender_country_code: str = Field("FR", validation_alias="SHIPPING_SENDER_COUNTRY_CODE", pattern=r"^[A-Z]{2}$",
                                     description="an ISO 3166-1 alpha-2 code, upper case")
    sender_phone: str = Field("+33 1 23 45 67 89", validation_alias="SHIPPING_SENDER_PHONE")

    def sender(self) -> Address:
        return Address(full_name=self.sender_name, company=self.sender_company, line1=self.sender_line1,
                       postal_code=self.sender_postal_code, city=self.sender_city,
                       country_code=self.sender_country_code, phone=self.sender_phone)


def wire(bus: EventBus, callees: Mapping[str, Any], settings: ShippingSettings) -> Wired:
    """Shipping's shipments, handlers and servicer on `bus` (shipping calls no other service: `callees` is empty)."""
    shipments = Shipments(bus)
    ShippingHandlers(shipments).register(bus)
    servicer = ShippingServicer(bus, shipments, settings.sender())
    return Wired(servicer, add_ShippingServiceServicer_to_server, parts={"shipments": shipments})


PROCESS = ServiceProcess("shipping", port=9008, wire=wire, settings=ShippingSettings)
