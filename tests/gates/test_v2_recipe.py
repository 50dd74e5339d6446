"""The README's recipe for a breaking change, walked step by step on a copy of the repository, with the whole
gate green after each step (and each step committed on the copy's main, so that the published history is held
to what earlier steps published): stocking's level events get a v2 shape on a topic of their own."""

from __future__ import annotations

import json

import pytest

from tests.gates.repo import Repo, accepted

TOPICS, INDEX = "schemas/topics.yaml", "registry/published/index.jsonl"
LEVEL_EVENTS = "[low_stock_detected, out_of_stock, back_in_stock]"

# The breaking change: a SKU's quantities as int32 (v1 has int64), which buf refuses in v1.
V2_EVENTS = """syntax = "proto3";

package stocking.v2;

import "google/protobuf/timestamp.proto";
import "shop/common/v1/event.proto";

// `stocking.levels.v2`, keyed by SKU: stocking.levels.v1's events, with quantities as int32.

message StockLevel {
  string sku = 1;
  int32 on_hand = 2;
  int32 reserved = 3;
  int32 available = 4;
  int32 low_stock_threshold = 5;
  google.protobuf.Timestamp updated_at = 6;
}

message StockLevelEvent {
  shop.common.v1.EventMetadata metadata = 1;
  oneof event {
    LowStockDetected low_stock_detected = 10;
    OutOfStock out_of_stock = 11;
    BackInStock back_in_stock = 12;
  }
}

message LowStockDetected {
  string sku = 1;
  StockLevel level = 2;
  string alert_id = 3;
}

message OutOfStock {
  string sku = 1;
  StockLevel level = 2;
  string alert_id = 3;
}

message BackInStock {
  string sku = 1;
  StockLevel level = 2;
}
"""
V2_TOPIC = f"""  stocking.levels.v2:
    producer: stocking
    envelope: stocking.v2.StockLevelEvent
    key: sku
    partitions: 3
    events: {LEVEL_EVENTS}
    consumers:  # none yet
"""
V2_MESSAGES = '''

def level_event_v2(event: domain.LevelEvent) -> dict[str, Any]:
    """The same stock-level event in stocking.v2's shape (v1's fields, under the same names)."""
    [(name, message)] = level_event(event).items()
    v2_class = getattr(events_v2, type(message).__name__)
    return {name: json_format.ParseDict(json_format.MessageToDict(message), v2_class())}
'''


def published(repo: Repo) -> list[tuple[str, int]]:
    return [(e["subject"], e["version"]) for e in map(json.loads, repo.read(INDEX).splitlines())]


def green(repo: Repo, step: str) -> None:
    gate = repo.gates()
    accepted(gate)
    assert "total" in gate.stdout and "FAILED" not in gate.stdout
    repo.commit(step)


def page_section(repo: Repo, heading: str) -> str:
    """The part of the contracts page under "### <heading>" (empty when there is none)."""
    text = repo.read("consumers-contracts/README.md")
    start = text.find(f"### {heading}\n")
    return "" if start < 0 else text[start:text.find("\n### ", start + 1)]


def move_consumer(repo: Repo, consumer: str) -> None:
    """A consumer moves to v2: its handlers and its entry in the topic map go to the v2 topic."""
    repo.edit(f"services/{consumer}/stores.py", 'LEVELS_TOPIC = "stocking.levels.v1"',
              'LEVELS_TOPIC = "stocking.levels.v2"')
    repo.edit(TOPICS, f"      {consumer}: {LEVEL_EVENTS}\n", "")  # from v1's consumers ...
    # ... to v2's, the last lines of the v2 topic (which sits just before ordering's)
    repo.edit(TOPICS, "\n  ordering.orders.v1:\n", f"      {consumer}: {LEVEL_EVENTS}\n\n  ordering.orders.v1:\n")


def contracts(repo: Repo, consumer: str) -> None:
    """`make contracts` for one consumer: its examples through its real handlers, then the contracts written."""
    accepted(repo.python("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/contracts/test_consumers.py",
                         "-k", f"{consumer}-stocking"))
    repo.write_contracts()


