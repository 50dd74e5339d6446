"""AdminService: sellers, product onboarding and system settings, on administering's domain.

Staff ids are checked with profiling (GetStaffMember). Product onboarding is a small saga the
domain plans (see domain.start_product_onboarding): each step is an RPC to cataloging or stocking,
its outcome is stored before the next one runs, and a definite refusal undoes the steps done,
newest first. An outage is not a refusal: the record keeps its place, and the request repeated (or
the background sweep) finishes it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

import grpc
from administering.v1 import admin_service_pb2 as pb
from administering.v1 import admin_service_pb2_grpc
from administering.v1 import events_pb2 as pb_events
from cataloging.v1 import catalog_service_pb2 as catalog_pb
from cataloging.v1 import events_pb2 as catalog_events_pb
from cataloging.v1.catalog_service_pb2_grpc import CatalogServiceStub
from profiling.v1 import profile_service_pb2
from profiling.v1.profile_service_pb2_grpc import ProfileServiceStub
from stocking.v1 import events_pb2 as stock_events_pb
from stocking.v1 import stock_service_pb2 as stock_pb
from stocking.v1.stock_service_pb2_grpc import StockServiceStub
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from services.administering import domain, messages
from services.administering.domain import OnboardingState, OnboardingStep, OnboardingUndo
from services.administering.stores import SELLERS_TOPIC, SETTINGS_TOPIC, Stores
from services.runtime import auth, errors, proto
from services.runtime.bus import EventBus
from services.runtime.clock import now
from services.runtime.errors import FailedPrecondition, InvalidArgument, required
from services.runtime.interceptors import PASSED_ON_CODES
from services.runtime.transactions import UnitOfWork
from services.runtime.values import SellerStatus

MAX_STOCK_NOTE = 500  # stocking's limit on a movement note (and cataloging's on an archive reason)
# Cataloging learns of a seller from SellerOnboarded a moment after we publish it: a product for a
# seller that new is retried for this long before "seller unknown" counts as a refusal.
NEW_SELLER_GRACE = timedelta(seconds=30)
NEW_SELLER_RETRY_SECONDS = 10.0
# A left-behind onboarding (its caller gone, a callee down) is finished by the sweep after this.
ONBOARDING_IDLE = timedelta(seconds=10)

log = logging.getLogger(__name__)

SellerUseCase = Callable[[domain.Seller | None], tuple[domain.Seller, list[domain.SellerEvent]]]

# The codes by which a callee says no for good; anything else leaves the outcome open.
_REFUSALS: dict[grpc.StatusCode, type[errors.DomainError]] = {
    kind.code: kind for kind in (errors.InvalidArgument, errors.NotFound, errors.AlreadyExists,
                                 errors.FailedPrecondition, errors.PermissionDenied, errors.Unauthenticated)
}



def refusal_of(exc: grpc.aio.AioRpcError) -> errors.DomainError | None:
    """The callee's definite refusal as the domain's error, or None when the outcome is open."""
    kind = _REFUSALS.get(exc.code())
    return None if kind is None else kind(exc.details() or exc.code().name)


def still_open(message: str, exc: grpc.aio.AioRpcError) -> grpc.aio.AioRpcError:
    """An error to answer with when a callee's outcome is open: UNAVAILABLE (or the deadline) with
    a message saying what to do, which the server's interceptor passes on as it is."""
    code = exc.code() if exc.code() in PASSED_ON_CODES else grpc.StatusCode.UNAVAILABLE
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                details=f"{message} ({exc.code().name}: {exc.details()})")


