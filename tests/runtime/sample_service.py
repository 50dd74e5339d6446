"""A small service on the shared runtime, run as a real process by the runtime's tests.

`sample.Sample` has no .proto: its methods take and return JSON through gRPC's generic handlers.
Its entry point is what a real service's looks like. The helpers at the end start it as a child
process on a free port and call it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from pydantic import Field

from services.runtime import auth, errors
from services.runtime.clients import channel_to
from services.runtime.config import ServiceSettings
from services.runtime.interceptors import correlation_id
from services.runtime.process import ReadinessCheck
from services.runtime.server import kafka_reachable, run_service
from tools.platform import health_status
from tools.processes import spawn, stop

SERVICE = "sample.Sample"
ROOT = Path(__file__).resolve().parents[2]
Json = dict[str, Any]


class SampleSettings(ServiceSettings):
    ready_file: str = Field("", validation_alias="SAMPLE_READY_FILE")  # not ready until it exists
    check_kafka: bool = Field(False, validation_alias="SAMPLE_CHECK_KAFKA")
    breaker_reset_seconds: float = Field(10.0, gt=0, validation_alias="SAMPLE_BREAKER_RESET_SECONDS")


class SampleServicer:
    def __init__(self, upstream: grpc.aio.Channel) -> None:
        self.upstream = upstream
        self.store = {"greeting": "hello"}  # stands for a service's store
        self.attempts: Counter[str] = Counter()

    async def Echo(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        return {**request, "correlation_id": correlation_id.get(), "time_remaining": context.time_remaining(),
                "greeting": self.store["greeting"]}

    async def Slow(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        await asyncio.sleep(request["seconds"])
        return {"slept": request["seconds"]}

    async def Fail(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        raise getattr(errors, request["error"])(request["message"])

    async def Crash(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        raise RuntimeError("secret internal detail")

    async def Flaky(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        """UNAVAILABLE for the first `failures` attempts of a key, then OK."""
        self.attempts[request["key"]] += 1
        if self.attempts[request["key"]] <= request["failures"]:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not yet")
        return {"attempts": self.attempts[request["key"]]}

    async def Relay(self, request: Json, context: grpc.aio.ServicerContext) -> Json:
        """Calls `method` on the upstream sample with `body`, through the runtime's client."""
        call = self.upstream.unary_unary(f"/{SERVICE}/{request['method']}", request_serializer=_encode,
                                         response_deserializer=json.loads)
        return await call(request.get("body", {}), timeout=request.get("timeout"))


# The runtime's tests are about the runtime, not about who calls: every method is open.
RULES = {SERVICE: {name: auth.anyone() for name in ("Echo", "Slow", "Fail", "Crash", "Flaky", "Relay")}}


def _encode(message: Json) -> bytes:
    return json.dumps(message).encode()


def add_SampleServicer_to_server(servicer: SampleServicer, server: grpc.aio.Server) -> None:
    """What the generated add_XServicer_to_server does, for methods that take and return JSON."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name), request_deserializer=json.loads, response_serializer=_encode)
        for name in ("Echo", "Slow", "Fail", "Crash", "Flaky", "Relay")
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def file_exists(path: str) -> ReadinessCheck:
    async def ready_file_exists() -> bool:
        return Path(path).exists()

    return ready_file_exists


async def main() -> None:
    settings = SampleSettings.load("sample", calls=["upstream"])
    upstream = channel_to("upstream", settings.address("upstream"), reset_after=settings.breaker_reset_seconds)
    readiness = [file_exists(settings.ready_file)] if settings.ready_file else []
    if settings.check_kafka:
        readiness.append(kafka_reachable(settings.kafka_bootstrap))

    async def say_goodbye() -> None:
        print("shutdown hook ran", file=sys.stderr, flush=True)

    await run_service(settings, servicers=[(add_SampleServicer_to_server, SampleServicer(upstream))],
                      readiness=readiness, on_shutdown=[say_goodbye], rules=RULES)


# What the tests use ----------------------------------------------------------------------------

@dataclass
class SampleProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def json_log(self) -> list[Json]:
        return [json.loads(line) for line in self.log_lines() if line.startswith("{")]


def sample_env(port: int, **settings: str) -> dict[str, str]:
    """The environment of a sample process: its upstream is itself unless told otherwise."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SAMPLE_")}
    return {**env, "PYTHONPATH": str(ROOT), "SAMPLE_PORT": str(port), "UPSTREAM_ADDR": f"127.0.0.1:{port}",
            "SHUTDOWN_GRACE_SECONDS": "5", **settings}


@contextmanager
def running_sample(log_path: Path, port: int, **settings: str) -> Iterator[SampleProcess]:
    """The sample service as a child process, stopped (SIGTERM, then SIGKILL) when the block ends."""
    process = spawn([sys.executable, "-m", "tests.runtime.sample_service"], log_path,
                    env=sample_env(port, **settings), cwd=ROOT)
    try:
        yield SampleProcess(process, port, log_path)
    finally:
        stop(process, grace_seconds=10)


async def call(address: str, method: str, body: Json | None = None, **kwargs: Any) -> Json:
    async with grpc.aio.insecure_channel(address) as channel:
        rpc = channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=_encode,
                                  response_deserializer=json.loads)
        return await rpc(body or {}, **kwargs)  # type: ignore[no-any-return]


async def wait_for_health(address: str, wanted: str, within: float) -> float:
    """Seconds it took health to answer `wanted`; fails the test after `within` seconds."""
    started = time.monotonic()
    status = "never asked"
    while time.monotonic() - started < within:
        if (status := await health_status(address)) == wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"health of {address} was still {status} after {within} s, not {wanted}")


if __name__ == "__main__":
    asyncio.run(main())
