"""Profiling as a real process on the real broker: every RPC, the events it publishes, the order and
settings events it consumes (the VIP rule), restarts, and bad input over every RPC.

One profiling process serves the whole module (start-up costs seconds); tests keep to their own
customers, and every test leaves exactly one active admin, the one from configuration.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest
from administering.v1 import events_pb2 as admin_events
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from ordering.v1 import events_pb2 as order_events
from ordering.v1 import order_pb2
from profiling.v1 import events_pb2 as events
from profiling.v1 import profile_service_pb2 as pb
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from shop.common.v1 import address_pb2, money_pb2, paging_pb2

from services.runtime.inprocess import Service
from tests.services.support import in_process, refused
from tools.platform import Platform, eventually

ADMIN_EMAIL, ADMIN_PASSWORD = "root@shop.test", "root-password-for-tests"
PASSWORD = "correct horse battery"
T = TypeVar("T")


@pytest.fixture(scope="module")
async def platform_module(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
                          schema_registry_url: str) -> AsyncIterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("profiling"), kafka_bootstrap, schema_registry_url,
                       f"t{uuid.uuid4().hex[:12]}")
    try:
        await running.start("profiling", PROFILING_ADMIN_EMAIL=ADMIN_EMAIL, PROFILING_ADMIN_PASSWORD=ADMIN_PASSWORD)
        yield running
    finally:
        await running.close()


@pytest.fixture
def profiles(platform_module: Platform) -> ProfileServiceStub:
    return ProfileServiceStub(platform_module.channel("profiling"))


def consumed_to_the_end(platform: Platform, service: str, topic: str) -> bool:
    """Whether the service's consumer group has committed past the last record now on the topic."""
    name = platform.kafka_topic(topic)
    consumer = Consumer({"bootstrap.servers": platform.kafka_bootstrap, "group.id": f"{platform.namespace}.{service}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed"})
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        last: dict[int, int] = {}
        at_end: set[int] = set()
        while len(at_end) < len(partitions):
            for message in consumer.consume(500, timeout=1.0):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())  # type: ignore[arg-type]
                elif error is None:
                    last[message.partition()] = message.offset()  # type: ignore[index, assignment]
        committed = consumer.committed([TopicPartition(name, p) for p in last], timeout=10)
        return all(tp.offset > last[tp.partition] for tp in committed)
    finally:
        consumer.close()


async def until_consumed(platform: Platform, service: str, topic: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(consumed_to_the_end, platform, service, topic):
        assert time.monotonic() < deadline, f"{service} did not consume {topic} within {within}s"
        await asyncio.sleep(0.3)


def unique_email(prefix: str = "jane") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}@example.com"


async def register(profiles: ProfileServiceStub, email: str = "", **fields: Any) -> pb.Customer:
    request = pb.RegisterCustomerRequest(email=email or unique_email(), password=PASSWORD, first_name="Jane",
                                         last_name="Doe", **fields)
    return (await profiles.RegisterCustomer(request)).customer


async def sign_in_admin(profiles: ProfileServiceStub) -> pb.StaffMember:
    answer = await profiles.Authenticate(pb.AuthenticateRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD,
                                                                account_kind=pb.ACCOUNT_KIND_STAFF))
    return answer.staff_member


def paris(**overrides: str) -> address_pb2.Address:
    fields = {"full_name": "Jane Doe", "line1": "1 rue de Rivoli", "postal_code": "75001", "city": "Paris",
              "country_code": "FR"} | overrides
    return address_pb2.Address(**fields)


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency="EUR")


async def confirm_order(platform: Platform, customer_id: str, amount_minor: int, order_id: str = "") -> str:
    order_id = order_id or str(uuid.uuid4())
    await platform.publish("ordering.orders.v1", order_id, order_confirmed=order_events.OrderConfirmed(
        order_id=order_id, order_number=f"N-{order_id[:6]}", customer_id=customer_id, currency="EUR",
        totals=order_pb2.OrderTotals(total=eur(amount_minor))))
    return order_id


async def cancel_order(platform: Platform, customer_id: str, amount_minor: int, order_id: str) -> None:
    await platform.publish("ordering.orders.v1", order_id, order_cancelled=order_events.OrderCancelled(
        order_id=order_id, customer_id=customer_id, currency="EUR", previous_status=order_pb2.ORDER_STATUS_CONFIRMED,
        totals=order_pb2.OrderTotals(total=eur(amount_minor))))


def about(customer_id: str) -> Callable[[Any], bool]:
    return lambda envelope: envelope.metadata.aggregate_id == customer_id


# --------------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------------


