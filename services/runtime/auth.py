"""Who is calling, and may they: signed tokens, their keys, and the rule every RPC declares.

Tokens are JWTs signed with Ed25519 (EdDSA, through PyJWT). Two kinds of issuer hold a private key:
profiling, the only one that signs tokens for people (customers and staff, with their roles), and
each service, which signs the token it presents as itself when it calls another (its subject is its
own name; see docs/security.md for why per-service tokens rather than mutual TLS). Every service
verifies with the public keys, which any service may read.

Keys live in one directory (SHOP_KEYS_DIR, by default under the shop's cache directory, so they
survive restarts): `<issuer>/<kid>.key` (PEM, mode 0600) and `<issuer>/<kid>.pub`. An issuer signs
with its newest key and every public key found is accepted, which is how a key is rotated: add a new
one, wait one token lifetime, delete the old one.

Metadata on a call:
  authorization: Bearer <token>             whose rights apply: a person's token, or the calling service's own
  x-service-authorization: Bearer <token>   the calling service's own token when it passes a person's on

Each service declares one `Rule` per RPC in `services/<name>/access.py`; `Authoriser` checks the
credentials and the rule before any handler runs (CallInterceptor calls it), and a service will not
start with an RPC that has no rule. The rule says who may call at all; whose data a customer may see
is the servicer's business (`owned_by`), and another customer's data answers NOT_FOUND.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.runtime.errors import NotFound, PermissionDenied, Unauthenticated

AUTHORIZATION = "authorization"
SERVICE_AUTHORIZATION = "x-service-authorization"
ALGORITHM = "EdDSA"
PEOPLE_ISSUER = "profiling"  # the only issuer whose tokens may name a customer or a staff member
# Access tokens are short-lived: other services learn of a revocation (logout, password change, staff
# deactivation) only by the token expiring, so this is the bound on how long a revoked token still works.
ACCESS_TOKEN_SECONDS = int(os.environ.get("SHOP_ACCESS_TOKEN_SECONDS", "300"))
SERVICE_TOKEN_SECONDS = 3600
LEEWAY_SECONDS = 5  # clocks of the machines may differ a little
CACHE_SIZE = 10_000


class Kind(enum.StrEnum):
    ANONYMOUS = "anonymous"  # a call without a credential (never in a token)
    CUSTOMER = "customer"
    STAFF = "staff"
    SERVICE = "service"


class Role(enum.StrEnum):
    STAFF = "STAFF"
    ADMIN = "ADMIN"  # everything STAFF may do and more


@dataclasses.dataclass(frozen=True)
class Principal:
    """A verified caller: who (`subject`), what kind, which staff roles, and until when the token holds."""

    subject: str
    kind: Kind
    roles: frozenset[Role] = frozenset()
    expires: float = 0.0
    session: str = ""  # the sign-in the token belongs to (people only): what logout revokes
    issued: float = 0.0

    def has_role(self, role: Role) -> bool:
        return role in self.roles or Role.ADMIN in self.roles


ANONYMOUS = Principal(subject="", kind=Kind.ANONYMOUS)


# --- keys ---------------------------------------------------------------------------------------


def keys_dir() -> Path:
    if configured := os.environ.get("SHOP_KEYS_DIR"):
        return Path(configured)
    cache = os.environ.get("SHOP_CACHE_DIR") or Path.home() / ".cache" / "shop-platform"
    return Path(cache) / "keys"


def ensure_key(issuer: str, directory: Path | None = None) -> Path:
    """The newest private key of `issuer`, made on first use (a new key is how a rotation starts)."""
    folder = (directory or keys_dir()) / issuer
    if existing := sorted(folder.glob("*.key"), key=lambda path: path.stat().st_mtime):
        return existing[-1]
    return new_key(issuer, directory)


def new_key(issuer: str, directory: Path | None = None) -> Path:
    """Adds a key pair for `issuer`; from now on it signs with it. The old public key stays accepted until
    it is deleted, which should wait for the longest lifetime of a token it signed."""
    folder = (directory or keys_dir()) / issuer
    folder.mkdir(parents=True, exist_ok=True)
    kid = f"{issuer}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    key = Ed25519PrivateKey.generate()
    private = folder / f"{kid}.key"
    # Written under a temporary name and renamed, so a concurrent reader never sees half a key.
    for path, data in ((folder / f"{kid}.pub", key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
                       (private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))):
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o600 if path == private else 0o644)
        partial.rename(path)
    return private


class Signer:
    """Signs tokens as `issuer` with its newest key."""

    def __init__(self, issuer: str, directory: Path | None = None) -> None:
        self.issuer = issuer
        path = ensure_key(issuer, directory)
        self.kid = path.stem
        self.key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        self._own: tuple[str, float] = ("", 0.0)

    def sign(self, subject: str, kind: Kind, *, roles: Iterable[Role] = (), seconds: int = ACCESS_TOKEN_SECONDS,
             session: str = "", token_use: str = "access") -> str:
        issued = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": subject, "kind": str(kind), "iat": issued,
                                  "exp": issued + seconds, "use": token_use}
        if roles:
            claims["roles"] = sorted(str(role) for role in roles)
        if session:
            claims["sid"] = session
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})  # type: ignore[arg-type]

    def own_token(self) -> str:
        """This service's token as itself, renewed when half its life has passed."""
        token, renew_at = self._own
        if time.time() >= renew_at:
            token = self.sign(self.issuer, Kind.SERVICE, seconds=SERVICE_TOKEN_SECONDS)
            self._own = (token, time.time() + SERVICE_TOKEN_SECONDS / 2)
        return token


