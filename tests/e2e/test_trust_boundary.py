"""The trust boundary against the nine real services: every RPC by every kind of caller, another
customer's data, staff actions signed by the token, revocation, and random messages that must not break
a service. The expected answer of a call is what its rule (services/<name>/access.py) says of its
caller; the rules themselves are pinned in tests/unit/test_access_rules.py."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import jwt
import pytest
from billing.v1 import billing_service_pb2 as billing_api
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ordering.v1 import order_service_pb2 as order_api
from ordering.v1.order_service_pb2_grpc import OrderServiceStub
from paying.v1 import payment_service_pb2 as paying_api
from profiling.v1 import profile_service_pb2 as profile_api
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from shipping.v1 import shipping_service_pb2 as shipping_api
from stocking.v1 import stock_service_pb2 as stock_api

from services.runtime import auth
from tests.unit.test_access_rules import all_rules
from tools.platform import SERVICES, Credentials, Platform, as_customer, as_service, as_staff, health_status
from tools.shop import Shop, Status

REVOCATION_TOKEN_SECONDS = 3  # profiling's access tokens in this module: the revocation bound, shortened
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED}
REFUSALS = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


@pytest.fixture(scope="module")
async def shop(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
               schema_registry_url: str) -> AsyncIterator[Shop]:
    platform = Platform(tmp_path_factory.mktemp("trust"), kafka_bootstrap, schema_registry_url,
                        f"trust{tmp_path_factory.getbasetemp().name[-6:]}")
    before = os.environ.get("SHOP_ACCESS_TOKEN_SECONDS")
    os.environ["SHOP_ACCESS_TOKEN_SECONDS"] = str(REVOCATION_TOKEN_SECONDS)  # read by the services at start
    try:
        yield await Shop.open(platform)
    finally:
        if before is None:
            os.environ.pop("SHOP_ACCESS_TOKEN_SECONDS", None)
        else:
            os.environ["SHOP_ACCESS_TOKEN_SECONDS"] = before
        await platform.close()


# --- callers ------------------------------------------------------------------------------------

def forged() -> Credentials:
    """A token that looks like profiling's, signed with a key no service knows."""
    key = Ed25519PrivateKey.generate()
    now = int(time.time())
    token = jwt.encode({"iss": "profiling", "sub": "mallory", "kind": "staff", "roles": ["ADMIN"], "iat": now,
                        "exp": now + 300}, key, algorithm="EdDSA",  # type: ignore[arg-type]
                       headers={"kid": "profiling-20260101T000000-abcdef"})
    return auth.bearer(token)


def expired() -> Credentials:
    signer = auth.Signer(auth.PEOPLE_ISSUER)
    return auth.bearer(signer.sign("staff-1", auth.Kind.STAFF, roles=[auth.Role.ADMIN], seconds=-60))


def service_posing_as_staff() -> Credentials:
    """A real service's key cannot vouch for a person."""
    signer = auth.Signer("stocking")
    return auth.bearer(signer.sign("staff-1", auth.Kind.STAFF, roles=[auth.Role.ADMIN]))


CALLERS = {
    "none": lambda: (),
    "customer A": lambda: as_customer("customer-a"),
    "customer B": lambda: as_customer("customer-b"),
    "staff": lambda: as_staff("staff-1", auth.Role.STAFF),
    "admin": lambda: as_staff("admin-1", auth.Role.ADMIN),
    "service": as_service,
    "forged token": forged,
    "expired token": expired,
    "service posing as staff": service_posing_as_staff,
}


def refusal(rule: auth.Rule, caller: str) -> grpc.StatusCode | None:
    """The status the runtime refuses `caller` with under `rule`, or None when it lets the call through."""
    if caller in ("forged token", "expired token", "service posing as staff"):
        return grpc.StatusCode.UNAUTHENTICATED  # a bad credential is refused even where none is needed
    if rule.access == auth.Access.ANYONE:
        return None
    if caller == "none":
        return grpc.StatusCode.UNAUTHENTICATED
    if caller == "service":
        return None
    if rule.access == auth.Access.SERVICE:
        return grpc.StatusCode.PERMISSION_DENIED
    if rule.access == auth.Access.CUSTOMER_OWN:
        return None
    if caller.startswith("customer"):
        return grpc.StatusCode.PERMISSION_DENIED
    if rule.role == auth.Role.ADMIN and caller == "staff":
        return grpc.StatusCode.PERMISSION_DENIED
    return None


