"""Is a process of the platform ready? `make up` asks while it starts them, compose.yaml's health checks ask
in their containers:

    python -m tools.healthcheck 9004                            # a service: its gRPC health says SERVING
    python -m tools.healthcheck http://127.0.0.1:9000/healthz   # a site or the registry: HTTP 200

Exits 0 if so, 1 if not (a process not yet ready, or not listening).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc


def http_ok(url: str, timeout: float = 1) -> Callable[[], bool]:
    def answers() -> bool:
        try:
            return httpx.get(url, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    return answers


def grpc_serving(port: int, timeout: float = 1) -> Callable[[], bool]:
    def serving() -> bool:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
            except grpc.RpcError:
                return False
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    return serving


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (argv[0].isdigit() or argv[0].startswith(("http://", "https://"))):
        print("usage: python -m tools.healthcheck <gRPC port> | <http URL>", file=sys.stderr)
        return 2
    [target] = argv
    ready = grpc_serving(int(target), timeout=5) if target.isdigit() else http_ok(target, timeout=5)
    return 0 if ready() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