# --- verification -------------------------------------------------------------------------------


class Verifier:
    """Checks tokens against every public key in the keys directory. A verified token is remembered until
    it expires (by its exact text, so only the very same signed bytes hit the cache): the signature is
    checked once per token, not once per call."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or keys_dir()
        self._keys: dict[str, tuple[str, Ed25519PublicKey]] = {}  # kid -> (issuer: its folder, key)
        self._folders: list[tuple[str, int]] | None = None  # each issuer's folder and its mtime, when last read
        self._cache: dict[str, Principal] = {}
        self._lock = threading.Lock()

    def verify(self, token: str, *, token_use: str = "access") -> Principal:
        now = time.time()
        if (cached := self._cache.get(token)) is not None and cached.expires + LEEWAY_SECONDS > now:
            return cached
        principal = self._verify(token, token_use)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()  # crude but bounded: the next calls verify again
        self._cache[token] = principal
        return principal

    def _verify(self, token: str, token_use: str) -> Principal:
        try:
            kid = str(jwt.get_unverified_header(token).get("kid", ""))
            key_issuer, key = self._key(kid)
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], leeway=LEEWAY_SECONDS,
                                options={"require": ["iss", "sub", "exp", "iat"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired; sign in again or refresh it") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"the token is not valid ({_short(str(exc))}); sign in again") from None
        issuer, subject = claims["iss"], claims["sub"]
        try:
            kind = Kind(claims.get("kind", ""))
            if kind == Kind.ANONYMOUS:
                raise ValueError(kind)
            roles = frozenset(Role(role) for role in claims.get("roles", ()))
        except ValueError:
            raise Unauthenticated("the token names an unknown kind or role; sign in again") from None
        # The key's folder is its issuer: a service may only speak as itself, and only profiling for people.
        if key_issuer != issuer or (kind == Kind.SERVICE and subject != issuer) or (
                kind != Kind.SERVICE and issuer != PEOPLE_ISSUER):
            raise Unauthenticated("the token was signed by an issuer that may not vouch for its subject")
        if claims.get("use", "access") != token_use:
            raise Unauthenticated(f"the token is for {_short(str(claims.get('use')))}, this needs one for {token_use}")
        return Principal(subject=subject, kind=kind, roles=roles, expires=float(claims["exp"]),
                         session=claims.get("sid", ""), issued=float(claims["iat"]))

    def _key(self, kid: str) -> tuple[str, Ed25519PublicKey]:
        if kid not in self._keys:
            self._reload()
        if (key := self._keys.get(kid)) is None:
            raise jwt.InvalidTokenError(f"unknown signing key {_short(kid)!r}")
        return key

    def _reload(self) -> None:
        """Reads the public keys again when a folder of the keys directory changed since the last reading (a new
        key of a rotation, a service started for the first time); a token naming an unknown key costs a few
        stat calls, not a reading of every key."""
        with self._lock:
            try:
                folders = sorted((path.name, path.stat().st_mtime_ns) for path in self.directory.iterdir())
            except FileNotFoundError:
                folders = []
            if folders == self._folders:
                return
            keys: dict[str, tuple[str, Ed25519PublicKey]] = {}
            for path in self.directory.glob("*/*.pub"):
                key = serialization.load_pem_public_key(path.read_bytes())
                if isinstance(key, Ed25519PublicKey):
                    keys[path.stem] = (path.parent.name, key)
            self._keys, self._folders = keys, folders


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# --- rules --------------------------------------------------------------------------------------


class Access(enum.Enum):
    ANYONE = "anyone, no credential needed"
    CUSTOMER_OWN = "a customer (their own data), staff or a service"
    STAFF = "staff"
    SERVICE = "services only"


@dataclasses.dataclass(frozen=True)
class Rule:
    access: Access
    role: Role | None = None  # for STAFF: the role needed
    # A request field naming the staff member acting: filled from the token, whatever the caller sent.
    actor: str | None = None
    # A request field naming the customer whose data the call is about: a customer's own id is filled in
    # when left empty, and another customer's answers NOT_FOUND.
    owner: str | None = None

    def __str__(self) -> str:
        return f"{self.access.value}{f' with role {self.role}' if self.role else ''}"


def anyone(*, owner: str | None = None) -> Rule:
    """Anyone, even without a credential (a credential that is sent must still be valid)."""
    return Rule(Access.ANYONE, owner=owner)


def customer_own(*, owner: str | None = None, actor: str | None = None) -> Rule:
    """A customer, for their own data (`owner` checked here, or the record's owner by the servicer through
    `owned_by`), staff of any role, or a service."""
    return Rule(Access.CUSTOMER_OWN, owner=owner, actor=actor)


def staff(role: Role = Role.STAFF, *, actor: str | None = None) -> Rule:
    """Staff members with `role` (ADMIN has every role), or a service on its own account."""
    return Rule(Access.STAFF, role, actor)


def service_only() -> Rule:
    return Rule(Access.SERVICE)


Rules = Mapping[str, Rule]  # by method name ("AdjustStock")

# How the runtime's refusals begin (a handler may refuse with the same codes for reasons of its own).
NEEDS_CREDENTIAL = "this call needs a credential"
SERVICES_ONLY = "only the platform's services may make this call"
STAFF_ONLY = "this call is for staff only"
NEEDS_ROLE = "this call needs the role"
REFUSAL_PREFIXES = (NEEDS_CREDENTIAL, SERVICES_ONLY, STAFF_ONLY, NEEDS_ROLE, "the token", "the credential",
                    "a refresh token", f"{SERVICE_AUTHORIZATION} must", "sign in as the customer")

# The verified caller of the call being answered (grpc.aio runs each call in a task of its own), and the
# person's token to pass on when this service calls another for them (clients.py reads both).
caller: ContextVar[Principal | None] = ContextVar("caller", default=None)
passed_on_token: ContextVar[str] = ContextVar("passed_on_token", default="")


def calling_customer() -> str:
    """The customer the call is made for; empty for staff and services."""
    principal = caller.get()
    return principal.subject if principal is not None and principal.kind == Kind.CUSTOMER else ""


def acting_staff() -> str:
    """The staff member making the call; empty when it is not staff."""
    principal = caller.get()
    return principal.subject if principal is not None and principal.kind == Kind.STAFF else ""


def public_caller() -> bool:
    """Whether the call comes from the public (a customer or nobody): such a caller sees only what a shop
    shows everyone. Staff, services and code that no call runs (event handlers) see everything."""
    principal = caller.get()
    return principal is not None and principal.kind in (Kind.CUSTOMER, Kind.ANONYMOUS)


def owned_by(owner_id: str, what: str, *, unowned_is_open: bool = False) -> None:
    """NotFound unless the caller may see a record of customer `owner_id`: staff and services may, and so may
    code that no call runs (event handlers); a customer or an anonymous caller only their own (another's data
    must not even be seen to exist). A record with no owner is staff's, or, with `unowned_is_open` (an
    anonymous cart), anyone's who knows its id."""
    principal = caller.get()
    if principal is None or principal.kind not in (Kind.CUSTOMER, Kind.ANONYMOUS):
        return
    if owner_id != principal.subject and (owner_id or not unowned_is_open):
        raise NotFound(f"no {_short(what, 80)}")


