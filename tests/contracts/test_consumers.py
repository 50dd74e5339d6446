"""The consumer side: each contract's examples, as Pact gives them back, through the consumer's real code."""

from __future__ import annotations

import pytest

from tests.contracts.services import build
from tools.contracts import consumers, run_consumer

PAIRS = [(consumer, provider) for consumer in consumers().values() for provider in consumer.providers()]


@pytest.mark.parametrize(("consumer", "provider"), PAIRS, ids=[f"{c.name}-{p}" for c, p in PAIRS])
async def test_consumer_handles_the_contract_examples(consumer, provider, schema_registry_url, monkeypatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    await run_consumer(consumer, provider, lambda name: build(name))
