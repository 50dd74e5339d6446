"""The Confluent Schema Registry REST API (v1) over the registry service, on Starlette.

Every failure is a Confluent error body `{"error_code", "message"}`; bad input is always a 4xx.
Subjects may contain "/" (reference subjects are import paths such as shop/common/v1/money.proto),
which clients send encoded as %2F, so routing works on the raw, still-encoded path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.errors import SCHEMA_NOT_FOUND, STORE_ERROR, RegistryError
from registry.service import Registry, SchemaRequest, parse_level

log = logging.getLogger("registry")

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
MAX_BODY = 4 * 2**20  # far above any real schema; bounds what one request can make us buffer

Handler = Callable[[Request], Awaitable[Response]]


def reply(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, separators=(",", ":")), status, media_type=MEDIA_TYPE)


def error(status: int, code: int, message: str) -> Response:
    return reply({"error_code": code, "message": message}, status)


class RawPath:
    """Route on the undecoded path, so an encoded "/" (%2F) stays inside one path segment."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("raw_path"):
            scope = {**scope, "path": scope["raw_path"].decode("latin-1")}
        await self.app(scope, receive, send)


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() == "true"  # the Python client sends True/False


def param(request: Request, name: str) -> str:
    return unquote(request.path_params[name])


def page(request: Request, items: list[Any]) -> list[Any]:
    try:
        offset = int(request.query_params.get("offset", 0))
        limit = int(request.query_params.get("limit", -1))
    except ValueError:
        raise RegistryError(400, 400, "offset and limit must be integers") from None
    offset = max(offset, 0)
    return items[offset:offset + limit] if limit > 0 else items[offset:]


