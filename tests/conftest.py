"""Fixtures shared by every suite: the real Kafka broker and the Schema Registry.

`make test` runs pytest under `python -m tools.testenv`, which starts one broker for all suites and
workers and exports KAFKA_BOOTSTRAP. A bare `pytest` run starts a broker of its own instead. The
registry is reused when SCHEMA_REGISTRY_URL is set too; else each session (each xdist worker)
starts one on a topic of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tools.kafka import KafkaBroker
from tools.platform import Platform
from tools.processes import free_port, stop


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP"):
        yield bootstrap
        return
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port(), free_port()) as broker:
        yield broker.bootstrap


@pytest.fixture(scope="session")
def schema_registry_url(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if (url := os.environ.get("SCHEMA_REGISTRY_URL")) and os.environ.get("KAFKA_BOOTSTRAP"):
        yield url
        return
    from registry.launcher import start_registry

    port = free_port()
    log_path = tmp_path_factory.mktemp("registry") / "registry.log"
    proc = start_registry(kafka_bootstrap, port, log_path, topic=f"_schemas.test.{uuid.uuid4().hex[:12]}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture
def unique_name() -> str:
    """A name no other test (or xdist worker) uses: for topics, groups and subjects."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def platform(tmp_path: Path, kafka_bootstrap: str, schema_registry_url: str,
                   unique_name: str) -> AsyncIterator[Platform]:
    """Real service processes in a namespace of this test's own (see tools/platform.py)."""
    running = Platform(tmp_path, kafka_bootstrap, schema_registry_url, unique_name)
    try:
        yield running
    finally:
        await running.close()
