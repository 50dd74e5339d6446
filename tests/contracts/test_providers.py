"""The provider side: every contract verified against its provider's real code (gate stage 4 runs the same)."""

from __future__ import annotations

import pytest

from tools.contracts import CONTRACTS_DIR, contract_files, provider, providers, verify


@pytest.mark.parametrize("name", providers())
def test_provider_gives_every_consumer_what_its_contract_relies_on(name, schema_registry_url, monkeypatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    failures = verify(provider(name), contract_files(CONTRACTS_DIR, name))
    assert not failures, "\n".join(map(str, failures))