async def test_a_registered_customer_is_published_and_can_change_its_profile(
        platform_module: Platform, profiles: ProfileServiceStub) -> None:
    email = unique_email("Jane.Reg").replace("jane.reg", "Jane.Reg")
    customer = await register(profiles, email=f"  {email} ", phone="+33 1 23 45 67 89")
    assert customer.email == email.lower()
    assert customer.status == events.CUSTOMER_STATUS_STANDARD
    assert customer.confirmed_spend == eur(0)

    got = (await profiles.GetCustomer(pb.GetCustomerRequest(customer_id=customer.customer_id))).customer
    assert got == customer
    registered = await platform_module.events("profiling.customers.v1", where=about(customer.customer_id))
    assert registered[0].customer_registered.email == email.lower()
    assert registered[0].metadata.producer == "profiling"

    new_email = unique_email("jane.new")
    updated = (await profiles.UpdateCustomer(pb.UpdateCustomerRequest(
        customer_id=customer.customer_id, email=new_email.upper(), last_name="Martin", phone=""))).customer
    assert (updated.email, updated.first_name, updated.last_name, updated.phone) == (new_email, "Jane", "Martin", "")
    published = await platform_module.events("profiling.customers.v1", at_least=2, where=about(customer.customer_id))
    assert set(published[-1].customer_updated.changed_fields) == {"email", "last_name", "phone"}
    assert published[-1].metadata.aggregate_version == 2

    # The old email is free again; the new one is taken.
    await register(profiles, email=email)
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await register(profiles, email=new_email)
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    # Nothing changes, nothing is published.
    same = await profiles.UpdateCustomer(pb.UpdateCustomerRequest(customer_id=customer.customer_id, first_name="Jane"))
    assert same.customer == updated


async def test_whether_an_email_is_taken_is_answered_to_anyone(platform_module: Platform,
                                                                 profiles: ProfileServiceStub) -> None:
    customer = await register(profiles)
    anyone = ProfileServiceStub(platform_module.bare_channel("profiling"))  # no token: a registration form's visitor
    taken = await anyone.CheckEmailAvailability(pb.CheckEmailAvailabilityRequest(email=f" {customer.email.upper()} "))
    free = await anyone.CheckEmailAvailability(pb.CheckEmailAvailabilityRequest(email=unique_email()))
    assert (taken.available, free.available) == (False, True)


async def test_authenticate_says_who_signed_in_and_throttles_guessing(profiles: ProfileServiceStub) -> None:
    customer = await register(profiles)
    signed_in = await profiles.Authenticate(pb.AuthenticateRequest(
        email=customer.email.upper(), password=PASSWORD, account_kind=pb.ACCOUNT_KIND_CUSTOMER))
    assert (signed_in.WhichOneof("principal"), signed_in.role) == ("customer", pb.ROLE_CUSTOMER)
    assert signed_in.customer.customer_id == customer.customer_id
    admin = await sign_in_admin(profiles)
    assert (admin.email, admin.role, admin.created_by) == (ADMIN_EMAIL, pb.ROLE_ADMIN, "")

    # A customer account is not a staff account: same answer as an unknown email.
    answers = []
    for email, password, kind in [(customer.email, PASSWORD, pb.ACCOUNT_KIND_STAFF),
                                  (customer.email, "wrong password!", pb.ACCOUNT_KIND_CUSTOMER),
                                  (unique_email("nobody"), PASSWORD, pb.ACCOUNT_KIND_CUSTOMER)]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await profiles.Authenticate(pb.AuthenticateRequest(email=email, password=password, account_kind=kind))
        answers.append((refused.value.code(), refused.value.details()))
    assert answers == [(grpc.StatusCode.UNAUTHENTICATED, "email or password is incorrect")] * 3

    # Five failures in a row lock the email, even against the right password.
    for _ in range(4):
        with pytest.raises(grpc.aio.AioRpcError):
            await profiles.Authenticate(pb.AuthenticateRequest(email=customer.email, password="wrong password!",
                                                               account_kind=pb.ACCOUNT_KIND_CUSTOMER))
    with pytest.raises(grpc.aio.AioRpcError) as locked:
        await profiles.Authenticate(pb.AuthenticateRequest(email=customer.email, password=PASSWORD,
                                                           account_kind=pb.ACCOUNT_KIND_CUSTOMER))
    assert locked.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "too many failed sign-in attempts" in (locked.value.details() or "")


async def test_password_hashing_does_not_hold_up_other_calls(profiles: ProfileServiceStub) -> None:
    customer = await register(profiles)
    sign_ins = [asyncio.ensure_future(profiles.Authenticate(pb.AuthenticateRequest(
        email=unique_email("slow"), password="some password", account_kind=pb.ACCOUNT_KIND_CUSTOMER)))
        for _ in range(3)]
    await asyncio.sleep(0.01)
    await profiles.GetCustomer(pb.GetCustomerRequest(customer_id=customer.customer_id))
    assert not any(task.done() for task in sign_ins), "a cheap read waited for argon2"
    await asyncio.gather(*sign_ins, return_exceptions=True)


