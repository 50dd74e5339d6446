"""The consumer side: each contract's examples, as Pact gives them back, through the consumer's real code."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.runtime.inprocess import build
from tools.contracts import Consumer, consumers, run_consumer

PAIRS = [(consumer, provider) for consumer in consumers().values() for provider in consumer.providers()]


@pytest.mark.parametrize(("consumer", "provider"), PAIRS, ids=[f"{c.name}-{p}" for c, p in PAIRS])
async def test_consumer_handles_the_contract_examples(consumer, provider, schema_registry_url, monkeypatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    await run_consumer(consumer, provider, build)


async def test_an_example_without_what_the_handler_reads_fails_its_check(schema_registry_url, monkeypatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", schema_registry_url)
    [confirmed] = [e for e in consumers()["shipping"].expectations if e.subject == "ordering.orders.v1 order_confirmed"]
    assert confirmed.example is not None
    example: Any = type(confirmed.example).FromString(confirmed.example.SerializeToString())
    for weighed_by in ("total_weight_grams", "lines"):  # shipping weighs the parcel by these
        example.order_confirmed.ClearField(weighed_by)
    broken = Consumer("shipping")
    broken.expectations.append(dataclasses.replace(confirmed, example=example))
    with pytest.raises(AssertionError, match=r"shipping, ordering\.orders\.v1 order_confirmed: InvalidArgument"):
        await run_consumer(broken, "ordering", build)
