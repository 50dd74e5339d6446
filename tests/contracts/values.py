"""Small values the declarations share."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from shop.common.v1 import address_pb2, money_pb2

AT = Timestamp(seconds=1_767_225_600)  # 2026-01-01T00:00:00Z
ADDRESS = address_pb2.Address(full_name="Ada Lovelace", line1="12 rue des Lilas", postal_code="75011", city="Paris",
                              country_code="FR")
# A destination shipping's pickup-point option does not serve (it delivers in France only), and
# shipping's refusal of it, as carting and ordering both ask and read it.
ABROAD = address_pb2.Address(full_name="Ada Lovelace", line1="1 Unter den Linden", postal_code="10117", city="Berlin",
                             country_code="DE")
REFUSED_OPTION = "colissimo.pickup_point"
REFUSAL_ASKED = shipping_api.ValidateShippingOptionRequest(
    shipping_option_id=REFUSED_OPTION, destination=ABROAD, parcel=shipment_pb2.Parcel(weight_grams=700),
    currency="EUR")
REFUSAL = shipping_api.ValidateShippingOptionResponse(
    rejection=shipping_api.OPTION_REJECTION_DESTINATION_NOT_SERVED,
    rejection_message="shipping option colissimo.pickup_point does not deliver to DE")


def eur(amount: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount, currency="EUR")