async def test_change_password_of_a_customer_and_of_a_staff_member(profiles: ProfileServiceStub) -> None:
    customer = await register(profiles)
    await profiles.ChangePassword(pb.ChangePasswordRequest(customer_id=customer.customer_id, old_password=PASSWORD,
                                                           new_password="a brand new password"))
    with pytest.raises(grpc.aio.AioRpcError) as old:
        await profiles.Authenticate(pb.AuthenticateRequest(email=customer.email, password=PASSWORD,
                                                           account_kind=pb.ACCOUNT_KIND_CUSTOMER))
    assert old.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await profiles.Authenticate(pb.AuthenticateRequest(email=customer.email, password="a brand new password",
                                                       account_kind=pb.ACCOUNT_KIND_CUSTOMER))

    admin = await sign_in_admin(profiles)
    clerk = (await profiles.CreateStaffMember(pb.CreateStaffMemberRequest(
        email=unique_email("clerk"), password=PASSWORD, display_name="Clerk", role=pb.ROLE_STAFF,
        created_by=admin.staff_id))).staff_member
    await profiles.ChangePassword(pb.ChangePasswordRequest(staff_id=clerk.staff_id, old_password=PASSWORD,
                                                           new_password="clerk's own password"))
    answer = await profiles.Authenticate(pb.AuthenticateRequest(email=clerk.email, password="clerk's own password",
                                                                account_kind=pb.ACCOUNT_KIND_STAFF))
    assert (answer.staff_member.staff_id, answer.role) == (clerk.staff_id, pb.ROLE_STAFF)


async def test_address_book_and_default_addresses(platform_module: Platform, profiles: ProfileServiceStub) -> None:
    customer = await register(profiles)
    cid = customer.customer_id
    home = (await profiles.AddAddress(pb.AddAddressRequest(customer_id=cid, label="Home", address=paris(
        country_code="fr", postal_code=" 75001 ")))).entry
    assert (home.is_default_shipping, home.is_default_billing) == (True, True)  # the first address
    assert (home.address.country_code, home.address.postal_code) == ("FR", "75001")
    office = (await profiles.AddAddress(pb.AddAddressRequest(
        customer_id=cid, label="Office", address=paris(line1="5 avenue Foch", postal_code="75116"),
        set_default_shipping=True))).entry
    assert (office.is_default_shipping, office.is_default_billing) == (True, False)

    office = (await profiles.UpdateAddress(pb.UpdateAddressRequest(
        customer_id=cid, address_id=office.address_id, label="Work", address=paris(line1="7 avenue Foch",
                                                                                      postal_code="75116")))).entry
    assert (office.label, office.address.line1, office.is_default_shipping) == ("Work", "7 avenue Foch", True)

    with_billing = await profiles.SetDefaultBillingAddress(pb.SetDefaultBillingAddressRequest(
        customer_id=cid, address_id=office.address_id))
    assert with_billing.customer.default_billing_address_id == office.address_id
    with_shipping = await profiles.SetDefaultShippingAddress(pb.SetDefaultShippingAddressRequest(
        customer_id=cid, address_id=home.address_id))
    assert with_shipping.customer.default_shipping_address_id == home.address_id

    listed = await profiles.ListAddresses(pb.ListAddressesRequest(customer_id=cid))
    assert [e.address_id for e in listed.entries] == [home.address_id, office.address_id]  # defaults first
    assert (listed.default_shipping_address_id, listed.default_billing_address_id) == (home.address_id,
                                                                                       office.address_id)

    await profiles.RemoveAddress(pb.RemoveAddressRequest(customer_id=cid, address_id=office.address_id))
    listed = await profiles.ListAddresses(pb.ListAddressesRequest(customer_id=cid))
    assert [e.address_id for e in listed.entries] == [home.address_id]
    assert (listed.default_shipping_address_id, listed.default_billing_address_id) == (home.address_id, "")

    updates = await platform_module.events("profiling.customers.v1", at_least=6, where=lambda e: about(cid)(e)
                                           and e.WhichOneof("event") == "customer_updated")
    last = updates[-1].customer_updated
    assert list(last.changed_fields) == ["default_billing_address"]
    assert last.default_shipping_address.line1 == "1 rue de Rivoli" and not last.HasField("default_billing_address")


# --------------------------------------------------------------------------------------------------
# Staff and status
# --------------------------------------------------------------------------------------------------


async def test_staff_accounts_are_created_listed_and_changed_by_admins(profiles: ProfileServiceStub) -> None:
    admin = await sign_in_admin(profiles)
    clerk = (await profiles.CreateStaffMember(pb.CreateStaffMemberRequest(
        email=unique_email("Clerk").upper(), password=PASSWORD, display_name=" Sam Clerk ", role=pb.ROLE_STAFF,
        created_by=admin.staff_id))).staff_member
    assert (clerk.display_name, clerk.role, clerk.active, clerk.created_by) == ("Sam Clerk", pb.ROLE_STAFF, True,
                                                                               admin.staff_id)
    assert clerk.email == clerk.email.lower()
    got = (await profiles.GetStaffMember(pb.GetStaffMemberRequest(staff_id=clerk.staff_id))).staff_member
    assert got == clerk

    promoted = (await profiles.UpdateStaffMember(pb.UpdateStaffMemberRequest(
        staff_id=clerk.staff_id, role=pb.ROLE_ADMIN, display_name="Sam", updated_by=admin.staff_id))).staff_member
    assert (promoted.role, promoted.display_name) == (pb.ROLE_ADMIN, "Sam")
    admins = await profiles.ListStaffMembers(pb.ListStaffMembersRequest(role=pb.ROLE_ADMIN))
    assert {admin.staff_id, clerk.staff_id} <= {m.staff_id for m in admins.staff_members}
    # Back to one admin; then the clerk is deactivated and may no longer sign in.
    await profiles.UpdateStaffMember(pb.UpdateStaffMemberRequest(staff_id=clerk.staff_id, role=pb.ROLE_STAFF,
                                                                 updated_by=admin.staff_id))
    gone = (await profiles.UpdateStaffMember(pb.UpdateStaffMemberRequest(
        staff_id=clerk.staff_id, active=False, updated_by=admin.staff_id))).staff_member
    assert not gone.active
    with pytest.raises(grpc.aio.AioRpcError) as deactivated:
        await profiles.Authenticate(pb.AuthenticateRequest(email=clerk.email, password=PASSWORD,
                                                           account_kind=pb.ACCOUNT_KIND_STAFF))
    assert deactivated.value.code() == grpc.StatusCode.PERMISSION_DENIED

    active = await profiles.ListStaffMembers(pb.ListStaffMembersRequest())
    assert clerk.staff_id not in {m.staff_id for m in active.staff_members}
    # Every account, one page at a time, in email order.
    seen: list[str] = []
    token = ""
    while True:
        page = await profiles.ListStaffMembers(pb.ListStaffMembersRequest(
            include_inactive=True, page=paging_pb2.PageRequest(page_size=1, page_token=token)))
        seen += [m.email for m in page.staff_members]
        token = page.page.next_page_token
        if not token:
            break
    assert seen == sorted(seen) and clerk.email in seen and len(seen) == page.page.total_size


