"""Start a registry process and wait until it has replayed its topic: for `make up`, tests and CI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tools.processes import fail, spawn, stop

ROOT = Path(__file__).resolve().parent.parent


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60.0,
               log_path: Path | None = None) -> None:
    """Poll GET /ready until 200; exit with one line if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    where = f"; see {log_path}" if log_path else ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            fail(f"registry: the process exited with code {proc.returncode} during start-up{where}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    if proc is not None:
        stop(proc)
    fail(f"registry: not ready at {url} after {timeout:.0f}s{where}")


def start_registry(bootstrap: str, port: int, log_path: Path, topic: str = "_schemas", timeout: float = 60.0,
                   extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Run `python -m registry serve` on 127.0.0.1:port against the broker; returns once it is ready.
    Stop it with tools.processes.stop."""
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "SCHEMA_REGISTRY_PORT": str(port),
           "SCHEMA_REGISTRY_TOPIC": topic, **(extra_env or {})}
    proc = spawn([sys.executable, "-m", "registry", "serve"], log_path, env=env, cwd=ROOT)
    wait_ready(f"http://127.0.0.1:{port}", proc, timeout, log_path)
    return proc
