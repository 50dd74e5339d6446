"""Fixtures for the registry suite: HTTP clients on the session's registry, and registries of
their own (on topics of their own) for tests that restart one or break its Kafka topic."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from registry.launcher import start_registry
from tools.processes import free_port, stop

StartRegistry = Callable[..., tuple[str, Popen[bytes]]]


@pytest.fixture
def http(schema_registry_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=schema_registry_url, timeout=30) as client:
        yield client


@pytest.fixture
def sr_client(schema_registry_url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": schema_registry_url})


@pytest.fixture
def start_own_registry(kafka_bootstrap: str, tmp_path: Path) -> Iterator[StartRegistry]:
    """Start registries as real processes: start(topic=None, **env) -> (url, process)."""
    started: list[Popen[bytes]] = []

    def start(topic: str | None = None, **env: str) -> tuple[str, Popen[bytes]]:
        port = free_port()
        proc = start_registry(kafka_bootstrap, port, tmp_path / f"registry-{port}.log",
                              topic=topic or f"_schemas.{uuid.uuid4().hex[:12]}", extra_env=env)
        started.append(proc)
        return f"http://127.0.0.1:{port}", proc

    yield start
    for proc in started:
        stop(proc)


def proto3(body: str, package: str = "test.v1", imports: tuple[str, ...] = ()) -> str:
    """A small .proto schema text."""
    lines = ['syntax = "proto3";', f"package {package};", *(f'import "{i}";' for i in imports), body]
    return "\n".join(lines) + "\n"


def schema_body(schema: str, references: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"schemaType": "PROTOBUF", "schema": schema, "references": references or [], **extra}


def register(http: httpx.Client, subject: str, schema: str, references: list[dict[str, Any]] | None = None,
             expect: int = 200) -> dict[str, Any]:
    r = http.post(f"/subjects/{subject.replace('/', '%2F')}/versions", json=schema_body(schema, references))
    assert r.status_code == expect, r.text
    return dict(r.json())