async def test_staff_set_a_status_and_search_customers(platform_module: Platform,
                                                       profiles: ProfileServiceStub) -> None:
    admin = await sign_in_admin(profiles)
    tag = uuid.uuid4().hex[:8]
    customers = [await register(profiles, email=f"{name}.{tag}@example.com") for name in ("ann", "bob", "cyd")]
    vip = (await profiles.SetCustomerStatus(pb.SetCustomerStatusRequest(
        customer_id=customers[1].customer_id, status=events.CUSTOMER_STATUS_VIP, reason="loyal since 2010",
        staff_id=admin.staff_id, pinned=True))).customer
    assert (vip.status, vip.status_source, vip.status_pinned) == (events.CUSTOMER_STATUS_VIP,
                                                                  events.STATUS_CHANGE_SOURCE_STAFF, True)
    changed = await platform_module.events("profiling.customers.v1", where=lambda e: about(vip.customer_id)(e)
                                           and e.WhichOneof("event") == "customer_status_changed")
    event = changed[0].customer_status_changed
    assert (event.old_status, event.new_status, event.reason, event.changed_by, event.pinned) == (
        events.CUSTOMER_STATUS_STANDARD, events.CUSTOMER_STATUS_VIP, "loyal since 2010", admin.staff_id, True)

    found = await profiles.SearchCustomers(pb.SearchCustomersRequest(query=tag.upper()))
    assert [c.email for c in found.customers] == [c.email for c in customers]
    vips = await profiles.SearchCustomers(pb.SearchCustomersRequest(query=tag, statuses=[events.CUSTOMER_STATUS_VIP]))
    assert [c.customer_id for c in vips.customers] == [vip.customer_id]
    first = await profiles.SearchCustomers(pb.SearchCustomersRequest(query=tag, page=paging_pb2.PageRequest(
        page_size=2)))
    rest = await profiles.SearchCustomers(pb.SearchCustomersRequest(query=tag, page=paging_pb2.PageRequest(
        page_size=2, page_token=first.page.next_page_token)))
    assert [c.customer_id for c in [*first.customers, *rest.customers]] == [c.customer_id for c in customers]
    assert (first.page.total_size, rest.page.next_page_token) == (3, "")


# --------------------------------------------------------------------------------------------------
# Consumed events: the VIP rule and the settings
# --------------------------------------------------------------------------------------------------


async def test_confirmed_spend_crossing_the_threshold_makes_a_customer_vip(
        platform_module: Platform, profiles: ProfileServiceStub) -> None:
    customer = await register(profiles)
    cid = customer.customer_id

    async def current() -> pb.Customer:
        return (await profiles.GetCustomer(pb.GetCustomerRequest(customer_id=cid))).customer

    first = await confirm_order(platform_module, cid, 60_000)
    counted = await eventually(current, lambda c: c.confirmed_spend.amount_minor == 60_000)
    assert (counted.confirmed_spend, counted.status) == (eur(60_000), events.CUSTOMER_STATUS_STANDARD)
    # The same order again (a replay by another event id) counts nothing.
    await confirm_order(platform_module, cid, 60_000, order_id=first)
    second = await confirm_order(platform_module, cid, 45_000)  # 1,050.00 EUR >= the default 1,000.00 EUR
    vip = await eventually(current, lambda c: c.status == events.CUSTOMER_STATUS_VIP)
    assert (vip.status, vip.status_source, vip.confirmed_spend) == (
        events.CUSTOMER_STATUS_VIP, events.STATUS_CHANGE_SOURCE_RULE, eur(105_000))
    changed = await platform_module.events("profiling.customers.v1", where=lambda e: about(cid)(e)
                                           and e.WhichOneof("event") == "customer_status_changed")
    assert len(changed) == 1
    event = changed[0].customer_status_changed
    assert (event.old_status, event.new_status, event.source, event.changed_by, event.confirmed_spend) == (
        events.CUSTOMER_STATUS_STANDARD, events.CUSTOMER_STATUS_VIP, events.STATUS_CHANGE_SOURCE_RULE, "",
        eur(105_000))
    assert event.reason == "confirmed spend reached the VIP threshold"

    # The second order is cancelled: its amount leaves the spend and the customer drops back.
    await cancel_order(platform_module, cid, 45_000, second)
    back = await eventually(current, lambda c: c.status == events.CUSTOMER_STATUS_STANDARD)
    assert back.confirmed_spend == eur(60_000)
    changes = await platform_module.events("profiling.customers.v1", at_least=2, where=lambda e: about(cid)(e)
                                           and e.WhichOneof("event") == "customer_status_changed")
    assert changes[-1].customer_status_changed.new_status == events.CUSTOMER_STATUS_STANDARD
    # A cancellation that arrives before its confirmation: the late confirmation counts nothing.
    early = str(uuid.uuid4())
    await cancel_order(platform_module, cid, 90_000, early)
    await confirm_order(platform_module, cid, 90_000, order_id=early)
    marker = await confirm_order(platform_module, cid, 1)
    assert marker
    after = await eventually(current, lambda c: c.confirmed_spend.amount_minor == 60_001)
    assert (after.confirmed_spend, after.status) == (eur(60_001), events.CUSTOMER_STATUS_STANDARD)


