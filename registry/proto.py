"""Protobuf schemas: parse `.proto` text or Confluent's base64 FileDescriptorProto, and print back.

Parsing uses protoc itself (grpc_tools, in-process), so what the registry accepts is exactly what
protoc accepts. A schema's canonical form is the text this module prints from its descriptor:
comments and layout are dropped and type names fully qualified, so the same schema given as text
or as the serialized descriptor confluent-kafka sends gets the same canonical text, hence the
same id. No maintained Python library prints a descriptor back as `.proto` text, so the printer
is here; tests check its round trip on every schema of the repository.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc_tools
from google.protobuf import descriptor_pb2, descriptor_pool, text_encoding, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_tools import _protoc_compiler, protoc

from registry.errors import invalid_schema

FDP = descriptor_pb2.FileDescriptorProto
F = descriptor_pb2.FieldDescriptorProto
MAX_FIELD_NUMBER = 536_870_911

_WELL_KNOWN = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
_SITE = Path(text_format.__file__).parents[2]  # google/type/*.proto from googleapis-common-protos
_protoc_lock = threading.Lock()  # protoc's in-process entry points are not documented as reentrant

SCALARS = {
    F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "float", F.TYPE_INT64: "int64", F.TYPE_UINT64: "uint64",
    F.TYPE_INT32: "int32", F.TYPE_FIXED64: "fixed64", F.TYPE_FIXED32: "fixed32", F.TYPE_BOOL: "bool",
    F.TYPE_STRING: "string", F.TYPE_BYTES: "bytes", F.TYPE_UINT32: "uint32", F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64", F.TYPE_SINT32: "sint32", F.TYPE_SINT64: "sint64",
}


def is_builtin(name: str) -> bool:
    """Imports every client resolves by itself, never sent as references (confluent-kafka's rule)."""
    return name.startswith(("google/protobuf/", "google/type/", "confluent/"))


@dataclass(frozen=True)
class ParsedSchema:
    fdp: FDP  # the schema's own file (treat as read-only: it is shared through the cache)
    imports: dict[str, FDP]  # every file it imports, transitively, by import name
    text: str  # canonical text
    normalized: str  # canonical text with fields, values, imports and options sorted

    def canonical(self, normalize: bool) -> str:
        return self.normalized if normalize else self.text

    def serialized(self) -> str:
        return base64.standard_b64encode(self.fdp.SerializeToString()).decode("ascii")


def check_import_name(name: str) -> None:
    # Names become file paths in a temporary folder: nothing may point outside it.
    parts = name.split("/")
    if not name.endswith(".proto") or "\\" in name or {"", ".", ".."} & set(parts):
        invalid_schema(f"reference name {name!r} must be a relative path ending in .proto (the import path)")


@functools.lru_cache(maxsize=2048)
def parse(schema: str, deps: tuple[tuple[str, str], ...] = (), name: str = "schema.proto") -> ParsedSchema:
    """Parse a schema given as text or base64; deps are (import name, text) of every reference,
    transitively. Raises RegistryError 42201 with protoc's message when it is not a valid schema."""
    decoded = _decode_serialized(schema)
    text = to_text(decoded) if decoded is not None else schema
    for dep_name, _ in deps:
        check_import_name(dep_name)
    if name in dict(deps):
        invalid_schema(f"the schema cannot import itself ({name})")
    files = _protoc({**dict(deps), name: text}, name)
    fdp = files.pop(name)
    return ParsedSchema(fdp, files, to_text(fdp), to_text(fdp, normalize=True))


def _decode_serialized(schema: str) -> FDP | None:
    # confluent-kafka sends base64 of the FileDescriptorProto; .proto text is never valid base64.
    try:
        raw = base64.b64decode(schema, validate=True)
    except (binascii.Error, ValueError):
        return None
    fdp = FDP()
    try:
        fdp.ParseFromString(raw)
    except DecodeError:
        return None
    return fdp if raw else None


def _protoc(files: dict[str, str], main: str) -> dict[str, FDP]:
    with tempfile.TemporaryDirectory(prefix="registry-protoc-") as tmp:
        root = Path(tmp)
        for file_name, text in files.items():
            (root / file_name).parent.mkdir(parents=True, exist_ok=True)
            (root / file_name).write_text(text)
        out = root / "__out__.binpb"
        includes = [root, _WELL_KNOWN, _SITE]
        with _protoc_lock:
            code = protoc.main(["protoc", *(f"-I{p}" for p in includes), "--include_imports",
                                f"--descriptor_set_out={out}", main])
            if code != 0:
                # run_main only prints errors; get_protos raises them, so the client gets protoc's words.
                try:
                    _protoc_compiler.get_protos(main.encode(), [str(p).encode() for p in includes])
                except Exception as exc:
                    invalid_schema(f"Invalid schema: {str(exc).replace(str(root) + '/', '')}")
                invalid_schema("Invalid schema: protoc rejected it")
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return {f.name: f for f in fds.file}


def builtin_file(name: str) -> FDP | None:
    """The descriptor of a well-known import (google/protobuf/..., google/type/..., confluent/...)."""
    module = name.removesuffix(".proto").replace("/", ".") + "_pb2"
    if name.startswith("confluent/"):
        module = "confluent_kafka.schema_registry." + module
    try:
        importlib.import_module(module)
        found = descriptor_pool.Default().FindFileByName(name)
    except (ImportError, KeyError):
        return None
    fdp = FDP()
    found.CopyToProto(fdp)
    return fdp


# --- printing -------------------------------------------------------------------------------------

def json_name(name: str) -> str:
    """protoc's default JSON name (lowerCamelCase); printed only when a schema overrides it."""
    out: list[str] = []
    upper = False
    for ch in name:
        if ch == "_":
            upper = True
        else:
            out.append(ch.upper() if upper else ch)
            upper = False
    return "".join(out)


def to_text(fdp: FDP, normalize: bool = False) -> str:
    return _Printer(fdp, normalize).render()


class _Printer:
    def __init__(self, fdp: FDP, normalize: bool) -> None:
        self.fdp = fdp
        self.normalize = normalize
        self.lines: list[str] = []
        self.proto3 = fdp.syntax == "proto3"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("  " * depth + line if line else "")

    def render(self) -> str:
        f = self.fdp
        if f.syntax not in ("", "proto2", "proto3"):
            invalid_schema(f"Invalid schema: syntax {f.syntax!r} is not supported (use proto2 or proto3)")
        self.emit(0, f'syntax = "{f.syntax or "proto2"}";')
        if f.package:
            self.emit(0, f"package {f.package};")
        imports = [(("public " if i in f.public_dependency else "weak " if i in f.weak_dependency else ""), d)
                   for i, d in enumerate(f.dependency)]
        if imports:
            self.emit(0, "")
        for kind, dep in sorted(imports, key=lambda x: x[1]) if self.normalize else imports:
            self.emit(0, f'import {kind}"{dep}";')
        if f.HasField("options"):
            self.emit(0, "")
        for option in self.options(f.options):
            self.emit(0, f"option {option};")
        for message in f.message_type:
            self.emit(0, "")
            self.message(0, message, f".{f.package}" if f.package else "")
        for enum in f.enum_type:
            self.emit(0, "")
            self.enum(0, enum)
        for service in f.service:
            self.emit(0, "")
            self.service(service)
        if f.extension:
            self.emit(0, "")
        self.extensions(0, f.extension)
        return "\n".join(self.lines) + "\n"

    def message(self, depth: int, m: descriptor_pb2.DescriptorProto, scope: str) -> None:
        full = f"{scope}.{m.name}"
        self.emit(depth, f"message {m.name} {{")
        inner = depth + 1
        for option in self.options(m.options):
            self.emit(inner, f"option {option};")
        for enum in m.enum_type:
            self.enum(inner, enum)
        map_entries = {f"{full}.{n.name}": n for n in m.nested_type if n.options.map_entry}
        real_oneofs = {f.oneof_index for f in m.field if f.HasField("oneof_index") and not f.proto3_optional}
        fields = sorted(m.field, key=lambda f: f.number) if self.normalize else list(m.field)
        # Nested messages and map fields interleave so that re-parsing recreates the map entry types
        # at the same positions: a nested message's index is part of Confluent's wire format.
        pending = list(fields)
        printed_oneofs: set[int] = set()

        def print_fields_until(stop: descriptor_pb2.FieldDescriptorProto | None) -> None:
            while pending:
                field = pending.pop(0)
                if field.HasField("oneof_index") and field.oneof_index in real_oneofs:
                    if field.oneof_index not in printed_oneofs:
                        printed_oneofs.add(field.oneof_index)
                        self.oneof(inner, m, field.oneof_index, fields)
                else:
                    self.field(inner, field, map_entries)
                if field is stop:
                    return

        for nested in m.nested_type:
            if nested.options.map_entry:
                owner = next((f for f in pending if f.type_name == f"{full}.{nested.name}"), None)
                print_fields_until(owner)
            else:
                self.message(inner, nested, full)
        print_fields_until(None)
        self.reserved(inner, [(r.start, r.end - 1) for r in m.reserved_range], m.reserved_name)
        for r in m.extension_range:
            end = "max" if r.end - 1 >= MAX_FIELD_NUMBER else str(r.end - 1)
            span = str(r.start) if str(r.start) == end else f"{r.start} to {end}"
            opts = self.options(r.options)
            self.emit(inner, f"extensions {span}{self.bracket(opts)};")
        self.extensions(inner, m.extension)
        self.emit(depth, "}")

    def oneof(self, depth: int, m: descriptor_pb2.DescriptorProto, index: int,
              fields: list[descriptor_pb2.FieldDescriptorProto]) -> None:
        decl = m.oneof_decl[index]
        self.emit(depth, f"oneof {decl.name} {{")
        for option in self.options(decl.options):
            self.emit(depth + 1, f"option {option};")
        for field in fields:
            if field.HasField("oneof_index") and field.oneof_index == index:
                self.field(depth + 1, field, {}, in_oneof=True)
        self.emit(depth, "}")

    def field(self, depth: int, f: descriptor_pb2.FieldDescriptorProto,
              map_entries: dict[str, descriptor_pb2.DescriptorProto], in_oneof: bool = False) -> None:
        if f.type == F.TYPE_GROUP:
            invalid_schema(f"Invalid schema: group field {f.name!r} is not supported; use a message field")
        entry = map_entries.get(f.type_name)
        if entry is not None:
            key, value = entry.field[0], entry.field[1]
            kind = f"map<{self.type_of(key)}, {self.type_of(value)}>"
        else:
            label = ""
            if f.label == F.LABEL_REPEATED:
                label = "repeated "
            elif f.proto3_optional or (not self.proto3 and not in_oneof and f.label == F.LABEL_OPTIONAL):
                label = "optional "
            elif f.label == F.LABEL_REQUIRED:
                label = "required "
            kind = label + self.type_of(f)
        opts = []
        if f.HasField("default_value"):
            opts.append(f"default = {self.default(f)}")
        if f.HasField("json_name") and f.json_name != json_name(f.name):
            opts.append(f'json_name = "{_escape(f.json_name)}"')
        opts += self.options(f.options)
        self.emit(depth, f"{kind} {f.name} = {f.number}{self.bracket(opts)};")

    def type_of(self, f: descriptor_pb2.FieldDescriptorProto) -> str:
        return SCALARS.get(f.type) or f.type_name

    def default(self, f: descriptor_pb2.FieldDescriptorProto) -> str:
        if f.type == F.TYPE_STRING:
            return f'"{_escape(f.default_value)}"'
        if f.type == F.TYPE_BYTES:
            return f'"{f.default_value}"'  # already C-escaped in the descriptor
        return f.default_value

    def enum(self, depth: int, e: descriptor_pb2.EnumDescriptorProto) -> None:
        self.emit(depth, f"enum {e.name} {{")
        for option in self.options(e.options):
            self.emit(depth + 1, f"option {option};")
        values = sorted(e.value, key=lambda v: v.number) if self.normalize else e.value
        for v in values:
            self.emit(depth + 1, f"{v.name} = {v.number}{self.bracket(self.options(v.options))};")
        self.reserved(depth + 1, [(r.start, r.end) for r in e.reserved_range], e.reserved_name)
        self.emit(depth, "}")

    def service(self, s: descriptor_pb2.ServiceDescriptorProto) -> None:
        self.emit(0, f"service {s.name} {{")
        for option in self.options(s.options):
            self.emit(1, f"option {option};")
        for m in s.method:
            request = ("stream " if m.client_streaming else "") + m.input_type
            response = ("stream " if m.server_streaming else "") + m.output_type
            opts = self.options(m.options)
            head = f"rpc {m.name}({request}) returns ({response})"
            if not opts:
                self.emit(1, head + ";")
                continue
            self.emit(1, head + " {")
            for option in opts:
                self.emit(2, f"option {option};")
            self.emit(1, "}")
        self.emit(0, "}")

    def extensions(self, depth: int, fields: Iterable[descriptor_pb2.FieldDescriptorProto]) -> None:
        by_extendee: dict[str, list[descriptor_pb2.FieldDescriptorProto]] = {}
        for f in fields:
            by_extendee.setdefault(f.extendee, []).append(f)
        for extendee, members in by_extendee.items():
            self.emit(depth, f"extend {extendee} {{")
            for f in members:
                self.field(depth + 1, f, {})
            self.emit(depth, "}")

    def reserved(self, depth: int, ranges: list[tuple[int, int]], names: Iterable[str]) -> None:
        spans = [str(a) if a == b else f"{a} to {'max' if b >= MAX_FIELD_NUMBER else b}"
                 for a, b in (sorted(ranges) if self.normalize else ranges)]
        if spans:
            self.emit(depth, f"reserved {', '.join(spans)};")
        quoted = [f'"{n}"' for n in (sorted(names) if self.normalize else names)]
        if quoted:
            self.emit(depth, f"reserved {', '.join(quoted)};")

    @staticmethod
    def bracket(options: list[str]) -> str:
        return f" [{', '.join(options)}]" if options else ""

    def options(self, options: Message) -> list[str]:
        probe = type(options)()
        probe.CopyFrom(options)
        probe.DiscardUnknownFields()
        if probe.ByteSize() != options.ByteSize():
            # Custom options whose definitions the registry cannot see would be dropped silently.
            invalid_schema("Invalid schema: custom options are not supported by this registry")
        out = []
        for fd, value in options.ListFields():
            name = f"({fd.full_name})" if fd.is_extension else fd.name
            for v in (value if _is_repeated(fd) else [value]):
                out.append(f"{name} = {_option_value(fd, v)}")
        return sorted(out) if self.normalize else out


def _is_repeated(fd: FieldDescriptor) -> bool:
    return bool(fd.is_repeated)


def _escape(text: str) -> str:
    return text_encoding.CEscape(text.encode(), as_utf8=True)


def _option_value(fd: FieldDescriptor, value: object) -> str:
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if fd.type == FieldDescriptor.TYPE_ENUM:
        assert fd.enum_type is not None and isinstance(value, int)
        return fd.enum_type.values_by_number[value].name
    if fd.type == FieldDescriptor.TYPE_STRING:
        assert isinstance(value, str)
        return f'"{_escape(value)}"'
    if fd.type == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        return f'"{text_encoding.CEscape(value, as_utf8=False)}"'
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        assert isinstance(value, Message)
        return "{ " + text_format.MessageToString(value, as_one_line=True) + " }"
    return repr(value) if isinstance(value, float) else str(value)
