"""`make up`: start the whole platform, wait until each part is healthy, print where it is, keep it up.

Kafka first (and the topics of the topic map), then the registry and every declared process
(services/runtime/process.py) as soon as what each depends on is ready, so the nine services start
together, then the demo shop (tools/demo_data.py). tools/supervisor.py runs them: a process that
exits, the broker included, is restarted with backoff (one line on the terminal says so); one that
keeps dying stops everything with a line saying which. Ctrl-C or SIGTERM stops everything, the
services first. Logs go to .run/<name>.log, never to the terminal.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.runtime.process import declared
from tools.healthcheck import grpc_serving, http_ok
from tools.processes import fail, port_is_free
from tools.supervisor import Child, GaveUp, Supervisor

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


def seed_registry(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "registry", "seed"], env=env, cwd=ROOT, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"seeding the registry failed: {result.stderr.strip()}")
    return "published schemas registered"


REGISTRY_PORT = int(os.environ.get("SCHEMA_REGISTRY_PORT", 8081))
STOREFRONT_PORT = int(os.environ.get("STOREFRONT_PORT", 9000))
BACKOFFICE_PORT = int(os.environ.get("BACKOFFICE_PORT", 9010))
PROCESSES: list[Process] = [
    Process("registry", [sys.executable, "-m", "registry", "serve"], REGISTRY_PORT,
            http_ok(f"http://127.0.0.1:{REGISTRY_PORT}/ready"),
            f"Schema Registry: curl localhost:{REGISTRY_PORT}/subjects", then=seed_registry,
            depends_on=("kafka",)),
    *(Process(name, [sys.executable, "-m", service.module], service.port, grpc_serving(service.port),
              f"gRPC, with reflection: grpcurl -plaintext 127.0.0.1:{service.port} list",
              # Kafka, not the registry: a service waits for the registry (and the seeded schemas) on
              # its own, NOT_SERVING meanwhile, so its start-up (mostly imports) overlaps the registry's.
              depends_on=("kafka", *service.depends_on))
      for name, service in declared().items()),
    # The storefront, once the services it shows are up (tools/demo_data.py draws its pictures for it).
    Process("storefront", [sys.executable, "-m", "sites.storefront"], STOREFRONT_PORT,
            http_ok(f"http://127.0.0.1:{STOREFRONT_PORT}/healthz"), f"the shop: http://localhost:{STOREFRONT_PORT}",
            depends_on=tuple(declared())),
    # The back-office, for staff: the demo admin's credentials are printed with the demo shop's.
    Process("backoffice", [sys.executable, "-m", "sites.backoffice"], BACKOFFICE_PORT,
            http_ok(f"http://127.0.0.1:{BACKOFFICE_PORT}/healthz"),
            f"the back-office: http://localhost:{BACKOFFICE_PORT} (sign in as the staff admin below)",
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


def kafka_answers(bootstrap: str) -> Callable[[], bool]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})

    def answers() -> bool:
        try:
            admin.list_topics(timeout=1)
        except Exception:
            return False
        return True

    return answers


def children(env: dict[str, str], kafka_port: int, controller_port: int,
             notes: dict[str, str]) -> list[Child]:
    """The platform as supervised children: Kafka, then the registry, then every service at once.
    `notes` collects what each one's first readiness step printed, for the table."""
    bootstrap = f"127.0.0.1:{kafka_port}"

    def step(name: str, then: Callable[[], str]) -> Callable[[], None]:
        def run() -> None:
            notes.setdefault(name, then())
        return run

    kafka = Child("kafka", [sys.executable, "-m", "tools.kafka", "run", "--run-dir", str(RUN_DIR / "kafka")],
                  env={**env, "KAFKA_PORT": str(kafka_port), "KAFKA_CONTROLLER_PORT": str(controller_port)},
                  ready=kafka_answers(bootstrap),
                  on_ready=step("kafka", lambda: f"{create_topics(bootstrap)} topics created from schemas/topics.yaml"),
                  grace=40)
    return [kafka, *(Child(process.name, process.argv, env=env, ready=process.ready, after=process.depends_on,
                           on_ready=None if process.then is None else step(
                               process.name, functools.partial(process.then, env)))
                     for process in PROCESSES)]


def main() -> int:
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    kafka_port = int(os.environ.get("KAFKA_PORT", 9092))
    controller_port = int(os.environ.get("KAFKA_CONTROLLER_PORT", 9093))
    for name, port in [("kafka", kafka_port), ("kafka controller", controller_port),
                       *((process.name, process.port) for process in PROCESSES)]:
        if not port_is_free(port):
            fail(f"up: port {port} for {name} is already in use; is the platform already up?")

    RUN_DIR.mkdir(exist_ok=True)
    started = time.monotonic()
    env = {**os.environ, "KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}", "PYTHONUNBUFFERED": "1",
           "SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{REGISTRY_PORT}"}
    notes: dict[str, str] = {}
    supervisor = Supervisor(children(env, kafka_port, controller_port, notes), log_dir=RUN_DIR, cwd=ROOT)
    outcome: list[BaseException] = []

    def supervise() -> None:
        try:
            supervisor.run(stopping)
        except GaveUp as exc:
            outcome.append(exc)
            stopping.set()

    supervising = threading.Thread(target=supervise, name="supervisor")
    supervising.start()
    while not supervisor.all_ready() and not stopping.wait(0.25):
        pass
    healthy_after = time.monotonic() - started
    if not stopping.is_set():
        rows = [("kafka", f"127.0.0.1:{kafka_port}", f"broker (logs {(RUN_DIR / 'kafka').relative_to(ROOT)})"),
                ("topics", "", notes.get("kafka", ""))]
        for process in PROCESSES:
            rows.append((process.name, f"127.0.0.1:{process.port}", process.shows))
            if process.name in notes:
                rows.append(("", "", notes[process.name]))
        try:
            rows += [("demo", "", line.strip()) for line in load_demo_data(env)]
        except RuntimeError as exc:
            print(f"up: {exc}", file=sys.stderr)
            stopping.set()
    if not stopping.is_set():
        width = max(len(name) for name, _, _ in rows)
        print(f"\nThe platform is up: every process healthy after {healthy_after:.1f}s, the demo shop loaded after "
              f"{time.monotonic() - started:.1f}s. Ctrl-C stops it; a process that exits is restarted.\n")
        for name, where, what in rows:
            print(f"  {name:<{width}}  {where:<22} {what}")
        print(flush=True)
    stopping.wait()
    print("stopping...", flush=True)
    supervising.join()
    if outcome:
        print(f"up: {outcome[0]}; stopped everything", file=sys.stderr)
        return 1
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
