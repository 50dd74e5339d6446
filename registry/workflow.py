"""The schema publishing workflow that teams run by hand and CI runs on every change.

check:   1. buf lint  2. buf breaking against the last published image  3. the published history is
         intact, and starts with every version main published (main_problems: git history)  4. every
         event subject (and each import it references) is asked of a registry — SCHEMA_REGISTRY_URL, or
         an ephemeral one started on Kafka (KAFKA_BOOTSTRAP) and filled from the history — whether the
         working tree's schema is compatible under its level.
publish: the same, then registers references first, then subjects, appends what it registered to
         registry/published/ and refreshes the image.
Exit 0 when everything passes, 1 when something is incompatible or broken, 2 for usage or
connection errors.

The history (registry/published/) is the registry of record: index.jsonl has one line per
published version (subject, version, id, references, the schema file's sha256 and the previous
line's sha256, so an edited line breaks the chain); subjects/<subject>/<version>.proto holds each
schema's canonical text. image.json is `buf build` of the schemas last published.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from google.protobuf import descriptor_pb2, json_format

from registry import proto
from registry.launcher import ROOT, start_registry
from services.runtime import topic_map

JSON = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


class UsageError(Exception):
    """Exit 2: the workflow could not run (no registry, no Kafka, no buf, bad history layout)."""


@dataclass
class Entry:
    """One published version, as recorded in index.jsonl (schema text lives in its own file)."""

    subject: str
    version: int
    id: int
    references: list[dict[str, Any]]
    sha256: str
    prev: str
    schema: str = field(default="", compare=False)

    def line(self) -> str:
        return json.dumps({"subject": self.subject, "version": self.version, "id": self.id,
                           "references": self.references, "sha256": self.sha256, "prev": self.prev},
                          sort_keys=True, separators=(",", ":"))


class History:
    def __init__(self, root: Path) -> None:
        self.dir = root / "registry" / "published"
        self.index = self.dir / "index.jsonl"
        self.image = self.dir / "image.json"

    def schema_file(self, subject: str, version: int) -> Path:
        return self.dir / "subjects" / quote(subject, safe="") / f"{version}.proto"

    def load(self) -> tuple[list[Entry], list[str]]:
        """The entries, and every way in which the record is not intact."""
        problems: list[str] = []
        entries: list[Entry] = []
        lines = self.index.read_text().splitlines() if self.index.exists() else []
        prev = ""
        for n, line in enumerate(lines, 1):
            try:
                raw = json.loads(line)
                entry = Entry(raw["subject"], raw["version"], raw["id"], raw["references"], raw["sha256"], raw["prev"])
            except (ValueError, KeyError, TypeError):
                problems.append(f"history: line {n} of {self.index.name} is not a valid entry")
                continue
            if entry.prev != prev:
                problems.append(f"history: line {n} ({entry.subject} v{entry.version}) does not follow line {n - 1}: "
                                "a published entry was edited, removed or reordered")
            prev = hashlib.sha256(line.encode()).hexdigest()
            path = self.schema_file(entry.subject, entry.version)
            if not path.exists():
                problems.append(f"history: {entry.subject} v{entry.version} was deleted ({path} is missing)")
            else:
                entry.schema = path.read_text()
                if hashlib.sha256(entry.schema.encode()).hexdigest() != entry.sha256:
                    problems.append(f"history: {entry.subject} v{entry.version} was edited ({path})")
            expected = 1 + max((e.version for e in entries if e.subject == entry.subject), default=0)
            if entry.version != expected:
                problems.append(f"history: {entry.subject} v{entry.version} should be v{expected}")
            entries.append(entry)
        return entries, problems

    def append(self, entries: list[Entry], published: list[tuple[str, int, int, list[dict[str, Any]], str]]) -> None:
        prev = hashlib.sha256(entries[-1].line().encode()).hexdigest() if entries else ""
        self.dir.mkdir(parents=True, exist_ok=True)
        with self.index.open("a") as index:
            for subject, version, schema_id, refs, schema in published:
                path = self.schema_file(subject, version)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(schema)
                entry = Entry(subject, version, schema_id, refs, hashlib.sha256(schema.encode()).hexdigest(), prev)
                index.write(entry.line() + "\n")
                prev = hashlib.sha256(entry.line().encode()).hexdigest()


# --- the schemas of the working tree -------------------------------------------------------------

@dataclass
class Plan:
    """What to ask the registry, in order: (subject, file) with references before their users."""

    items: list[tuple[str, str]]
    files: dict[str, descriptor_pb2.FileDescriptorProto]


def event_files(root: Path, files: dict[str, descriptor_pb2.FileDescriptorProto]) -> dict[str, str]:
    """Event subject ("<topic>-value", Confluent's topic naming) -> the file defining its envelope."""
    topics = topic_map.read(root / "schemas" / "topics.yaml")
    where = {f"{fdp.package}.{m.name}": name for name, fdp in files.items() for m in fdp.message_type}
    found = {}
    for topic in topics.values():
        if topic.envelope not in where:
            raise UsageError(f"topics.yaml: envelope {topic.envelope} of {topic.name} is not defined in schemas/")
        found[topic.subject] = where[topic.envelope]
    return found


def plan(root: Path, files: dict[str, descriptor_pb2.FileDescriptorProto]) -> Plan:
    events = event_files(root, files)
    refs: list[str] = []

    def visit(name: str) -> None:
        for dep in files[name].dependency:
            if not proto.is_builtin(dep) and dep not in refs:
                visit(dep)
                refs.append(dep)

    for name in events.values():
        visit(name)
    return Plan([(r, r) for r in refs] + list(events.items()), files)


def buf(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("buf", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        raise UsageError("buf is not installed (it comes with the project's venv: uv sync)")
    return subprocess.run([exe, *args], cwd=root, capture_output=True, text=True)


def build_image(root: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return buf(root, "build", "--exclude-source-info", "-o", str(out))


def load_image(path: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    fds = descriptor_pb2.FileDescriptorSet()
    if path.suffix == ".json":
        json_format.Parse(path.read_text(), fds, ignore_unknown_fields=True)
    else:
        fds.ParseFromString(path.read_bytes())
    return {f.name: f for f in fds.file}


# --- talking to a registry -------------------------------------------------------------------------

class Client:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[int, Any]:
        try:
            r = self.http.request(method, path, json=body, params=params or None, headers=JSON)
        except httpx.HTTPError as exc:
            raise UsageError(f"cannot reach the registry at {self.url}: {exc}") from exc
        if r.status_code >= 500:
            raise UsageError(f"the registry at {self.url} failed: {r.status_code} {r.text}")
        return r.status_code, r.json() if r.content else None


def subject_path(subject: str) -> str:
    return quote(subject, safe="")


def missing(client: Client, entries: list[Entry]) -> list[Entry]:
    """The published versions the registry lacks; raises if it holds one under another id."""
    lacking = []
    for e in entries:
        status, found = client.call("GET", f"/subjects/{subject_path(e.subject)}/versions/{e.version}", deleted="true")
        if status == 200 and found["id"] != e.id:
            raise UsageError(f"the registry at {client.url} has {e.subject} v{e.version} as id {found['id']}, "
                             f"the published history says id {e.id}")
        if status != 200:
            lacking.append(e)
    return lacking


def seed(client: Client, entries: list[Entry]) -> int:
    """Make the registry hold every published version with its published id; returns how many it imported."""
    lacking = missing(client, entries)
    if not lacking:
        return 0
    _, mode = client.call("GET", "/mode")
    client.call("PUT", "/mode", {"mode": "IMPORT"}, force="true")
    try:
        for e in lacking:
            status, answer = client.call("POST", f"/subjects/{subject_path(e.subject)}/versions", {
                "schemaType": "PROTOBUF", "schema": e.schema, "references": e.references,
                "id": e.id, "version": e.version})
            if status != 200:
                raise UsageError(f"cannot import {e.subject} v{e.version} (id {e.id}): {answer.get('message')}")
    finally:
        client.call("PUT", "/mode", {"mode": mode["mode"]})
    return len(lacking)


@contextlib.contextmanager
def ephemeral_registry(entries: list[Entry]) -> Iterator[Client]:
    """A registry on the real broker, on a topic of its own, filled from the history; removed after.
    The broker is KAFKA_BOOTSTRAP's, or, when that is unset, one started here for the check alone."""
    from confluent_kafka.admin import AdminClient

    from tools.kafka import KafkaBroker
    from tools.processes import free_port, stop

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="registry-check-")))
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
        if bootstrap is None:
            bootstrap = stack.enter_context(KafkaBroker(tmp / "kafka", free_port(), free_port())).bootstrap
        admin = AdminClient({"bootstrap.servers": bootstrap})
        try:
            admin.list_topics(timeout=5)
        except Exception as exc:
            raise UsageError(f"cannot reach Kafka at {bootstrap} to start a registry ({exc}); start it (make up), "
                             "unset KAFKA_BOOTSTRAP, or set SCHEMA_REGISTRY_URL to a running registry") from exc
        topic = f"_schemas.check.{uuid.uuid4().hex[:12]}"
        port = free_port()
        proc = start_registry(bootstrap, port, tmp / "registry.log", topic=topic)
        try:
            client = Client(f"http://127.0.0.1:{port}")
            seed(client, entries)
            yield client
        finally:
            stop(proc)
            for deleted in admin.delete_topics([topic]).values():
                with contextlib.suppress(Exception):  # a scratch topic left behind harms nothing
                    deleted.result(10)
            # Closed before the broker stops (the ExitStack, next), or it logs failed reconnections.
            del admin


# --- check and publish -----------------------------------------------------------------------------

@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # subject, version, id, status


def check_registry(client: Client, work: Plan, root: Path, report: Report, register: bool,
                   publish: bool) -> list[tuple[str, int, int, list[dict[str, Any]], str]]:
    """Ask the registry about each subject of the plan. With `register`, register what changed (for
    real when publishing; in a scratch registry when checking, so that a schema whose import changed
    is checked against the import's new version too)."""
    version_of: dict[str, int] = {}  # file -> registered version of its reference subject
    pending: set[str] = set()  # files changed but (check mode) not registered
    published: list[tuple[str, int, int, list[dict[str, Any]], str]] = []
    for subject, name in work.items:
        deps = [d for d in work.files[name].dependency if not proto.is_builtin(d)]
        waiting = [d for d in deps if d in pending]
        if waiting:
            report.rows.append((subject, "-", "-", f"not checked: its import(s) {', '.join(waiting)} changed "
                                "(checked on their own subjects) or failed"))
            pending.add(name)
            continue
        body: dict[str, Any] = {"schemaType": "PROTOBUF", "schema": (root / "schemas" / name).read_text(),
                "references": [{"name": d, "subject": d, "version": version_of[d]} for d in deps]}
        path = subject_path(subject)
        status, found = client.call("POST", f"/subjects/{path}", body)
        if status == 200:
            version_of[name] = found["version"]
            report.rows.append((subject, str(found["version"]), str(found["id"]), "unchanged"))
            continue
        if status == 422:
            report.failures.append(f"{subject} ({name}): {found['message']}")
            report.rows.append((subject, "-", "-", "INVALID"))
            pending.add(name)
            continue
        status, verdict = client.call("POST", f"/compatibility/subjects/{path}/versions", body, verbose="true")
        if status != 200 or not verdict["is_compatible"]:
            messages = verdict.get("messages") or [verdict.get("message", "")]
            report.failures += [f"{subject} ({name}): {m}" for m in messages]
            report.rows.append((subject, "-", "-", "INCOMPATIBLE"))
            pending.add(name)
            continue
        if not register:
            pending.add(name)
            report.rows.append((subject, "new", "-", "compatible, not yet published"))
            continue
        status, answer = client.call("POST", f"/subjects/{path}/versions", body)
        if status != 200:
            report.failures.append(f"{subject} ({name}): {answer['message']}")
            report.rows.append((subject, "-", "-", "REFUSED"))
            pending.add(name)
            continue
        _, stored = client.call("GET", f"/subjects/{path}/versions/{answer['version']}")
        version_of[name] = answer["version"]
        published.append((subject, answer["version"], answer["id"], body["references"], stored["schema"]))
        report.rows.append((subject, str(answer["version"]), str(answer["id"]),
                            "published" if publish else "compatible, new version"))
    return published


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def main_problems(history: History, root: Path) -> tuple[list[str], str]:
    """Every version main has published is still there, unchanged and in its place: each version of index.jsonl
    in main's git history (up to where this checkout left main: on main itself, every commit before the working
    tree) must be the start of the working tree's. The chain of hashes alone cannot see a history that lost its
    newest lines, or whose last line was edited. Returns the problems and what was compared."""
    if git(root, "rev-parse", "--verify", "-q", "HEAD").returncode != 0:
        return [], "not compared with main's: not a git checkout"
    base = next((found for ref in ("main", "origin/main")
                 if (found := git(root, "merge-base", "HEAD", ref).stdout.strip())), "HEAD")
    path = history.index.relative_to(root).as_posix()
    commits = git(root, "log", "--reverse", "--format=%H", base, "--", path).stdout.split()
    now = history.index.read_text().splitlines() if history.index.exists() else []
    where_now = {line: n for n, line in enumerate(now, 1)}
    versions_now = set()
    for line in now:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            versions_now.add((json.loads(line)["subject"], json.loads(line)["version"]))
    problems: dict[tuple[str, int], str] = {}  # by version, naming the commit that first published it
    for commit in commits:
        for n, line in enumerate(git(root, "show", f"{commit}:{path}").stdout.splitlines(), 1):
            if n <= len(now) and now[n - 1] == line:
                continue
            with contextlib.suppress(ValueError, KeyError, TypeError):
                raw = json.loads(line)
                version = (raw["subject"], raw["version"])
                if line in where_now:
                    what = f"was moved from line {n} to line {where_now[line]} of {history.index.name}"
                elif version in versions_now:
                    what = f"was edited (its line in {history.index.name} is not the one main published)"
                else:
                    what = f"was removed from {history.index.name}"
                problems.setdefault(version, f"history: {version[0]} v{version[1]}, published by main in commit "
                                    f"{commit[:12]}, {what}: the published history is append-only")
    return list(problems.values()), f"compared with main's {len(commits)} commit(s) that published"


def run(root: Path, publish: bool) -> int:
    report = Report()
    history = History(root)
    for args, what in ((("lint",), "buf lint"),
                       (("breaking", "--against", str(history.image.relative_to(root))), "buf breaking")):
        if what == "buf breaking" and not history.image.exists():
            print("buf breaking: skipped, nothing published yet")
            continue
        result = buf(root, *args)
        print(f"{what}: {'ok' if result.returncode == 0 else 'FAILED'}")
        if result.returncode != 0:
            report.failures += [f"{what}: {line}" for line in (result.stdout + result.stderr).splitlines() if line]
    entries, problems = history.load()
    rewritten, compared = main_problems(history, root)
    problems += rewritten
    report.failures += problems
    print(f"published history: {'ok' if not problems else 'BROKEN'} ({len(entries)} versions; {compared})")
    with tempfile.TemporaryDirectory(prefix="registry-image-") as tmp:
        built = build_image(root, Path(tmp) / "image.binpb")
        if built.returncode != 0:
            report.failures.append(f"buf build: {built.stderr.strip()}")
            return finish(report)
        work = plan(root, load_image(Path(tmp) / "image.binpb"))
    if problems:
        print("registry: skipped, the published history must be intact to rebuild the registry of record")
        return finish(report)
    url = os.environ.get("SCHEMA_REGISTRY_URL")
    with contextlib.ExitStack() as stack:
        if url:
            client = Client(url)
            if lacking := missing(client, entries):
                raise UsageError(f"the registry at {url} lacks {len(lacking)} published version(s), e.g. "
                                 f"{lacking[0].subject} v{lacking[0].version}: run `python -m registry seed`")
        else:
            client = stack.enter_context(ephemeral_registry(entries))
        if publish and report.failures:
            publish = False
            print("publish: not registering anything, the checks above failed")
        published = check_registry(client, work, root, report, register=publish or not url, publish=publish)
    if publish and not report.failures:
        if published:
            history.append(entries, published)
        # Rebuilt even when no event subject changed: an API-only change (a new RPC field) is
        # published too, so that `buf breaking` protects it from then on.
        built = build_image(root, history.image)
        if built.returncode != 0:
            report.failures.append(f"buf build: {built.stderr.strip()}")
        print(f"published {len(published)} version(s) into {history.dir.relative_to(root)}/, and its image.json")
    return finish(report)


def finish(report: Report) -> int:
    if report.rows:
        widths = [max(len(r[i]) for r in [("subject", "version", "id", "status"), *report.rows]) for i in range(4)]
        for row in [("subject", "version", "id", "status"), *report.rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for failure in report.failures:
        print(f"FAIL {failure}")
    print("result: " + ("FAILED" if report.failures else "ok"))
    return 1 if report.failures else 0


def main(command: str, root: Path | None) -> int:
    root = (root or ROOT).resolve()
    try:
        if command == "seed":
            url = os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081")
            entries, problems = History(root).load()
            if problems:
                raise UsageError("; ".join(problems))
            print(f"seed: imported {seed(Client(url), entries)} of {len(entries)} published versions into {url}")
            return 0
        return run(root, publish=command == "publish")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
