"""Profiling's states: a customer made VIP by the spend rule; a staff member to act as."""

from __future__ import annotations

import functools
from typing import Any

from services.runtime.inprocess import build
from tests.contracts.consumers.profiling import ORDER_CONFIRMED, handle, register
from tools.contracts import Provider, Service

PROVIDER = Provider("profiling", functools.partial(build, "profiling"))


@PROVIDER.state("a customer's status changed")
async def became_vip(service: Service) -> None:
    await handle(service, ORDER_CONFIRMED, await register(service))


@PROVIDER.state("an admin can act")
async def admin(service: Service) -> dict[str, Any]:
    await service.servicer.ensure_first_admin("admin@shop.example", "correct horse battery", "Shop admin")
    return {"staff_id": service.parts["stores"].staff_emails.get("admin@shop.example")}