def rpcs() -> Iterator[tuple[str, MethodDescriptor, auth.Rule]]:
    pool = descriptor_pool.Default()
    for name, table in all_rules().items():
        service = pool.FindServiceByName(name)
        for method in service.methods:
            yield declared_process(name), method, table[method.name]


def declared_process(service_full_name: str) -> str:
    """The process serving a gRPC service: the package's first part (cataloging.v1.CatalogService)."""
    process = service_full_name.split(".")[0]
    assert process in SERVICES, process
    return process


async def invoke(platform: Platform, process: str, method: MethodDescriptor, request: Any,
                 metadata: Credentials) -> grpc.StatusCode:
    """Calls the method as a client would (a stream is read to its end) and returns the status code."""
    channel = platform.bare_channel(process)
    path = f"/{method.containing_service.full_name}/{method.name}"
    response = message_factory.GetMessageClass(method.output_type)
    try:
        if method.server_streaming:
            call = channel.unary_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=response.FromString)
            async for _ in call(request, metadata=metadata, timeout=10):
                pass
        else:
            await channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=response.FromString)(request, metadata=metadata,
                                                                                 timeout=10)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in REFUSALS and not exc.details().startswith(auth.REFUSAL_PREFIXES):
            return grpc.StatusCode.OK  # a refusal of the domain's (an unknown staff id), not the runtime's
        return exc.code()
    return grpc.StatusCode.OK


# --- every RPC × every caller -------------------------------------------------------------------

async def test_every_rpc_answers_every_caller_as_its_rule_says(shop: Shop) -> None:
    """An empty request of every RPC from each caller: refused with the rule's status, or let through to
    the handler (which then answers what it answers, never UNKNOWN or INTERNAL)."""
    wrong: list[str] = []
    calls = 0
    for process, method, rule in rpcs():
        request = message_factory.GetMessageClass(method.input_type)()
        for caller, credentials in CALLERS.items():
            code = await invoke(shop.platform, process, method, request, credentials())
            calls += 1
            expected = refusal(rule, caller)
            if expected is not None and code != expected:
                wrong.append(f"{method.full_name} by {caller}: {code.name}, expected {expected.name} ({rule})")
            elif expected is None and (code in REFUSALS or code in NEVER):
                wrong.append(f"{method.full_name} by {caller}: {code.name}, expected it let through ({rule})")
    assert calls >= 100 * len(CALLERS)
    assert not wrong, "\n".join(wrong)


# --- another customer's data --------------------------------------------------------------------

async def test_another_customers_data_answers_not_found(shop: Shop) -> None:
    teapot = await shop.product(price=2490, stock=10)
    ada, bob = await shop.shopper(), await shop.shopper()
    order = await ada.checkout({teapot: 1})
    await shop.until(order.order_id, lambda o: o.status == Status.ORDER_STATUS_SHIPPED, "shipped")
    invoice = await shop.invoice(order.order_id)
    [payment] = await shop.payments_of(order.order_id)
    shipment = await shop.shipment(order.order_id)
    # Every call below carries Bob's token, so the harness adds no service credentials of its own.
    def streamed(call: Any) -> Any:
        async def read() -> None:
            async for _ in call:
                pass
        return read()

    profiles = shop.platform.stub("profiling", ProfileServiceStub)
    reads = {
        "GetOrder": shop.orders.GetOrder(order_api.GetOrderRequest(order_id=order.order_id), metadata=bob.me),
        "GetOrderTimeline": shop.orders.GetOrderTimeline(order_api.GetOrderTimelineRequest(order_id=order.order_id),
                                                         metadata=bob.me),
        "GetOrderInvoice": shop.billing.GetOrderInvoice(billing_api.GetOrderInvoiceRequest(order_id=order.order_id),
                                                        metadata=bob.me),
        "GetInvoice": shop.billing.GetInvoice(billing_api.GetInvoiceRequest(invoice_id=invoice.invoice_id),
                                              metadata=bob.me),
        "GetInvoicePdf": streamed(shop.billing.GetInvoicePdf(
            billing_api.GetInvoicePdfRequest(invoice_id=invoice.invoice_id), metadata=bob.me)),
        "ListInvoices": shop.billing.ListInvoices(billing_api.ListInvoicesRequest(customer_id=ada.customer_id),
                                                  metadata=bob.me),
        "GetPayment": shop.payments.GetPayment(paying_api.GetPaymentRequest(payment_id=payment.payment_id),
                                               metadata=bob.me),
        "GetOrderShipment": shop.shipping.GetOrderShipment(
            shipping_api.GetOrderShipmentRequest(order_id=order.order_id), metadata=bob.me),
        "GetShipment": shop.shipping.GetShipment(shipping_api.GetShipmentRequest(shipment_id=shipment.shipment_id),
                                                 metadata=bob.me),
        "GetShippingLabel": streamed(shop.shipping.GetShippingLabel(
            shipping_api.GetShippingLabelRequest(shipment_id=shipment.shipment_id), metadata=bob.me)),
        "ListTrackingEvents": shop.shipping.ListTrackingEvents(
            shipping_api.ListTrackingEventsRequest(shipment_id=shipment.shipment_id), metadata=bob.me),
        "GetCustomer": profiles.GetCustomer(profile_api.GetCustomerRequest(customer_id=ada.customer_id),
                                            metadata=bob.me),
        "ListAddresses": profiles.ListAddresses(profile_api.ListAddressesRequest(customer_id=ada.customer_id),
                                                metadata=bob.me),
    }
    answers = {}
    for name, call in reads.items():
        try:
            await call
            answers[name] = "OK"
        except grpc.aio.AioRpcError as exc:
            answers[name] = exc.code().name
    assert answers == dict.fromkeys(reads, "NOT_FOUND")
    # Bob's own list of payments shows none of Ada's; Ada sees hers.
    listed = await shop.payments.ListPayments(paying_api.ListPaymentsRequest(order_id=order.order_id), metadata=bob.me)
    assert list(listed.payments) == []
    mine = await shop.payments.ListPayments(paying_api.ListPaymentsRequest(order_id=order.order_id), metadata=ada.me)
    assert [p.payment_id for p in mine.payments] == [payment.payment_id]
    assert (await shop.billing.GetInvoice(billing_api.GetInvoiceRequest(invoice_id=invoice.invoice_id),
                                          metadata=ada.me)).invoice.invoice_id == invoice.invoice_id