def missing_rules(method_names: Iterable[str], rules: Rules) -> list[str]:
    return sorted(set(method_names) - set(rules))


class Authoriser:
    """What CallInterceptor runs before a handler: credentials verified, then the method's rule."""

    def __init__(self, rules: Mapping[str, Rules], verifier: Verifier | None = None) -> None:
        self.rules = rules  # {"stocking.v1.StockService": {"AdjustStock": Rule, ...}}
        self.verifier = verifier or Verifier()

    def rule_for(self, method: str) -> Rule | None:
        """The rule of "/pkg.Service/Method"; None for services that declare none (health, reflection)."""
        service, _, name = method.lstrip("/").partition("/")
        if (table := self.rules.get(service)) is None:
            return None
        return table.get(name, Rule(Access.SERVICE))  # unreachable once start-up checked the tables

    def authorise(self, method: str, metadata: Iterable[tuple[str, Any]], request: Any) -> None:
        rule = self.rule_for(method)
        if rule is None:
            return
        bearer, service_bearer = "", ""
        for key, value in metadata:
            if key == AUTHORIZATION:
                bearer = value
            elif key == SERVICE_AUTHORIZATION:
                service_bearer = value
        principal = self._principal(bearer) if bearer else None
        via = self._principal(service_bearer) if service_bearer else None
        if via is not None and via.kind != Kind.SERVICE:
            raise Unauthenticated(f"{SERVICE_AUTHORIZATION} must carry a service's token")
        caller.set(principal or ANONYMOUS)
        if principal is not None and principal.kind != Kind.SERVICE:
            passed_on_token.set(bearer.partition(" ")[2])
        if rule.owner:
            self._check_owner(rule.owner, principal, request)
        if rule.access == Access.ANYONE:
            return
        if principal is None:
            raise Unauthenticated(f"{NEEDS_CREDENTIAL}: send '{AUTHORIZATION}: Bearer <token>' "
                                  "(sign in with profiling's Authenticate)")
        is_service = principal.kind == Kind.SERVICE or via is not None
        if rule.access == Access.SERVICE and not is_service:
            raise PermissionDenied(f"{SERVICES_ONLY}: a person cannot make it")
        if rule.access == Access.STAFF and principal.kind != Kind.SERVICE:
            if principal.kind != Kind.STAFF:
                raise PermissionDenied(f"{STAFF_ONLY}: sign in to the back-office")
            assert rule.role is not None
            if not principal.has_role(rule.role):
                raise PermissionDenied(f"{NEEDS_ROLE} {rule.role}")
        if rule.actor and principal.kind == Kind.STAFF:
            setattr(request, rule.actor, principal.subject)  # who acted is the token's subject, never the caller's word

    @staticmethod
    def _check_owner(field: str, principal: Principal | None, request: Any) -> None:
        named = getattr(request, field)
        if principal is None:
            if named:
                raise Unauthenticated(f"sign in as the customer {field} names to make this call for them")
        elif principal.kind == Kind.CUSTOMER:
            if not named:
                setattr(request, field, principal.subject)
            elif named != principal.subject:
                raise NotFound("no such customer")

    def _principal(self, value: str) -> Principal:
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the credential must be sent as 'Bearer <token>'")
        return self.verifier.verify(token.strip())


