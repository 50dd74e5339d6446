"""Every RPC of every service has an access rule (a service with an RPC without one refuses to start,
see services/runtime/server.py), and the rules keep to what issue 14 and DESIGN.md require."""

from __future__ import annotations

import importlib

from google.protobuf import descriptor_pool

from services.runtime import auth
from tools.platform import ROOT, SERVICES

SAGA_INTERNAL = {"paying.v1.PaymentService/CreatePaymentIntent", "shipping.v1.ShippingService/CreateShipment",
                 "stocking.v1.StockService/ReserveOrderStock", "stocking.v1.StockService/CommitReservation",
                 "carting.v1.CartService/CloseCart"}
ADMIN_ONLY = {"administering.v1.AdminService/UpdateSetting", "billing.v1.BillingService/SetTaxRate",
              "profiling.v1.ProfileService/CreateStaffMember", "profiling.v1.ProfileService/UpdateStaffMember",
              "profiling.v1.ProfileService/ListStaffMembers"}
# Fields in which a request names the staff member acting; the token must fill them.
ACTOR_FIELDS = {"staff_id", "created_by", "updated_by"}


def all_rules() -> dict[str, auth.Rules]:
    rules: dict[str, auth.Rules] = {}
    for service in (name for name in SERVICES if (ROOT / "services" / name).is_dir()):  # not the sites
        rules.update(importlib.import_module(f"services.{service}.access").RULES)
    return rules


def test_every_rpc_of_every_service_has_a_rule() -> None:
    pool, rules = descriptor_pool.Default(), all_rules()
    missing, stale = [], []
    for name, table in rules.items():
        methods = {method.name for method in pool.FindServiceByName(name).methods}
        missing += [f"{name}/{m}" for m in sorted(methods - set(table))]
        stale += [f"{name}/{m}" for m in sorted(set(table) - methods)]
    assert not missing, f"RPCs without an access rule: {missing}"
    assert not stale, f"rules for RPCs that do not exist: {stale}"
    # Each of the nine services declares its API's service.
    assert {name.split(".")[0] for name in rules} == {name for name in SERVICES if (ROOT / "services" / name).is_dir()}


def test_saga_internal_rpcs_are_for_services_only_and_settings_need_admin() -> None:
    rules = {f"{name}/{method}": rule for name, table in all_rules().items() for method, rule in table.items()}
    assert {key for key, rule in rules.items() if rule.access == auth.Access.SERVICE} == SAGA_INTERNAL
    assert {key for key, rule in rules.items() if rule.role == auth.Role.ADMIN} == ADMIN_ONLY


def test_a_staff_rpc_that_names_its_actor_takes_it_from_the_token() -> None:
    pool = descriptor_pool.Default()
    unfilled = []
    for name, table in all_rules().items():
        for method in pool.FindServiceByName(name).methods:
            rule = table[method.name]
            named = ACTOR_FIELDS & set(method.input_type.fields_by_name)
            # GetStaffMember/UpdateStaffMember's staff_id is the account looked at, not the actor.
            if rule.access == auth.Access.STAFF and named and rule.actor is None and method.name != "GetStaffMember":
                unfilled.append(f"{name}/{method.name}")
    assert not unfilled, f"staff RPCs whose actor field is not filled from the token: {unfilled}"
