"""Child processes that never outlive the process that started them, and port checks."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from services.runtime.config import fail

__all__ = ["fail", "free_port", "port_is_free", "spawn", "stop"]


def _dies_with_parent(args: Sequence[str]) -> list[str]:
    # Linux: the kernel sends SIGTERM to the child when its parent dies, even by kill -9, so a crashed
    # launcher or test run never leaves a broker or a service behind. util-linux's setpriv sets that
    # up and execs the command, so no Python code runs between fork and exec: that would be unsafe
    # in a parent with gRPC or librdkafka threads (they hold locks a forked child never gets back).
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *args] if setpriv else list(args)


def spawn(args: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a child with stdout and stderr appended to log_path, in a process group of its own
    (a terminal's Ctrl-C reaches the supervisor only, which stops children in order)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            _dies_with_parent(args), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, process_group=0,
        )


def stop(proc: subprocess.Popen[bytes], grace_seconds: float = 20.0) -> int:
    """SIGTERM, wait for the grace period, then SIGKILL the whole group. Returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything the child itself left in its group
    return proc.returncode


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind: a port whose old connections linger in TIME_WAIT is free to reuse.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
