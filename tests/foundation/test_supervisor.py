"""tools/supervisor.py with real processes: a broker, a registry and a service of their own on free
ports; a killed service and a killed broker are restarted, a child that keeps dying is given up on,
and stopping ends everything within a bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tools.healthcheck import grpc_serving, http_ok
from tools.processes import free_port
from tools.supervisor import Child, GaveUp, Supervisor
from tools.up import kafka_answers

ROOT = Path(__file__).resolve().parents[2]
STOPPED_WITHIN = 60  # seconds from the request to stop to every child gone (typically 5 to 10)


def wait_for(condition: object, what: str, within: float) -> float:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < within, f"no {what} after {within}s"
        time.sleep(0.2)
    return time.monotonic() - started


def java_of(run_dir: Path) -> int:
    out = subprocess.run(["ps", "-ewwo", "pid,args"], capture_output=True, text=True).stdout
    [pid] = [int(line.split()[0]) for line in out.splitlines() if "kafka.Kafka" in line and str(run_dir) in line]
    return pid


def test_a_killed_service_and_a_killed_broker_are_restarted_and_stopping_ends_all(tmp_path: Path) -> None:
    kafka_port, registry_port, service_port = free_port(), free_port(), free_port()
    bootstrap, registry_url = f"127.0.0.1:{kafka_port}", f"http://127.0.0.1:{registry_port}"
    env = {**{k: v for k, v in os.environ.items() if not k.endswith(("_PORT", "_ADDR"))},
           "KAFKA_BOOTSTRAP": bootstrap, "SCHEMA_REGISTRY_URL": registry_url, "PYTHONUNBUFFERED": "1"}
    seed = [sys.executable, "-m", "registry", "seed"]
    children = [
        Child("kafka", [sys.executable, "-m", "tools.kafka", "run", "--run-dir", str(tmp_path / "kafka")],
              env={**env, "KAFKA_PORT": str(kafka_port), "KAFKA_CONTROLLER_PORT": str(free_port())},
              ready=kafka_answers(bootstrap), grace=40),
        Child("registry", [sys.executable, "-m", "registry", "serve"], after=("kafka",),
              env={**env, "SCHEMA_REGISTRY_PORT": str(registry_port), "SCHEMA_REGISTRY_TOPIC": "_schemas"},
              ready=http_ok(f"{registry_url}/ready"),
              on_ready=lambda: subprocess.run(seed, env=env, cwd=ROOT, check=True, capture_output=True)),
        Child("profiling", [sys.executable, "-m", "services.profiling"], after=("kafka",),
              env={**env, "PROFILING_PORT": str(service_port)}, ready=grpc_serving(service_port)),
    ]
    lines: list[str] = []
    supervisor = Supervisor(children, log_dir=tmp_path, cwd=ROOT, say=lines.append)
    stopping = threading.Event()
    running = threading.Thread(target=supervisor.run, args=(stopping,))
    running.start()
    try:
        wait_for(supervisor.all_ready, "platform ready", within=180)
        service_pid = supervisor.pid("profiling")
        assert service_pid is not None
        os.kill(service_pid, signal.SIGKILL)
        wait_for(lambda: supervisor.pid("profiling") not in (None, service_pid) and supervisor.ready("profiling"),
                 "profiling restarted and SERVING", within=120)
        assert any(line.startswith("profiling exited with code -9 (killed); restarting it in 1 s")
                   for line in lines), lines

        launcher = supervisor.pid("kafka")
        os.kill(java_of(tmp_path / "kafka"), signal.SIGKILL)
        wait_for(lambda: supervisor.pid("kafka") not in (None, launcher) and supervisor.ready("kafka"),
                 "the broker restarted and answering", within=180)
        assert any(line.startswith("kafka exited with code 1") for line in lines), lines
        # The service waits the outage out and is SERVING again, without a restart of its own.
        wait_for(grpc_serving(service_port), "profiling SERVING after the broker's restart", within=120)
    finally:
        stopping.set()
        asked = time.monotonic()
        running.join()
        took = time.monotonic() - asked
    assert took < STOPPED_WITHIN, f"stopping took {took:.1f}s"
    assert all(supervisor.pid(name) is None for name in ("kafka", "registry", "profiling"))
    print(f"\nstopped everything in {took:.1f}s; lines: {lines}")


def test_a_child_that_keeps_dying_is_given_up_on_with_a_line_saying_so(tmp_path: Path) -> None:
    lines: list[str] = []
    crashing = Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    steady = Child("steady", [sys.executable, "-c", "import time; time.sleep(600)"])
    supervisor = Supervisor([steady, crashing], log_dir=tmp_path, say=lines.append)
    started = time.monotonic()
    with pytest.raises(GaveUp, match=r"crasher exited with code 3; it died 5 times within 120 s, giving up"):
        supervisor.run(threading.Event())
    # Backoffs of 1, 2, 4 and 8 s between the five deaths; stopping the steady child is quick.
    assert 15 <= time.monotonic() - started < 90
    deaths = [line for line in lines if line.startswith("crasher exited")]  # "is back" lines too, if seen up
    assert deaths == [f"crasher exited with code 3; restarting it in {s} s (see {tmp_path}/crasher.log)"
                      for s in (1, 2, 4, 8)]
    assert supervisor.pid("steady") is None
