"""Ordering's state beyond the orders store (wired in bootstrap.py): cart claims, and the topics of the saga.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

from dataclasses import dataclass

ORDERS_TOPIC = "ordering.orders.v1"
SAGA_TOPICS = ("stocking.reservations.v1", "paying.payments.v1", "billing.invoices.v1", "shipping.shipments.v1")


@dataclass
class CartClaim:
    """The order made from a cart, and whether carting closed the cart for it."""

    order_id: str
    closed: bool = False
    # Carting's permanent refusal to close (the cart changed after it was priced ...): the order
    # stands, the cart stays open and may be ordered again.
    refusal: str = ""
