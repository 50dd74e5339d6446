"""Carting's state beyond its stores (wired in bootstrap.py): the view of customers' statuses, and the topics it reads.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

from dataclasses import dataclass

PRODUCTS_TOPIC = "cataloging.products.v1"
CUSTOMERS_TOPIC = "profiling.customers.v1"


@dataclass
class CustomerStatusView:
    """A customer's loyalty status as profiling last announced it."""

    status: str  # "STANDARD", "VIP"; a tier carting does not know counts as STANDARD
    version: int = 0  # the event's aggregate_version: an older event changes nothing
