"""The Kafka launcher: clean stop with no Java left behind; a used port fails with one clear line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tools.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def _java_processes_using(run_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-ewwo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "kafka.Kafka" in line and str(run_dir) in line]


def _start(run_dir: Path, port: int, controller_port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(controller_port)}
    return subprocess.Popen([sys.executable, "-m", "tools.kafka", "run", "--run-dir", str(run_dir)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_stop_leaves_no_java_process_and_a_used_port_fails_clearly(tmp_path: Path) -> None:
    port, controller_port = free_port(), free_port()
    first = _start(tmp_path / "first", port, controller_port)
    try:
        assert first.stdout is not None
        ready_line = first.stdout.readline()
        assert "kafka ready on" in ready_line, first.stderr.read() if first.stderr else ready_line
        assert _java_processes_using(tmp_path / "first")

        second = _start(tmp_path / "second", port, free_port())
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert err.strip().count("\n") == 0, f"expected one line, got: {err!r}"
        assert f"port {port}" in err and "already in use" in err
        assert "Traceback" not in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert first.returncode == 0
    deadline = time.monotonic() + 10
    while _java_processes_using(tmp_path / "first") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _java_processes_using(tmp_path / "first") == []
