"""Fixtures shared by every suite: the real Kafka broker (and, later, the registry).

`make test` runs pytest under `python -m tools.testenv`, which starts one broker for all suites and
workers and exports KAFKA_BOOTSTRAP. A bare `pytest` run starts a broker of its own instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tools.kafka import KafkaBroker
from tools.processes import free_port


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP"):
        yield bootstrap
        return
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port(), free_port()) as broker:
        yield broker.bootstrap


@pytest.fixture
def unique_name() -> str:
    """A name no other test (or xdist worker) uses: for topics, groups and subjects."""
    return f"t{uuid.uuid4().hex[:12]}"
