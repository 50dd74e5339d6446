"""A copy of the repository, for tests that make a change and run the merge gate on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.gates import STAGES

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GIT_USER = ["-c", "user.name=gate test", "-c", "user.email=gate@test.invalid"]


class Repo:
    """A copy of the repository's files (`git ls-files`, as they are in the working tree), committed as the
    first commit of branch `main` of a git repository of its own: the gate compares the published history
    with what main's commits published."""

    def __init__(self, root: Path, kafka_bootstrap: str) -> None:
        self.root = root
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        for name in filter(None, names.decode().split("\0")):
            if (ROOT / name).is_file():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, root / name)
        (root / ".venv").symlink_to(ROOT / ".venv")
        # The copy's own code and generated code; registries of the stages' own (nothing shared is written).
        self.env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'gen'}", "KAFKA_BOOTSTRAP": kafka_bootstrap}
        self.env.pop("SCHEMA_REGISTRY_URL", None)
        self.generated = False
        self.git("init", "-q", "-b", "main")
        self.commit("the repository as it is")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *GIT_USER, *args], cwd=self.root, capture_output=True, text=True,
                              check=True).stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def write(self, path: str, text: str) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_text(text)
        self.generated = False

    def edit(self, path: str, old: str, new: str, count: int = 1) -> None:
        """Replace `old`, which must be in `path` exactly `count` times."""
        text = self.read(path)
        assert text.count(old) == count, f"{old!r} is not in {path} exactly {count} time(s)"
        self.write(path, text.replace(old, new))

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "python"), *args)

    def gen(self) -> None:
        if not self.generated:
            self.python("-m", "tools.gen").check_returncode()
            self.generated = True

    def stage(self, number: int, *extra: str) -> subprocess.CompletedProcess[str]:
        """One stage of the gate alone (after `make gen`, as `gates` needs it)."""
        self.gen()
        command = [part.replace("{python}", str(BIN / "python")).replace("{buf}", str(BIN / "buf"))
                   for part in STAGES[number - 1].command]
        return self.run(*command, *extra)

    def gates(self) -> subprocess.CompletedProcess[str]:
        """The whole gate, as CI runs it."""
        self.generated = True  # `make gates` generates first
        return self.run("make", "-s", "-o", ".venv/.setup-done", "gates")

    def write_contracts(self) -> None:
        """What `make contracts` writes, after a consumer changed its expectations."""
        self.gen()
        self.python("-m", "tools.contracts", "write").check_returncode()


def refused(result: subprocess.CompletedProcess[str], *named: str) -> None:
    assert result.returncode != 0, result.stdout
    for words in named:
        assert words in result.stdout, f"{words!r} not in:\n{result.stdout}"


def accepted(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout
