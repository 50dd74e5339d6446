"""`buf breaking` against a snapshot of the schemas refuses breaking edits and accepts additions."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = str(Path(sys.executable).with_name("buf"))
MONEY = Path("schemas/shop/common/v1/money.proto")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the module plus an image of it as it is now (the 'last published' snapshot).
    The snapshot has one extra message that nothing references, so removing it still compiles."""
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    with open(tmp_path / MONEY, "a") as money:
        money.write("\n// Kept only by this test.\nmessage Voucher {\n  string code = 1;\n}\n")
    subprocess.run([BUF, "build", "-o", "before.json"], cwd=tmp_path, check=True)
    return tmp_path


def _breaking(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BUF, "breaking", "--against", "before.json"], cwd=repo,
                          capture_output=True, text=True)


def _edit(repo: Path, old: str, new: str) -> None:
    path = repo / MONEY
    text = path.read_text()
    assert re.search(old, text), f"{old!r} not in {MONEY}"
    path.write_text(re.sub(old, new, text))


@pytest.mark.parametrize(("old", "new", "expected"), [
    (r"int64 amount_minor = 1;", "string amount_minor = 1;", 'changed type from "int64" to "string"'),
    (r"string currency = 2;", "string currency = 3;", "deleted"),
    (r"  // ISO 4217 code, upper case \(\"EUR\"\).\n  string currency = 2;\n", "", 'field "2" with name "currency"'),
    (r"message Voucher \{\n  string code = 1;\n\}", "", 'Previously present message "Voucher" was deleted'),
], ids=["type-changed", "renumbered", "field-removed", "message-removed"])
def test_breaking_edit_is_refused(repo_copy: Path, old: str, new: str, expected: str) -> None:
    _edit(repo_copy, old, new)
    result = _breaking(repo_copy)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr


def test_added_field_is_accepted(repo_copy: Path) -> None:
    _edit(repo_copy, r"string currency = 2;", "string currency = 2;\n  // New.\n  string display = 3;")
    result = _breaking(repo_copy)
    assert result.returncode == 0, result.stdout + result.stderr
