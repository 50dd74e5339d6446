"""Run a command with the shared test infrastructure up: `python -m tools.testenv -- pytest ...`.

Starts one Kafka broker on free ports (unless KAFKA_BOOTSTRAP is already set) and one Schema
Registry on it, filled with the published schema history (unless SCHEMA_REGISTRY_URL is set), exports
their addresses to the command, and stops everything afterwards, so every test suite (and every
pytest-xdist worker) shares one broker and one registry. Exits with the command's exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from registry.launcher import start_registry
from tools.kafka import KafkaBroker
from tools.processes import free_port, stop


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m tools.testenv -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    with ExitStack() as stack:
        run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shop-test-")))
        if "KAFKA_BOOTSTRAP" not in env:
            broker = stack.enter_context(KafkaBroker(run_dir / "kafka", free_port(), free_port()))
            env["KAFKA_BOOTSTRAP"] = broker.bootstrap
            print(f"testenv: kafka on {broker.bootstrap}", flush=True)
        if "SCHEMA_REGISTRY_URL" not in env:
            port = free_port()
            registry = start_registry(env["KAFKA_BOOTSTRAP"], port, run_dir / "registry.log")
            stack.callback(stop, registry)
            env["SCHEMA_REGISTRY_URL"] = f"http://127.0.0.1:{port}"
            subprocess.run([sys.executable, "-m", "registry", "seed"], env=env, check=True, stdout=subprocess.DEVNULL)
            print(f"testenv: schema registry on {env['SCHEMA_REGISTRY_URL']}, seeded", flush=True)
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
