"""compose.yaml held to the code, with neither a Docker engine nor a broker.

Debian's docker-compose (installed by tools/setup.sh) validates the file. Then every process `make up` starts
(tools/up.py: the registry, each declaration of services/runtime/process.py, the storefront) must be there
with its port published and a health check on it; each service and site is loaded with the environment
compose gives it, through its own settings class, so that any variable whose default points at 127.0.0.1 (a
callee's address, Kafka, the registry, where a site listens: in a container, the container itself) must be
set, every variable set must be one the settings read, and every callee must be a healthy dependency first.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.runtime.config import ServiceSettings
from services.runtime.process import declaration, declared, default_port
from sites.runtime.settings import SITE_PORTS, SiteSettings
from tools import demo_data, up
from tools.kafka.launcher import KafkaBroker

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
SITES = [name for name in SITE_PORTS if (ROOT / "sites" / name / "__main__.py").exists()]
LOOPBACK = re.compile(r"\b(127\.0\.0\.1|localhost)\b")


def test_docker_compose_accepts_the_file() -> None:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: tools/setup.sh installs it (make setup)"
    result = subprocess.run([docker_compose, "-f", str(COMPOSE_FILE), "config", "-q"], cwd=ROOT,
                            capture_output=True, text=True)
    assert (result.returncode, result.stderr.strip()) == (0, ""), result.stderr


@pytest.mark.parametrize("process", up.PROCESSES, ids=lambda process: process.name)
def test_every_process_of_make_up_is_published_and_health_checked(process: up.Process) -> None:
    assert process.name in COMPOSE, f"compose.yaml has no service {process.name!r}"
    service = COMPOSE[process.name]
    published = [entry.split(":")[-2:] for entry in service.get("ports", [])]
    assert [str(process.port)] * 2 in published, f"{process.name}: port {process.port} is not published"
    probe = " ".join(service.get("healthcheck", {}).get("test", []))
    assert "tools.healthcheck" in probe and re.search(rf"\b{process.port}\b", probe), \
        f"{process.name}: no health check of port {process.port} (python -m tools.healthcheck): {probe!r}"


def settings_of(name: str) -> tuple[type[ServiceSettings], list[str]]:
    """A process's settings class and the processes it calls."""
    if process := declaration(name):
        return process.settings, list(process.calls)
    # The sites are not declared processes yet (sites/runtime/settings.py); each app module names its callees.
    return SiteSettings, list(importlib.import_module(f"sites.{name}.app").CALLS)


@pytest.mark.parametrize("name", [*declared(), *SITES])
def test_a_process_gets_from_compose_what_its_settings_need(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert name in COMPOSE, f"compose.yaml has no service {name!r}"
    service = COMPOSE[name]
    environment = {key.upper(): str(value) for key, value in service.get("environment", {}).items()}
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    settings_class, calls = settings_of(name)
    settings = settings_class.load(name, calls=calls)  # a malformed value exits here, naming the variable

    variables = {(field.validation_alias if isinstance(field.validation_alias, str) else field_name).upper():
                 getattr(settings, field_name) for field_name, field in type(settings).model_fields.items()
                 if field_name != "service"}
    loopback = sorted(variable for variable, value in variables.items() if LOOPBACK.search(str(value)))
    assert not loopback, f"{name}: compose.yaml leaves {loopback} at a default that, in a container, is the " \
                         "container itself"
    unread = sorted(set(environment) - set(variables))
    assert not unread, f"{name}: compose.yaml sets {unread}, which its settings do not read"

    published = [entry.split(":")[-2:] for entry in service.get("ports", [])]
    assert [str(settings.port)] * 2 in published, f"{name}: listens on {settings.port}, which is not published"
    depends_on = service.get("depends_on", {})
    for dependency, address in [("kafka", settings.kafka_bootstrap), ("registry", settings.schema_registry_url)]:
        assert depends_on.get(dependency) == {"condition": "service_healthy"}, \
            f"{name}: does not wait for {dependency} to be healthy"
        assert dependency in address, f"{name}: reaches {dependency} at {address}"
    for callee in calls:
        assert depends_on.get(callee) == {"condition": "service_healthy"}, \
            f"{name} calls {callee}, but does not wait for it to be healthy (depends_on, service_healthy)"
        assert settings.address(callee) == f"{callee}:{default_port(callee)}", \
            f"{name}: reaches {callee} at {settings.address(callee)}"


def test_the_demo_data_draws_its_pictures_where_the_storefront_serves_them() -> None:
    folder = f"/{demo_data.IMAGES.relative_to(ROOT)}"
    mounts = {name: {volume.split(":")[0] for volume in COMPOSE[name].get("volumes", [])
                     if volume.split(":")[1].endswith(folder)} for name in ("demo-data", "storefront")}
    assert mounts["demo-data"] and mounts["demo-data"] == mounts["storefront"], mounts


@pytest.mark.parametrize("name", declared())
def test_every_service_shares_the_signing_keys(name: str) -> None:
    # Each service verifies the others' tokens with their public keys: one volume where auth.keys_dir() looks.
    keys = {volume.split(":")[0] for volume in COMPOSE[name].get("volumes", [])
            if volume.split(":")[1] == "/app/.cache/shop-platform/keys"}
    assert keys == {"keys"}, f"{name}: the signing keys are not the shared volume 'keys' ({keys})"


def test_the_broker_is_the_one_make_up_runs(tmp_path: Path) -> None:
    version = re.search(r"<kafka.version>(.+)</kafka.version>", (ROOT / "tools/kafka/pom.xml").read_text())
    assert version and COMPOSE["kafka"]["image"] == f"apache/kafka:{version[1]}"
    # The launcher's configuration, but where the broker listens and keeps its data: the image's variables
    # are the properties' names in capitals, `_` for `.`.
    properties = KafkaBroker(tmp_path)._write_config().read_text().splitlines()
    placement = {"listeners", "advertised.listeners", "listener.security.protocol.map", "controller.quorum.voters",
                 "log.dirs"}
    environment = COMPOSE["kafka"]["environment"]
    for key, value in (line.split("=", 1) for line in properties if line):
        variable = "KAFKA_" + key.upper().replace(".", "_")
        assert variable in environment, f"kafka: {variable} is not set (the launcher sets {key}={value})"
        if key not in placement:
            assert str(environment[variable]) == value, f"kafka: {variable} is not {value!r} as in the launcher"
