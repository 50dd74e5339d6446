"""The gRPC server every service runs: truthful health, reflection, interceptors, graceful shutdown.

A service's entry point is one line, `serve(PROCESS)` with the service's declaration (process.py): it
reads the settings, opens a channel to each callee, builds the bus, calls the service's `wire()` and
runs the server until SIGTERM. `run_service` is the server itself, for a process that is not a
declared service (a benchmark's).

Health answers NOT_SERVING until every readiness check passes (the bus's own: stores restored,
partitions held; Kafka and the registry answer; the service's own from `Wired.readiness`), and goes
back to NOT_SERVING when one stops passing (checks run every READINESS_INTERVAL_SECONDS). On SIGTERM
or SIGINT health goes NOT_SERVING, the server takes no new calls, calls under way get the grace period
to finish, then the shutdown hooks run in order and run_service returns, so the process exits 0.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
import httpx
from confluent_kafka.admin import AdminClient
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer  # the asyncio servicer grpc_health ships
from grpc_reflection.v1alpha import reflection
from pythonjsonlogger.json import JsonFormatter
from tenacity import AsyncRetrying, wait_exponential

from services.runtime import auth, inputs, watchdog
from services.runtime.bus import EventBus
from services.runtime.clients import channel_to, close_channels
from services.runtime.config import ServiceSettings, fail
from services.runtime.interceptors import CallInterceptor
from services.runtime.process import AddServicer, ReadinessCheck, ServiceProcess

ShutdownHook = Callable[[], Awaitable[Any]]

READINESS_INTERVAL_SECONDS = 2.0
STARTING_INTERVAL_SECONDS = 0.25
SHUTDOWN_MARGIN_SECONDS = 5.0  # after the grace period, for the shutdown hooks (offsets commit, close)
CHECK_TIMEOUT_SECONDS = 2.0  # a check that takes longer has failed

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
log = logging.getLogger(__name__)


def serve(process: ServiceProcess) -> None:
    """Run a declared service until SIGTERM or SIGINT: `python -m services.<name>` calls this."""
    asyncio.run(_serve(process))


async def _serve(process: ServiceProcess) -> None:
    settings = process.settings.load(process.name, calls=process.calls)
    settings.check_at_start()
    bus = EventBus(process.name, settings.kafka_bootstrap, settings.schema_registry_url, namespace=settings.namespace)
    callees = {callee: stub(channel_to(callee, settings.address(callee))) for callee, stub in process.calls.items()}
    wired = process.wire(bus, callees, settings)
    await run_service(settings, servicers=wired.servicers, bus=bus, readiness=wired.readiness)


async def run_service(
    settings: ServiceSettings,
    servicers: Iterable[tuple[AddServicer, object]],
    readiness: Sequence[ReadinessCheck] = (),
    on_shutdown: Sequence[ShutdownHook] = (),
    bus: EventBus | None = None,
    rules: Mapping[str, auth.Rules] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully and return.

    With a bus, the server answers (NOT_SERVING) while the bus restores its stores and joins its
    consumer group in the background; it is SERVING once that is done and Kafka and the registry
    answer. At shutdown the bus finishes the events in hand and commits before the other hooks.

    `rules` (by default the RULES of the service's `services/<name>/access.py`) say who may call each
    RPC; a service with an RPC that has no rule does not start."""
    configure_logging(settings)
    rules = _access_rules(settings.service) if rules is None else rules
    auth.sign_as(settings.service)  # the token this process presents when it calls another service
    if bus is not None:
        readiness = [kafka_reachable(settings.kafka_bootstrap), registry_needed_to_start(settings, bus), bus.ready,
                     bus.committing, *readiness]
        on_shutdown = [bus.stop, *on_shutdown]
    # No SO_REUSEPORT: a second process on a port already taken must fail, not share the port.
    def not_ready() -> str | None:
        if bus is None or bus.restored:
            return None
        return f"{settings.service} is starting and still restoring its state; retry shortly"

    authoriser = auth.Authoriser(rules)

    def before_handler(method: str, metadata: Any, request: Any) -> None:
        authoriser.authorise(method, metadata, request)  # who first: a stranger learns nothing of the inputs
        inputs.check_request(request)

    server = grpc.aio.server(interceptors=[CallInterceptor(not_ready, before_handler)],
                             options=[("grpc.so_reuseport", 0)])
    registered = _ServiceNameRecorder(server)
    for add_servicer, servicer in servicers:
        add_servicer(servicer, registered)
    services = list(registered.names)
    if unruled := [f"{service}/{method}" for service in services for method in
                   auth.missing_rules(registered.methods[service], rules.get(service, {}))]:
        fail(f"{settings.service}: no access rule for {', '.join(unruled)}; declare one in "
             f"services/{settings.service}/access.py")
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for service in ("", *services):
        await health.set(service, NOT_SERVING)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection([*services, health_name, reflection.SERVICE_NAME], server,
                                        pool=_WithMethodSymbols(descriptor_pool.Default()))
    try:
        server.add_insecure_port(f"0.0.0.0:{settings.port}")
    except RuntimeError:
        fail(f"{settings.service}: cannot listen on port {settings.port} (in use?); "
             f"set {settings.service.upper()}_PORT to a free port")

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await server.start()
    log.info("listening", extra={"port": settings.port, "services": services})
    health_keeper = asyncio.create_task(_keep_health_true(health, services, readiness))
    bus_start = asyncio.create_task(_start_bus(bus)) if bus is not None else None

    await stop.wait()
    # Whatever a Kafka call is doing, the process is gone shortly after its grace period.
    overrun = threading.Timer(settings.shutdown_grace_seconds + SHUTDOWN_MARGIN_SECONDS, watchdog.fatal, (
        f"shutdown did not finish within {settings.shutdown_grace_seconds + SHUTDOWN_MARGIN_SECONDS:g} s",
        watchdog.EXIT_HUNG))
    overrun.daemon = True
    overrun.start()
    if bus_start is not None and not bus_start.done():
        bus_start.cancel()
    log.info("stopping", extra={"grace_seconds": settings.shutdown_grace_seconds})
    health_keeper.cancel()
    await health.enter_graceful_shutdown()
    await server.stop(settings.shutdown_grace_seconds)
    for hook in on_shutdown:
        try:
            await hook()
        except Exception:
            log.exception("shutdown hook %s failed", getattr(hook, "__qualname__", hook))
    await close_channels()
    log.info("stopped")