async def test_a_new_vip_threshold_applies_without_a_restart(platform_module: Platform,
                                                             profiles: ProfileServiceStub) -> None:
    customer = await register(profiles)
    threshold = admin_events.SettingValue(money_value=eur(20_000))
    await platform_module.publish("administering.settings.v1", "customer.vip_threshold",
                                  setting_changed=admin_events.SettingChanged(
                                      name="customer.vip_threshold", value=threshold, changed_by="admin-1",
                                      version=2))
    # Events of two topics have no order between them: the order is sent once the setting is taken.
    await until_consumed(platform_module, "profiling", "administering.settings.v1")
    await confirm_order(platform_module, customer.customer_id, 25_000)
    vip = await eventually(lambda: profiles.GetCustomer(pb.GetCustomerRequest(customer_id=customer.customer_id)),
                           lambda answer: answer.customer.status == events.CUSTOMER_STATUS_VIP)
    assert vip.customer.status == events.CUSTOMER_STATUS_VIP


async def test_after_kill_9_everything_is_still_there_and_the_first_admin_is_not_made_twice(
        platform_module: Platform, profiles: ProfileServiceStub) -> None:
    customer = await register(profiles)
    before = await profiles.ListStaffMembers(pb.ListStaffMembersRequest(include_inactive=True))
    platform_module.kill("profiling")
    await platform_module.start("profiling", PROFILING_ADMIN_EMAIL=ADMIN_EMAIL,
                                PROFILING_ADMIN_PASSWORD=ADMIN_PASSWORD)
    after = await profiles.ListStaffMembers(pb.ListStaffMembersRequest(include_inactive=True))
    assert after == before
    got = await profiles.GetCustomer(pb.GetCustomerRequest(customer_id=customer.customer_id))
    assert got.customer == customer
    await profiles.Authenticate(pb.AuthenticateRequest(email=customer.email, password=PASSWORD,
                                                       account_kind=pb.ACCOUNT_KIND_CUSTOMER))


# --------------------------------------------------------------------------------------------------
# Bad input, over every RPC
# --------------------------------------------------------------------------------------------------


@dataclass
class Known:
    """Records the bad-input cases refer to."""

    customer: pb.Customer
    other: pb.Customer
    address_id: str
    admin: pb.StaffMember
    clerk: pb.StaffMember


@pytest.fixture(scope="module")
async def local(schema_registry_url: str) -> AsyncIterator[tuple[Service, ProfileServiceStub]]:
    """Profiling in this process, for the bad-input table; its first admin made as the start-up sweep makes it."""
    async with in_process("profiling", schema_registry_url) as (service, channel):
        await service.servicer.ensure_first_admin(ADMIN_EMAIL, ADMIN_PASSWORD, "Shop administrator")
        yield service, ProfileServiceStub(channel)


@pytest.fixture(scope="module")
async def known(local: tuple[Service, ProfileServiceStub]) -> Known:
    profiles = local[1]
    customer, other = await register(profiles), await register(profiles)
    entry = (await profiles.AddAddress(pb.AddAddressRequest(customer_id=customer.customer_id,
                                                            address=paris()))).entry
    admin = await sign_in_admin(profiles)
    clerk = (await profiles.CreateStaffMember(pb.CreateStaffMemberRequest(
        email=unique_email("clerk"), password=PASSWORD, display_name="Clerk", role=pb.ROLE_STAFF,
        created_by=admin.staff_id))).staff_member
    return Known(customer, other, entry.address_id, admin, clerk)


Code = grpc.StatusCode
INVALID, NOT_FOUND, EXISTS = Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.ALREADY_EXISTS
DENIED, UNAUTHENTICATED, PRECONDITION = Code.PERMISSION_DENIED, Code.UNAUTHENTICATED, Code.FAILED_PRECONDITION
Case = tuple[str, Callable[[Known], Any], grpc.StatusCode, str]

