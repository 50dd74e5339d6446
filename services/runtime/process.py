"""One declaration per process of the platform, found by whoever needs the list of them.

Each service declares itself once, in `services/<name>/bootstrap.py`:

    PROCESS = ServiceProcess("carting", port=9004, wire=wire, settings=CartingSettings,
                             calls={"cataloging": CatalogServiceStub, "stocking": StockServiceStub})

and its entry point (`services/<name>/__main__.py`) is `serve(PROCESS)`. The launcher (`make up`), the test
harness (tools/platform.py), the contract tooling (what calls what) and each service's settings (the default
address of every callee) read `declared()`, so a new process is its folder, its declaration, its schemas and
its tests: no list elsewhere to edit. The two web sites declare themselves the same way in `sites/<name>/`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.runtime.config import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
# Where processes live: a folder of one of these with a bootstrap.py is a process of the platform.
PROCESS_FOLDERS = ("services", "sites")

ReadinessCheck = Callable[[], Awaitable[bool]]
AddServicer = Callable[[Any, Any], None]  # the generated add_XServicer_to_server
StubFactory = Callable[[Any], Any]  # the generated XStub class, given a channel


@dataclass
class Wired:
    """What a service's `wire()` returns: its servicer and the generated function that adds it to a server, the
    parts a test looks into (stores, views, settings), and readiness checks beyond the bus's own."""

    servicer: Any
    add_to_server: AddServicer
    parts: dict[str, Any] = field(default_factory=dict)
    readiness: list[ReadinessCheck] = field(default_factory=list)

    @property
    def servicers(self) -> list[tuple[AddServicer, object]]:
        return [(self.add_to_server, self.servicer)]


@dataclass(frozen=True)
class ServiceProcess:
    """A gRPC service: its name and default port, the settings class it reads, the services it calls (name ->
    stub class) and `wire(bus, callees, settings) -> Wired`, which builds its stores, handlers and servicers."""

    name: str
    port: int
    wire: Callable[[Any, Mapping[str, Any], Any], Wired]
    settings: type[ServiceSettings] = ServiceSettings
    calls: Mapping[str, StubFactory] = field(default_factory=dict)
    health: str = "grpc"  # how the launcher and probes ask whether it is ready

    @property
    def module(self) -> str:
        """What `python -m` runs."""
        return f"services.{self.name}"

    @property
    def depends_on(self) -> Sequence[str]:
        """Processes that must be ready before this one can be: a service needs Kafka and the registry only
        (its callees are reached lazily, through a circuit breaker), so all nine start together."""
        return ()


Process = ServiceProcess  # the sites add theirs


@functools.cache
def declared() -> dict[str, Process]:
    """Every process of the platform, by name, in name order."""
    names = sorted({path.parent.name for folder in PROCESS_FOLDERS for path in (ROOT / folder).glob("*/bootstrap.py")})
    return {name: process for name in names if (process := declaration(name))}


@functools.cache
def declaration(name: str) -> Process | None:
    """The declaration of one process, None if there is none; imports that process's code only (a service
    asks for its callees' ports at start-up, and need not load the whole platform to know them)."""
    for folder in PROCESS_FOLDERS:
        if (ROOT / folder / name / "bootstrap.py").exists():
            process: Process = importlib.import_module(f"{folder}.{name}.bootstrap").PROCESS
            if process.name != name:
                raise ValueError(f"{folder}/{name}/bootstrap.py declares {process.name!r}, not {name!r}")
            return process
    return None


def default_port(name: str) -> int | None:
    """The port a declared process listens on unless its `<NAME>_PORT` says otherwise; None if not declared."""
    process = declaration(name)
    return process.port if process else None
