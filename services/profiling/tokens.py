"""Profiling's tokens for people: an access token on every sign-in, refreshed with a refresh token, and
the sign-ins that ended.

An access token (auth.ACCESS_TOKEN_SECONDS, minutes) is what every service checks; nobody asks
profiling about it, so a revoked sign-in keeps working until its access token expires, and that
lifetime is the bound docs/security.md states. A refresh token (days) is only ever read here, where
revocation takes effect at once: it is refused after SignOut (its sign-in, `sid`, is kept in the
signed-out store until the refresh token would have expired), after a password change (the sign-in's
id ends with a fingerprint of the password hash it began under) and for a deactivated staff account.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from profiling.v1 import profile_service_pb2 as pb

from services.profiling import domain
from services.runtime import auth
from services.runtime.bus import EventBus
from services.runtime.errors import Unauthenticated, required
from services.runtime.store import JsonCodec, Store

REFRESH_TOKEN_SECONDS = 14 * 24 * 3600
REFUSED = "the refresh token is no longer valid (signed out, password changed or account deactivated); sign in again"


def _fingerprint(password_hash: str) -> str:
    """Changes when the password does; reveals nothing usable about the hash."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _expiry(seconds: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(int(time.time()) + seconds)
    return stamp


class Tokens:
    def __init__(self, bus: EventBus, customers: Store[domain.Customer], staff: Store[domain.StaffMember]) -> None:
        self.bus, self.customers, self.staff = bus, customers, staff
        self.signer = auth.Signer(auth.PEOPLE_ISSUER)
        self.verifier = auth.Verifier()
        # sign-in id -> until when a refresh token of it could still be presented (epoch seconds).
        self.signed_out: Store[float] = bus.store("signed-out-sessions", JsonCodec(float))

    def signed_in(self, response: pb.AuthenticateResponse, account: domain.Customer | domain.StaffMember,
                  ) -> pb.AuthenticateResponse:
        """`response` with a new sign-in's access and refresh tokens."""
        # The sign-in's id carries a fingerprint of the password hash it began under: a password change ends it.
        session = f"{uuid.uuid4().hex}.{_fingerprint(account.password_hash)}"
        response.access_token, expires = self._access(account, session)
        response.access_token_expires_at.CopyFrom(expires)
        kind, subject = self._who(account)
        response.refresh_token = self.signer.sign(subject, kind, seconds=REFRESH_TOKEN_SECONDS, session=session,
                                                  token_use="refresh")
        return response

    async def refresh(self, request: pb.RefreshTokenRequest) -> pb.RefreshTokenResponse:
        principal, account = self._still_valid(request.refresh_token)
        token, expires = self._access(account, principal.session)
        return pb.RefreshTokenResponse(access_token=token, access_token_expires_at=expires)

    async def sign_out(self, request: pb.SignOutRequest) -> pb.SignOutResponse:
        principal = self.verifier.verify(required(request.refresh_token, "refresh_token"), token_use="refresh")
        async with self.bus.unit_of_work() as work:
            await work.lock((self.signed_out, principal.session))
            work.put(self.signed_out, principal.session, principal.expires)
        return pb.SignOutResponse()

    def _still_valid(self, refresh_token: str) -> tuple[auth.Principal, Any]:
        principal = self.verifier.verify(required(refresh_token, "refresh_token"), token_use="refresh")
        account: domain.Customer | domain.StaffMember | None = (
            self.customers.get(principal.subject) if principal.kind == auth.Kind.CUSTOMER
            else self.staff.get(principal.subject))
        if (account is None or principal.session in self.signed_out
                or principal.session.rpartition(".")[2] != _fingerprint(account.password_hash)
                or (isinstance(account, domain.StaffMember) and not account.active)):
            raise Unauthenticated(REFUSED)
        return principal, account

    def _access(self, account: domain.Customer | domain.StaffMember, session: str) -> tuple[str, Timestamp]:
        kind, subject = self._who(account)
        roles = [auth.Role(account.role.value)] if isinstance(account, domain.StaffMember) else []
        return (self.signer.sign(subject, kind, roles=roles, session=session),
                _expiry(auth.ACCESS_TOKEN_SECONDS))

    @staticmethod
    def _who(account: domain.Customer | domain.StaffMember) -> tuple[auth.Kind, str]:
        if isinstance(account, domain.Customer):
            return auth.Kind.CUSTOMER, account.customer_id
        return auth.Kind.STAFF, account.staff_id
