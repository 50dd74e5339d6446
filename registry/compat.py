"""Protobuf compatibility, by the rules of Confluent's checker (protobuf-provider's diff package).

`differences(old, new)` lists what changed when a reader of `new` reads data written with `old`;
fields are matched by number. A change is compatible when its kind is in COMPATIBLE. BACKWARD
compares (previous, new), FORWARD (new, previous), FULL both; *_TRANSITIVE does so against every
live version, the others against the latest only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2

from registry.proto import FDP, SCALARS

F = descriptor_pb2.FieldDescriptorProto
Msg = descriptor_pb2.DescriptorProto

LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")

COMPATIBLE = {
    "MESSAGE_ADDED", "MESSAGE_MOVED", "ENUM_ADDED", "ENUM_REMOVED", "ENUM_CONST_ADDED", "ENUM_CONST_CHANGED",
    "ENUM_CONST_REMOVED", "FIELD_ADDED", "FIELD_REMOVED", "FIELD_NAME_CHANGED",
    "FIELD_STRING_OR_BYTES_LABEL_CHANGED", "ONEOF_ADDED", "ONEOF_REMOVED", "ONEOF_FIELD_ADDED",
}

# Scalars that read each other's wire form (protobuf's "updating a message type" rules).
_GROUPS = {
    F.TYPE_INT32: "int32/int64/uint32/uint64/bool/enum", F.TYPE_INT64: "int32/int64/uint32/uint64/bool/enum",
    F.TYPE_UINT32: "int32/int64/uint32/uint64/bool/enum", F.TYPE_UINT64: "int32/int64/uint32/uint64/bool/enum",
    F.TYPE_BOOL: "int32/int64/uint32/uint64/bool/enum", F.TYPE_ENUM: "int32/int64/uint32/uint64/bool/enum",
    F.TYPE_SINT32: "sint32/sint64", F.TYPE_SINT64: "sint32/sint64",
    F.TYPE_STRING: "string/bytes", F.TYPE_BYTES: "string/bytes",
    F.TYPE_FIXED32: "fixed32/sfixed32", F.TYPE_SFIXED32: "fixed32/sfixed32",
    F.TYPE_FIXED64: "fixed64/sfixed64", F.TYPE_SFIXED64: "fixed64/sfixed64",
    F.TYPE_FLOAT: "float", F.TYPE_DOUBLE: "double",
}


@dataclass(frozen=True)
class Difference:
    rule: str
    path: str  # message.field, as a reader would name it
    detail: str

    @property
    def compatible(self) -> bool:
        return self.rule in COMPATIBLE

    def __str__(self) -> str:
        return f"{self.rule} at {self.path}: {self.detail}"


@dataclass(frozen=True)
class SchemaView:
    """A parsed schema with its imports; refs maps an import name to (subject, version)."""

    fdp: FDP
    imports: dict[str, FDP]
    refs: dict[str, tuple[str, int]] = field(default_factory=dict)

    def types(self) -> dict[str, _Type]:
        table: dict[str, _Type] = {}
        for name, fdp in [("", self.fdp), *self.imports.items()]:
            origin = None if not name else self.refs.get(name, ("builtin", name))
            scope = f".{fdp.package}" if fdp.package else ""
            for m in fdp.message_type:
                _collect(table, m, scope, fdp.package, origin)
            for e in fdp.enum_type:
                table[f"{scope}.{e.name}"] = _Type(e, fdp.package, origin)
        return table


@dataclass(frozen=True)
class _Type:
    proto: Msg | descriptor_pb2.EnumDescriptorProto
    package: str
    origin: tuple[str, object] | None  # None for the schema's own types

    @property
    def is_map(self) -> bool:
        return isinstance(self.proto, Msg) and self.proto.options.map_entry


def _collect(table: dict[str, _Type], m: Msg, scope: str, package: str, origin: tuple[str, object] | None) -> None:
    full = f"{scope}.{m.name}"
    table[full] = _Type(m, package, origin)
    for n in m.nested_type:
        _collect(table, n, full, package, origin)
    for e in m.enum_type:
        table[f"{full}.{e.name}"] = _Type(e, package, origin)


def differences(old: SchemaView, new: SchemaView) -> list[Difference]:
    return _Diff(old, new).run()


def incompatibilities(old: SchemaView, new: SchemaView) -> list[Difference]:
    return [d for d in differences(old, new) if not d.compatible]


def check(level: str, history: list[SchemaView], new: SchemaView) -> list[tuple[int, Difference]]:
    """Incompatibilities of `new` against the live history (oldest first) under `level`, as
    (index in history, difference)."""
    if level == "NONE" or not history:
        return []
    indexes = list(range(len(history))) if level.endswith("_TRANSITIVE") else [len(history) - 1]
    found: list[tuple[int, Difference]] = []
    for i in indexes:
        if level.startswith(("BACKWARD", "FULL")):
            found += [(i, d) for d in incompatibilities(history[i], new)]
        if level.startswith(("FORWARD", "FULL")):
            found += [(i, d) for d in incompatibilities(new, history[i])]
    return found


class _Diff:
    def __init__(self, old: SchemaView, new: SchemaView) -> None:
        self.old_types, self.new_types = old.types(), new.types()
        self.old, self.new = old, new
        self.found: list[Difference] = []
        self.visited: set[tuple[str, str]] = set()  # recursive types are compared once

    def add(self, rule: str, path: str, detail: str) -> None:
        diff = Difference(rule, path, detail)
        if diff not in self.found:
            self.found.append(diff)

    def run(self) -> list[Difference]:
        o, n = self.old.fdp, self.new.fdp
        if o.package != n.package:
            self.add("PACKAGE_CHANGED", n.package or "(no package)",
                     f"package {o.package or '(none)'} became {n.package or '(none)'}")
        self.types(list(o.message_type), list(o.enum_type), list(n.message_type), list(n.enum_type),
                   f".{o.package}" if o.package else "", f".{n.package}" if n.package else "")
        return self.found

    def types(self, old_msgs: list[Msg], old_enums: list[descriptor_pb2.EnumDescriptorProto],
              new_msgs: list[Msg], new_enums: list[descriptor_pb2.EnumDescriptorProto],
              old_scope: str, new_scope: str) -> None:
        old_m = {m.name: (i, m) for i, m in enumerate(old_msgs) if not m.options.map_entry}
        new_m = {m.name: (i, m) for i, m in enumerate(new_msgs) if not m.options.map_entry}
        for name in sorted(old_m.keys() | new_m.keys()):
            path = f"{new_scope or old_scope}.{name}".lstrip(".")
            if name not in new_m:
                self.add("MESSAGE_REMOVED", path, f"message {name} was removed")
            elif name not in old_m:
                self.add("MESSAGE_ADDED", path, f"message {name} was added")
            else:
                self.message(old_m[name][1], new_m[name][1], f"{old_scope}.{name}", f"{new_scope}.{name}")
                if old_m[name][0] != new_m[name][0]:
                    self.add("MESSAGE_MOVED", path, "message moved (its index changed)")
        old_e = {e.name: e for e in old_enums}
        new_e = {e.name: e for e in new_enums}
        for name in sorted(old_e.keys() | new_e.keys()):
            path = f"{new_scope or old_scope}.{name}".lstrip(".")
            if name not in new_e:
                self.add("ENUM_REMOVED", path, f"enum {name} was removed")
            elif name not in old_e:
                self.add("ENUM_ADDED", path, f"enum {name} was added")
            else:
                self.enum(old_e[name], new_e[name], path)

    def enum(self, old: descriptor_pb2.EnumDescriptorProto, new: descriptor_pb2.EnumDescriptorProto,
             path: str) -> None:
        old_v = {v.number: v.name for v in old.value}
        new_v = {v.number: v.name for v in new.value}
        for number in sorted(old_v.keys() | new_v.keys()):
            if number not in new_v:
                self.add("ENUM_CONST_REMOVED", path, f"value {old_v[number]} = {number} was removed")
            elif number not in old_v:
                self.add("ENUM_CONST_ADDED", path, f"value {new_v[number]} = {number} was added")
            elif old_v[number] != new_v[number]:
                self.add("ENUM_CONST_CHANGED", path, f"value {number} renamed {old_v[number]} -> {new_v[number]}")

    def message(self, old: Msg, new: Msg, old_full: str, new_full: str) -> None:
        if (old_full, new_full) in self.visited:
            return
        self.visited.add((old_full, new_full))
        path = new_full.lstrip(".")

        def split(m: Msg) -> tuple[dict[int, F], dict[str, dict[int, F]]]:
            top: dict[int, F] = {}
            oneofs: dict[str, dict[int, F]] = {}
            for f in m.field:
                if f.HasField("oneof_index") and not f.proto3_optional:
                    oneofs.setdefault(m.oneof_decl[f.oneof_index].name, {})[f.number] = f
                else:
                    top[f.number] = f
            return top, oneofs

        old_top, old_oneofs = split(old)
        new_top, new_oneofs = split(new)
        old_all = {f.number: f for f in old.field}
        new_all = {f.number: f for f in new.field}
        old_in_oneof = {n for members in old_oneofs.values() for n in members}
        remaining_old_top = dict(old_top)
        for name, members in new_oneofs.items():
            moved = [n for n in members if remaining_old_top.pop(n, None) is not None]
            existing = [n for n in members if n not in old_top and n in old_in_oneof]
            if len(moved) > 1:
                self.add("MULTIPLE_FIELDS_MOVED_TO_ONEOF", f"{path}.{name}",
                         f"fields {', '.join(new_all[n].name for n in moved)} moved into oneof {name}")
            elif len(moved) == 1 and existing:
                self.add("FIELD_MOVED_TO_EXISTING_ONEOF", f"{path}.{name}",
                         f"field {new_all[moved[0]].name} moved into existing oneof {name}")
        for name in sorted(old_oneofs.keys() | new_oneofs.keys()):
            if name not in new_oneofs:
                self.add("ONEOF_REMOVED", f"{path}.{name}", f"oneof {name} was removed")
            elif name not in old_oneofs:
                self.add("ONEOF_ADDED", f"{path}.{name}", f"oneof {name} was added")
            else:
                o, n = old_oneofs[name], new_oneofs[name]
                for number in sorted(o.keys() | n.keys()):
                    if number not in n:
                        if number not in new_all:  # moved out of the oneof only relaxes it
                            self.add("ONEOF_FIELD_REMOVED", f"{path}.{o[number].name}",
                                     f"field {o[number].name} = {number} was removed from oneof {name}")
                    elif number not in o:
                        self.add("ONEOF_FIELD_ADDED", f"{path}.{n[number].name}",
                                 f"field {n[number].name} = {number} was added to oneof {name}")
                    else:
                        self.field(o[number], n[number], path)
        for number in sorted(remaining_old_top.keys() | new_top.keys()):
            o_f, n_f = remaining_old_top.get(number), new_top.get(number)
            if n_f is None and o_f is not None:
                rule = "REQUIRED_FIELD_REMOVED" if o_f.label == F.LABEL_REQUIRED else "FIELD_REMOVED"
                self.add(rule, f"{path}.{o_f.name}", f"field {o_f.name} = {number} was removed")
            elif o_f is None and n_f is not None:
                if number in old_all:
                    continue  # moved out of a oneof: compared below
                rule = "REQUIRED_FIELD_ADDED" if n_f.label == F.LABEL_REQUIRED else "FIELD_ADDED"
                self.add(rule, f"{path}.{n_f.name}", f"field {n_f.name} = {number} was added")
            elif o_f is not None and n_f is not None:
                self.field(o_f, n_f, path)
        # Fields whose oneof membership changed keep their number: compare their types too.
        old_owner = {f.number: (old.oneof_decl[f.oneof_index].name if f.HasField("oneof_index")
                                and not f.proto3_optional else None) for f in old.field}
        new_owner = {f.number: (new.oneof_decl[f.oneof_index].name if f.HasField("oneof_index")
                                and not f.proto3_optional else None) for f in new.field}
        for number in sorted(old_all.keys() & new_all.keys()):
            if old_owner[number] != new_owner[number]:
                self.field(old_all[number], new_all[number], path)
        self.types(list(old.nested_type), list(old.enum_type), list(new.nested_type), list(new.enum_type),
                   old_full, new_full)

    def field(self, old: F, new: F, message_path: str) -> None:
        path = f"{message_path}.{new.name}"
        if old.name != new.name:
            self.add("FIELD_NAME_CHANGED", path, f"field {new.number} renamed {old.name} -> {new.name}")
        self.field_types(old, new, path, labels=True)

    def kind(self, f: F, types: dict[str, _Type]) -> str:
        if f.type in SCALARS or f.type == F.TYPE_ENUM:
            return "SCALAR"
        found = types.get(f.type_name)
        return "MAP" if found is not None and found.is_map else "MESSAGE"

    def field_types(self, old: F, new: F, path: str, labels: bool) -> None:
        old_kind, new_kind = self.kind(old, self.old_types), self.kind(new, self.new_types)
        if old_kind != new_kind:
            self.add("FIELD_KIND_CHANGED", path, f"field {new.number} changed from {old_kind.lower()} "
                     f"{_type_name(old)} to {new_kind.lower()} {_type_name(new)}")
        elif old_kind == "SCALAR":
            if _GROUPS[old.type] != _GROUPS[new.type]:
                self.add("FIELD_SCALAR_KIND_CHANGED", path, f"field {new.number} changed from "
                         f"{_type_name(old)} to {_type_name(new)}, which do not read each other's wire form")
            elif labels and (old.label == F.LABEL_REPEATED) != (new.label == F.LABEL_REPEATED):
                numeric = _GROUPS[old.type] != "string/bytes"
                self.add("FIELD_NUMERIC_LABEL_CHANGED" if numeric else "FIELD_STRING_OR_BYTES_LABEL_CHANGED",
                         path, f"field {new.number} changed between repeated and singular")
        elif old_kind == "MAP":
            old_entry = self.old_types[old.type_name].proto
            new_entry = self.new_types[new.type_name].proto
            assert isinstance(old_entry, Msg) and isinstance(new_entry, Msg)
            for o, n in zip(old_entry.field, new_entry.field, strict=True):
                self.field_types(o, n, f"{path}.{n.name}", labels=False)
        else:
            self.message_type(old, new, path)

    def message_type(self, old: F, new: F, path: str) -> None:
        old_t, new_t = self.old_types.get(old.type_name), self.new_types.get(new.type_name)
        if old_t is None or new_t is None:
            if old.type_name != new.type_name:
                self.add("FIELD_NAMED_TYPE_CHANGED", path, f"type {old.type_name} became {new.type_name}")
            return
        old_local = old.type_name.removeprefix(f".{old_t.package}.")
        new_local = new.type_name.removeprefix(f".{new_t.package}.")
        if old_local != new_local:
            self.add("FIELD_NAMED_TYPE_CHANGED", path,
                     f"field {new.number} changed type from {old.type_name[1:]} to {new.type_name[1:]}")
            return
        if old_t.origin is not None and old_t.origin == new_t.origin:
            return  # the same referenced subject version (or the same well-known type) on both sides
        assert isinstance(old_t.proto, Msg) and isinstance(new_t.proto, Msg)
        before = len(self.found)
        self.message(old_t.proto, new_t.proto, old.type_name, new.type_name)
        if any(not d.compatible for d in self.found[before:]):
            self.add("FIELD_NAMED_TYPE_CHANGED", path,
                     f"field {new.number} of type {new.type_name[1:]} changed incompatibly")


def _type_name(f: F) -> str:
    return SCALARS.get(f.type) or f.type_name.lstrip(".")
