"""`make_site`: a FastAPI app with the runtime wired in, in the order requests go through it.

    app = make_site(settings, templates_dir, routers=[browse.router, cart.router], live_topics=[...])

Outermost first: the session (so the CSRF failure page knows the person), CSRF (asgi-csrf: every
POST/PUT/PATCH/DELETE carries the token from the `csrftoken` cookie in its form field `csrftoken` or in
the `x-csrftoken` header), then the routes. Static files come from `sites/static` (the site's own) and
`sites/node_modules` (htmx and its SSE extension, pinned in sites/package.json).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from asgi_csrf import asgi_csrf
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from slowapi.errors import RateLimitExceeded
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from services.runtime.clients import close_channels
from sites.runtime.calls import Channels
from sites.runtime.live import EventFeed
from sites.runtime.pages import error_page, install_error_pages, templates
from sites.runtime.sessions import SessionMiddleware, SessionStore
from sites.runtime.settings import SiteSettings
from sites.runtime.throttle import limiter

SITES = Path(__file__).resolve().parent.parent
CSRF_FIELD = "csrftoken"
CSRF_HEADER = "x-csrftoken"


class _EveryPath:
    """asgi-csrf skips the check on a request without cookies unless its path is 'always protected':
    every path is, so a state-changing request without the token is refused whatever it carries."""

    def __contains__(self, path: object) -> bool:
        return True


def make_site(settings: SiteSettings, templates_dir: Path, *, routers: Iterable[APIRouter], calls: Iterable[str],
              live_topics: list[str] = (), title: str = "", oob_blocks: Sequence[str] = (),  # type: ignore[assignment]
              refusals: Mapping[grpc.StatusCode, int] | None = None, csrf_message: str = "") -> Any:
    """`oob_blocks`: the layout's blocks sent out of band with every fragment (the storefront's cart
    counter). `refusals`: how this site shows a service's refusal codes, over pages.REFUSALS (the
    back-office shows PERMISSION_DENIED as a 403, the storefront as a 404)."""
    feed = EventFeed(settings.service, settings.kafka_bootstrap, settings.schema_registry_url, list(live_topics),
                     namespace=settings.namespace) if live_topics else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.channels = Channels({name: settings.address(name) for name in calls})
        if feed is not None:
            feed.start()
        try:
            yield
        finally:
            if feed is not None:
                await feed.stop()
            await close_channels()

    app = FastAPI(title=title or settings.service, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings, app.state.feed = settings, feed
    app.state.templates = templates(templates_dir)
    app.state.oob_blocks, app.state.refusals = tuple(oob_blocks), dict(refusals or {})
    install_error_pages(app)
    app.state.limiter = limiter

    @app.exception_handler(RateLimitExceeded)
    async def throttled(request: Request, exc: RateLimitExceeded) -> Any:
        return error_page(request, 429, "Too many attempts from your connection. Please wait a minute and try again.",
                          headers={"Retry-After": "60"})

    for router in routers:
        app.include_router(router)
    (SITES / "static").mkdir(exist_ok=True)
    app.mount("/static/vendor", StaticFiles(directory=SITES / "node_modules"), name="vendor")
    app.mount("/static", StaticFiles(directory=SITES / "static"), name="static")

    async def csrf_refused(scope: Scope, send: Send, message_id: int) -> None:
        async def no_body() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        request = Request({**scope, "app": app}, no_body)
        response = error_page(request, 403, csrf_message or "This form has expired or did not come from this "
                                                            "shop. Please go back, reload the page and try again.")
        await response(scope, no_body, send)

    protected = asgi_csrf(app, signing_secret=settings.secret_key, always_protect=_EveryPath(),
                          cookie_secure=settings.secure_cookies, send_csrf_failed=csrf_refused)
    store = SessionStore(settings.session_idle_seconds)
    site = SessionMiddleware(protected, store, settings.secret_key, secure=settings.secure_cookies)

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await site(scope, receive, send)

    # uvicorn and tests see an ASGI app; the FastAPI app stays reachable for its OpenAPI and state.
    asgi.fastapi = app  # type: ignore[attr-defined]
    asgi.sessions = store  # type: ignore[attr-defined]
    return asgi
