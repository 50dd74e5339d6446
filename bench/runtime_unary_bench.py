"""Unary calls through the service runtime against a bare grpc.aio echo server, in one run.

    .venv/bin/python bench/runtime_unary_bench.py [--seconds 4] [--concurrency 32]

Both servers run as child processes; one client (this process) drives each in turn with the same
load: `concurrency` calls in flight on one channel. The runtime server is what a service runs
(`run_service`: interceptors with a JSON log line a call, health, reflection) answering with a dict
read that stands for a store read; the bare one is `grpc.aio.server()` echoing the request. Prints
calls per second and the server's CPU time per call for each, and the runtime/bare ratio (goal ≥ 0.6).
A third run without the per-call log line (LOG_LEVEL=WARNING) shows what that line costs: mostly
the write to stderr, one system call a call. A fourth is the runtime with the method's rule needing a
staff token and every call carrying one (services/runtime/auth.py): what the trust boundary costs,
against the runtime whose rule lets anyone in (goal: at most 10% fewer calls per second). The token is
one signed-in person's, as from the sites: verified once, then found in the verifier's cache.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from services.runtime import auth  # noqa: E402
from services.runtime.config import ServiceSettings  # noqa: E402
from services.runtime.server import run_service  # noqa: E402
from tools.processes import free_port, spawn, stop  # noqa: E402

METHOD = "/bench.Bench/Get"
STORE = {f"sku-{i}".encode(): f"product {i}".encode() * 4 for i in range(10_000)}


def _handlers(behaviour: object) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler("bench.Bench", {"Get": grpc.unary_unary_rpc_method_handler(behaviour)})


async def serve_bare(port: int) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_handlers(echo),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def serve_runtime(port: int) -> None:
    async def get(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return STORE[request]

    def add_bench_to_server(servicer: object, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((_handlers(servicer),))

    os.environ["BENCH_PORT"] = str(port)
    rule = auth.staff() if os.environ.get("BENCH_RULE") == "staff" else auth.anyone()
    await run_service(ServiceSettings.load("bench"), servicers=[(add_bench_to_server, get)],
                      rules={"bench.Bench": {"Get": rule}})


async def _ready(address: str, metadata: tuple[tuple[str, str], ...] = ()) -> None:
    for _ in range(100):
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                await channel.unary_unary(METHOD)(b"sku-1", timeout=1, metadata=metadata)
                return
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"bench: no server answered on {address}")


async def _drive(address: str, seconds: float, concurrency: int, metadata: tuple[tuple[str, str], ...] = ()) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        get = channel.unary_unary(METHOD)
        deadline = time.monotonic() + seconds
        calls = 0

        async def worker(n: int) -> None:
            nonlocal calls
            key = f"sku-{n}".encode()
            while time.monotonic() < deadline:
                await get(key, metadata=metadata)
                calls += 1

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return calls


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


SERVERS = {  # name: (what to serve, environment)
    "bare": ("bare", {}),
    "runtime": ("runtime", {}),
    "runtime, no call log": ("runtime", {"LOG_LEVEL": "WARNING"}),
    "runtime, token check": ("runtime", {"BENCH_RULE": "staff"}),
}


async def measure(name: str, seconds: float, concurrency: int, run_dir: Path) -> tuple[float, float]:
    """Calls per second and server CPU microseconds per call."""
    kind, env = SERVERS[name]
    port = free_port()
    metadata = auth.bearer(auth.Signer(auth.PEOPLE_ISSUER).sign("staff-1", auth.Kind.STAFF, roles=[auth.Role.STAFF],
                                                               seconds=3600)) if "BENCH_RULE" in env else ()
    server = spawn([sys.executable, __file__, "--serve", kind, "--port", str(port)], run_dir / f"{kind}.log",
                   env={**os.environ, **env})
    try:
        address = f"127.0.0.1:{port}"
        await _ready(address, metadata)
        await _drive(address, 1.0, concurrency, metadata)  # warm-up
        cpu_before = _cpu_seconds(server.pid)
        started = time.monotonic()
        calls = await _drive(address, seconds, concurrency, metadata)
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        stop(server, grace_seconds=5)
    return calls / elapsed, cpu / calls * 1e6


async def main(seconds: float, concurrency: int, rounds: int) -> None:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in SERVERS}
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as run_dir:
        os.environ["SHOP_KEYS_DIR"] = str(Path(run_dir) / "keys")  # the servers inherit it
        for _ in range(rounds):  # alternate, so that a slower moment of the machine hits them all
            for name in results:
                results[name].append(await measure(name, seconds, concurrency, Path(run_dir)))
    best = {name: max(runs) for name, runs in results.items()}
    for name, (rate, cpu_us) in best.items():
        print(f"{name:21} {rate:7.0f} calls/s   server CPU {cpu_us:6.1f} µs/call   (best of {rounds})")
    for name in ("runtime", "runtime, no call log"):
        ratio, cpu_ratio = best[name][0] / best["bare"][0], best["bare"][1] / best[name][1]
        print(f"ratio {name}/bare: {ratio:.2f} by calls/s, {cpu_ratio:.2f} by server CPU per call (goal >= 0.6)")
    checked, unchecked = best["runtime, token check"], best["runtime"]
    print(f"ratio token check/runtime: {checked[0] / unchecked[0]:.2f} by calls/s, {unchecked[1] / checked[1]:.2f} "
          "by server CPU per call (goal >= 0.9)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", choices=["bare", "runtime"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_bare(args.port) if args.serve == "bare" else serve_runtime(args.port))
    else:
        asyncio.run(main(args.seconds, args.concurrency, args.rounds))