async def body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise RegistryError(413, 413, f"Request body larger than {MAX_BODY} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise RegistryError(413, 413, f"Request body larger than {MAX_BODY} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(400, 400, f"Malformed JSON body: {exc}") from None


def create_app(registry: Registry) -> Starlette:
    def needs_ready(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            if not registry.ready:
                # 503 is retriable for Confluent's clients: one started with the platform just waits.
                return error(503, STORE_ERROR, f"The registry is still replaying {registry.log.topic}")
            return await handler(request)
        return wrapped

    async def root(request: Request) -> Response:
        return reply({})

    async def ready(request: Request) -> Response:
        return reply({"ready": registry.ready}, 200 if registry.ready else 503)

    async def list_subjects(request: Request) -> Response:
        deleted, prefix = flag(request, "deleted"), request.query_params.get("subjectPrefix", "")
        found = sorted(s for s in registry.state.subjects
                       if s.startswith(prefix) and registry.state.versions(s, deleted))
        return reply(page(request, found))

    async def lookup(request: Request) -> Response:
        schema = SchemaRequest.from_json(await body(request))
        v = registry.lookup(param(request, "subject"), schema, flag(request, "normalize"), flag(request, "deleted"))
        return reply(registry.version_json(v, request.query_params.get("format") == "serialized"))

    async def delete_subject(request: Request) -> Response:
        return reply(await registry.delete_subject(param(request, "subject"), flag(request, "permanent")))

    async def list_versions(request: Request) -> Response:
        versions = registry.subject_versions(param(request, "subject"), flag(request, "deleted"))
        return reply(page(request, [v.version for v in versions]))

    async def register(request: Request) -> Response:
        schema = SchemaRequest.from_json(await body(request))
        v = await registry.register(param(request, "subject"), schema, flag(request, "normalize"))
        return reply({"id": v.id, "version": v.version})

    async def get_version(request: Request) -> Response:
        v = registry.get_version(param(request, "subject"), param(request, "version"), flag(request, "deleted"))
        return reply(registry.version_json(v, request.query_params.get("format") == "serialized"))

    async def delete_version(request: Request) -> Response:
        return reply(await registry.delete_version(param(request, "subject"), param(request, "version"),
                                                   flag(request, "permanent")))

    async def version_schema(request: Request) -> Response:
        v = registry.get_version(param(request, "subject"), param(request, "version"), flag(request, "deleted"))
        return Response(v.content.schema, media_type="text/plain")

    async def referenced_by(request: Request) -> Response:
        return reply(page(request, registry.referenced_by(param(request, "subject"), param(request, "version"))))

    def schema_id(request: Request) -> int:
        raw = param(request, "id")
        if not raw.isdigit() or len(raw) > 10:
            raise RegistryError(404, SCHEMA_NOT_FOUND, f"Schema {raw} not found")
        return int(raw)

    async def by_id(request: Request) -> Response:
        found = registry.by_id(schema_id(request), request.query_params.get("format") == "serialized")
        return Response(found, media_type=MEDIA_TYPE)

    async def by_id_schema(request: Request) -> Response:
        return Response(registry.content_by_id(schema_id(request)).schema, media_type="text/plain")

    def users(request: Request) -> list[tuple[str, int]]:
        found = schema_id(request)
        registry.content_by_id(found)  # 40403 when unknown
        deleted, only = flag(request, "deleted"), request.query_params.get("subject")
        return sorted((s, n) for s, n in registry.state.users.get(found, set())
                      if (deleted or not registry.state.subjects[s][n].deleted) and only in (None, s))

    async def id_subjects(request: Request) -> Response:
        return reply(page(request, sorted({s for s, _ in users(request)})))

    async def id_versions(request: Request) -> Response:
        return reply(page(request, [{"subject": s, "version": n} for s, n in users(request)]))

    async def schema_types(request: Request) -> Response:
        return reply(["PROTOBUF"])

    def subject_or_global(request: Request) -> str | None:
        return param(request, "subject") if "subject" in request.path_params else None

    async def get_config(request: Request) -> Response:
        level = registry.get_level(subject_or_global(request), flag(request, "defaultToGlobal"))
        return reply({"compatibilityLevel": level})

    async def put_config(request: Request) -> Response:
        level = parse_level(await body(request))
        await registry.set_level(subject_or_global(request), level)
        return reply({"compatibility": level})

    async def delete_config(request: Request) -> Response:
        return reply({"compatibilityLevel": await registry.delete_level(subject_or_global(request))})

    async def compatibility(request: Request) -> Response:
        schema = SchemaRequest.from_json(await body(request))
        version = param(request, "version") if "version" in request.path_params else None
        messages = registry.compatibility(param(request, "subject"), version, schema, flag(request, "normalize"))
        answer: dict[str, Any] = {"is_compatible": not messages}
        if flag(request, "verbose"):
            answer["messages"] = messages
        return reply(answer)

    async def get_mode(request: Request) -> Response:
        return reply({"mode": registry.get_mode(subject_or_global(request), flag(request, "defaultToGlobal"))})

    async def put_mode(request: Request) -> Response:
        mode = await registry.set_mode(subject_or_global(request), await body(request), flag(request, "force"))
        return reply({"mode": mode})

    async def delete_mode(request: Request) -> Response:
        return reply({"mode": await registry.delete_mode(param(request, "subject"))})

    async def associations(request: Request) -> Response:
        # confluent-kafka's default subject strategy asks first, and falls back to the topic name on 404.
        return error(404, 404, "Associations are not supported by this registry")

    routes = [
        ("/", root, ["GET"]),
        ("/subjects", list_subjects, ["GET"]),
        ("/subjects/{subject}", lookup, ["POST"]),
        ("/subjects/{subject}", delete_subject, ["DELETE"]),
        ("/subjects/{subject}/versions", list_versions, ["GET"]),
        ("/subjects/{subject}/versions", register, ["POST"]),
        ("/subjects/{subject}/versions/{version}", get_version, ["GET"]),
        ("/subjects/{subject}/versions/{version}", delete_version, ["DELETE"]),
        ("/subjects/{subject}/versions/{version}/schema", version_schema, ["GET"]),
        ("/subjects/{subject}/versions/{version}/referencedby", referenced_by, ["GET"]),
        ("/schemas/ids/{id}", by_id, ["GET"]),
        ("/schemas/ids/{id}/schema", by_id_schema, ["GET"]),
        ("/schemas/ids/{id}/subjects", id_subjects, ["GET"]),
        ("/schemas/ids/{id}/versions", id_versions, ["GET"]),
        ("/schemas/types", schema_types, ["GET"]),
        ("/config", get_config, ["GET"]),
        ("/config", put_config, ["PUT"]),
        ("/config", delete_config, ["DELETE"]),
        ("/config/{subject}", get_config, ["GET"]),
        ("/config/{subject}", put_config, ["PUT"]),
        ("/config/{subject}", delete_config, ["DELETE"]),
        ("/compatibility/subjects/{subject}/versions", compatibility, ["POST"]),
        ("/compatibility/subjects/{subject}/versions/{version}", compatibility, ["POST"]),
        ("/mode", get_mode, ["GET"]),
        ("/mode", put_mode, ["PUT"]),
        ("/mode/{subject}", get_mode, ["GET"]),
        ("/mode/{subject}", put_mode, ["PUT"]),
        ("/mode/{subject}", delete_mode, ["DELETE"]),
        ("/associations/{rest:path}", associations, ["GET"]),
    ]

    async def on_registry_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RegistryError)
        return error(exc.status, exc.code, exc.message)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {exc.detail}")

    async def on_bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error(500, STORE_ERROR, f"Internal error: {type(exc).__name__}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Serve /ready (503) at once and replay in the background, so launchers can poll.
        task = asyncio.create_task(registry.start())
        yield
        task.cancel()
        await asyncio.to_thread(registry.log.close)

    app = Starlette(
        routes=[Route(path, needs_ready(h) if h is not root else h, methods=m) for path, h, m in routes]
        + [Route("/ready", ready, methods=["GET"])],
        exception_handlers={RegistryError: on_registry_error, HTTPException: on_http_error, Exception: on_bug},
        lifespan=lifespan,
    )
    app.add_middleware(RawPath)
    return app
