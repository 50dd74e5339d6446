"""`make up`: start the whole platform, wait until each part is healthy, print where it is.

Kafka first, then the topics of the topic map, then the registry, then every declared process
(services/runtime/process.py) in waves: each wave starts together the processes whose dependencies
are ready, so the nine services start at once; then the demo shop (tools/demo_data.py). Ctrl-C or
SIGTERM stops everything in reverse order. Logs go to .run/<name>.log, never to the terminal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.process import declared
from tools.kafka import KafkaBroker
from tools.processes import fail, port_is_free, spawn, stop

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"


@dataclass(frozen=True)
class Process:
    """A platform process: how to start it, when it counts as ready, what to tell the user."""

    name: str
    argv: list[str]
    port: int
    ready: Callable[[], bool]
    shows: str
    then: Callable[[dict[str, str]], str] | None = None  # a step once it is ready; returns what to print
    depends_on: tuple[str, ...] = ()  # processes that must be ready before this one starts


def http_ok(url: str) -> Callable[[], bool]:
    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return answers


def grpc_serving(port: int) -> Callable[[], bool]:
    def serving() -> bool:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                return False
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    return serving


def seed_registry(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "registry", "seed"], env=env, cwd=ROOT, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"seeding the registry failed: {result.stderr.strip()}")
    return "published schemas registered"


REGISTRY_PORT = int(os.environ.get("SCHEMA_REGISTRY_PORT", 8081))
STOREFRONT_PORT = int(os.environ.get("STOREFRONT_PORT", 9000))
PROCESSES: list[Process] = [
    Process("registry", [sys.executable, "-m", "registry", "serve"], REGISTRY_PORT,
            http_ok(f"http://127.0.0.1:{REGISTRY_PORT}/ready"),
            f"Schema Registry: curl localhost:{REGISTRY_PORT}/subjects", then=seed_registry),
    *(Process(name, [sys.executable, "-m", service.module], service.port, grpc_serving(service.port),
              f"gRPC, with reflection: grpcurl -plaintext 127.0.0.1:{service.port} list",
              depends_on=("registry", *service.depends_on))
      for name, service in declared().items()),
    # The storefront, once the services it shows are up (tools/demo_data.py draws its pictures for it).
    Process("storefront", [sys.executable, "-m", "sites.storefront"], STOREFRONT_PORT,
            http_ok(f"http://127.0.0.1:{STOREFRONT_PORT}/healthz"), f"the shop: http://localhost:{STOREFRONT_PORT}",
            depends_on=tuple(declared())),
]


def load_demo_data(env: dict[str, str]) -> list[str]:
    """The demo shop (tools/demo_data.py), once every service is up; a second `make up` adds nothing."""
    result = subprocess.run([sys.executable, "-m", "tools.demo_data"], env=env, cwd=ROOT, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"loading the demo data failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout.splitlines()


def create_topics(bootstrap: str) -> int:
    from confluent_kafka.admin import AdminClient, NewTopic

    from services.runtime import topic_map

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = []
    for topic in topic_map.load().values():
        config = {"cleanup.policy": "compact"} if topic.compacted else {}
        wanted += [NewTopic(topic.name, topic.partitions, 1, config=config), NewTopic(topic.dlq, 1, 1)]
    new = [t for t in wanted if t.topic not in existing]
    for future in admin.create_topics(new).values() if new else []:
        future.result(timeout=30)
    return len(new)


def _start_in_waves(env: dict[str, str], children: list[tuple[Process, subprocess.Popen[bytes]]],
                    rows: list[tuple[str, str, str]], timeout: float = 90.0) -> None:
    """Start every process whose dependencies are ready, all of one wave together, and wait for the wave."""
    ready: set[str] = set()
    waiting = list(PROCESSES)
    while waiting:
        wave = [p for p in waiting if set(p.depends_on) <= ready]
        if not wave:
            raise RuntimeError(f"nothing can start: {', '.join(p.name for p in waiting)} wait on each other")
        started = [(p, spawn(p.argv, RUN_DIR / f"{p.name}.log", env=env, cwd=ROOT)) for p in wave]
        children += started
        _wait_ready(started, timeout)
        print(f"up: {', '.join(p.name for p in wave)} ready", flush=True)
        for process, _child in started:
            rows.append((process.name, f"127.0.0.1:{process.port}", process.shows))
            if process.then is not None:
                rows.append(("", "", process.then(env)))
        ready |= {p.name for p in wave}
        waiting = [p for p in waiting if p.name not in ready]


def _wait_ready(started: list[tuple[Process, subprocess.Popen[bytes]]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(started)
    while pending:
        for process, child in pending:
            if child.poll() is not None:
                raise RuntimeError(f"{process.name} exited with code {child.returncode}; "
                                   f"see {RUN_DIR / (process.name + '.log')}")
        pending = [(process, child) for process, child in pending if not process.ready()]
        if pending and time.monotonic() > deadline:
            names = ", ".join(process.name for process, _ in pending)
            raise RuntimeError(f"{names} not healthy after {timeout:.0f}s; see their logs in {RUN_DIR}")
        time.sleep(0.25)


def main() -> int:
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    for process in PROCESSES:
        if not port_is_free(process.port):
            fail(f"up: port {process.port} for {process.name} is already in use; is the platform already up?")

    RUN_DIR.mkdir(exist_ok=True)
    started = time.monotonic()
    broker = KafkaBroker(RUN_DIR / "kafka", int(os.environ.get("KAFKA_PORT", 9092)),
                         int(os.environ.get("KAFKA_CONTROLLER_PORT", 9093))).start()
    children: list[tuple[Process, subprocess.Popen[bytes]]] = []
    rows = [("kafka", broker.bootstrap, f"broker (logs {broker.log_file.relative_to(ROOT)})")]
    try:
        created = create_topics(broker.bootstrap)
        rows.append(("topics", "", f"{created} created from schemas/topics.yaml"))
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "PYTHONUNBUFFERED": "1",
               "SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{REGISTRY_PORT}"}
        _start_in_waves(env, children, rows)
        healthy_after = time.monotonic() - started
        rows += [("demo", "", line.strip()) for line in load_demo_data(env)]
    except RuntimeError as exc:
        print(f"up: {exc}", file=sys.stderr)
        stopping.set()
    if not stopping.is_set():
        width = max(len(name) for name, _, _ in rows)
        print(f"\nThe platform is up: every process healthy after {healthy_after:.1f}s, the demo shop loaded after "
              f"{time.monotonic() - started:.1f}s. Ctrl-C stops it.\n")
        for name, where, what in rows:
            print(f"  {name:<{width}}  {where:<22} {what}")
        print(flush=True)
    while not stopping.wait(1.0):
        for process, child in children:
            if child.poll() is not None:
                print(f"up: {process.name} exited with code {child.returncode}; stopping", file=sys.stderr)
                stopping.set()
    print("stopping...", flush=True)
    for _process, child in reversed(children):
        stop(child)
    broker.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
