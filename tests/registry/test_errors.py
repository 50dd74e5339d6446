"""Every Confluent error code, produced by the request a user would make; and no bad input gets a 500."""

from __future__ import annotations

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from tests.registry.conftest import StartRegistry, proto3, register, schema_body

SCHEMA = proto3("message Order { string id = 1; int64 total = 2; }")


def expect(response: httpx.Response, status: int, code: int, words: str = "") -> None:
    assert (response.status_code, response.json().get("error_code")) == (status, code), response.text
    assert words in response.json()["message"]


def test_not_found_codes(http: httpx.Client, unique_name: str) -> None:
    expect(http.get(f"/subjects/{unique_name}/versions"), 404, 40401, f"Subject '{unique_name}' not found")
    register(http, unique_name, SCHEMA)
    expect(http.get(f"/subjects/{unique_name}/versions/2"), 404, 40402, "Version 2 not found")
    expect(http.get("/schemas/ids/987654321"), 404, 40403, "Schema 987654321 not found")
    expect(http.post(f"/subjects/{unique_name}", json=schema_body(proto3("message Other {}"))), 404, 40403)
    expect(http.get(f"/config/{unique_name}"), 404, 40408, "does not have subject-level compatibility")
    expect(http.get(f"/mode/{unique_name}"), 404, 40409)


def test_soft_and_permanent_delete_codes(http: httpx.Client, unique_name: str) -> None:
    register(http, unique_name, SCHEMA)
    register(http, unique_name, proto3("message Order { string id = 1; int64 total = 2; string note = 3; }"))
    expect(http.delete(f"/subjects/{unique_name}/versions/1", params={"permanent": "true"}), 404, 40407,
           "was not deleted first")
    assert http.delete(f"/subjects/{unique_name}/versions/1").json() == 1
    expect(http.delete(f"/subjects/{unique_name}/versions/1"), 404, 40406, "was soft deleted")
    expect(http.delete(f"/subjects/{unique_name}", params={"permanent": "true"}), 404, 40405,
           "was not deleted first")
    assert http.delete(f"/subjects/{unique_name}").json() == [2]
    expect(http.delete(f"/subjects/{unique_name}"), 404, 40404, "was soft deleted")
    assert http.get(f"/subjects/{unique_name}/versions", params={"deleted": "true"}).json() == [1, 2]
    assert http.delete(f"/subjects/{unique_name}", params={"permanent": "true"}).json() == [1, 2]
    expect(http.get(f"/subjects/{unique_name}/versions", params={"deleted": "true"}), 404, 40401)


def test_incompatible_schema_is_409_naming_message_field_and_rule(http: httpx.Client, unique_name: str) -> None:
    register(http, unique_name, SCHEMA)
    r = http.post(f"/subjects/{unique_name}/versions",
                  json=schema_body(proto3("message Order { string id = 1; string total = 2; }")))
    expect(r, 409, 409, "incompatible with an earlier schema")
    assert "FIELD_SCALAR_KIND_CHANGED" in r.json()["message"] and "test.v1.Order.total" in r.json()["message"]


@pytest.mark.parametrize("body, words", [
    (schema_body("message {"), "Invalid schema"),
    ({"schema": '{"type": "record", "name": "A", "fields": []}'}, "supports PROTOBUF schemas only"),
    ({"schemaType": "JSON", "schema": "{}"}, "supports PROTOBUF schemas only"),
    (schema_body(proto3("message A { x.v1.B b = 1; }", imports=("x/v1/b.proto",)),
                 [{"name": "x/v1/b.proto", "subject": "no-such-subject", "version": 1}]), "does not exist"),
    (schema_body(proto3("message A {}"), [{"name": "../etc/passwd", "subject": "s", "version": 1}]), "relative path"),
    (schema_body(proto3("message A {}"), [{"name": "a.proto", "subject": "s", "version": "one"}]), "references"),
    ({"schemaType": "PROTOBUF"}, "'schema' must be a non-empty string"),
    ([1, 2, 3], "JSON object"),
])
def test_invalid_schemas_are_42201(http: httpx.Client, unique_name: str, body: object, words: str) -> None:
    expect(http.post(f"/subjects/{unique_name}/versions", json=body), 422, 42201, words)


@pytest.mark.parametrize("version", ["abc", "0", "-2", "1.5", "99999999999"])
def test_invalid_versions_are_42202(http: httpx.Client, unique_name: str, version: str) -> None:
    register(http, unique_name, SCHEMA)
    expect(http.get(f"/subjects/{unique_name}/versions/{version}"), 422, 42202, "not a valid version")


def test_invalid_level_and_mode(http: httpx.Client, unique_name: str) -> None:
    expect(http.put(f"/config/{unique_name}", json={"compatibility": "SOMETIMES"}), 422, 42203, "BACKWARD")
    expect(http.put(f"/mode/{unique_name}", json={"mode": "SLEEPING"}), 422, 42204, "READONLY")


