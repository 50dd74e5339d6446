"""PaymentService over gRPC, and the per-order payment records the servicer and the handlers share."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

import grpc
from paying.v1 import payment_service_pb2 as api
from paying.v1.payment_service_pb2_grpc import PaymentServiceServicer

from services.paying import domain, messages
from services.paying.domain import Payment, PaymentEvent, RefundCause, RefundRequest
from services.paying.stores import Payments, provider_reference
from services.runtime import auth, proto
from services.runtime.bus import EventBus
from services.runtime.clock import now
from services.runtime.errors import InvalidArgument
from services.runtime.paging import SortKey, instant, paginate

LIST_PAGE_SIZE = 50  # a list's page when the request asks for none, as it has always been here


class PaymentServicer(PaymentServiceServicer):
    def __init__(self, bus: EventBus, payments: Payments) -> None:
        self.bus = bus
        self.payments = payments

    async def _change(self, payment_id: str, change: Callable[[Payment], tuple[Payment, list[PaymentEvent]]],
                      ) -> Payment:
        """Run a use case on one payment in a unit of work: store the result, publish its events."""
        order_id = self.payments.find(payment_id).order_id
        async with self.bus.unit_of_work() as work, self.payments.order(work, order_id) as record:
            current = next(p for p in record.payments if p.payment_id == payment_id)
            changed, events = change(current)
            self.payments.save(work, record, changed, events, functools.partial(self.bus.publish, work))
        return changed

    async def CreatePaymentIntent(self, request: api.CreatePaymentIntentRequest,
                                  context: grpc.aio.ServicerContext) -> api.CreatePaymentIntentResponse:
        if not request.order_id:
            raise InvalidArgument("order id is missing")
        if not request.customer_id:
            raise InvalidArgument("customer id is missing")
        if not request.HasField("amount"):
            raise InvalidArgument("amount is missing")
        async with self.bus.unit_of_work() as work, self.payments.order(work, request.order_id) as record:
            payment, created = domain.create_payment_intent(
                record.payments, payment_id=str(uuid.uuid4()), order_id=request.order_id,
                customer_id=request.customer_id, amount=request.amount.amount_minor,
                currency=request.amount.currency, payment_method=request.payment_method,
                provider_reference=provider_reference("pi"), now=now())
            if created:
                self.payments.save(work, record, payment, (), functools.partial(self.bus.publish, work))
        return api.CreatePaymentIntentResponse(payment=messages.payment(payment), created=created)

    async def CapturePayment(self, request: api.CapturePaymentRequest,
                             context: grpc.aio.ServicerContext) -> api.CapturePaymentResponse:
        payment = await self._change(request.payment_id, lambda current: domain.capture_payment(current, now()))
        return api.CapturePaymentResponse(payment=messages.payment(payment))

    async def GetPayment(self, request: api.GetPaymentRequest,
                         context: grpc.aio.ServicerContext) -> api.GetPaymentResponse:
        payment = self.payments.find(request.payment_id)
        auth.owned_by(payment.customer_id, f"payment {request.payment_id!r}")
        return api.GetPaymentResponse(payment=messages.payment(payment))

    async def ListPayments(self, request: api.ListPaymentsRequest,
                           context: grpc.aio.ServicerContext) -> api.ListPaymentsResponse:
        statuses = {messages.status_record(value) for value in request.statuses}
        if request.order_id:
            record = self.payments.orders.get(request.order_id)
            candidates = list(record.payments) if record else []
        else:
            candidates = [p for record in self.payments.orders.values() for p in record.payments]
        if customer := auth.calling_customer():  # a customer sees only their own payments
            candidates = [p for p in candidates if p.customer_id == customer]
        page = paginate((p for p in candidates if not statuses or p.status in statuses), sort_key=_newest_first,
                        descending=True, filters=[request.order_id, sorted(statuses)],
                        page_size=request.page.page_size, page_token=request.page.page_token,
                        default_size=LIST_PAGE_SIZE)
        return api.ListPaymentsResponse(payments=[messages.payment(p) for p in page.items], page=proto.page(page))

    async def RefundPayment(self, request: api.RefundPaymentRequest,
                            context: grpc.aio.ServicerContext) -> api.RefundPaymentResponse:
        refund_request = RefundRequest(
            idempotency_key=request.idempotency_key, cause=RefundCause.MANUAL,
            amount=request.amount.amount_minor if request.HasField("amount") else None,
            currency=request.amount.currency, reason=request.reason)
        made: list[domain.Refund] = []

        def refund(current: Payment) -> tuple[Payment, list[PaymentEvent]]:
            changed, refund_made, events = domain.refund_payment(
                current, refund_request, refund_id=str(uuid.uuid4()), provider_reference=provider_reference("re"),
                now=now())
            made.append(refund_made)
            return changed, events

        payment = await self._change(request.payment_id, refund)
        return api.RefundPaymentResponse(payment=messages.payment(payment),
                                         refund=messages.refund(made[0], payment.currency))

    async def VoidPayment(self, request: api.VoidPaymentRequest,
                          context: grpc.aio.ServicerContext) -> api.VoidPaymentResponse:
        reason = request.reason or "voided on request"
        payment = await self._change(request.payment_id,
                                     lambda current: domain.void_payment(current, reason=reason, now=now()))
        return api.VoidPaymentResponse(payment=messages.payment(payment))


def _newest_first(payment: Payment) -> SortKey:
    return instant(payment.created_at), payment.payment_id