async def _start_bus(bus: EventBus) -> None:
    """Start the bus, retrying while Kafka or the registry is not there yet (health says NOT_SERVING
    meanwhile). A schema the registry does not know is retried too: publishing it is a deploy step."""
    # At most 3 s apart: `make up` starts the services while the registry is still being seeded.
    async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.5, max=3),
                                       before_sleep=lambda state: log.warning(
                                           "bus start failed, retrying",
                                           extra={"error": str(state.outcome.exception()) if state.outcome else ""})):
        with attempt:
            await bus.start()


def configure_logging(settings: ServiceSettings) -> None:
    """One JSON object a line on stderr, for the runtime's lines and the service's own alike."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(
        "{levelname}{name}{message}", style="{", timestamp="time", static_fields={"service": settings.service},
        rename_fields={"levelname": "level", "name": "logger"}))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)


def infrastructure_checks(settings: ServiceSettings) -> list[ReadinessCheck]:
    """The checks every service that uses events needs: Kafka and the Schema Registry answer."""
    return [kafka_reachable(settings.kafka_bootstrap), registry_reachable(settings.schema_registry_url)]


def kafka_reachable(bootstrap: str) -> ReadinessCheck:
    admin = AdminClient({
        "bootstrap.servers": bootstrap,
        "reconnect.backoff.max.ms": 1000,  # notice a restarted broker within a second, not librdkafka's 10
        "log_level": 0,  # the health line says Kafka is gone; librdkafka would add one a reconnection
    })

    async def kafka_answers() -> bool:
        await asyncio.to_thread(admin.list_topics, timeout=1.0)  # raises when no broker answers
        return True

    return kafka_answers


def registry_needed_to_start(settings: ServiceSettings, bus: EventBus) -> ReadinessCheck:
    """The registry counts until the bus has started: then the schema of everything the service
    publishes is cached, and an event with a schema id never seen waits (its partition paused) for
    the registry to come back. A brief registry outage does not stop a started service from
    serving or committing, so its health does not say it does (docs/runtime.md, "Health")."""
    registry_answers = registry_reachable(settings.schema_registry_url)

    async def registry_answers_or_not_needed() -> bool:
        return bus.started or await registry_answers()

    return registry_answers_or_not_needed


def registry_reachable(url: str) -> ReadinessCheck:
    client = httpx.AsyncClient(base_url=url, timeout=1.0)

    async def registry_answers() -> bool:
        return (await client.get("/subjects")).is_success

    return registry_answers


async def _keep_health_true(health: HealthServicer, services: list[str], checks: Sequence[ReadinessCheck]) -> None:
    serving: bool | None = None
    while True:
        reasons = await asyncio.gather(*(_why_failing(check) for check in checks))
        failing = {_name(check): why for check, why in zip(checks, reasons, strict=True) if why}
        if serving != (now_serving := not failing):
            serving = now_serving
            log.log(logging.INFO if serving else logging.WARNING, "health",
                    extra={"status": "SERVING" if serving else "NOT_SERVING", "failing": failing})
            for service in ("", *services):
                await health.set(service, SERVING if serving else NOT_SERVING)
        # Starting up, every moment NOT_SERVING is a moment a launcher or a balancer waits: ask again soon.
        await asyncio.sleep(READINESS_INTERVAL_SECONDS if serving else STARTING_INTERVAL_SECONDS)


async def _why_failing(check: ReadinessCheck) -> str | None:
    """None when the check passes; otherwise what it said, for the health log line."""
    try:
        passed = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # a check that raises or times out has failed
        return f"{type(exc).__name__}: {exc}"
    return None if passed else "not yet"


def _name(check: ReadinessCheck) -> str:
    return str(getattr(check, "__qualname__", check)).replace(".<locals>", "")


class _WithMethodSymbols:
    """The descriptor pool reflection answers from, also finding the file of a method's symbol
    ("cataloging.v1.CatalogService.ListProducts"), which the reflection protocol allows and tools such as ghz
    ask for; protobuf's pool finds services and messages only."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def FindFileContainingSymbol(self, symbol: str) -> Any:
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service, _, method = symbol.rpartition(".")
            try:
                found = self._pool.FindServiceByName(service)
            except KeyError:
                raise KeyError(symbol) from None
            if method not in found.methods_by_name:
                raise KeyError(symbol) from None
            return found.file


class _ServiceNameRecorder:
    """Stands in for the server while add_XServicer_to_server runs: passes the handlers on and notes
    the service names, which health reports on and reflection lists."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.server = server
        self.names: dict[str, None] = {}  # a dict keeps the order of registration
        self.methods: dict[str, set[str]] = {}  # the method names of each service: each needs an access rule

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        for handler in handlers:
            self.names[handler.service_name()] = None
            # grpc's method handlers keep their table in `_method_handlers` ("/pkg.Service/Method" keys).
            table = getattr(handler, "_method_handlers", {})
            self.methods.setdefault(handler.service_name(), set()).update(name.rpartition("/")[2] for name in table)
        self.server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.names[service] = None
        self.methods.setdefault(service, set()).update(handlers)
        self.server.add_registered_method_handlers(service, handlers)


def _access_rules(service: str) -> Mapping[str, auth.Rules]:
    """The RULES of services/<service>/access.py: every service declares who may call each of its RPCs."""
    try:
        module = importlib.import_module(f"services.{service}.access")
    except ModuleNotFoundError:
        fail(f"{service}: services/{service}/access.py is missing: every RPC needs an access rule")
    return module.RULES
