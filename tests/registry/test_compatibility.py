"""The compatibility matrix, over HTTP: each kind of change under each level, and transitive levels
against their non-transitive forms."""

from __future__ import annotations

import httpx
import pytest

from tests.registry.conftest import proto3, register, schema_body

LEVELS = ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"]

BASE = """
message Order {
  string id = 1;
  int32 quantity = 2;
  repeated int64 amounts = 3;
  string note = 4;
  Status status = 5;
  oneof payment {
    string card = 6;
    string iban = 7;
  }
  sint32 delta = 8;
  string ref_a = 9;
  string ref_b = 10;
  Money price = 11;
  repeated string tags = 12;
}
message Money { int64 minor = 1; }
message Unused { string x = 1; }
enum Status { STATUS_UNSPECIFIED = 0; STATUS_OPEN = 1; }
"""

# name: (edit as (old, new) text replacements, backward compatible?, forward compatible?, rule when not)
CHANGES = {
    "add a field": ([("string id = 1;", "string id = 1; string extra = 20;")], True, True, ""),
    "remove a field": ([("string note = 4;", "")], True, True, ""),
    "rename a field": ([("string note = 4;", "string remark = 4;")], True, True, ""),
    "add a message": ([("message Unused", "message Extra {} message Unused")], True, False, "MESSAGE_REMOVED"),
    "remove a message": ([("message Unused { string x = 1; }", "")], False, True, "MESSAGE_REMOVED"),
    "add an enum value": ([("STATUS_OPEN = 1;", "STATUS_OPEN = 1; STATUS_CLOSED = 2;")], True, True, ""),
    "int32 to int64": ([("int32 quantity", "int64 quantity")], True, True, ""),
    "int32 to enum": ([("int32 quantity", "Status quantity")], True, True, ""),
    "string to bytes": ([("string note", "bytes note")], True, True, ""),
    "int32 to string": ([("int32 quantity", "string quantity")], False, False, "FIELD_SCALAR_KIND_CHANGED"),
    "sint32 to int32": ([("sint32 delta", "int32 delta")], False, False, "FIELD_SCALAR_KIND_CHANGED"),
    "scalar to message": ([("string note = 4;", "Money note = 4;")], False, False, "FIELD_KIND_CHANGED"),
    "repeated number to singular": ([("repeated int64 amounts", "int64 amounts")], False, False,
                                    "FIELD_NUMERIC_LABEL_CHANGED"),
    "repeated string to singular": ([("repeated string tags", "string tags")], True, True, ""),
    "change the package": ([("package test.v1;", "package test.v2;")], False, False, "PACKAGE_CHANGED"),
    "remove a field from a oneof": ([("string iban = 7;", "")], False, True, "ONEOF_FIELD_REMOVED"),
    "add a field to a oneof": ([("string iban = 7;", "string iban = 7; string paypal = 13;")], True, False,
                               "ONEOF_FIELD_REMOVED"),
    "move two fields into a oneof": ([("string ref_a = 9;\n  string ref_b = 10;",
                                       "oneof ref { string ref_a = 9; string ref_b = 10; }")], False, True,
                                     "MULTIPLE_FIELDS_MOVED_TO_ONEOF"),
    "move one field into a oneof": ([("string ref_a = 9;", "oneof ref { string ref_a = 9; }")], True, True, ""),
    "change a field's message type": ([("Money price = 11;", "Price price = 11;"),
                                       ("message Unused", "message Price { int64 minor = 1; } message Unused")],
                                      False, False, "FIELD_NAMED_TYPE_CHANGED"),
    "change a field of a nested message": ([("int64 minor = 1;", "string minor = 1;")], False, False,
                                           "FIELD_SCALAR_KIND_CHANGED"),
}


def edited(edits: list[tuple[str, str]]) -> str:
    text = proto3(BASE)
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


def verdict(level: str, backward: bool, forward: bool) -> bool:
    """BACKWARD* needs the backward verdict, FORWARD* the forward one, FULL* both, NONE neither."""
    needs_backward = level.startswith(("BACKWARD", "FULL"))
    needs_forward = level.startswith(("FORWARD", "FULL"))
    return (backward or not needs_backward) and (forward or not needs_forward)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_change_under_every_level(http: httpx.Client, unique_name: str, change: str) -> None:
    edits, backward, forward, rule = CHANGES[change]
    register(http, unique_name, proto3(BASE))
    outcomes, messages = {}, []
    for level in LEVELS:
        assert http.put(f"/config/{unique_name}", json={"compatibility": level}).status_code == 200
        r = http.post(f"/compatibility/subjects/{unique_name}/versions/latest", params={"verbose": "true"},
                      json=schema_body(edited(edits)))
        assert r.status_code == 200, r.text
        outcomes[level] = r.json()["is_compatible"]
        messages += r.json()["messages"]
    assert outcomes == {level: verdict(level, backward, forward) for level in LEVELS}
    if rule:
        assert any(rule in m and "test.v" in m for m in messages), messages


V1 = proto3("message Item { string id = 1; int32 size = 2; }")
V2 = proto3("message Item { string id = 1; }")  # compatible with V1 both ways: a field removed
V3 = proto3("message Item { string id = 1; string size = 2; }")  # fine against V2, not against V1


@pytest.mark.parametrize("level", ["BACKWARD", "FORWARD", "FULL"])
def test_transitive_levels_check_the_whole_history(http: httpx.Client, unique_name: str, level: str) -> None:
    for schema in (V1, V2):
        register(http, unique_name, schema)
    verdicts = {}
    for configured in (level, f"{level}_TRANSITIVE"):
        http.put(f"/config/{unique_name}", json={"compatibility": configured})
        r = http.post(f"/compatibility/subjects/{unique_name}/versions", params={"verbose": "true"},
                      json=schema_body(V3))
        verdicts[configured] = r.json()["is_compatible"]
    assert verdicts == {level: True, f"{level}_TRANSITIVE": False}
    # Against one given version, the level's direction applies to that version only.
    one = f"/compatibility/subjects/{unique_name}/versions"
    assert http.post(f"{one}/1", json=schema_body(V3)).json() == {"is_compatible": False}
    assert http.post(f"{one}/2", json=schema_body(V3)).json() == {"is_compatible": True}
    # And registration obeys the same verdicts.
    r = http.post(f"/subjects/{unique_name}/versions", json=schema_body(V3))
    assert r.status_code == 409 and "oldSchemaVersion: 1" in r.json()["message"]
    http.put(f"/config/{unique_name}", json={"compatibility": level})
    assert register(http, unique_name, V3)["version"] == 3


def test_subject_level_overrides_the_global_level(http: httpx.Client, unique_name: str) -> None:
    register(http, unique_name, V1)
    assert http.get(f"/config/{unique_name}", params={"defaultToGlobal": "true"}).json() == {
        "compatibilityLevel": http.get("/config").json()["compatibilityLevel"]}
    http.put(f"/config/{unique_name}", json={"compatibility": "NONE"})
    assert http.post(f"/subjects/{unique_name}/versions", json=schema_body(V3)).status_code == 200
    assert http.delete(f"/config/{unique_name}").json() == {"compatibilityLevel": "NONE"}
    assert http.get(f"/config/{unique_name}").json()["error_code"] == 40408
