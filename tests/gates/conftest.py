from __future__ import annotations

from pathlib import Path

import pytest

from tests.gates.repo import Repo


@pytest.fixture
def repo(tmp_path: Path, kafka_bootstrap: str) -> Repo:
    return Repo(tmp_path, kafka_bootstrap)