# --- who acted ----------------------------------------------------------------------------------

async def test_the_staff_member_of_a_stock_change_is_the_tokens_not_the_requests(shop: Shop) -> None:
    sku = await shop.product(price=990, stock=5)
    await shop.stock.AdjustStock(stock_api.AdjustStockRequest(
        sku=sku, delta=2, reason=stock_api.STOCK_CHANGE_REASON_RESTOCK, note="found two", staff_id="someone-else"),
        metadata=as_staff("clerk-7"))
    movements = (await shop.stock.ListStockMovements(stock_api.ListStockMovementsRequest(sku=sku))).movements
    assert [m.staff_id for m in movements if m.note == "found two"] == ["clerk-7"]


# --- overflow ------------------------------------------------------------------------------------

async def test_a_stock_change_past_int64_is_refused_and_nothing_is_stored(shop: Shop) -> None:
    """AdjustStock with delta 2^63-1 used to answer INTERNAL and keep the value, after which every read of
    the SKU, its movements and carting's AddLine answered INTERNAL."""
    sku = await shop.product(price=990, stock=5)
    level = (await shop.stock.GetStockLevel(stock_api.GetStockLevelRequest(sku=sku))).level
    movements = (await shop.stock.ListStockMovements(stock_api.ListStockMovementsRequest(sku=sku))).movements
    for delta in (2**63 - 1, 1_000_000_000 - 4):  # beyond int64; beyond the most a SKU can hold
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.stock.AdjustStock(stock_api.AdjustStockRequest(
                sku=sku, delta=delta, reason=stock_api.STOCK_CHANGE_REASON_RESTOCK), metadata=as_staff("clerk-7"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert (await shop.stock.GetStockLevel(stock_api.GetStockLevelRequest(sku=sku))).level == level
    assert (await shop.stock.ListStockMovements(stock_api.ListStockMovementsRequest(sku=sku))).movements == movements
    shopper = await shop.shopper()
    cart = await shopper.cart({sku: 2})  # carting still reads the level
    assert [line.quantity for line in cart.lines] == [2]


# --- revocation ---------------------------------------------------------------------------------

async def test_a_signed_out_or_changed_password_sign_in_is_refused_within_the_stated_bound(shop: Shop) -> None:
    """Refreshing stops at once; an access token already handed out stops working when it expires, within
    its lifetime plus the verifiers' clock leeway (docs/security.md)."""
    ada = await shop.shopper()
    profile = ProfileServiceStub(shop.platform.bare_channel("profiling"))
    kind = profile_api.ACCOUNT_KIND_CUSTOMER

    async def sign_in() -> Any:
        return await profile.Authenticate(profile_api.AuthenticateRequest(
            email=ada.email, password="correct horse battery", account_kind=kind))

    signed_in = await sign_in()
    orders = OrderServiceStub(shop.platform.bare_channel("ordering"))
    await orders.ListCustomerOrders(order_api.ListCustomerOrdersRequest(), metadata=auth.bearer(signed_in.access_token))
    refreshed = await profile.RefreshToken(profile_api.RefreshTokenRequest(refresh_token=signed_in.refresh_token))
    assert refreshed.access_token

    await profile.SignOut(profile_api.SignOutRequest(refresh_token=signed_in.refresh_token))
    signed_out_at = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await profile.RefreshToken(profile_api.RefreshTokenRequest(refresh_token=signed_in.refresh_token))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    bound = REVOCATION_TOKEN_SECONDS + auth.LEEWAY_SECONDS
    while True:
        try:
            await orders.ListCustomerOrders(order_api.ListCustomerOrdersRequest(),
                                            metadata=auth.bearer(refreshed.access_token))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc.details()
            break
        assert time.monotonic() - signed_out_at < bound + 1, f"still accepted after {bound} s"
        await asyncio.sleep(0.5)

    # A password change ends every sign-in made before it.
    other = await sign_in()
    await profile.ChangePassword(profile_api.ChangePasswordRequest(
        customer_id=ada.customer_id, old_password="correct horse battery", new_password="another long password"),
        metadata=auth.bearer(other.access_token))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await profile.RefreshToken(profile_api.RefreshTokenRequest(refresh_token=other.refresh_token))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


# --- random messages ----------------------------------------------------------------------------

TEXT = st.one_of(st.text(max_size=20), st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
                 st.just("x" * 20_000), st.just("\x00"), st.just("../../etc/passwd"), st.just(str(uuid.uuid4())))
INTEGERS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([low, high, 0, -1 if low < 0 else 1]), st.integers(low, high))


def value_of(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_of(field.message_type, depth + 1) if depth < 3 else st.none()
    if field.type == FieldDescriptor.TYPE_STRING:
        return TEXT
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        return integers(-5, 10_000)  # unknown numbers included: proto3 enums are open
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, width=32 if field.type == FieldDescriptor.TYPE_FLOAT else 64)
    return integers(*INTEGERS[field.type])


def message_of(descriptor: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Messages of `descriptor` with any subset of fields set to awkward values."""
    cls = message_factory.GetMessageClass(descriptor)
    fields = {f.name: (st.lists(value_of(f, depth), max_size=3) if f.is_repeated else value_of(f, depth))
              for f in descriptor.fields if not (f.message_type and f.message_type.GetOptions().map_entry)}

    def build(values: dict[str, Any]) -> Any:
        message = cls()
        for name, value in values.items():
            field = descriptor.fields_by_name[name]
            if value is None:
                continue
            if field.is_repeated:
                target = getattr(message, name)
                for item in value:
                    if item is None:
                        continue
                    (target.add().CopyFrom(item) if field.type == FieldDescriptor.TYPE_MESSAGE else target.append(item))
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(message, name).CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return st.fixed_dictionaries({}, optional=fields).map(build)


ALL_RPCS = list(rpcs())
EXAMPLES_PER_RPC = 12  # about 100 RPCs: some 1,200 calls, under a minute on this machine


@pytest.mark.parametrize("process", sorted({process for process, _, _ in ALL_RPCS}))
async def test_random_messages_never_break_a_service(shop: Shop, process: str) -> None:
    """Every RPC of the service with random messages, as an admin: a refusal, never UNKNOWN, INTERNAL or
    RESOURCE_EXHAUSTED, and the service still SERVING afterwards."""
    admin = as_staff(shop.staff_id, auth.Role.ADMIN)
    broken: list[str] = []
    loop = asyncio.get_running_loop()

    def fuzz(method: MethodDescriptor) -> None:
        @settings(max_examples=EXAMPLES_PER_RPC, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(request=message_of(method.input_type))
        def call(request: Any) -> None:
            # hypothesis drives a synchronous function; the call runs on the test's loop (this is a worker thread).
            code = asyncio.run_coroutine_threadsafe(
                invoke(shop.platform, process, method, request, admin), loop).result(30)
            if code in NEVER:
                broken.append(f"{method.full_name}: {code.name} for {str(request)[:300]!r}")

        call()

    for method in [method for p, method, _ in ALL_RPCS if p == process]:
        await asyncio.to_thread(fuzz, method)
    assert await health_status(f"127.0.0.1:{shop.platform.ports[process]}") == "SERVING"
    assert not broken, "\n".join(broken)

