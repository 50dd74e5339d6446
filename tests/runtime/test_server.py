"""The runtime's server, in real processes on free ports: health, reflection, errors, logs, deadlines, shutdown."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from services.runtime.process import ReadinessCheck
from services.runtime.server import kafka_reachable, registry_reachable
from tests.runtime.sample_service import SampleProcess, call, running_sample, wait_for_health
from tools.kafka import KafkaBroker
from tools.platform import health_status
from tools.processes import free_port


@pytest.fixture(scope="module")
async def sample(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SampleProcess]:
    """One ready sample process shared by the tests that only call it."""
    with running_sample(tmp_path_factory.mktemp("sample") / "sample.log", free_port()) as process:
        await wait_for_health(process.address, "SERVING", within=30)
        yield process


async def _wait_for_log(process: SampleProcess, **fields: Any) -> dict[str, Any]:
    for _ in range(50):
        if lines := [line for line in process.json_log() if fields.items() <= line.items()]:
            return lines[-1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no log line with {fields} in {process.log_path}")


async def test_health_is_not_serving_until_every_readiness_check_passes(tmp_path: Path) -> None:
    ready_file = tmp_path / "ready"
    with running_sample(tmp_path / "sample.log", free_port(), SAMPLE_READY_FILE=str(ready_file)) as process:
        await wait_for_health(process.address, "NOT_SERVING", within=15)
        await asyncio.sleep(2.5)  # more than a readiness round: it stays NOT_SERVING while the check fails
        assert await health_status(process.address) == "NOT_SERVING"
        ready_file.touch()
        await wait_for_health(process.address, "SERVING", within=5)


def test_reflection_lists_the_services_and_describes_them(sample: SampleProcess) -> None:
    with grpc.insecure_channel(sample.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert set(database.get_services()) == {
            "sample.Sample", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
        health = DescriptorPool(database).FindServiceByName("grpc.health.v1.Health")
        assert {"Check", "Watch"} <= {method.name for method in health.methods}


def test_reflection_finds_the_file_of_a_method(sample: SampleProcess) -> None:
    """What ghz and grpcurl ask for a method's symbol; an unknown method is still not found."""
    with grpc.insecure_channel(sample.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert database.FindFileContainingSymbol("grpc.health.v1.Health.Check").name == "grpc_health/v1/health.proto"


@pytest.mark.parametrize(("error", "code"), [
    ("InvalidArgument", grpc.StatusCode.INVALID_ARGUMENT),
    ("NotFound", grpc.StatusCode.NOT_FOUND),
    ("AlreadyExists", grpc.StatusCode.ALREADY_EXISTS),
    ("FailedPrecondition", grpc.StatusCode.FAILED_PRECONDITION),
    ("PermissionDenied", grpc.StatusCode.PERMISSION_DENIED),
    ("Unauthenticated", grpc.StatusCode.UNAUTHENTICATED),
])
async def test_a_domain_error_becomes_its_status_with_its_message(
    sample: SampleProcess, error: str, code: grpc.StatusCode,
) -> None:
    message = f"the shopper's message for {error}"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(sample.address, "Fail", {"error": error, "message": message})
    assert (raised.value.code(), raised.value.details()) == (code, message)


async def test_an_unexpected_exception_is_internal_with_the_traceback_in_the_log_only(sample: SampleProcess) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(sample.address, "Crash", metadata=(("x-correlation-id", "crash-1"),))
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    details = raised.value.details() or ""
    assert "crash-1" in details
    assert "Traceback" not in details and "secret" not in details and "RuntimeError" not in details
    logged = await _wait_for_log(sample, level="ERROR", correlation_id="crash-1")
    assert "Traceback" in logged["exc_info"] and "secret internal detail" in logged["exc_info"]


async def test_one_json_log_line_a_call_with_method_code_duration_and_correlation_id(sample: SampleProcess) -> None:
    await call(sample.address, "Echo", {"n": 1}, metadata=(("x-correlation-id", "log-1"),))
    line = await _wait_for_log(sample, logger="rpc", correlation_id="log-1")
    assert (line["method"], line["code"], line["service"]) == ("/sample.Sample/Echo", "OK", "sample")
    assert isinstance(line["duration_ms"], float)
    assert len([entry for entry in sample.json_log() if entry.get("correlation_id") == "log-1"]) == 1


async def test_the_callers_deadline_is_honoured(sample: SampleProcess) -> None:
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(sample.address, "Slow", {"seconds": 10}, timeout=0.5,
                   metadata=(("x-correlation-id", "late-1"),))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2
    logged = await _wait_for_log(sample, logger="rpc", correlation_id="late-1")
    assert logged["code"] == "DEADLINE_EXCEEDED" and logged["duration_ms"] < 1500


async def test_sigterm_lets_the_call_under_way_finish_refuses_new_ones_and_exits_0(tmp_path: Path) -> None:
    with running_sample(tmp_path / "sample.log", free_port(), SHUTDOWN_GRACE_SECONDS="5") as process:
        await wait_for_health(process.address, "SERVING", within=30)
        slow_call = asyncio.create_task(call(process.address, "Slow", {"seconds": 2}))
        async with grpc.aio.insecure_channel(process.address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            await asyncio.sleep(0.5)
            signalled = time.monotonic()
            process.process.send_signal(signal.SIGTERM)
            # A watcher (a load balancer) hears NOT_SERVING at once; it then hangs up, as it would.
            assert (await asyncio.wait_for(watch.read(), 0.5)).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(process.address, "Echo", timeout=1)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert await slow_call == {"slept": 2}
        assert await asyncio.to_thread(process.process.wait, 10) == 0
        assert time.monotonic() - signalled < 5
        lines = process.log_lines()
        slow_done = next(i for i, line in enumerate(lines) if "Slow" in line and '"OK"' in line)
        assert lines.index("shutdown hook ran") > slow_done  # hooks (commit offsets, flush) come after the calls


async def test_sigterm_cancels_a_call_that_outlives_the_grace_period(tmp_path: Path) -> None:
    with running_sample(tmp_path / "sample.log", free_port(), SHUTDOWN_GRACE_SECONDS="1") as process:
        await wait_for_health(process.address, "SERVING", within=30)
        endless_call = asyncio.create_task(call(process.address, "Slow", {"seconds": 60}))
        await asyncio.sleep(0.5)
        signalled = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.aio.AioRpcError):
            await endless_call
        assert await asyncio.to_thread(process.process.wait, 10) == 0
        assert time.monotonic() - signalled < 3
        assert "shutdown hook ran" in process.log_lines()


def _port_is_listened_on(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM binds: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


async def test_health_follows_kafka_going_away_and_coming_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The launcher's port check binds without SO_REUSEADDR, so the connections the stopped broker left in
    # TIME_WAIT would make it refuse the restart for a minute; the broker itself binds with SO_REUSEADDR.
    monkeypatch.setattr("tools.kafka.launcher.port_is_free", _port_is_listened_on)
    broker = KafkaBroker(tmp_path / "kafka", free_port(), free_port(), heap="384m").start()
    try:
        with running_sample(tmp_path / "sample.log", free_port(), SAMPLE_CHECK_KAFKA="1",
                            KAFKA_BOOTSTRAP=broker.bootstrap) as process:
            await wait_for_health(process.address, "SERVING", within=30)
            broker.stop()
            await wait_for_health(process.address, "NOT_SERVING", within=10)
            broker.start()
            await wait_for_health(process.address, "SERVING", within=10)
    finally:
        broker.stop()


async def _outcome(check: ReadinessCheck) -> bool:
    """What the server makes of a check: raising counts as failing."""
    try:
        return await check()
    except Exception:
        return False


async def test_the_kafka_check_passes_on_a_broker_and_fails_fast_without_one(kafka_bootstrap: str) -> None:
    assert await _outcome(kafka_reachable(kafka_bootstrap))
    started = time.monotonic()
    assert not await _outcome(kafka_reachable(f"127.0.0.1:{free_port()}"))
    assert time.monotonic() - started < 2


async def test_the_registry_check_asks_for_the_subjects() -> None:
    class Registry(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/subjects" else 404)
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            pass

    registry = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=registry.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{registry.server_address[1]}"
    try:
        assert await _outcome(registry_reachable(url))
    finally:
        registry.shutdown()
        registry.server_close()
    assert not await _outcome(registry_reachable(url))
