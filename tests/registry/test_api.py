"""The rest of the REST API as a client sees it, and how the server starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.registry.conftest import StartRegistry, proto3, register, schema_body
from tools.processes import free_port, spawn, stop

ROOT = Path(__file__).resolve().parents[2]


def test_reads_by_subject_and_by_id(http: httpx.Client, unique_name: str) -> None:
    first = register(http, f"{unique_name}-a", proto3("message A { string id = 1; }"))
    same = register(http, f"{unique_name}-b", proto3("message A {\n  string id = 1; // same schema, other layout\n}"))
    assert same["id"] == first["id"] and same["version"] == 1
    assert http.get("/subjects", params={"subjectPrefix": unique_name}).json() == [f"{unique_name}-a",
                                                                                   f"{unique_name}-b"]
    assert http.get(f"/schemas/ids/{first['id']}/subjects").json() == [f"{unique_name}-a", f"{unique_name}-b"]
    assert http.get(f"/schemas/ids/{first['id']}/versions").json() == [
        {"subject": f"{unique_name}-a", "version": 1}, {"subject": f"{unique_name}-b", "version": 1}]
    text = http.get(f"/subjects/{unique_name}-a/versions/latest/schema").text
    assert text == http.get(f"/schemas/ids/{first['id']}/schema").text
    assert text == 'syntax = "proto3";\npackage test.v1;\n\nmessage A {\n  string id = 1;\n}\n'
    got = http.get(f"/subjects/{unique_name}-a/versions/1").json()
    assert got == {"subject": f"{unique_name}-a", "version": 1, "id": first["id"], "schemaType": "PROTOBUF",
                   "schema": text, "references": []}


def test_lookup_soft_deleted_and_normalized_schemas(http: httpx.Client, unique_name: str) -> None:
    unordered = proto3("message N { string b = 2; string a = 1; }")
    r = http.post(f"/subjects/{unique_name}/versions", params={"normalize": "true"}, json=schema_body(unordered))
    normalized = http.get(f"/subjects/{unique_name}/versions/1/schema").text
    assert normalized.index("a = 1") < normalized.index("b = 2")
    reordered = proto3("message N { string a = 1; string b = 2; }")
    assert http.post(f"/subjects/{unique_name}", json=schema_body(reordered)).json()["id"] == r.json()["id"]
    assert http.post(f"/subjects/{unique_name}", json=schema_body(unordered)).status_code == 404
    assert http.post(f"/subjects/{unique_name}", params={"normalize": "True"},
                     json=schema_body(unordered)).json()["version"] == 1
    http.delete(f"/subjects/{unique_name}/versions/1")
    assert http.post(f"/subjects/{unique_name}", json=schema_body(reordered)).status_code == 404
    assert http.post(f"/subjects/{unique_name}", params={"deleted": "true"},
                     json=schema_body(reordered)).json()["version"] == 1
    # A soft-deleted schema stays readable by id: old records on topics still need it.
    assert http.get(f"/schemas/ids/{r.json()['id']}").status_code == 200


def test_import_mode_registers_with_given_ids(start_own_registry: StartRegistry, unique_name: str) -> None:
    url, _ = start_own_registry()
    own = httpx.Client(base_url=url)
    body = schema_body(proto3("message I {}"), id=4242, version=3)
    assert own.post(f"/subjects/{unique_name}/versions", json=body).json()["error_code"] == 42205
    assert own.put("/mode", json={"mode": "IMPORT"}).json() == {"mode": "IMPORT"}
    assert own.post(f"/subjects/{unique_name}/versions", json=body).json() == {"id": 4242, "version": 3}
    assert own.put("/mode", json={"mode": "READWRITE"}).json() == {"mode": "READWRITE"}
    assert own.put("/mode", json={"mode": "IMPORT"}).json()["error_code"] == 42205  # not empty any more
    assert register(own, f"{unique_name}-next", proto3("message J {}"))["id"] == 4243


def test_bad_environment_fails_with_one_line_and_exit_code_2() -> None:
    for name, value in [("SCHEMA_REGISTRY_PORT", "eighty"), ("KAFKA_BOOTSTRAP", "nohostport"),
                        ("SCHEMA_REGISTRY_TOPIC", "bad topic!")]:
        result = subprocess.run([sys.executable, "-m", "registry", "serve"], cwd=ROOT, capture_output=True,
                                text=True, env={**os.environ, name: value}, timeout=60)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and name in result.stderr


def test_not_ready_until_kafka_answers(tmp_path: Path) -> None:
    port, nowhere = free_port(), free_port()
    proc = spawn([sys.executable, "-m", "registry", "serve"], tmp_path / "registry.log", cwd=ROOT,
                 env={**os.environ, "SCHEMA_REGISTRY_PORT": str(port), "KAFKA_BOOTSTRAP": f"127.0.0.1:{nowhere}"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert ready.status_code == 503
        subjects = httpx.get(f"http://127.0.0.1:{port}/subjects")
        assert (subjects.status_code, subjects.json()["error_code"]) == (503, 50001)
    finally:
        stop(proc)


@pytest.mark.parametrize("route", ["/", "/schemas/types", "/config", "/mode"])
def test_small_routes(http: httpx.Client, route: str) -> None:
    r = http.get(route)
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
