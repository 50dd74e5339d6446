"""A broker and a registry of a test's own, for tests (and bench/recovery_bench.py) that kill them.

The suite's shared broker and registry (tools/testenv.py) serve every suite at once: a test that kills
or restarts one of them must have its own. `OwnInfra` starts a KafkaBroker on free ports and a
registry on it, seeded with the published schemas, and restarts either with the same data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from registry.launcher import start_registry
from tools.kafka import KafkaBroker
from tools.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[2]


class OwnInfra:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.broker = KafkaBroker(run_dir / "kafka", free_port(), free_port())
        self.registry_port = free_port()
        self.registry: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry_port}"

    def start(self) -> OwnInfra:
        self.broker.start()
        self.start_registry()
        subprocess.run([sys.executable, "-m", "registry", "seed"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "SCHEMA_REGISTRY_URL": self.registry_url})
        return self

    def start_registry(self) -> None:
        self.registry = start_registry(self.bootstrap, self.registry_port, self.run_dir / "registry.log")

    def kill_registry(self) -> None:
        assert self.registry is not None
        self.registry.send_signal(signal.SIGKILL)
        self.registry.wait()
        self.registry = None

    def kill_broker(self) -> None:
        """kill -9 the broker's JVM: no clean shutdown, the data directory as a crash leaves it."""
        assert self.broker.process is not None
        self.broker.process.send_signal(signal.SIGKILL)
        self.broker.process.wait()

    def restart_broker(self) -> float:
        """Start the broker again on the same ports and data; returns when a client can create a topic
        (time.monotonic() of that moment)."""
        self.broker = KafkaBroker(self.broker.run_dir, self.broker.port, self.broker.controller_port)
        self.broker.start(timeout=180)
        return time.monotonic()

    def stop(self) -> None:
        if self.registry is not None:
            stop(self.registry)
        self.broker.stop()
