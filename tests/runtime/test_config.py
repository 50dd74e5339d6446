"""Settings come from the environment, the declared ports as defaults; a bad value stops the process with one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import Field

from services.runtime.config import ServiceSettings
from tests.runtime.sample_service import ROOT, sample_env
from tools.processes import free_port

SHARED = ("KAFKA_BOOTSTRAP", "SCHEMA_REGISTRY_URL", "SHUTDOWN_GRACE_SECONDS", "LOG_LEVEL")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*SHARED, "ORDERING_PORT", "CARTING_ADDR", "SHIPPING_ADDR", "ORDERING_SAGA_STEP_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_design_md_ports_and_local_infrastructure(clean_env: pytest.MonkeyPatch) -> None:
    settings = ServiceSettings.load("ordering", calls=["carting", "shipping"])
    assert (settings.service, settings.port) == ("ordering", 9005)
    assert settings.address("carting") == "127.0.0.1:9004"
    assert settings.address("shipping") == "127.0.0.1:9008"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.schema_registry_url == "http://127.0.0.1:8081"
    assert (settings.shutdown_grace_seconds, settings.log_level) == (10.0, "INFO")


def test_environment_overrides_and_a_subclass_adds_its_own(clean_env: pytest.MonkeyPatch) -> None:
    class OrderingSettings(ServiceSettings):
        saga_step_seconds: float = Field(30.0, validation_alias="ORDERING_SAGA_STEP_SECONDS")

    for name, value in {"ORDERING_PORT": "19005", "CARTING_ADDR": "carting.internal:9104", "LOG_LEVEL": "debug",
                        "KAFKA_BOOTSTRAP": "k1:9092,k2:9092", "ORDERING_SAGA_STEP_SECONDS": "2.5"}.items():
        clean_env.setenv(name, value)
    settings = OrderingSettings.load("ordering", calls=["carting"])
    assert isinstance(settings, OrderingSettings)
    assert (settings.port, settings.address("carting"), settings.log_level) == (19005, "carting.internal:9104", "DEBUG")
    assert (settings.kafka_bootstrap, settings.saga_step_seconds) == ("k1:9092,k2:9092", 2.5)


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("ORDERING_PORT", "abc", "a TCP port"),
    ("ORDERING_PORT", "70000", "less than or equal to 65535"),
    ("CARTING_ADDR", "carting", "host:port"),
    ("KAFKA_BOOTSTRAP", "k1:9092,k2", "host:port"),
    ("SCHEMA_REGISTRY_URL", "ftp://registry", "http://"),
    ("SHUTDOWN_GRACE_SECONDS", "-1", "greater than 0"),
    ("LOG_LEVEL", "loud", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
])
def test_a_malformed_value_exits_2_with_one_line_naming_it(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str, expected: str,
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(SystemExit) as exit_info:
        ServiceSettings.load("ordering", calls=["carting"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{variable}={value!r}" in err and expected in err


def test_a_bad_variable_stops_the_real_process_with_exit_2_and_one_line() -> None:
    env = sample_env(free_port(), SAMPLE_PORT="not-a-port")
    result = subprocess.run([sys.executable, "-m", "tests.runtime.sample_service"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stdout == "", result.stderr
    assert result.stderr.startswith("sample: environment variable SAMPLE_PORT='not-a-port' is invalid:")
    assert "expected a TCP port" in result.stderr


def test_a_missing_variable_without_default_stops_the_real_process_with_one_line() -> None:
    env = sample_env(free_port())
    del env["UPSTREAM_ADDR"]  # no process declares "upstream", so it has no default address
    result = subprocess.run([sys.executable, "-m", "tests.runtime.sample_service"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "sample: environment variable UPSTREAM_ADDR is not set (expected host:port)\n"