BAD_INPUT: list[Case] = [
    ("RegisterCustomer", lambda k: pb.RegisterCustomerRequest(email="not-an-email", password=PASSWORD,
                                                               first_name="J", last_name="D"),
     INVALID, "email 'not-an-email' is not a valid email address"),
    ("RegisterCustomer", lambda k: pb.RegisterCustomerRequest(email=unique_email(), password="short",
                                                               first_name="J", last_name="D"),
     INVALID, "password must be 10 to 128 characters long, got 5"),
    ("RegisterCustomer", lambda k: pb.RegisterCustomerRequest(email=unique_email(), password=PASSWORD,
                                                               first_name=" ", last_name="D"),
     INVALID, "first_name is required"),
    ("RegisterCustomer", lambda k: pb.RegisterCustomerRequest(email=k.customer.email.upper(), password=PASSWORD,
                                                               first_name="J", last_name="D"),
     EXISTS, "a customer account already uses the email"),
    ("CheckEmailAvailability", lambda k: pb.CheckEmailAvailabilityRequest(email="not-an-email"),
     INVALID, "email 'not-an-email' is not a valid email address"),
    ("CheckEmailAvailability", lambda k: pb.CheckEmailAvailabilityRequest(), INVALID, "email is required"),
    ("Authenticate", lambda k: pb.AuthenticateRequest(email=k.customer.email, password=PASSWORD),
     INVALID, "account_kind is required"),
    ("Authenticate", lambda k: pb.AuthenticateRequest(email=k.customer.email, password=PASSWORD,
                                                      account_kind=7),  # type: ignore[arg-type]
     INVALID, "account_kind must be ACCOUNT_KIND_CUSTOMER or ACCOUNT_KIND_STAFF, got 7"),
    ("Authenticate", lambda k: pb.AuthenticateRequest(password=PASSWORD, account_kind=pb.ACCOUNT_KIND_CUSTOMER),
     INVALID, "email is required"),
    ("Authenticate", lambda k: pb.AuthenticateRequest(email=unique_email(), account_kind=pb.ACCOUNT_KIND_STAFF),
     INVALID, "password is required"),
    ("Authenticate", lambda k: pb.AuthenticateRequest(email=unique_email(), password=PASSWORD,
                                                      account_kind=pb.ACCOUNT_KIND_CUSTOMER),
     UNAUTHENTICATED, "email or password is incorrect"),
    ("GetCustomer", lambda k: pb.GetCustomerRequest(), INVALID, "customer_id is required"),
    ("GetCustomer", lambda k: pb.GetCustomerRequest(customer_id="c-missing"), NOT_FOUND,
     "no customer with id 'c-missing'"),
    ("UpdateCustomer", lambda k: pb.UpdateCustomerRequest(first_name="J"), INVALID, "customer_id is required"),
    ("UpdateCustomer", lambda k: pb.UpdateCustomerRequest(customer_id="c-missing", first_name="J"), NOT_FOUND,
     "no customer with id 'c-missing'"),
    ("UpdateCustomer", lambda k: pb.UpdateCustomerRequest(customer_id=k.customer.customer_id, email="jane@"),
     INVALID, "email 'jane@' is not a valid email address"),
    ("UpdateCustomer", lambda k: pb.UpdateCustomerRequest(customer_id=k.customer.customer_id, last_name=""),
     INVALID, "last_name is required"),
    ("UpdateCustomer", lambda k: pb.UpdateCustomerRequest(customer_id=k.customer.customer_id, email=k.other.email),
     EXISTS, "a customer account already uses the email"),
    ("ChangePassword", lambda k: pb.ChangePasswordRequest(old_password=PASSWORD, new_password="another password"),
     INVALID, "customer_id or staff_id is required"),
    ("ChangePassword", lambda k: pb.ChangePasswordRequest(customer_id=k.customer.customer_id,
                                                          new_password="another password"),
     INVALID, "old_password is required"),
    ("ChangePassword", lambda k: pb.ChangePasswordRequest(customer_id="c-missing", old_password=PASSWORD,
                                                          new_password="another password"),
     NOT_FOUND, "no customer with id 'c-missing'"),
    ("ChangePassword", lambda k: pb.ChangePasswordRequest(staff_id="s-missing", old_password=PASSWORD,
                                                          new_password="another password"),
     NOT_FOUND, "no staff member with id 's-missing'"),
    ("ChangePassword", lambda k: pb.ChangePasswordRequest(customer_id=k.customer.customer_id, old_password=PASSWORD,
                                                          new_password="short"),
     INVALID, "password must be 10 to 128 characters long, got 5"),
    ("ChangePassword", lambda k: pb.ChangePasswordRequest(customer_id=k.customer.customer_id,
                                                          old_password="not the password", new_password=PASSWORD),
     UNAUTHENTICATED, "the current password is incorrect"),
    ("ChangePassword", lambda k: pb.ChangePasswordRequest(customer_id=k.customer.customer_id, old_password=PASSWORD,
                                                          new_password=PASSWORD),
     INVALID, "the new password must differ from the current one"),
    ("AddAddress", lambda k: pb.AddAddressRequest(address=paris()), INVALID, "customer_id is required"),
    ("AddAddress", lambda k: pb.AddAddressRequest(customer_id="c-missing", address=paris()), NOT_FOUND,
     "no customer with id 'c-missing'"),
    ("AddAddress", lambda k: pb.AddAddressRequest(customer_id=k.customer.customer_id), INVALID,
     "address.country_code is required"),
    ("AddAddress", lambda k: pb.AddAddressRequest(customer_id=k.customer.customer_id, address=paris(
        postal_code="7500")), INVALID, "address.postal_code '7500' is not a valid postal code for FR"),
    ("AddAddress", lambda k: pb.AddAddressRequest(customer_id=k.customer.customer_id, address=paris(
        country_code="XX")), INVALID, "'XX' is not an ISO 3166-1 alpha-2 country code"),
    ("AddAddress", lambda k: pb.AddAddressRequest(customer_id=k.customer.customer_id, address=paris(city="")),
     INVALID, "address.city is required"),
    ("UpdateAddress", lambda k: pb.UpdateAddressRequest(customer_id=k.customer.customer_id, address=paris()),
     INVALID, "address_id is required"),
    ("UpdateAddress", lambda k: pb.UpdateAddressRequest(customer_id=k.customer.customer_id, address_id="a-missing",
                                                        address=paris()),
     NOT_FOUND, "has no address with id 'a-missing'"),
    ("UpdateAddress", lambda k: pb.UpdateAddressRequest(customer_id=k.customer.customer_id, address_id=k.address_id,
                                                        address=paris(line1=" ")),
     INVALID, "address.line1 is required"),
    ("RemoveAddress", lambda k: pb.RemoveAddressRequest(address_id=k.address_id), INVALID, "customer_id is required"),
    ("RemoveAddress", lambda k: pb.RemoveAddressRequest(customer_id=k.customer.customer_id, address_id="a-missing"),
     NOT_FOUND, "has no address with id 'a-missing'"),
    ("ListAddresses", lambda k: pb.ListAddressesRequest(), INVALID, "customer_id is required"),
    ("ListAddresses", lambda k: pb.ListAddressesRequest(customer_id="c-missing"), NOT_FOUND,
     "no customer with id 'c-missing'"),
    ("SetDefaultShippingAddress", lambda k: pb.SetDefaultShippingAddressRequest(
        customer_id=k.customer.customer_id), INVALID, "address_id is required"),
    ("SetDefaultShippingAddress", lambda k: pb.SetDefaultShippingAddressRequest(
        customer_id=k.customer.customer_id, address_id="a-missing"), NOT_FOUND, "has no address with id 'a-missing'"),
    ("SetDefaultBillingAddress", lambda k: pb.SetDefaultBillingAddressRequest(
        customer_id="c-missing", address_id=k.address_id), NOT_FOUND, "no customer with id 'c-missing'"),
    ("SetDefaultBillingAddress", lambda k: pb.SetDefaultBillingAddressRequest(address_id=k.address_id),
     INVALID, "customer_id is required"),
    ("SetCustomerStatus", lambda k: pb.SetCustomerStatusRequest(
        customer_id=k.customer.customer_id, status=events.CUSTOMER_STATUS_VIP, reason="why"),
     INVALID, "staff_id is required"),
    ("SetCustomerStatus", lambda k: pb.SetCustomerStatusRequest(
        customer_id=k.customer.customer_id, status=events.CUSTOMER_STATUS_VIP, reason="why", staff_id="s-missing"),
     DENIED, "'s-missing' is not an active staff member"),
    ("SetCustomerStatus", lambda k: pb.SetCustomerStatusRequest(
        customer_id=k.customer.customer_id, reason="why", staff_id=k.clerk.staff_id),
     INVALID, "status is required"),
    ("SetCustomerStatus", lambda k: pb.SetCustomerStatusRequest(
        customer_id=k.customer.customer_id, status=9, reason="why",  # type: ignore[arg-type]
        staff_id=k.clerk.staff_id),
     INVALID, "status must be CUSTOMER_STATUS_STANDARD or CUSTOMER_STATUS_VIP, got 9"),
    ("SetCustomerStatus", lambda k: pb.SetCustomerStatusRequest(
        customer_id=k.customer.customer_id, status=events.CUSTOMER_STATUS_VIP, reason=" ",
        staff_id=k.clerk.staff_id), INVALID, "reason is required"),
    ("SetCustomerStatus", lambda k: pb.SetCustomerStatusRequest(
        customer_id="c-missing", status=events.CUSTOMER_STATUS_VIP, reason="why", staff_id=k.clerk.staff_id),
     NOT_FOUND, "no customer with id 'c-missing'"),
    ("SearchCustomers", lambda k: pb.SearchCustomersRequest(page=paging_pb2.PageRequest(page_token="garbage")),
     INVALID, "page_token 'garbage' is not one this list issued for these filters and this order"),
    ("SearchCustomers", lambda k: pb.SearchCustomersRequest(page=paging_pb2.PageRequest(page_size=-1)),
     INVALID, "page_size must be 0 (the default) or more, got -1"),
    ("SearchCustomers", lambda k: pb.SearchCustomersRequest(statuses=[events.CUSTOMER_STATUS_UNSPECIFIED]),
     INVALID, "statuses must not contain CUSTOMER_STATUS_UNSPECIFIED"),
    ("CreateStaffMember", lambda k: pb.CreateStaffMemberRequest(
        email=unique_email(), password=PASSWORD, display_name="X", role=pb.ROLE_STAFF),
     INVALID, "created_by is required"),
    ("CreateStaffMember", lambda k: pb.CreateStaffMemberRequest(
        email=unique_email(), password=PASSWORD, display_name="X", role=pb.ROLE_STAFF, created_by=k.clerk.staff_id),
     DENIED, "is not an active admin"),
    ("CreateStaffMember", lambda k: pb.CreateStaffMemberRequest(
        email=unique_email(), password=PASSWORD, display_name="X", created_by=k.admin.staff_id),
     INVALID, "role must be STAFF or ADMIN, got none"),
    ("CreateStaffMember", lambda k: pb.CreateStaffMemberRequest(
        email=unique_email(), password=PASSWORD, display_name="X", role=pb.ROLE_CUSTOMER,
        created_by=k.admin.staff_id), INVALID, "role must be STAFF or ADMIN, got CUSTOMER"),
    ("CreateStaffMember", lambda k: pb.CreateStaffMemberRequest(
        email="@shop", password=PASSWORD, display_name="X", role=pb.ROLE_STAFF, created_by=k.admin.staff_id),
     INVALID, "email '@shop' is not a valid email address"),
    ("CreateStaffMember", lambda k: pb.CreateStaffMemberRequest(
        email=ADMIN_EMAIL, password=PASSWORD, display_name="X", role=pb.ROLE_STAFF, created_by=k.admin.staff_id),
     EXISTS, "a staff account already uses the email"),
    ("GetStaffMember", lambda k: pb.GetStaffMemberRequest(), INVALID, "staff_id is required"),
    ("GetStaffMember", lambda k: pb.GetStaffMemberRequest(staff_id="s-missing"), NOT_FOUND,
     "no staff member with id 's-missing'"),
    ("ListStaffMembers", lambda k: pb.ListStaffMembersRequest(role=pb.ROLE_CUSTOMER), INVALID,
     "role must be ROLE_STAFF, ROLE_ADMIN, or unspecified"),
    ("ListStaffMembers", lambda k: pb.ListStaffMembersRequest(page=paging_pb2.PageRequest(page_token="x")),
     INVALID, "page_token 'x' is not one this list issued for these filters and this order"),
    ("UpdateStaffMember", lambda k: pb.UpdateStaffMemberRequest(staff_id=k.clerk.staff_id, display_name="Y"),
     INVALID, "updated_by is required"),
    ("UpdateStaffMember", lambda k: pb.UpdateStaffMemberRequest(staff_id=k.clerk.staff_id, display_name="Y",
                                                                updated_by=k.clerk.staff_id),
     DENIED, "is not an active admin"),
    ("UpdateStaffMember", lambda k: pb.UpdateStaffMemberRequest(staff_id="s-missing", display_name="Y",
                                                                updated_by=k.admin.staff_id),
     NOT_FOUND, "no staff member with id 's-missing'"),
    ("UpdateStaffMember", lambda k: pb.UpdateStaffMemberRequest(staff_id=k.clerk.staff_id, role=pb.ROLE_UNSPECIFIED,
                                                                updated_by=k.admin.staff_id),
     INVALID, "role must be STAFF or ADMIN, got none"),
    ("UpdateStaffMember", lambda k: pb.UpdateStaffMemberRequest(staff_id=k.clerk.staff_id, display_name=" ",
                                                                updated_by=k.admin.staff_id),
     INVALID, "display_name is required"),
    ("UpdateStaffMember", lambda k: pb.UpdateStaffMemberRequest(staff_id=k.admin.staff_id, active=False,
                                                                updated_by=k.admin.staff_id),
     PRECONDITION, "is the last active admin; make another admin first"),
    ("RefreshToken", lambda k: pb.RefreshTokenRequest(), INVALID, "refresh_token is required"),
    ("RefreshToken", lambda k: pb.RefreshTokenRequest(refresh_token="not.a.token"), UNAUTHENTICATED,
     "the token is not valid"),
    ("SignOut", lambda k: pb.SignOutRequest(refresh_token="not.a.token"), UNAUTHENTICATED, "the token is not valid"),
]


def test_the_bad_input_table_covers_every_rpc() -> None:
    methods = set(pb.DESCRIPTOR.services_by_name["ProfileService"].methods_by_name)
    assert {case[0] for case in BAD_INPUT} == methods


@pytest.mark.parametrize(("method", "request_of", "code", "message"), BAD_INPUT,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(BAD_INPUT)])
async def test_bad_input_is_refused_with_the_right_code_and_a_readable_message(
        local: tuple[Service, ProfileServiceStub], known: Known, method: str, request_of: Callable[[Known], Any],
        code: grpc.StatusCode, message: str) -> None:
    service, profiles = local
    await refused(getattr(profiles, method)(request_of(known)), code, message, by=service)

