"""The sites' shared runtime, where it decides alone: where sign-in sends a person back to, and how a
setting typed in the back-office becomes a value (the services check the ranges)."""

from __future__ import annotations

import pytest
from administering.v1 import admin_service_pb2 as admin_api
from administering.v1 import events_pb2 as admin_events
from shop.common.v1 import money_pb2
from starlette.requests import Request

from sites.backoffice.admin import parsed, shown
from sites.runtime.pages import back_to, safe_next


def request(method: str, path: str, query: str = "", **headers: str) -> Request:
    return Request({"type": "http", "method": method, "path": path, "query_string": query.encode(),
                    "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in
                                {"host": "office.example", **headers}.items()],
                    "scheme": "http", "server": ("office.example", 80)})


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example", "orders"])
def test_sign_in_never_sends_anyone_to_another_site(target: str) -> None:
    assert safe_next(target, "/account") == "/account"


def test_sign_in_sends_back_to_the_page_asked_for_or_the_page_a_form_was_on() -> None:
    assert back_to(request("GET", "/orders", "state=open")) == "/orders?state=open"
    on_page = {"hx_request": "true", "hx_current_url": "http://office.example/stock/CHO-1?page=2"}
    assert back_to(request("POST", "/stock/CHO-1/adjust", **on_page)) == "/stock/CHO-1?page=2"
    assert back_to(request("GET", "/orders", "state=open", **on_page)) == "/stock/CHO-1?page=2"  # a fragment
    elsewhere = {"hx_request": "true", "hx_current_url": "http://evil.example/x"}
    assert back_to(request("POST", "/logout", **elsewhere)) == "/"
    assert back_to(request("POST", "/stock/CHO-1/adjust", referer="http://office.example/stock/CHO-1")) == \
        "/stock/CHO-1"  # a form sent without JavaScript: the page it was on, as the browser says
    assert back_to(request("POST", "/stock/CHO-1/adjust")) == "/"  # nobody says which page: the home page


def setting(kind: int, value: admin_events.SettingValue) -> admin_api.Setting:
    return admin_api.Setting(name="x.y", kind=kind, value=value)  # type: ignore[arg-type]


def test_a_setting_is_shown_and_read_back_in_its_kind() -> None:
    vip = setting(admin_api.SETTING_VALUE_KIND_MONEY,
                  admin_events.SettingValue(money_value=money_pb2.Money(amount_minor=100_000, currency="EUR")))
    assert shown(vip) == "1000.00"
    assert parsed(vip, "1,250.50").money_value == money_pb2.Money(amount_minor=125_050, currency="EUR")
    assert parsed(vip, "12.345") == "Give the amount with at most two decimals."
    assert parsed(vip, "lots") == "Enter an amount such as 1000.00."
    timeout = setting(admin_api.SETTING_VALUE_KIND_DURATION, admin_events.SettingValue())
    assert parsed(timeout, "45").duration_value.seconds == 45
    assert parsed(timeout, "soon") == "Enter a whole number."
    rate = setting(admin_api.SETTING_VALUE_KIND_BASIS_POINTS, admin_events.SettingValue(basis_points=2000))
    assert shown(rate) == "2000" and parsed(rate, " 550 ").basis_points == 550