# --- the calling side ---------------------------------------------------------------------------


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """The metadata that makes a call on a token's behalf: `stub.GetCart(request, metadata=bearer(token))`.
    For the sites (one signed-in person a call) and tools; services get theirs attached by channel_to."""
    return ((AUTHORIZATION, f"Bearer {token}"),)


class WithToken(grpc.aio.UnaryUnaryClientInterceptor):
    """A channel whose every unary call is made with one token, unless the call brings its own credentials:
    `grpc.aio.insecure_channel(address, interceptors=[WithToken(token)])` (a tool acting as one person).
    grpc.aio files an interceptor object under one kind only: streaming calls take `bearer(token)` per call."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        if AUTHORIZATION not in metadata:
            metadata.add(AUTHORIZATION, f"Bearer {self.token}")
        return await continuation(client_call_details._replace(metadata=metadata), request)


_signer: Signer | None = None


def sign_as(service: str) -> Signer:
    """Makes this process `service` for the calls it makes (run_service calls it at start-up)."""
    global _signer
    _signer = Signer(service)
    return _signer


def outgoing_credentials() -> list[tuple[str, str]]:
    """What channel_to adds to each call: the person's token when this call is made for one, plus the
    service's own; the service's own alone otherwise. Nothing in a process that is not a service."""
    if _signer is None:
        return []
    own = f"Bearer {_signer.own_token()}"
    if person := passed_on_token.get():
        return [(AUTHORIZATION, f"Bearer {person}"), (SERVICE_AUTHORIZATION, own)]
    return [(AUTHORIZATION, own)]


@contextlib.contextmanager
def as_service() -> Iterator[None]:
    """Within it, calls go out as the service alone, not for the person the call being answered is for."""
    token = passed_on_token.set("")
    try:
        yield
    finally:
        passed_on_token.reset(token)