@pytest.mark.timeout(1200)  # five whole gates, each a few minutes on a loaded 2-core machine
def test_a_breaking_change_follows_the_v2_recipe_with_the_gate_green_at_every_step(repo: Repo) -> None:
    v1_published = published(repo)
    assert ("stocking.levels.v1-value", 1) in v1_published

    # 1. The v2 package beside v1, its envelope on a topic of its own, published (no consumer yet).
    repo.write("schemas/stocking/v2/events.proto", V2_EVENTS)
    repo.edit(TOPICS, "  ordering.orders.v1:\n", f"{V2_TOPIC}\n  ordering.orders.v1:\n")
    repo.gen()
    accepted(repo.python("-m", "registry", "publish"))
    assert published(repo) == [*v1_published, ("stocking.levels.v2-value", 1)]
    green(repo, "stocking.v2: the level events' new shape, published on stocking.levels.v2")

    # 2. The producer publishes every level event on both topics, in the same unit of work.
    messages, stores = "services/stocking/messages.py", "services/stocking/stores.py"
    repo.edit(messages, "from stocking.v1 import events_pb2 as events_pb\n",
              "from google.protobuf import json_format\nfrom stocking.v1 import events_pb2 as events_pb\n"
              "from stocking.v2 import events_pb2 as events_v2\n")
    last = '    return {"back_in_stock": events_pb.BackInStock(sku=event.sku, level=level(event.level))}\n'
    repo.edit(messages, last, last + V2_MESSAGES)
    repo.edit(stores, 'LEVELS_TOPIC = "stocking.levels.v1"\n',
              'LEVELS_TOPIC = "stocking.levels.v1"\nLEVELS_V2_TOPIC = "stocking.levels.v2"\n')
    v1_publish = ("            publish(LEVELS_TOPIC, event.sku, aggregate_version=event.level.version, "
                  "**messages.level_event(event))\n")
    repo.edit(stores, v1_publish, v1_publish + "            publish(LEVELS_V2_TOPIC, event.sku, "
              "aggregate_version=event.level.version, **messages.level_event_v2(event))\n")
    green(repo, "stocking publishes its level events on v1 and v2")

    # 3. One consumer moves: administering's handlers, topic map entry and examples go to v2, and its contract
    # follows (`make contracts`); cataloging still reads v1, and the page says who reads which.
    move_consumer(repo, "administering")
    declared = "tests/contracts/consumers/administering.py"
    repo.edit(declared, "from stocking.v1 import events_pb2 as stock_events\n",
              "from stocking.v1 import events_pb2 as stock_events\nfrom stocking.v2 import events_pb2 as stock_v2\n")
    repo.edit(declared, 'LEVELS = "stocking.levels.v1"', 'LEVELS = "stocking.levels.v2"')
    for message, count in (("StockLevelEvent(", 3), ("LowStockDetected(", 1), ("OutOfStock(", 1), ("BackInStock(", 1)):
        repo.edit(declared, f"stock_events.{message}", f"stock_v2.{message}", count=count)
    repo.edit(declared, "level=stock_events.StockLevel(", "level=stock_v2.StockLevel(", count=3)  # the API's stays
    contracts(repo, "administering")
    assert "administering" in page_section(repo, "stocking.levels.v2 low_stock_detected (stocking)")
    assert "administering" not in page_section(repo, "stocking.levels.v1 low_stock_detected (stocking)")
    assert "cataloging" in page_section(repo, "stocking.levels.v1 out_of_stock (stocking)")
    green(repo, "administering reads stocking.levels.v2")

    # 4. The other consumer moves too: the page shows no consumer of v1 any more.
    move_consumer(repo, "cataloging")
    declared = "tests/contracts/consumers/cataloging.py"
    repo.edit(declared, "from stocking.v1 import events_pb2 as stock_events",
              "from stocking.v2 import events_pb2 as stock_events")
    repo.edit(declared, '"stocking.levels.v1"', '"stocking.levels.v2"')
    contracts(repo, "cataloging")
    assert "stocking.levels.v1" not in repo.read("consumers-contracts/README.md")
    assert "cataloging" in page_section(repo, "stocking.levels.v2 out_of_stock (stocking)")
    green(repo, "cataloging reads stocking.levels.v2")

    # 5. No one reads v1: the producer stops publishing it and the topic leaves the map; v1's schemas stay
    # published, the history only grew.
    repo.edit(stores, v1_publish, "")
    repo.edit("tests/contracts/consumers/stocking.py", 'published("stocking.levels.v1"',
              'published("stocking.levels.v2"')  # stocking's own check of what it publishes
    topics = repo.read(TOPICS)
    start = topics.index("  stocking.levels.v1:\n")
    repo.write(TOPICS, topics[:start] + topics[topics.index("  stocking.levels.v2:\n"):])
    green(repo, "stocking no longer publishes stocking.levels.v1")
    assert published(repo) == [*v1_published, ("stocking.levels.v2-value", 1)]
    assert (repo.root / "registry/published/subjects/stocking.levels.v1-value/1.proto").exists()
