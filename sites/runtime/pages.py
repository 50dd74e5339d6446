"""Rendering: one template a page, its blocks are the fragments htmx swaps; error pages in the site's look.

    return page(request, "product.html", {"product": product}, block="main")

A request gets the block alone when htmx asks for part of a page: an `HX-Request` that is neither
boosted (a link or form htmx took over, which wants the whole page) nor a history restore (a reload
of a page htmx had pushed). Otherwise the whole page. Caches learn that the answer depends on those
headers (`Vary`). With the block go the site's out-of-band blocks (`make_site(oob_blocks=...)`: the
storefront's cart counter), swapped out of band.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from jinja2_fragments import render_block
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sites.runtime.calls import WHAT_IT_DOES, ServiceUnavailable

VARY = "HX-Request, HX-Boosted, HX-History-Restore-Request"
LAYOUT = "base.html"  # every page extends it; it holds the blocks swapped out of band
log = logging.getLogger(__name__)

# A service's refusal, as the page that shows it: NOT_FOUND and PERMISSION_DENIED are both "not found",
# so a shopper cannot learn that someone else's order exists.
REFUSALS = {
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.PERMISSION_DENIED: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
}
TITLES = {400: "That request could not be understood", 401: "Please sign in", 403: "Not allowed",
          404: "Page not found", 405: "Not allowed here", 409: "That cannot be done now",
          422: "Some details need fixing", 429: "Too many attempts", 502: "Something went wrong",
          503: "Temporarily unavailable"}


def templates(directory: Path) -> Jinja2Blocks:
    # Jinja2Templates autoescapes .html: every value a shopper or a seller typed is escaped.
    return Jinja2Blocks(directory=str(directory))


def wants_fragment(request: Request) -> bool:
    headers = request.headers
    if headers.get("hx-request-type") == "partial":  # htmx 4 says so directly
        return True
    return (headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"
            and headers.get("hx-history-restore-request") != "true")


def page(request: Request, name: str, context: dict[str, Any] | None = None, *, block: str | None = None,
         status: int = 200, private: bool = False, oob: Sequence[str] | None = None,
         headers: dict[str, str] | None = None) -> Response:
    """The whole page, or `block` (and the out-of-band blocks: by default the site's, `oob=()` for none)
    for an htmx request that wants a part."""
    tpl: Jinja2Blocks = request.app.state.templates
    if oob is None:
        oob = getattr(request.app.state, "oob_blocks", ())
    fragment = block is not None and wants_fragment(request)
    context = {**(context or {}), "fragment": fragment}
    if not fragment:
        response: Response = tpl.TemplateResponse(request, name, context, status_code=status)
    else:
        for processor in tpl.context_processors:
            context.update(processor(request))
        context["request"] = request
        parts = [render_block(tpl.env, name, str(block), context)]
        # An out-of-band block is usually the layout's (the header's counter), not the page's own.
        own = tpl.env.get_template(name).blocks
        parts += [render_block(tpl.env, name if extra in own else LAYOUT, extra, context) for extra in oob]
        response = HTMLResponse("".join(parts), status_code=status)
    response.headers["Vary"] = VARY
    if private:  # a page with personal data is kept by no cache, the browser's history cache included
        response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers or {})
    return response


def error_page(request: Request, status: int, message: str, *, headers: dict[str, str] | None = None) -> Response:
    """The site's error page; to an htmx request asking for a part, the same page in place of the main block."""
    extra = dict(headers or {})
    if wants_fragment(request):
        extra.update({"HX-Retarget": "#main", "HX-Reswap": "innerHTML"})
    return page(request, "error.html", {"status": status, "title": TITLES.get(status, "Something went wrong"),
                                        "message": message}, block="main", status=status, headers=extra)


def safe_next(target: str, fallback: str = "/") -> str:
    """Only a path of this site: `next=https://elsewhere` must not send anyone away after sign-in."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else fallback


def back_to(request: Request) -> str:
    """Where to come back to after signing in: the page asked for (a GET, its query too); for a form sent
    or a part of a page htmx asked for, the page the person was on (htmx's HX-Current-URL, else the
    browser's Referer) when it is one of this site's."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method == "GET" and not wants_fragment(request):
        return here
    current = urllib.parse.urlsplit(request.headers.get("hx-current-url") or request.headers.get("referer", ""))
    if current.path and current.netloc == request.url.netloc:
        return current.path + (f"?{current.query}" if current.query else "")
    return here if request.method == "GET" else "/"


def sign_in_first(request: Request) -> Response:
    """A page that needs a signed-in person: to sign-in and back (htmx follows HX-Redirect, a browser the 303)."""
    target = "/login?" + urllib.parse.urlencode({"next": safe_next(back_to(request))})
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def pdf_response(parts: AsyncIterator[Any], filename: str) -> Response:
    """A PDF a service streams (a header part naming the file, then chunks), as a download kept by no cache."""
    content = bytearray()
    async for part in parts:
        if part.WhichOneof("part") == "chunk":
            content += part.chunk
        elif part.header.filename:
            filename = part.header.filename
    return Response(bytes(content), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


def install_error_pages(app: FastAPI) -> None:
    """Every failure is a page in the site's look: 404 and 4xx as they are, a service down 503, never a trace."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else \
            "We could not find the page you asked for."
        return error_page(request, exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(sorted({str(e["loc"][-1]) for e in exc.errors()}))
        return error_page(request, 422, f"These details are missing or not valid: {fields}.")

    @app.exception_handler(ServiceUnavailable)
    async def service_down(request: Request, exc: ServiceUnavailable) -> Response:
        log.warning("service unavailable", extra={"service": exc.service, "details": exc.details})
        what = WHAT_IT_DOES.get(exc.service, exc.service)
        return error_page(request, 503, f"The part of the shop that handles {what} is not answering right now. "
                                        "Please try again in a minute; everything else still works.",
                          headers={"Retry-After": "30"})

    @app.exception_handler(grpc.aio.AioRpcError)
    async def refused(request: Request, exc: grpc.aio.AioRpcError) -> Response:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            return sign_in_first(request)
        status = {**REFUSALS, **getattr(request.app.state, "refusals", {})}.get(exc.code())
        if status is None:  # the service failed (INTERNAL and the like): its log has the details
            log.error("service call failed", extra={"code": exc.code().name, "details": exc.details()})
            return error_page(request, 502, "Something went wrong on our side. Please try again.")
        message = "We could not find what you asked for." if status == 404 else \
            "Your role does not allow this." if status == 403 else (exc.details() or "")
        return error_page(request, status, message)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        log.exception("page failed")
        return error_page(request, 500, "Something went wrong on our side. Please try again.")
