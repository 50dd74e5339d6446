"""Registry throughput against a trivial route on the same HTTP stack, measured in the same run.

    python bench/registry_bench.py [--seconds 3] [--rounds 3] [--connections 32]

Starts a registry process (and a Kafka broker, unless KAFKA_BOOTSTRAP is set), registers the
ordering events schema with its references, then loads three routes in turn for the same time:
`GET /` (returns {}: the baseline), `GET /schemas/ids/{id}` and `POST /subjects/{s}` (lookup).
It prints requests per second (median of the rounds) and each route's ratio to the baseline;
the goal is >= 0.5 for ids. The load generator is a bare keep-alive HTTP/1.1 client on asyncio,
so the client costs far less than the server and the ratios measure the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registry.launcher import start_registry  # noqa: E402
from tools.kafka import KafkaBroker  # noqa: E402
from tools.processes import free_port, stop  # noqa: E402

SCHEMAS = ROOT / "schemas"


def register_all(url: str, subject: str) -> tuple[int, bytes]:
    """Register ordering/v1/events.proto with its imports; return its id and a lookup body."""
    http = httpx.Client(base_url=url, timeout=30)
    versions: dict[str, int] = {}

    def put(name: str, target: str) -> dict[str, object]:
        deps = [line.split('"')[1] for line in (SCHEMAS / name).read_text().splitlines()
                if line.startswith("import ") and not line.split('"')[1].startswith("google/")]
        for dep in deps:
            if dep not in versions:
                put(dep, dep)
        body = {"schemaType": "PROTOBUF", "schema": (SCHEMAS / name).read_text(),
                "references": [{"name": d, "subject": d, "version": versions[d]} for d in deps]}
        answer = http.post(f"/subjects/{target.replace('/', '%2F')}/versions", json=body).raise_for_status().json()
        versions[target] = answer["version"]
        return {**body, "id": answer["id"]}

    registered = put("ordering/v1/events.proto", subject)
    schema_id = int(registered.pop("id"))  # type: ignore[call-overload]
    return schema_id, json.dumps(registered).encode()


def request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/vnd.schemaregistry.v1+json\r\n"
    return head.encode() + b"\r\n" + body


async def load(port: int, raw: bytes, seconds: float, connections: int) -> float:
    """Requests per second that `connections` keep-alive connections get for `raw` over `seconds`."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"bench: unexpected answer {head[:60]!r}")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="registry-bench-")))
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
        if not bootstrap:
            bootstrap = stack.enter_context(KafkaBroker(tmp / "kafka", free_port(), free_port())).bootstrap
        port = free_port()
        proc = start_registry(bootstrap, port, tmp / "registry.log", topic=f"_schemas.bench.{uuid.uuid4().hex[:8]}")
        stack.callback(stop, proc)
        subject = f"bench-{uuid.uuid4().hex[:8]}-value"
        schema_id, lookup_body = register_all(f"http://127.0.0.1:{port}", subject)
        routes = {
            "GET / (baseline)": request("GET", "/"),
            f"GET /schemas/ids/{schema_id}": request("GET", f"/schemas/ids/{schema_id}"),
            f"POST /subjects/{subject} (lookup)": request("POST", f"/subjects/{subject}", lookup_body),
        }
        results: dict[str, list[float]] = {name: [] for name in routes}
        for _ in range(args.rounds):  # interleaved, so drift hits every route alike
            for name, raw in routes.items():
                results[name].append(asyncio.run(load(port, raw, args.seconds, args.connections)))
    baseline = statistics.median(results["GET / (baseline)"])
    print(f"{'route':<60} {'req/s':>9} {'ratio':>6}")
    for name, rates in results.items():
        rate = statistics.median(rates)
        print(f"{name:<60} {rate:>9.0f} {rate / baseline:>6.2f}")
    ids_ratio = statistics.median(results[f"GET /schemas/ids/{schema_id}"]) / baseline
    print(f"goal ids >= 0.5x baseline: {'met' if ids_ratio >= 0.5 else 'NOT met'} ({ids_ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
