"""Carting's states: a customer's cart filled through the real servicer, as carting's own contracts with
cataloging and stocking describe their answers."""

from __future__ import annotations

import functools
from typing import Any

from services.runtime.inprocess import build
from tests.contracts.consumers.carting import cart_with_line
from tools.contracts import Provider, Service

PROVIDER = Provider("carting", functools.partial(build, "carting"))


@PROVIDER.state("a customer's cart is ready for checkout")
async def ready(service: Service) -> dict[str, Any]:
    cart = await cart_with_line(service)
    return {"cart_id": cart.cart_id, "expected_version": str(cart.version)}
