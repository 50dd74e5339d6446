"""Sessions: the browser holds only a signed session id (cookie HttpOnly, SameSite=Lax); what the site
knows of the person (their id, name, cart, and later their token from profiling) stays in this process.

A request's session is `request.state.session`; writing to it is enough, the middleware sends the
cookie when a session is new or its id changed. `session.rotate()` at sign-in and sign-out gives a new
id, so an id seen before signing in (session fixation) is worth nothing after.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, Signer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "session"


@dataclass
class Session:
    id: str
    data: dict[str, Any] = field(default_factory=dict)
    seen: float = field(default_factory=time.monotonic)
    sent: bool = False  # whether the browser already holds this id

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def pop(self, key: str, default: Any = None) -> Any:
        return self.data.pop(key, default)


class SessionStore:
    """Sessions by id, in memory, forgotten after `idle_seconds` without a request."""

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._sessions: MutableMapping[str, Session] = {}

    def find(self, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        now = time.monotonic()
        if session is None or now - session.seen > self.idle_seconds:
            self._sessions.pop(session_id, None)
            return None
        session.seen = now
        return session

    def new(self) -> Session:
        self._sweep()
        session = Session(secrets.token_urlsafe(24))
        self._sessions[session.id] = session
        return session

    def rotate(self, session: Session, *, keep: bool) -> Session:
        """A new id for the same browser: with its data (sign-in) or empty (sign-out)."""
        self._sessions.pop(session.id, None)
        fresh = self.new()
        if keep:
            fresh.data = dict(session.data)
        return fresh

    def _sweep(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if now - s.seen > self.idle_seconds]:
            del self._sessions[key]


class SessionMiddleware:
    def __init__(self, app: ASGIApp, store: SessionStore, secret_key: str, *, secure: bool) -> None:
        self.app, self.store, self.secure = app, store, secure
        self.signer = Signer(secret_key, salt="session")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = self._load(HTTPConnection(scope).cookies.get(COOKIE))
        holder = SessionHolder(self.store, session)
        scope.setdefault("state", {})["session_holder"] = holder

        async def send_with_cookie(message: Message) -> None:
            current = holder.session
            if message["type"] == "http.response.start" and not current.sent:
                headers = MutableHeaders(scope=message)
                value = self.signer.sign(current.id).decode()
                flags = "; Secure" if self.secure else ""
                headers.append("set-cookie", f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{flags}")
                current.sent = True
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, cookie: str | None) -> Session:
        if cookie:
            try:
                session_id = self.signer.unsign(cookie).decode()
            except BadSignature:
                session_id = ""
            if session_id and (found := self.store.find(session_id)) is not None:
                found.sent = True
                return found
        return self.store.new()


class SessionHolder:
    """The request's session, which sign-in and sign-out replace by a new one."""

    def __init__(self, store: SessionStore, session: Session) -> None:
        self.store, self.session = store, session

    def rotate(self, *, keep: bool) -> Session:
        self.session = self.store.rotate(self.session, keep=keep)
        return self.session


def session_of(connection: HTTPConnection) -> Session:
    holder: SessionHolder = connection.scope["state"]["session_holder"]
    return holder.session


def rotate_session(connection: HTTPConnection, *, keep: bool) -> Session:
    holder: SessionHolder = connection.scope["state"]["session_holder"]
    return holder.rotate(keep=keep)
