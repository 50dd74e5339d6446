"""State lives in the `_schemas` topic: a restart, or a second instance on the same topic, sees every
subject, version and id the same; concurrent registrations of one schema get one id."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.registry.conftest import StartRegistry, proto3, register, schema_body
from tools.processes import stop


def snapshot(url: str) -> dict[str, Any]:
    """Everything a client can read: subjects, versions (deleted too), ids, schemas, configs."""
    with httpx.Client(base_url=url, timeout=30) as http:
        state: dict[str, Any] = {"config": http.get("/config").json(), "mode": http.get("/mode").json()}
        for subject in http.get("/subjects", params={"deleted": "true"}).json():
            path = subject.replace("/", "%2F")
            versions = http.get(f"/subjects/{path}/versions", params={"deleted": "true"}).json()
            state[subject] = {
                "live": http.get(f"/subjects/{path}/versions").json() if len(versions) else [],
                "config": http.get(f"/config/{path}").json(),
                **{str(v): http.get(f"/subjects/{path}/versions/{v}", params={"deleted": "true"}).json()
                   for v in versions},
            }
        return state


def fill(url: str, prefix: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        money = f"{prefix}/money.proto"
        register(http, money, proto3("message Money { int64 minor = 1; }", package="m.v1"))
        refs = [{"name": "m/v1/money.proto", "subject": money, "version": 1}]
        order = proto3("message Order { m.v1.Money total = 1; }", imports=("m/v1/money.proto",))
        register(http, f"{prefix}-orders", order, refs)
        register(http, f"{prefix}-orders", proto3("message Order { m.v1.Money total = 1; string id = 2; }",
                                                  imports=("m/v1/money.proto",)), refs)
        register(http, f"{prefix}-copy", order, refs)  # same schema, same id, in another subject
        register(http, f"{prefix}-gone", proto3("message Gone {}"))
        assert http.delete(f"/subjects/{prefix}-gone").status_code == 200
        assert http.delete(f"/subjects/{prefix}-orders/versions/1").status_code == 200
        http.put(f"/config/{prefix}-orders", json={"compatibility": "FULL"})


def test_restart_and_second_instance_see_the_same_state(start_own_registry: StartRegistry, unique_name: str) -> None:
    topic = f"_schemas.{unique_name}"
    first_url, first = start_own_registry(topic)
    fill(first_url, unique_name)
    before = snapshot(first_url)
    assert before[f"{unique_name}-copy"]["1"]["id"] == before[f"{unique_name}-orders"]["1"]["id"]
    assert before[f"{unique_name}-orders"]["live"] == [2]
    stop(first)

    restarted_url, _ = start_own_registry(topic)
    second_url, _ = start_own_registry(topic)
    assert snapshot(restarted_url) == before
    assert snapshot(second_url) == before

    # A write on one instance reaches the other through the topic, and ids keep counting up.
    new = register(httpx.Client(base_url=restarted_url), f"{unique_name}-new", proto3("message New {}"))
    assert new["id"] == max(v["id"] for s in before.values() if isinstance(s, dict) and "live" in s
                            for k, v in s.items() if k.isdigit()) + 1
    deadline = time.monotonic() + 10
    while httpx.get(f"{second_url}/subjects/{unique_name}-new/versions/1").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert httpx.get(f"{second_url}/schemas/ids/{new['id']}").json()["schema"].endswith("message New {\n}\n")


def test_twenty_concurrent_registrations_of_one_schema_get_one_id(schema_registry_url: str,
                                                                  unique_name: str) -> None:
    body = schema_body(proto3("message Concurrent { string id = 1; }"))
    http = httpx.Client(timeout=30)  # shared: a client per call would spend its time loading CA bundles

    def post(_: int) -> dict[str, Any]:
        r = http.post(f"{schema_registry_url}/subjects/{unique_name}/versions", json=body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))
    assert len({a["id"] for a in answers}) == 1
    assert httpx.get(f"{schema_registry_url}/subjects/{unique_name}/versions").json() == [1]


def test_two_instances_racing_on_one_topic_agree(start_own_registry: StartRegistry, unique_name: str) -> None:
    topic = f"_schemas.{unique_name}"
    urls = [start_own_registry(topic)[0], start_own_registry(topic)[0]]
    same = schema_body(proto3("message Shared { string id = 1; }"))
    http = httpx.Client(timeout=30)

    def post(i: int) -> tuple[str, int]:
        # Even calls: one schema on both instances; odd calls: a schema of their own, racing for ids.
        subject, body = (f"{unique_name}-shared", same) if i % 2 == 0 else (
            f"{unique_name}-own{i}", schema_body(proto3(f"message Own{i} {{ string id = 1; }}")))
        r = http.post(f"{urls[i % 4 // 2]}/subjects/{subject}/versions", json=body)
        assert r.status_code == 200, r.text
        return subject, r.json()["id"]

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(40)))
    shared = {i for s, i in answers if s.endswith("-shared")}
    own = [i for s, i in answers if not s.endswith("-shared")]
    assert len(shared) == 1 and len(set(own)) == len(own) and not shared & set(own)
    time.sleep(0.2)
    assert snapshot(urls[0]) == snapshot(urls[1])
    assert all(snapshot(urls[0])[s][str(1)]["id"] == i for s, i in answers)
