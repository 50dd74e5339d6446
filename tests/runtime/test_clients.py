"""Calls between services through the runtime's clients, in real processes: deadlines and correlation ids
passed on, UNAVAILABLE retried, and a circuit breaker that opens while the callee is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from tests.runtime.sample_service import SampleProcess, call, running_sample, wait_for_health
from tools.processes import free_port, stop


@pytest.fixture(scope="module")
async def sample(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SampleProcess]:
    """A sample whose upstream is itself: Relay calls its own methods through the runtime's client."""
    with running_sample(tmp_path_factory.mktemp("sample") / "sample.log", free_port()) as process:
        await wait_for_health(process.address, "SERVING", within=30)
        yield process


async def test_the_callers_deadline_and_correlation_id_go_along(sample: SampleProcess) -> None:
    seen = await call(sample.address, "Relay", {"method": "Echo"}, timeout=1.0,
                      metadata=(("x-correlation-id", "relay-1"),))
    assert seen["correlation_id"] == "relay-1"
    # The callee gets what is left of the caller's second (gRPC rounds the deadline it sends up a little).
    assert 0.5 < seen["time_remaining"] < 1.05


async def test_a_call_without_deadline_gets_the_default_one(sample: SampleProcess) -> None:
    seen = await call(sample.address, "Relay", {"method": "Echo"})
    assert 4.0 < seen["time_remaining"] < 5.05
    assert seen["correlation_id"]  # made up by the first service when the caller sent none


async def test_unavailable_is_retried_by_grpc(sample: SampleProcess) -> None:
    assert await call(sample.address, "Relay", {"method": "Flaky", "body": {"key": "k1", "failures": 2}}) == {
        "attempts": 3}
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # three attempts at most
        await call(sample.address, "Relay", {"method": "Flaky", "body": {"key": "k2", "failures": 3}})
    assert (raised.value.code(), raised.value.details()) == (grpc.StatusCode.UNAVAILABLE, "not yet")


async def _relay_error(caller: SampleProcess) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(caller.address, "Relay", {"method": "Echo"}, timeout=3)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    return raised.value.details() or "", time.monotonic() - started


async def test_the_circuit_opens_while_the_callee_is_down_and_closes_when_it_is_back(tmp_path: Path) -> None:
    callee_port = free_port()
    with running_sample(tmp_path / "callee.log", callee_port) as callee, \
            running_sample(tmp_path / "caller.log", free_port(), UPSTREAM_ADDR=callee.address,
                           SAMPLE_BREAKER_RESET_SECONDS="2") as caller:
        await wait_for_health(callee.address, "SERVING", within=30)
        await wait_for_health(caller.address, "SERVING", within=30)
        assert (await call(caller.address, "Relay", {"method": "Echo", "body": {"n": 1}}))["n"] == 1

        assert stop(callee.process) == 0
        for _ in range(5):  # the breaker's threshold: each of these tried the callee (and gRPC retried)
            details, _seconds = await _relay_error(caller)
            assert "circuit open" not in details
        details, seconds = await _relay_error(caller)
        assert details == "upstream is unavailable (circuit open); retry in 2 s"
        assert seconds < 0.5  # failed fast, without trying the callee

        with running_sample(tmp_path / "callee-again.log", callee_port) as callee_again:
            await wait_for_health(callee_again.address, "SERVING", within=30)
            await asyncio.sleep(2)  # the breaker's reset time: the next call is let through to try the callee
            assert (await call(caller.address, "Relay", {"method": "Echo", "body": {"n": 2}}))["n"] == 2
            assert (await call(caller.address, "Relay", {"method": "Echo", "body": {"n": 3}}))["n"] == 3
        states = [line["state"] for line in caller.json_log() if line["message"] == "circuit breaker"]
        assert states == ["opened", "half-opened", "closed"]