def test_read_only_subject_refuses_writes_with_42205(http: httpx.Client, unique_name: str) -> None:
    assert http.put(f"/mode/{unique_name}", json={"mode": "READONLY"}).json() == {"mode": "READONLY"}
    expect(http.post(f"/subjects/{unique_name}/versions", json=schema_body(SCHEMA)), 422, 42205, "READONLY")
    assert http.delete(f"/mode/{unique_name}").json() == {"mode": "READONLY"}
    register(http, unique_name, SCHEMA)


def test_a_referenced_schema_cannot_be_deleted_42206(http: httpx.Client, unique_name: str) -> None:
    money = f"{unique_name}/money.proto"
    register(http, money, proto3("message Money { int64 minor = 1; }", package="m.v1"))
    ref = [{"name": "m/v1/money.proto", "subject": money, "version": 1}]
    user = register(http, unique_name, proto3("message Order { m.v1.Money total = 1; }",
                                              imports=("m/v1/money.proto",)), ref)
    encoded = money.replace("/", "%2F")
    assert http.get(f"/subjects/{encoded}/versions/1/referencedby").json() == [user["id"]]
    expect(http.delete(f"/subjects/{encoded}/versions/1"), 422, 42206, "references exist")
    expect(http.delete(f"/subjects/{encoded}"), 422, 42206)


def test_kafka_write_failure_is_50001(start_own_registry: StartRegistry, kafka_bootstrap: str,
                                      unique_name: str) -> None:
    topic = f"_schemas.{unique_name}"
    url, _ = start_own_registry(topic, SCHEMA_REGISTRY_KAFKA_TIMEOUT_MS="2000")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.delete_topics([topic])[topic].result(15)  # an operator removes the registry's topic
    r = httpx.post(f"{url}/subjects/{unique_name}/versions", json=schema_body(SCHEMA), timeout=30)
    expect(r, 500, 50001, "schemas topic")


def test_generic_http_errors_use_the_same_body(http: httpx.Client, unique_name: str) -> None:
    expect(http.post(f"/subjects/{unique_name}/versions", content=b"{not json"), 400, 400, "Malformed JSON")
    expect(http.post(f"/subjects/{unique_name}/versions", content=b"x" * (5 * 2**20)), 413, 413)
    expect(http.get("/no/such/route"), 404, 404)
    expect(http.patch("/subjects"), 405, 405)
    expect(http.get("/associations/resources/-/orders"), 404, 404)


BAD_REQUESTS = [
    ("POST", "/subjects/{s}/versions", b""), ("POST", "/subjects/{s}/versions", b"null"),
    ("POST", "/subjects/{s}/versions", b'{"schema": 5, "schemaType": "PROTOBUF"}'),
    ("POST", "/subjects/{s}/versions", b'{"schema": "", "schemaType": "PROTOBUF"}'),
    ("POST", "/subjects/{s}/versions", b'{"schema": "AAAA", "schemaType": "PROTOBUF"}'),
    ("POST", "/subjects/{s}/versions", b'{"schema": "\\u0000\\u00ff", "schemaType": "PROTOBUF"}'),
    ("POST", "/subjects/{s}/versions", b'{"schema": "syntax = \\"proto3\\";", "schemaType": "PROTOBUF", '
                                       b'"references": {"a": 1}}'),
    ("POST", "/subjects/{s}/versions", b'{"schema": "syntax = \\"proto3\\";", "schemaType": "PROTOBUF", "id": -4}'),
    ("POST", "/subjects/{s}", b"[]"), ("POST", "/subjects/{s}", b'{"schema": "x", "schemaType": "PROTOBUF"}'),
    ("POST", "/compatibility/subjects/{s}/versions/latest", b'{"schemaType": "PROTOBUF", "schema": "x"}'),
    ("POST", "/compatibility/subjects/{s}/versions/abc", b"{}"),
    ("PUT", "/config", b'{"compatibility": 3}'), ("PUT", "/config/{s}", b"[]"), ("PUT", "/mode", b'{"mode": null}'),
    ("GET", "/schemas/ids/abc", b""), ("GET", "/schemas/ids/-1", b""), ("GET", "/schemas/ids/1e9", b""),
    ("GET", "/schemas/ids/99999999999999999999", b""), ("GET", "/subjects/{s}/versions/latest/schema", b""),
    ("GET", "/subjects?offset=x", b""), ("DELETE", "/subjects/{s}/versions/latest", b""),
    ("GET", "/subjects/%ZZ/versions", b""), ("DELETE", "/config/{s}", b""),
]


@pytest.mark.parametrize("method, path, content", BAD_REQUESTS)
def test_bad_input_is_a_4xx_never_a_500(http: httpx.Client, unique_name: str, method: str, path: str,
                                        content: bytes) -> None:
    r = http.request(method, path.replace("{s}", unique_name), content=content,
                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json()["error_code"], int) and r.json()["message"]
