"""Start child processes in dependency order, keep them running, stop them all on request.

    children = [Child("kafka", [...], ready=kafka_answers), Child("registry", [...], ready=..., after=("kafka",)),
                *(Child(name, [...], ready=grpc_serving(port), after=("registry",)) for name, port in ...)]
    supervisor = Supervisor(children, log_dir=Path(".run"))
    supervisor.run(stopping)            # returns when `stopping` is set, or when a child keeps dying

A child starts as soon as every child it comes `after` is ready, so independent children start in
parallel. A child that exits is started again after a backoff (1 s, doubling to 30 s; back to 1 s
once it has stayed up for a minute), with one line saying so; one that dies MAX_DEATHS times within
DEATH_WINDOW seconds is given up on, and everything is stopped with a line saying which and why. A
child that is not ready within its `ready_within` counts as a death: it is stopped and restarted.
Stopping goes the other way round: those nothing depends on first, each layer in parallel.

Why our own loop and not supervisord or circus: both run as daemons driven by config files and a
control socket, and neither starts a process only once another is *ready* (healthy, not merely
running), which is what lets nine services start together once Kafka and the registry answer;
circus also pulls in ZeroMQ. What we need (readiness, dependencies, restart with backoff, give up,
stop in order) is this module; the per-process declarations of issue 13 feed it `Child`ren.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tools.processes import spawn, stop

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds before a restart, doubling
STABLE_AFTER = 60.0  # seconds up after which a child's backoff starts again from BACKOFF_FIRST
MAX_DEATHS, DEATH_WINDOW = 5, 120.0  # this many deaths within the window: the supervisor gives up
TICK = 0.25  # seconds between looks at the children

# What a service's exit code means (services/runtime/watchdog.py), for the restart line.
EXIT_MEANINGS = {70: "fenced or a fatal Kafka error", 75: "a Kafka call hung", -9: "killed", -15: "terminated"}


def always_ready() -> bool:
    return True


@dataclass(frozen=True)
class Child:
    """One process to supervise: how to start it, when it is ready, which children it needs ready first.
    `on_ready` runs (in the supervisor's thread) each time the child becomes ready, e.g. creating
    topics once Kafka answers; it must be idempotent. An exception from it is reported and the
    child counts as not started."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    ready: Callable[[], bool] = always_ready
    after: tuple[str, ...] = ()
    ready_within: float = 120.0
    grace: float = 20.0  # seconds between SIGTERM and SIGKILL when stopping it
    on_ready: Callable[[], object] | None = None


class GaveUp(Exception):
    """A child kept dying."""


@dataclass
class _State:
    child: Child
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready: bool = False
    checking: bool = False  # a readiness check is running in the pool
    restart_at: float = 0.0  # when a dead child may be started again
    backoff: float = BACKOFF_FIRST
    deaths: list[float] = field(default_factory=list)
    starts: int = 0


class Supervisor:
    def __init__(self, children: Sequence[Child], log_dir: Path, cwd: Path | None = None,
                 say: Callable[[str], None] = lambda line: print(f"up: {line}", file=sys.stderr, flush=True)) -> None:
        names = [child.name for child in children]
        for child in children:
            unknown = set(child.after) - set(names)
            if unknown:
                raise ValueError(f"{child.name} comes after {', '.join(sorted(unknown))}, which is not a child")
        self.log_dir, self.cwd, self.say = log_dir, cwd, say
        self.states = {child.name: _State(child) for child in children}
        self._pool = ThreadPoolExecutor(max_workers=max(4, len(children)), thread_name_prefix="readiness")
        self._lock = threading.Lock()

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def all_ready(self) -> bool:
        return all(state.ready for state in self.states.values())

    def ready(self, name: str) -> bool:
        return self.states[name].ready

    def pid(self, name: str) -> int | None:
        process = self.states[name].process
        return None if process is None or process.poll() is not None else process.pid

    # --- the loop ----------------------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        """Supervise until `stopping` is set (then stop every child and return), or raise GaveUp after
        stopping every child, when one keeps dying."""
        try:
            while not stopping.is_set():
                self.tick()
                stopping.wait(TICK)
        finally:
            self.stop_all()

    def tick(self) -> None:
        now = time.monotonic()
        for state in self.states.values():
            child, process = state.child, state.process
            if process is not None and process.poll() is not None:
                self._died(state, f"exited with code {process.returncode}{self._meaning(process.returncode)}", now)
            elif process is not None and not state.ready and now - state.started_at > child.ready_within:
                stop(process, child.grace)
                self._died(state, f"was not ready after {child.ready_within:.0f} s", now)
            elif process is None and now >= state.restart_at and all(self.states[d].ready for d in child.after):
                self._start(state, now)
            elif process is not None and not state.ready and not state.checking:
                state.checking = True
                self._pool.submit(self._check, state, process)
            elif state.ready and now - state.started_at > STABLE_AFTER:
                state.backoff = BACKOFF_FIRST

    @staticmethod
    def _meaning(code: int | None) -> str:
        return f" ({EXIT_MEANINGS[code]})" if code in EXIT_MEANINGS else ""

    def _start(self, state: _State, now: float) -> None:
        child = state.child
        state.process = spawn(child.argv, self.log_path(child.name), env=dict(child.env) if child.env else None,
                              cwd=self.cwd)
        state.started_at, state.ready = now, False
        state.starts += 1

    def _check(self, state: _State, process: subprocess.Popen[bytes]) -> None:
        try:
            if state.process is process and process.poll() is None and state.child.ready():
                if state.child.on_ready is not None:
                    state.child.on_ready()
                with self._lock:
                    if state.process is process:
                        state.ready = True
                        if state.starts > 1:
                            self.say(f"{state.child.name} is back (ready {time.monotonic() - state.started_at:.1f} s "
                                     f"after its restart)")
        except Exception as exc:  # a failing readiness step: reported; the check is tried again
            self.say(f"{state.child.name}: {exc}")
        finally:
            state.checking = False

    def _died(self, state: _State, how: str, now: float) -> None:
        child = state.child
        with self._lock:
            state.process, state.ready = None, False
        state.deaths = [t for t in state.deaths if now - t < DEATH_WINDOW] + [now]
        if len(state.deaths) >= MAX_DEATHS:
            raise GaveUp(f"{child.name} {how}; it died {len(state.deaths)} times within {DEATH_WINDOW:.0f} s, "
                         f"giving up (see {self.log_path(child.name)})")
        self.say(f"{child.name} {how}; restarting it in {state.backoff:.0f} s (see {self.log_path(child.name)})")
        state.restart_at = now + state.backoff
        state.backoff = min(state.backoff * 2, BACKOFF_MAX)

    # --- stopping ----------------------------------------------------------------------------------

    def layers(self) -> list[list[str]]:
        """The children in start order, grouped: each layer needs only the layers before it."""
        placed: dict[str, int] = {}

        def depth(name: str) -> int:
            if name not in placed:
                placed[name] = 1 + max((depth(d) for d in self.states[name].child.after), default=-1)
            return placed[name]

        layers: list[list[str]] = [[] for _ in range(1 + max(map(depth, self.states), default=-1))]
        for name in self.states:
            layers[placed[name]].append(name)
        return layers

    def stop_all(self) -> None:
        """SIGTERM each layer in parallel, last layer first, SIGKILL what outlives its grace period."""
        for layer in reversed(self.layers()):
            running = [(self.states[name].child, self.states[name].process) for name in layer]
            with ThreadPoolExecutor(max_workers=max(1, len(running))) as pool:
                for child, process in running:
                    if process is not None:
                        pool.submit(stop, process, child.grace)
            for name in layer:
                self.states[name].process, self.states[name].ready = None, False
        self._pool.shutdown(wait=False, cancel_futures=True)
