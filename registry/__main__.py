"""`python -m registry serve | check | publish | seed`.

serve    run the Schema Registry (SCHEMA_REGISTRY_PORT, default 8081; KAFKA_BOOTSTRAP, default
         127.0.0.1:9092; SCHEMA_REGISTRY_TOPIC, default _schemas; SCHEMA_REGISTRY_HOST, default 127.0.0.1)
check    lint, breaking-change and registry compatibility checks of schemas/ (exit 0 ok, 1 failures, 2 errors)
publish  the same checks, then register what changed and record it in registry/published/
seed     fill the registry at SCHEMA_REGISTRY_URL with the published history (for `make up`)
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from tools.processes import fail


def _env_int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        fail(f"{name}={raw!r} is not valid (expected a number from {low} to {high})")
    return int(raw)


def serve() -> None:
    port = _env_int("SCHEMA_REGISTRY_PORT", 8081, 1, 65535)
    timeout_ms = _env_int("SCHEMA_REGISTRY_KAFKA_TIMEOUT_MS", 10_000, 100, 600_000)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    if not re.fullmatch(r"[\w.\-\[\]:]+:\d+(,[\w.\-\[\]:]+:\d+)*", bootstrap):
        fail(f"KAFKA_BOOTSTRAP={bootstrap!r} is not valid (expected host:port[,host:port...])")
    topic = os.environ.get("SCHEMA_REGISTRY_TOPIC", "_schemas")
    if not re.fullmatch(r"[\w.\-]{1,249}", topic):
        fail(f"SCHEMA_REGISTRY_TOPIC={topic!r} is not a valid Kafka topic name")
    host = os.environ.get("SCHEMA_REGISTRY_HOST", "127.0.0.1")

    import uvicorn

    from registry.app import create_app
    from registry.service import Registry

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(Registry(bootstrap, topic, timeout_ms))
    logging.getLogger("registry").info("listening on http://%s:%d (Kafka %s, topic %s)", host, port, bootstrap, topic)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m registry", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the Schema Registry")
    for name in ("check", "publish"):
        cmd = sub.add_parser(name, help=f"{name} the schemas of the working tree")
        cmd.add_argument("--root", type=Path, default=None, help="repository root (default: this checkout)")
    seed = sub.add_parser("seed", help="fill a running registry with the published history")
    seed.add_argument("--root", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve()
        return 0
    from registry import workflow

    return workflow.main(args.command, args.root)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
