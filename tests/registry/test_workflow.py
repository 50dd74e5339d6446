"""The publishing workflow (`python -m registry check|publish`), run as a real process on a copy of
the repository's schemas, with an ephemeral registry on the real broker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path("schemas/ordering/v1/events.proto")


def run(command: str, root: Path, kafka_bootstrap: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SCHEMA_REGISTRY_URL"}
    return subprocess.run([sys.executable, "-m", "registry", command, "--root", str(root)], cwd=ROOT,
                          env={**environ, "KAFKA_BOOTSTRAP": kafka_bootstrap, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Path:
    """A copy of the schemas with everything published once (a history of its own, not the repo's)."""
    root = tmp_path_factory.mktemp("published")
    shutil.copytree(ROOT / "schemas", root / "schemas")
    shutil.copy(ROOT / "buf.yaml", root)
    result = run("publish", root, kafka_bootstrap)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture
def tree(published: Path, tmp_path: Path) -> Path:
    shutil.copytree(published, tmp_path / "repo")
    return tmp_path / "repo"


def edit(root: Path, old: str, new: str, path: Path = EVENTS) -> None:
    text = (root / path).read_text()
    assert old in text
    (root / path).write_text(text.replace(old, new, 1))


def test_publish_records_every_event_subject_and_check_passes(published: Path, tree: Path,
                                                              kafka_bootstrap: str) -> None:
    index = [json.loads(line) for line in (published / "registry/published/index.jsonl").read_text().splitlines()]
    subjects = {e["subject"] for e in index}
    assert {"ordering.orders.v1-value", "shop/common/v1/money.proto"} <= subjects
    assert (published / "registry/published/image.json").exists()
    result = run("check", tree, kafka_bootstrap)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ordering.orders.v1-value" in result.stdout and "unchanged" in result.stdout


def test_an_incompatible_edit_fails_naming_subject_message_field_and_rule(tree: Path, kafka_bootstrap: str) -> None:
    edit(tree, "string order_number = 2;", "int64 order_number = 2;")
    result = run("check", tree, kafka_bootstrap)
    assert result.returncode == 1, result.stdout + result.stderr
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ordering.orders.v1-value")]
    assert any("FIELD_SCALAR_KIND_CHANGED" in f and "ordering.v1.OrderCreated.order_number" in f
               for f in failures), result.stdout
    assert "FAIL buf breaking" in result.stdout


def test_publish_refuses_an_incompatible_edit_and_records_nothing(tree: Path, kafka_bootstrap: str) -> None:
    before = (tree / "registry/published/index.jsonl").read_text()
    edit(tree, "string order_number = 2;", "int64 order_number = 2;")
    result = run("publish", tree, kafka_bootstrap)
    assert result.returncode == 1
    assert (tree / "registry/published/index.jsonl").read_text() == before


def test_a_compatible_edit_passes_and_publishes_a_new_version(tree: Path, kafka_bootstrap: str) -> None:
    edit(tree, "string order_number = 2;", "string order_number = 2;\n  string coupon_code = 99;")
    checked = run("check", tree, kafka_bootstrap)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "compatible, new version" in checked.stdout
    published = run("publish", tree, kafka_bootstrap)
    assert published.returncode == 0, published.stdout + published.stderr
    last = json.loads((tree / "registry/published/index.jsonl").read_text().splitlines()[-1])
    assert (last["subject"], last["version"]) == ("ordering.orders.v1-value", 2)
    assert "coupon_code" in (tree / "registry/published/subjects/ordering.orders.v1-value/2.proto").read_text()
    again = run("check", tree, kafka_bootstrap)
    assert again.returncode == 0 and "published history: ok" in again.stdout


def test_the_history_is_append_only(tree: Path, kafka_bootstrap: str) -> None:
    history = tree / "registry/published"
    money = history / "subjects" / "shop%2Fcommon%2Fv1%2Fmoney.proto" / "1.proto"
    money.write_text(money.read_text().replace("int64 amount_minor", "int32 amount_minor"))
    edited = run("check", tree, kafka_bootstrap)
    assert edited.returncode == 1 and "shop/common/v1/money.proto v1 was edited" in edited.stdout

    shutil.copytree(tree, tree.parent / "second")
    second = tree.parent / "second"
    index = second / "registry/published/index.jsonl"
    lines = index.read_text().splitlines()
    index.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # a published version removed
    removed = run("check", second, kafka_bootstrap)
    assert removed.returncode == 1 and "does not follow line" in removed.stdout


def test_an_unreachable_registry_is_exit_code_2(tree: Path, kafka_bootstrap: str) -> None:
    result = run("check", tree, kafka_bootstrap, SCHEMA_REGISTRY_URL="http://127.0.0.1:9")
    assert result.returncode == 2 and "cannot reach the registry" in result.stderr
