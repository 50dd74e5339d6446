"""No zombie service (issue 19): a wedged Kafka call ends the process, and so does being fenced by a
second instance. Real stocking processes on the shared broker, in a namespace of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

import grpc
from stocking.v1 import stock_service_pb2 as pb
from stocking.v1.stock_service_pb2_grpc import StockServiceStub

from services.runtime.watchdog import EXIT_FATAL_KAFKA, EXIT_HUNG
from tools.platform import ROOT, Platform
from tools.processes import free_port, spawn, stop

INITIAL, DAMAGED = pb.STOCK_CHANGE_REASON_INITIAL_STOCK, pb.STOCK_CHANGE_REASON_DAMAGED


async def exit_code(platform: Platform, service: str, within: float) -> int:
    process = platform.processes[service]
    deadline = time.monotonic() + within
    while process.poll() is None:
        assert time.monotonic() < deadline, f"{service} still running after {within}s:\n{platform.tail(service)}"
        await asyncio.sleep(0.2)
    return process.returncode


async def test_a_transactional_call_that_never_returns_ends_the_process_with_the_hung_code(
        platform: Platform) -> None:
    # The hook makes commit_transaction block for good, as send_offsets_to_transaction does in
    # librdkafka #5456; its timeout is 2 s, so the watchdog fires 2 + 10 s after the call began.
    await platform.start("stocking", SHOP_TEST_HANG_IN_KAFKA_CALL="commit_transaction",
                         KAFKA_TRANSACTION_CALL_TIMEOUT_SECONDS="2")
    stock = platform.stub("stocking", StockServiceStub)
    write = asyncio.ensure_future(stock.SetStock(pb.SetStockRequest(sku="WEDGE-1", on_hand=5, reason=INITIAL,
                                                                  staff_id="staff-1"), timeout=60))
    started = time.monotonic()
    # 12 s expected; 60 s is the bound on a loaded machine.
    assert await exit_code(platform, "stocking", within=60) == EXIT_HUNG
    took = time.monotonic() - started
    assert took >= 11, f"the watchdog fired after {took:.1f}s, before the call's timeout plus its margin"
    assert "producer.commit_transaction did not return within 12 s" in platform.tail("stocking")
    try:
        await write
        raise AssertionError("the write answered although its transaction hung")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc

    platform.processes.pop("stocking")
    await platform.start("stocking")  # what the supervisor does: a fresh process, fencing the old id
    answer = await stock.SetStock(pb.SetStockRequest(sku="WEDGE-1", on_hand=5, reason=INITIAL, staff_id="staff-1"))
    assert answer.level.on_hand == 5


async def test_a_second_instance_stops_the_first_before_it_serves_and_no_stale_read_is_answered(
        platform: Platform) -> None:
    await platform.start("stocking")
    first = platform.stub("stocking", StockServiceStub)
    await first.SetStock(pb.SetStockRequest(sku="TWIN-1", on_hand=7, reason=INITIAL, staff_id="staff-1"))

    second_port = free_port()
    second = spawn([sys.executable, "-m", "services.stocking"], platform.run_dir / "stocking-second.log",
                   env=platform.env("stocking", STOCKING_PORT=str(second_port)), cwd=ROOT)
    try:
        # The second takes the transactional and static member id: the first is fenced and exits
        # (heartbeats every second; 45 s is the bound on a loaded machine).
        assert await exit_code(platform, "stocking", within=45) == EXIT_FATAL_KAFKA
        assert "fatal Kafka error" in platform.tail("stocking")
        platform.processes.pop("stocking")
        platform.processes["stocking-second"] = second
        platform.ports["stocking-second"] = second_port
        await platform.wait_serving("stocking-second")
        now = platform.stub("stocking-second", StockServiceStub)
        changed = await now.AdjustStock(pb.AdjustStockRequest(sku="TWIN-1", delta=-3, reason=DAMAGED,
                                                              staff_id="staff-1"))
        assert changed.level.on_hand == 4
        try:  # the first instance answers nothing any more, least of all the old 7
            stale = await first.GetStockLevel(pb.GetStockLevelRequest(sku="TWIN-1"), timeout=5)
            raise AssertionError(f"the fenced instance answered: {stale}")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), exc
    finally:
        platform.processes.pop("stocking-second", None)
        stop(second)


async def test_sigterm_ends_a_process_stuck_in_a_kafka_call_within_its_grace_period(platform: Platform) -> None:
    # The call hangs for good and its watchdog is far off (60 + 10 s): only the shutdown bound ends it.
    await platform.start("stocking", SHOP_TEST_HANG_IN_KAFKA_CALL="commit_transaction",
                         KAFKA_TRANSACTION_CALL_TIMEOUT_SECONDS="60")
    stock = platform.stub("stocking", StockServiceStub)
    write = asyncio.ensure_future(stock.SetStock(pb.SetStockRequest(sku="STUCK-1", on_hand=5, reason=INITIAL,
                                                                    staff_id="staff-1"), timeout=120))
    await asyncio.sleep(1)  # the write is in the committer, inside the hung call
    process = platform.processes["stocking"]
    process.terminate()
    asked = time.monotonic()
    # Platform gives services a 5 s grace period; the bound is that plus 5 s; 40 s on a loaded machine.
    assert await exit_code(platform, "stocking", within=40) == EXIT_HUNG
    took = time.monotonic() - asked
    assert took >= 9, f"ended after {took:.1f}s: before its grace period and the hooks' 5 s"
    assert "shutdown did not finish within 10 s" in platform.tail("stocking")
    platform.processes.pop("stocking")
    with contextlib.suppress(grpc.aio.AioRpcError):
        await write
