"""The descriptor printer: its text parses back to the same descriptor, for every schema of the
repository and for a schema using the rest of the language; text and serialized forms agree."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from registry import proto
from registry.errors import RegistryError

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
FILES = {str(p.relative_to(SCHEMAS)): p.read_text() for p in sorted(SCHEMAS.rglob("*.proto"))}

EVERYTHING = """
syntax = "proto2";
package kitchen.v1;

import "google/protobuf/timestamp.proto";
import public "google/protobuf/duration.proto";

option java_package = "com.example.kitchen";
option optimize_for = CODE_SIZE;

message Sink {
  option deprecated = true;
  enum Kind {
    option allow_alias = true;
    KIND_UNSPECIFIED = 0;
    KIND_STEEL = 1;
    KIND_INOX = 1 [deprecated = true];
    reserved 5 to 9, 20;
    reserved "KIND_OLD";
  }
  message Tap { optional string brand = 1 [default = "a \\"quoted\\" name\\n"]; }
  map<string, Tap> taps_by_room = 3;
  message After { optional int32 x = 1; }
  map<int64, Kind> kinds = 4;
  required Kind kind = 1 [default = KIND_STEEL];
  repeated int32 sizes = 2 [packed = true];
  optional bytes blob = 5 [default = "\\001\\377"];
  optional double depth = 6 [default = inf, json_name = "depthInCm"];
  optional google.protobuf.Timestamp installed = 7;
  oneof drain {
    string drain_kind = 8;
    Tap drain_tap = 9;
  }
  reserved 100 to max;
  reserved "old_field";
  extensions 50 to 60;
}

extend Sink { optional string note = 50; }

enum Colour { COLOUR_UNSPECIFIED = 0; COLOUR_RED = -1; }

service SinkService {
  rpc Fill(Sink) returns (Sink);
  rpc Watch(stream Sink) returns (stream Sink) { option deprecated = true; }
}
"""


def without_json_names(fdp: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(fdp)

    def strip(m: descriptor_pb2.DescriptorProto) -> None:
        for f in [*m.field, *m.extension]:
            if f.json_name == proto.json_name(f.name):
                f.ClearField("json_name")
        for n in m.nested_type:
            strip(n)

    for m in copy.message_type:
        strip(m)
    for f in copy.extension:
        f.ClearField("json_name")
    return copy


def deps_of(name: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((n, t) for n, t in FILES.items() if n != name))


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_repository_schema_round_trips(name: str) -> None:
    first = proto.parse(FILES[name], deps_of(name), name)
    again = proto.parse(first.text, deps_of(name), name)
    assert without_json_names(again.fdp) == without_json_names(first.fdp)
    assert again.text == first.text


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_serialized_form_has_the_same_canonical_text(name: str) -> None:
    parsed = proto.parse(FILES[name], deps_of(name), name)
    serialized = base64.b64encode(parsed.fdp.SerializeToString()).decode()
    assert proto.parse(serialized, deps_of(name), name).text == parsed.text


def test_the_rest_of_the_language_round_trips() -> None:
    first = proto.parse(EVERYTHING)
    again = proto.parse(first.text)
    assert without_json_names(again.fdp) == without_json_names(first.fdp)
    assert again.text == first.text
    assert "map<string, .kitchen.v1.Sink.Tap> taps_by_room = 3;" in first.text
    assert 'json_name = "depthInCm"' in first.text
    # Map entry types keep their places among nested messages: their indexes are on the wire.
    assert [m.name for m in again.fdp.message_type[0].nested_type] == ["Tap", "TapsByRoomEntry", "After",
                                                                       "KindsEntry"]


def test_comments_and_layout_do_not_change_the_canonical_text() -> None:
    tidy = proto.parse('syntax = "proto3";\npackage a.v1;\nmessage M { string id = 1; }\n')
    messy = proto.parse('// a comment\nsyntax="proto3"; package a.v1;\n\n\nmessage M{\n  string id=1; // why\n}')
    assert tidy.text == messy.text


def test_normalized_text_orders_fields_by_number() -> None:
    parsed = proto.parse('syntax = "proto3";\npackage a.v1;\nmessage M { string b = 2; string a = 1; }\n')
    assert parsed.normalized.index("a = 1") < parsed.normalized.index("b = 2")
    assert parsed.text.index("b = 2") < parsed.text.index("a = 1")


@pytest.mark.parametrize("text, words", [
    ('syntax = "proto3"; message M { Missing m = 1; }', '"Missing" is not defined'),
    ("this is not protobuf", "Expected"),
    ('syntax = "proto3"; import "nowhere/x.proto"; message M {}', "nowhere/x.proto"),
    ('syntax = "proto2"; message M { optional group G = 1 { optional int32 x = 2; } }', "group"),
])
def test_invalid_schemas_are_refused_with_protocs_words(text: str, words: str) -> None:
    with pytest.raises(RegistryError) as refused:
        proto.parse(text)
    assert refused.value.code == 42201 and refused.value.status == 422
    assert words in refused.value.message