class AdminServicer(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self, bus: EventBus, stores: Stores, profiles: ProfileServiceStub, catalog: CatalogServiceStub,
                 stock: StockServiceStub) -> None:
        self.bus, self.stores = bus, stores
        self.profiles, self.catalog, self.stock = profiles, catalog, stock
        # One run of an onboarding per SKU at a time (a request, its repetition, the sweep). Held
        # across the callee RPCs, so it is not a store lock: each step's outcome commits on its own.
        self._onboarding_runs: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def _actor(self, staff_id: str) -> domain.StaffActor | None:
        """The acting staff member as profiling knows it; None when profiling has no such id."""
        required(staff_id, "staff_id")
        try:
            answer = await self.profiles.GetStaffMember(profile_service_pb2.GetStaffMemberRequest(staff_id=staff_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise still_open(f"could not check staff id {staff_id!r} with profiling; try again shortly", exc) from exc
        return messages.staff_actor_record(answer.staff_member)

    # --- sellers --------------------------------------------------------------------------------

    def _publish_sellers(self, work: UnitOfWork, seller: domain.Seller, events: list[domain.SellerEvent]) -> None:
        for event in events:
            self.bus.publish(work, SELLERS_TOPIC, seller.seller_id, aggregate_version=seller.version,
                             **messages.seller_event(event))

    async def OnboardSeller(self, request: pb.OnboardSellerRequest,
                            context: grpc.aio.ServicerContext) -> pb.OnboardSellerResponse:
        s, actor = self.stores, await self._actor(request.staff_id)
        domain.require_active_staff(actor, request.staff_id)  # permission before the index look-ups
        email = domain.normalise_email(request.email)
        vat_number = domain.normalise_vat_number(request.vat_number)
        seller_id = str(uuid.uuid4())
        async with self.bus.unit_of_work() as work:
            await work.lock((s.sellers, seller_id), (s.seller_emails, email), (s.seller_vat_numbers, vat_number))
            seller, events = domain.onboard_seller(
                seller_id=seller_id, name=request.name, email=email, vat_number=vat_number, actor=actor,
                staff_id=request.staff_id, email_owner_id=work.get(s.seller_emails, email),
                vat_owner_id=work.get(s.seller_vat_numbers, vat_number), now=now())
            work.put(s.sellers, seller_id, seller)
            work.put(s.seller_emails, seller.email, seller_id)
            work.put(s.seller_vat_numbers, seller.vat_number, seller_id)
            self._publish_sellers(work, seller, events)
        return pb.OnboardSellerResponse(seller=messages.seller(seller))

    async def GetSeller(self, request: pb.GetSellerRequest, context: grpc.aio.ServicerContext) -> pb.GetSellerResponse:
        seller_id = required(request.seller_id, "seller_id")
        return pb.GetSellerResponse(seller=messages.seller(
            domain.require_seller(self.stores.sellers.get(seller_id), seller_id)))

    async def UpdateSeller(self, request: pb.UpdateSellerRequest,
                           context: grpc.aio.ServicerContext) -> pb.UpdateSellerResponse:
        s, actor = self.stores, await self._actor(request.staff_id)
        domain.require_active_staff(actor, request.staff_id)
        seller_id = required(request.seller_id, "seller_id")
        email = domain.normalise_email(request.email) if request.HasField("email") else None
        vat_number = domain.normalise_vat_number(request.vat_number) if request.HasField("vat_number") else None
        before = domain.require_seller(s.sellers.get(seller_id), seller_id)
        emails = {before.email, *([email] if email else [])}
        vat_numbers = {before.vat_number, *([vat_number] if vat_number else [])}
        async with self.bus.unit_of_work() as work:
            await work.lock((s.sellers, seller_id), *((s.seller_emails, e) for e in emails),
                            *((s.seller_vat_numbers, v) for v in vat_numbers))
            current = work.get(s.sellers, seller_id)
            if (current.email, current.vat_number) != (before.email, before.vat_number):
                raise FailedPrecondition("the seller's email or VAT number changed meanwhile; try again")
            changed, events = domain.update_seller(
                current, seller_id=seller_id, name=request.name if request.HasField("name") else None,
                email=email, vat_number=vat_number, actor=actor, staff_id=request.staff_id,
                email_owner_id=work.get(s.seller_emails, email) if email else None,
                vat_owner_id=work.get(s.seller_vat_numbers, vat_number) if vat_number else None, now=now())
            if changed is not current:
                work.put(s.sellers, seller_id, changed)
                if changed.email != current.email:
                    work.delete(s.seller_emails, current.email)
                    work.put(s.seller_emails, changed.email, seller_id)
                if changed.vat_number != current.vat_number:
                    work.delete(s.seller_vat_numbers, current.vat_number)
                    work.put(s.seller_vat_numbers, changed.vat_number, seller_id)
                self._publish_sellers(work, changed, events)
        return pb.UpdateSellerResponse(seller=messages.seller(changed))

    async def SuspendSeller(self, request: pb.SuspendSellerRequest,
                            context: grpc.aio.ServicerContext) -> pb.SuspendSellerResponse:
        actor = await self._actor(request.staff_id)
        changed = await self._change_seller(request.seller_id, lambda seller: domain.suspend_seller(
            seller, seller_id=request.seller_id, reason=request.reason, actor=actor, staff_id=request.staff_id,
            now=now()))
        return pb.SuspendSellerResponse(seller=messages.seller(changed))

    async def ReinstateSeller(self, request: pb.ReinstateSellerRequest,
                              context: grpc.aio.ServicerContext) -> pb.ReinstateSellerResponse:
        actor = await self._actor(request.staff_id)
        changed = await self._change_seller(request.seller_id, lambda seller: domain.reinstate_seller(
            seller, seller_id=request.seller_id, actor=actor, staff_id=request.staff_id, now=now()))
        return pb.ReinstateSellerResponse(seller=messages.seller(changed))

    async def _change_seller(self, seller_id: str, use_case: SellerUseCase) -> domain.Seller:
        sellers = self.stores.sellers
        required(seller_id, "seller_id")
        async with self.bus.unit_of_work() as work:
            await work.lock((sellers, seller_id))
            current = work.get(sellers, seller_id)
            changed, events = use_case(current)
            if changed is not current:
                work.put(sellers, seller_id, changed)
                self._publish_sellers(work, changed, events)
        return changed

    async def ListSellers(self, request: pb.ListSellersRequest,
                          context: grpc.aio.ServicerContext) -> pb.ListSellersResponse:
        statuses = [messages.seller_status_record(number) for number in request.statuses]
        public = auth.public_caller()
        if public:  # shoppers see the active sellers' trading names, as the storefront shows them
            statuses = [SellerStatus.ACTIVE]
        page = domain.list_sellers(self.stores.sellers.values(), statuses=statuses, query=request.query,
                                   page_size=request.page.page_size, page_token=request.page.page_token)
        sellers = [messages.seller(seller) for seller in page.items]
        if public:
            sellers = [pb_events.Seller(seller_id=s.seller_id, name=s.name, status=s.status) for s in sellers]
        return pb.ListSellersResponse(sellers=sellers, page=proto.page(page))

    # --- product onboarding ---------------------------------------------------------------------

    async def OnboardProduct(self, request: pb.OnboardProductRequest,
                             context: grpc.aio.ServicerContext) -> pb.OnboardProductResponse:
        actor = await self._actor(request.staff_id)
        domain.require_active_staff(actor, request.staff_id)
        seller_id = required(request.seller_id, "seller_id")
        draft = messages.product_draft_record(request)
        async with self._onboarding_runs[draft.sku]:
            existing = self.stores.onboardings.get(draft.sku)
            onboarding = domain.start_product_onboarding(
                existing, seller=self.stores.sellers.get(seller_id), seller_id=seller_id, product=draft,
                initial_stock_quantity=request.initial_stock_quantity, publish=request.publish, actor=actor,
                staff_id=request.staff_id, now=now())
            if onboarding is not existing:
                await self._save(onboarding)
            onboarding, product, level = await self._run(onboarding, resumed=onboarding is existing)
        if onboarding.state == OnboardingState.UNDONE:
            raise domain.onboarding_error(onboarding)
        if product is None:
            product = (await self.catalog.GetProduct(catalog_pb.GetProductRequest(
                product_id=onboarding.product_id))).product
        if level is None:
            level = (await self.stock.GetStockLevel(stock_pb.GetStockLevelRequest(sku=onboarding.sku))).level
        return pb.OnboardProductResponse(product=product, stock_level=level)

    async def _save(self, onboarding: domain.ProductOnboarding) -> None:
        async with self.bus.unit_of_work() as work:
            await work.lock((self.stores.onboardings, onboarding.sku))
            work.put(self.stores.onboardings, onboarding.sku, onboarding)

    async def _run(self, onboarding: domain.ProductOnboarding, *, resumed: bool
                   ) -> tuple[domain.ProductOnboarding, catalog_events_pb.Product | None,
                              stock_events_pb.StockLevel | None]:
        """Run the steps left, then the undos left; each outcome is stored as soon as it is known."""
        product: catalog_events_pb.Product | None = None
        level: stock_events_pb.StockLevel | None = None
        while (step := domain.next_step(onboarding)) is not None:
            try:
                if step == OnboardingStep.CREATE_PRODUCT:
                    product = await self._create_product(onboarding, adopt=resumed)
                    onboarding = domain.step_succeeded(onboarding, step, now(), product_id=product.product_id)
                elif step == OnboardingStep.SET_INITIAL_STOCK:
                    level = (await self.stock.SetStock(stock_pb.SetStockRequest(
                        sku=onboarding.sku, on_hand=onboarding.initial_stock_quantity,
                        reason=stock_pb.STOCK_CHANGE_REASON_INITIAL_STOCK, note=f"onboarding of {onboarding.sku}",
                        staff_id=onboarding.staff_id))).level
                    onboarding = domain.step_succeeded(onboarding, step, now())
                else:
                    product = (await self.catalog.PublishProduct(catalog_pb.PublishProductRequest(
                        product_id=onboarding.product_id))).product
                    onboarding = domain.step_succeeded(onboarding, step, now())
            except grpc.aio.AioRpcError as exc:
                refusal = refusal_of(exc)
                if refusal is None:
                    raise still_open(f"onboarding of {onboarding.sku} stopped at {step}; the steps done are kept: "
                                     "repeat the same request to finish it", exc) from exc
                log.info("onboarding of %s refused at %s, undoing: %s", onboarding.sku, step, refusal.message)
                onboarding = domain.step_refused(onboarding, step, refusal, now())
            await self._save(onboarding)
        for undo in domain.pending_undos(onboarding):
            await self._undo(onboarding, undo)
            onboarding = domain.undo_done(onboarding, undo, now())
            await self._save(onboarding)
        return onboarding, product, level

    async def _create_product(self, onboarding: domain.ProductOnboarding, *, adopt: bool) -> catalog_events_pb.Product:
        seller = self.stores.sellers.get(onboarding.seller_id)
        seller_is_new = seller is not None and now() - seller.created_at < NEW_SELLER_GRACE

        def seller_not_heard_of_yet(exc: BaseException) -> bool:
            return (seller_is_new and isinstance(exc, grpc.aio.AioRpcError)
                    and exc.code() == grpc.StatusCode.NOT_FOUND and "seller" in (exc.details() or ""))

        try:
            async for attempt in AsyncRetrying(retry=retry_if_exception(seller_not_heard_of_yet), reraise=True,
                                               stop=stop_after_delay(NEW_SELLER_RETRY_SECONDS),
                                               wait=wait_exponential(multiplier=0.1, max=1)):
                with attempt:
                    return (await self.catalog.CreateProduct(messages.create_product_request(onboarding))).product
        except grpc.aio.AioRpcError as exc:
            # Resuming after a crash between CreateProduct and storing its outcome: our draft is there.
            if not adopt or exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            found = await self.catalog.BatchGetProductsBySku(catalog_pb.BatchGetProductsBySkuRequest(
                skus=[onboarding.sku]))
            for product in found.products:
                if (product.sku, product.seller_id, product.status) == (
                        onboarding.sku, onboarding.seller_id, catalog_events_pb.PRODUCT_STATUS_DRAFT):
                    return product
            raise
        raise AssertionError("unreachable: AsyncRetrying returns or raises")

    async def _undo(self, onboarding: domain.ProductOnboarding, undo: OnboardingUndo) -> None:
        note = onboarding.undo_note[:MAX_STOCK_NOTE]
        try:
            if undo == OnboardingUndo.ARCHIVE_PRODUCT:
                await self.catalog.ArchiveProduct(catalog_pb.ArchiveProductRequest(
                    product_id=onboarding.product_id, reason=note))
            else:
                await self.stock.SetStock(stock_pb.SetStockRequest(
                    sku=onboarding.sku, on_hand=0, reason=stock_pb.STOCK_CHANGE_REASON_OTHER, note=note,
                    staff_id=onboarding.staff_id))
        except grpc.aio.AioRpcError as exc:
            if undo == OnboardingUndo.ARCHIVE_PRODUCT and exc.code() == grpc.StatusCode.NOT_FOUND:
                return  # no product to archive: nothing to undo
            failure = f"onboarding of {onboarding.sku} failed at {onboarding.failed_step} ({onboarding.failure_reason})"
            if refusal_of(exc) is not None:
                log.error("%s; undoing it was refused at %s: %s", failure, undo, exc.details())
                raise FailedPrecondition(f"{failure}; undoing it was refused at {undo}: {exc.details()}; "
                                         "it is retried in the background") from exc
            raise still_open(f"{failure}; undoing it stopped at {undo} and is retried in the background", exc) from exc

    async def finish_left_behind_onboardings(self) -> None:
        """The sweep: onboardings nobody is running that stopped part-way (their caller gave up, a
        callee was down, the process restarted) are driven to their end, forwards or undone."""
        for left in list(self.stores.onboardings.values()):
            if left.state not in (OnboardingState.IN_PROGRESS, OnboardingState.UNDOING):
                continue
            if now() - left.updated_at < ONBOARDING_IDLE or self._onboarding_runs[left.sku].locked():
                continue
            async with self._onboarding_runs[left.sku]:
                current = self.stores.onboardings.get(left.sku)
                if current is None or current.state not in (OnboardingState.IN_PROGRESS, OnboardingState.UNDOING):
                    continue
                try:
                    finished, _, _ = await self._run(current, resumed=True)
                except (grpc.aio.AioRpcError, errors.DomainError) as exc:
                    log.warning("onboarding of %s still unfinished: %s", left.sku, exc)
                    continue
                log.info("onboarding of %s finished by the sweep: %s", left.sku, finished.state)

    # --- settings -------------------------------------------------------------------------------

    async def GetSetting(self, request: pb.GetSettingRequest,
                         context: grpc.aio.ServicerContext) -> pb.GetSettingResponse:
        name = required(request.name, "name")
        return pb.GetSettingResponse(setting=messages.setting(domain.get_setting(dict(self.stores.settings.items()),
                                                                                 name)))

    async def ListSettings(self, request: pb.ListSettingsRequest,
                           context: grpc.aio.ServicerContext) -> pb.ListSettingsResponse:
        settings = domain.list_settings(dict(self.stores.settings.items()), request.name_prefix)
        return pb.ListSettingsResponse(settings=[messages.setting(setting) for setting in settings])

    async def UpdateSetting(self, request: pb.UpdateSettingRequest,
                            context: grpc.aio.ServicerContext) -> pb.UpdateSettingResponse:
        settings, actor = self.stores.settings, await self._actor(request.staff_id)
        domain.require_active_admin(actor, request.staff_id)
        # Checked before locking, so only the names of real settings ever get a lock.
        name = domain.setting_definition(required(request.name, "name")).name
        if request.expected_version < 0:
            raise InvalidArgument(f"expected_version must be 0 (any) or a version, got {request.expected_version}")
        async with self.bus.unit_of_work() as work:
            # shop.currency too: the VIP threshold is checked against it.
            await work.lock((settings, name), (settings, domain.SHOP_CURRENCY))
            current = settings.get(name)
            changed, events = domain.change_setting(
                dict(settings.items()), name=name,
                value=messages.setting_value_record(request.value) if request.HasField("value") else None,
                actor=actor, staff_id=request.staff_id, expected_version=request.expected_version, now=now())
            if changed is not current:
                work.put(settings, name, changed)
                self._publish_settings(work, events)
        return pb.UpdateSettingResponse(setting=messages.setting(changed))

    def _publish_settings(self, work: UnitOfWork, events: list[domain.SettingChanged]) -> None:
        for event in events:
            self.bus.publish(work, SETTINGS_TOPIC, event.name, aggregate_version=event.version,
                             setting_changed=messages.setting_changed(event))

    async def seed_settings(self) -> None:
        """Publish the default of every setting that has no value yet (all of them at first start)."""
        settings = self.stores.settings
        if all(name in settings for name in domain.SETTING_DEFINITIONS):
            return
        async with self.bus.unit_of_work() as work:
            await work.lock(*((settings, name) for name in domain.SETTING_DEFINITIONS))
            seeded, events = domain.seed_default_settings(dict(settings.items()), now())
            for setting in seeded:
                work.put(settings, setting.name, setting)
            self._publish_settings(work, events)

    def settings_seeded(self) -> bool:
        return all(name in self.stores.settings for name in domain.SETTING_DEFINITIONS)
