"""ProfileService: requests into profiling's domain inside units of work, records into responses.

argon2 is slow on purpose (tens of milliseconds of CPU a hash), so every domain call that hashes or
verifies a password runs in a thread: the event loop keeps answering other calls meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from argon2 import PasswordHasher
from profiling.v1 import profile_service_pb2 as pb
from profiling.v1 import profile_service_pb2_grpc

from services.profiling import domain, messages
from services.profiling.stores import CUSTOMERS_TOPIC, SHOP_CURRENCY, VIP_THRESHOLD, Stores
from services.profiling.tokens import Tokens
from services.runtime import proto
from services.runtime.bus import EventBus
from services.runtime.clock import now
from services.runtime.errors import FailedPrecondition, InvalidArgument, required
from services.runtime.shop_settings import ShopSettings
from services.runtime.store import Store
from services.runtime.transactions import UnitOfWork

# What profiling assumes until administering has published the settings.
SETTING_DEFAULTS: dict[str, Any] = {
    SHOP_CURRENCY: domain.DEFAULT_VIP_THRESHOLD.currency,
    VIP_THRESHOLD: (domain.DEFAULT_VIP_THRESHOLD.amount_minor, domain.DEFAULT_VIP_THRESHOLD.currency),
}



def publish_customer_events(bus: EventBus, work: UnitOfWork, customer: domain.Customer,
                            events: Iterable[domain.CustomerEvent]) -> None:
    for event in events:
        bus.publish(work, CUSTOMERS_TOPIC, customer.customer_id, aggregate_version=customer.version,
                    **messages.customer_event(event))


class ProfileServicer(profile_service_pb2_grpc.ProfileServiceServicer):
    def __init__(self, bus: EventBus, stores: Stores, settings: ShopSettings, hasher: PasswordHasher) -> None:
        self.bus, self.stores, self.settings, self.hasher = bus, stores, settings, hasher
        self.tokens = Tokens(bus, stores.customers, stores.staff)  # signs people's tokens (tokens.py)

    def _customer(self, record: domain.Customer) -> pb.Customer:
        return messages.customer(record, self.settings.get(SHOP_CURRENCY))

    # --- customers ------------------------------------------------------------------------------

    async def RegisterCustomer(self, request: pb.RegisterCustomerRequest,
                               context: grpc.aio.ServicerContext) -> pb.RegisterCustomerResponse:
        s, email_key, customer_id = self.stores, domain.email_lookup_key(request.email), str(uuid.uuid4())
        async with self.bus.unit_of_work() as work:
            await work.lock((s.customer_emails, email_key), (s.customers, customer_id))
            customer, events = await asyncio.to_thread(
                domain.register_customer, customer_id=customer_id, email=request.email, password=request.password,
                first_name=request.first_name, last_name=request.last_name, phone=request.phone,
                email_owner_id=work.get(s.customer_emails, email_key), hasher=self.hasher, now=now())
            work.put(s.customers, customer_id, customer)
            work.put(s.customer_emails, customer.email, customer_id)
            publish_customer_events(self.bus, work, customer, events)
        return pb.RegisterCustomerResponse(customer=self._customer(customer))

    async def Authenticate(self, request: pb.AuthenticateRequest,
                           context: grpc.aio.ServicerContext) -> pb.AuthenticateResponse:
        kind = domain.require_account_kind(messages.account_kind_record(request.account_kind))
        required(request.email, "email")
        if not request.password:
            raise InvalidArgument("password is required")
        s, email_key = self.stores, domain.email_lookup_key(request.email)
        accounts: Store[Any] = s.customers if kind == domain.AccountKind.CUSTOMER else s.staff
        index = s.customer_emails if kind == domain.AccountKind.CUSTOMER else s.staff_emails
        attempts_key = f"{kind}:{email_key}"
        account_id = index.get(email_key)
        async with self.bus.unit_of_work() as work:
            # The attempts record is locked through the password check, so concurrent wrong guesses
            # are all counted.
            await work.lock((s.sign_in_attempts, attempts_key), *([(accounts, account_id)] if account_id else []))
            account = work.get(accounts, account_id) if account_id else None
            if account is not None and account.email != email_key:
                account = None  # the email moved to another account between the look-up and the lock
            before = work.get(s.sign_in_attempts, attempts_key)
            sign_in: Callable[..., domain.SignIn[Any]] = (
                domain.sign_in_customer if kind == domain.AccountKind.CUSTOMER else domain.sign_in_staff)
            outcome = await asyncio.to_thread(sign_in, account, before, password=request.password,
                                              hasher=self.hasher, now=now())
            if outcome.attempts != (before or domain.SignInAttempts()):
                cleared = outcome.attempts == domain.SignInAttempts()
                work.put(s.sign_in_attempts, attempts_key, None if cleared else outcome.attempts)
            if outcome.account_changed and account_id:  # the hash was upgraded to the current costs
                work.put(accounts, account_id, outcome.account)
        signed_in = outcome.account_or_raise()  # after the commit, so a failure is counted
        if isinstance(signed_in, domain.Customer):
            return self.tokens.signed_in(
                pb.AuthenticateResponse(customer=self._customer(signed_in), role=pb.ROLE_CUSTOMER), signed_in)
        return self.tokens.signed_in(pb.AuthenticateResponse(staff_member=messages.staff_member(signed_in),
                                                             role=messages.ROLE[signed_in.role]), signed_in)

    async def RefreshToken(self, request: pb.RefreshTokenRequest,
                           context: grpc.aio.ServicerContext) -> pb.RefreshTokenResponse:
        return await self.tokens.refresh(request)

    async def SignOut(self, request: pb.SignOutRequest, context: grpc.aio.ServicerContext) -> pb.SignOutResponse:
        return await self.tokens.sign_out(request)

    async def GetCustomer(self, request: pb.GetCustomerRequest,
                          context: grpc.aio.ServicerContext) -> pb.GetCustomerResponse:
        customer_id = required(request.customer_id, "customer_id")
        customer = domain.require_customer(self.stores.customers.get(customer_id), customer_id)
        return pb.GetCustomerResponse(customer=self._customer(customer))

    async def UpdateCustomer(self, request: pb.UpdateCustomerRequest,
                             context: grpc.aio.ServicerContext) -> pb.UpdateCustomerResponse:
        s, customer_id = self.stores, required(request.customer_id, "customer_id")
        current = domain.require_customer(s.customers.get(customer_id), customer_id)
        new_email = request.email if request.HasField("email") else None
        emails = {current.email, *([domain.email_lookup_key(new_email)] if new_email is not None else [])}
        async with self.bus.unit_of_work() as work:
            await work.lock((s.customers, customer_id), *((s.customer_emails, email) for email in emails))
            customer = domain.require_customer(work.get(s.customers, customer_id), customer_id)
            if customer.email != current.email:
                raise FailedPrecondition("the customer's email changed meanwhile; try again")
            changed, events = domain.update_customer(
                customer,
                email=new_email,
                first_name=request.first_name if request.HasField("first_name") else None,
                last_name=request.last_name if request.HasField("last_name") else None,
                phone=request.phone if request.HasField("phone") else None,
                email_owner_id=work.get(s.customer_emails, domain.email_lookup_key(new_email)) if new_email else None,
                now=now())
            if changed is not customer:
                work.put(s.customers, customer_id, changed)
                if changed.email != customer.email:
                    work.delete(s.customer_emails, customer.email)
                    work.put(s.customer_emails, changed.email, customer_id)
                publish_customer_events(self.bus, work, changed, events)
        return pb.UpdateCustomerResponse(customer=self._customer(changed))

    async def ChangePassword(self, request: pb.ChangePasswordRequest,
                             context: grpc.aio.ServicerContext) -> pb.ChangePasswordResponse:
        which = request.WhichOneof("account")
        if which is None or not getattr(request, which).strip():
            raise InvalidArgument("customer_id or staff_id is required: the account whose password changes")
        if not request.old_password:
            raise InvalidArgument("old_password is required")
        account_id: str = getattr(request, which)
        store: Store[Any] = self.stores.customers if which == "customer_id" else self.stores.staff
        async with self.bus.unit_of_work() as work:
            await work.lock((store, account_id))
            account = work.get(store, account_id)
            if which == "customer_id":
                account = domain.require_customer(account, account_id)
            else:
                account = domain.require_staff_member(account, account_id)
            changed = await asyncio.to_thread(domain.change_password, account, old_password=request.old_password,
                                              new_password=request.new_password, hasher=self.hasher, now=now())
            work.put(store, account_id, changed)
        return pb.ChangePasswordResponse()

    # --- address book ---------------------------------------------------------------------------

    async def AddAddress(self, request: pb.AddAddressRequest,
                         context: grpc.aio.ServicerContext) -> pb.AddAddressResponse:
        customers, customer_id = self.stores.customers, required(request.customer_id, "customer_id")
        async with self.bus.unit_of_work() as work:
            await work.lock((customers, customer_id))
            customer = domain.require_customer(work.get(customers, customer_id), customer_id)
            changed, entry, events = domain.add_address(
                customer, address_id=str(uuid.uuid4()), label=request.label,
                address=proto.address_record(request.address), set_default_shipping=request.set_default_shipping,
                set_default_billing=request.set_default_billing, now=now())
            work.put(customers, customer_id, changed)
            publish_customer_events(self.bus, work, changed, events)
        return pb.AddAddressResponse(entry=messages.address_book_entry(changed, entry))

    async def UpdateAddress(self, request: pb.UpdateAddressRequest,
                            context: grpc.aio.ServicerContext) -> pb.UpdateAddressResponse:
        customers, customer_id = self.stores.customers, required(request.customer_id, "customer_id")
        address_id = required(request.address_id, "address_id")
        async with self.bus.unit_of_work() as work:
            await work.lock((customers, customer_id))
            customer = domain.require_customer(work.get(customers, customer_id), customer_id)
            changed, entry, events = domain.update_address(
                customer, address_id=address_id, label=request.label,
                address=proto.address_record(request.address), now=now())
            if changed is not customer:
                work.put(customers, customer_id, changed)
                publish_customer_events(self.bus, work, changed, events)
        return pb.UpdateAddressResponse(entry=messages.address_book_entry(changed, entry))

    async def RemoveAddress(self, request: pb.RemoveAddressRequest,
                            context: grpc.aio.ServicerContext) -> pb.RemoveAddressResponse:
        await self._change_address_book(request.customer_id, request.address_id, domain.remove_address)
        return pb.RemoveAddressResponse()

    async def SetDefaultShippingAddress(self, request: pb.SetDefaultShippingAddressRequest,
                                        context: grpc.aio.ServicerContext) -> pb.SetDefaultShippingAddressResponse:
        changed = await self._change_address_book(request.customer_id, request.address_id,
                                                  domain.set_default_shipping_address)
        return pb.SetDefaultShippingAddressResponse(customer=self._customer(changed))

    async def SetDefaultBillingAddress(self, request: pb.SetDefaultBillingAddressRequest,
                                       context: grpc.aio.ServicerContext) -> pb.SetDefaultBillingAddressResponse:
        changed = await self._change_address_book(request.customer_id, request.address_id,
                                                  domain.set_default_billing_address)
        return pb.SetDefaultBillingAddressResponse(customer=self._customer(changed))

    async def _change_address_book(self, customer_id: str, address_id: str, use_case: Any) -> domain.Customer:
        """Remove an address, or make it a default: the use cases that take the customer and an address id."""
        customers = self.stores.customers
        required(customer_id, "customer_id")
        required(address_id, "address_id")
        async with self.bus.unit_of_work() as work:
            await work.lock((customers, customer_id))
            customer = domain.require_customer(work.get(customers, customer_id), customer_id)
            changed, events = use_case(customer, address_id=address_id, now=now())
            if changed is not customer:
                work.put(customers, customer_id, changed)
                publish_customer_events(self.bus, work, changed, events)
        return changed  # type: ignore[no-any-return]

    async def ListAddresses(self, request: pb.ListAddressesRequest,
                            context: grpc.aio.ServicerContext) -> pb.ListAddressesResponse:
        customer_id = required(request.customer_id, "customer_id")
        customer = domain.require_customer(self.stores.customers.get(customer_id), customer_id)
        return pb.ListAddressesResponse(
            entries=[messages.address_book_entry(customer, entry) for entry in domain.list_addresses(customer)],
            default_shipping_address_id=customer.default_shipping_address_id,
            default_billing_address_id=customer.default_billing_address_id)

    # --- status ---------------------------------------------------------------------------------

    async def SetCustomerStatus(self, request: pb.SetCustomerStatusRequest,
                                context: grpc.aio.ServicerContext) -> pb.SetCustomerStatusResponse:
        customers, customer_id = self.stores.customers, required(request.customer_id, "customer_id")
        staff_id = required(request.staff_id, "staff_id")
        status = messages.customer_status_record(request.status)
        async with self.bus.unit_of_work() as work:
            await work.lock((customers, customer_id))
            customer = work.get(customers, customer_id)
            changed, events = domain.set_customer_status(
                customer, customer_id=customer_id, status=status, reason=request.reason, pinned=request.pinned,
                staff=self.stores.staff.get(staff_id), staff_id=staff_id,
                shop_currency=self.settings.get(SHOP_CURRENCY), now=now())
            if changed is not customer:
                work.put(customers, customer_id, changed)
                publish_customer_events(self.bus, work, changed, events)
        return pb.SetCustomerStatusResponse(customer=self._customer(changed))

    async def CheckEmailAvailability(self, request: pb.CheckEmailAvailabilityRequest,
                                     context: grpc.aio.ServicerContext) -> pb.CheckEmailAvailabilityResponse:
        email = domain.normalise_email(request.email)
        return pb.CheckEmailAvailabilityResponse(available=self.stores.customer_emails.get(email) is None)

    async def SearchCustomers(self, request: pb.SearchCustomersRequest,
                              context: grpc.aio.ServicerContext) -> pb.SearchCustomersResponse:
        statuses = [messages.customer_status_record(number, "statuses") for number in request.statuses]
        if None in statuses:
            raise InvalidArgument("statuses must not contain CUSTOMER_STATUS_UNSPECIFIED")
        page = domain.search_customers(
            self.stores.customers.values(), query=request.query, statuses=[s for s in statuses if s is not None],
            page_size=request.page.page_size, page_token=request.page.page_token)
        return pb.SearchCustomersResponse(customers=[self._customer(c) for c in page.items],
                                          page=proto.page(page))

    # --- staff ----------------------------------------------------------------------------------

    async def CreateStaffMember(self, request: pb.CreateStaffMemberRequest,
                                context: grpc.aio.ServicerContext) -> pb.CreateStaffMemberResponse:
        s, created_by = self.stores, required(request.created_by, "created_by")
        role = messages.role_record(request.role)
        email_key, staff_id = domain.email_lookup_key(request.email), str(uuid.uuid4())
        async with self.bus.unit_of_work() as work:
            await work.lock((s.staff_emails, email_key), (s.staff, staff_id))
            member = await asyncio.to_thread(
                domain.create_staff_member, staff_id=staff_id, email=request.email, password=request.password,
                display_name=request.display_name, role=role, creator=s.staff.get(created_by),
                created_by=created_by, email_owner_id=work.get(s.staff_emails, email_key), hasher=self.hasher,
                now=now())
            work.put(s.staff, staff_id, member)
            work.put(s.staff_emails, member.email, staff_id)
        return pb.CreateStaffMemberResponse(staff_member=messages.staff_member(member))

    async def GetStaffMember(self, request: pb.GetStaffMemberRequest,
                             context: grpc.aio.ServicerContext) -> pb.GetStaffMemberResponse:
        staff_id = required(request.staff_id, "staff_id")
        member = domain.require_staff_member(self.stores.staff.get(staff_id), staff_id)
        return pb.GetStaffMemberResponse(staff_member=messages.staff_member(member))

    async def ListStaffMembers(self, request: pb.ListStaffMembersRequest,
                               context: grpc.aio.ServicerContext) -> pb.ListStaffMembersResponse:
        role = messages.role_record(request.role)
        if role == domain.Role.CUSTOMER:
            raise InvalidArgument("role must be ROLE_STAFF, ROLE_ADMIN, or unspecified for every staff member")
        page = domain.list_staff_members(
            self.stores.staff.values(), role=role, include_inactive=request.include_inactive,
            page_size=request.page.page_size, page_token=request.page.page_token)
        return pb.ListStaffMembersResponse(staff_members=[messages.staff_member(m) for m in page.items],
                                           page=proto.page(page))

    async def UpdateStaffMember(self, request: pb.UpdateStaffMemberRequest,
                                context: grpc.aio.ServicerContext) -> pb.UpdateStaffMemberResponse:
        staff, staff_id = self.stores.staff, required(request.staff_id, "staff_id")
        updated_by = required(request.updated_by, "updated_by")
        # Permission before arguments, as the domain orders its checks (an explicit ROLE_UNSPECIFIED
        # is an argument the wiring checks).
        domain.require_active_admin(staff.get(updated_by), updated_by)
        role = domain.require_staff_role(messages.role_record(request.role)) if request.HasField("role") else None
        async with self.bus.unit_of_work() as work:
            # Every active admin is locked too, so two admins demoting each other at once cannot
            # both see the other as the remaining admin.
            admins = [m.staff_id for m in staff.values() if m.active and m.role == domain.Role.ADMIN]
            await work.lock((staff, staff_id), *((staff, admin_id) for admin_id in admins))
            member = work.get(staff, staff_id)
            changed = domain.update_staff_member(
                member, staff_id=staff_id,
                display_name=request.display_name if request.HasField("display_name") else None,
                role=role, active=request.active if request.HasField("active") else None,
                updater=staff.get(updated_by), updated_by=updated_by,
                active_admin_count=sum(1 for m in staff.values() if m.active and m.role == domain.Role.ADMIN),
                now=now())
            if changed is not member:
                work.put(staff, staff_id, changed)
        return pb.UpdateStaffMemberResponse(staff_member=messages.staff_member(changed))

    # --- start-up -------------------------------------------------------------------------------

    async def ensure_first_admin(self, email: str, password: str, display_name: str) -> None:
        """The admin from configuration, created once: a restart finds its email and does nothing."""
        s, email_key = self.stores, domain.email_lookup_key(email)
        if email_key in s.staff_emails:
            return
        staff_id = str(uuid.uuid4())
        async with self.bus.unit_of_work() as work:
            await work.lock((s.staff_emails, email_key), (s.staff, staff_id))
            admin = await asyncio.to_thread(
                domain.create_first_admin, staff_id=staff_id, email=email, password=password,
                display_name=display_name, existing_staff=s.staff.values(), hasher=self.hasher, now=now())
            if admin is not None:
                work.put(s.staff, staff_id, admin)
                work.put(s.staff_emails, admin.email, staff_id)

    def has_staff_email(self, email: str) -> bool:
        return domain.email_lookup_key(email) in self.stores.staff_emails
