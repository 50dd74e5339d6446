"""`python -m tools.kafka fetch` downloads the jars; `python -m tools.kafka run` runs a broker until
SIGTERM or Ctrl-C, then stops it cleanly. Ports come from KAFKA_PORT and KAFKA_CONTROLLER_PORT."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path

from tools.kafka.launcher import KafkaBroker, cache_dir, fetch_jars
from tools.processes import fail


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        fail(f"{name}={raw!r} is not a valid TCP port (expected a number from 1 to 65535)")
    return int(raw)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.kafka")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the broker jars into the cache")
    run = sub.add_parser("run", help="run a single-node broker in the foreground")
    run.add_argument("--run-dir", type=Path, default=Path(".run/kafka"))
    args = parser.parse_args()

    if args.command == "fetch":
        started = time.monotonic()
        libs = fetch_jars(quiet=False)
        size = sum(f.stat().st_size for f in cache_dir().rglob("*") if f.is_file())
        print(f"kafka jars in {libs} ({time.monotonic() - started:.1f}s; cache {size / 2**20:.0f} MiB)")
        return

    broker = KafkaBroker(args.run_dir.resolve(), _port_from_env("KAFKA_PORT", 9092),
                         _port_from_env("KAFKA_CONTROLLER_PORT", 9093))
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    started = time.monotonic()
    broker.start()
    print(f"kafka ready on {broker.bootstrap} in {time.monotonic() - started:.1f}s (logs: {broker.log_file})",
          flush=True)
    while not stopping.wait(1.0):
        if broker.process is not None and broker.process.poll() is not None:
            fail(f"kafka: the broker exited unexpectedly with code {broker.process.returncode}; "
                 f"see {broker.log_file}", code=1)
    broker.stop()
    print("kafka stopped", flush=True)


if __name__ == "__main__":
    main()
