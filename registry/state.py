"""The registry's state, rebuilt by applying the records of the `_schemas` topic in order.

Records are keyed like Confluent's (JSON keys with keytype SCHEMA, CONFIG, MODE, DELETE_SUBJECT),
so compaction keeps the latest value of each key. Every instance applies the same log with the
same rules, so every instance — and every restart — ends up with the same subjects, versions and
ids. When two instances race, the log decides: the first record for a version or an id wins, and
`apply` reports a later conflicting one as rejected so its writer can retry.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

log = logging.getLogger("registry")

DEFAULT_LEVEL = "BACKWARD"
DEFAULT_MODE = "READWRITE"


@dataclass(frozen=True)
class Reference:
    name: str  # the import path, as written in the schema
    subject: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "subject": self.subject, "version": self.version}


@dataclass(frozen=True)
class Content:
    """What an id stands for: the canonical schema text and its references."""

    schema: str
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class Version:
    subject: str
    version: int
    id: int
    content: Content
    deleted: bool = False


def schema_key(subject: str, version: int) -> bytes:
    return dump({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})


def schema_value(v: Version) -> bytes:
    return dump({
        "subject": v.subject, "version": v.version, "id": v.id, "schemaType": "PROTOBUF",
        "references": [r.to_json() for r in v.content.references], "schema": v.content.schema,
        "deleted": v.deleted,
    })


def config_key(subject: str | None) -> bytes:
    return dump({"keytype": "CONFIG", "subject": subject, "magic": 0})


def mode_key(subject: str | None) -> bytes:
    return dump({"keytype": "MODE", "subject": subject, "magic": 0})


def delete_subject_key(subject: str) -> bytes:
    return dump({"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0})


def dump(obj: dict[str, Any]) -> bytes:
    # Keys must be byte-identical for compaction to pair them: fixed field order, no spaces.
    return json.dumps(obj, separators=(",", ":")).encode()


class State:
    def __init__(self) -> None:
        self.subjects: dict[str, dict[int, Version]] = {}
        self.ids: dict[int, Content] = {}
        self.id_of: dict[Content, int] = {}
        self.users: dict[int, set[tuple[str, int]]] = {}
        self.max_id = 0
        self.config: dict[str | None, str] = {}
        self.mode: dict[str | None, str] = {}

    # -- applying records --------------------------------------------------------------------

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record; False when it is ignored (malformed, or it lost a race)."""
        try:
            k = json.loads(key) if key else None
            v = json.loads(value) if value is not None else None
            if not isinstance(k, dict) or not (v is None or isinstance(v, dict)):
                raise ValueError("key and value must be JSON objects")
            kind = k.get("keytype")
            if kind == "SCHEMA":
                return self._apply_schema(k, v)
            if kind == "CONFIG":
                self._set(self.config, k.get("subject"), None if v is None else str(v["compatibilityLevel"]))
            elif kind == "MODE":
                self._set(self.mode, k.get("subject"), None if v is None else str(v["mode"]))
            elif kind == "DELETE_SUBJECT" and v is not None:
                upto = int(v["version"])
                for number, found in self.subjects.get(k["subject"], {}).items():
                    if number <= upto:
                        self.subjects[k["subject"]][number] = replace(found, deleted=True)
            return True
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a malformed record in the schemas topic: %s (key %r)", exc, key)
            return False

    @staticmethod
    def _set(table: dict[str | None, str], subject: str | None, value: str | None) -> None:
        if value is None:
            table.pop(subject, None)
        else:
            table[subject] = value

    def _apply_schema(self, k: dict[str, Any], v: dict[str, Any] | None) -> bool:
        subject, number = str(k["subject"]), int(k["version"])
        versions = self.subjects.setdefault(subject, {})
        existing = versions.get(number)
        if v is None:  # permanent delete
            if existing is not None:
                del versions[number]
                self._unlink(existing)
            if not versions:
                del self.subjects[subject]
            return True
        refs = tuple(Reference(str(r["name"]), str(r["subject"]), int(r["version"])) for r in v.get("references") or [])
        new = Version(subject, number, int(v["id"]), Content(str(v["schema"]), refs), bool(v.get("deleted")))
        if existing is not None and (existing.id, existing.content) != (new.id, new.content):
            return False  # the version was taken first by another schema
        if self.ids.get(new.id, new.content) != new.content or self.id_of.get(new.content, new.id) != new.id:
            if not versions:
                del self.subjects[subject]
            return False  # the id was taken first by another schema, or the schema has an id already
        versions[number] = new
        self.ids[new.id] = new.content
        self.id_of[new.content] = new.id
        self.users.setdefault(new.id, set()).add((subject, number))
        self.max_id = max(self.max_id, new.id)
        return True

    def _unlink(self, v: Version) -> None:
        users = self.users.get(v.id, set())
        users.discard((v.subject, v.version))
        if not users:
            self.users.pop(v.id, None)
            self.ids.pop(v.id, None)
            self.id_of.pop(v.content, None)

    # -- queries -----------------------------------------------------------------------------

    def versions(self, subject: str, deleted: bool = False) -> list[Version]:
        found = self.subjects.get(subject, {})
        return [found[n] for n in sorted(found) if deleted or not found[n].deleted]

    def level(self, subject: str | None) -> str:
        return self.config.get(subject) or self.config.get(None) or DEFAULT_LEVEL

    def effective_mode(self, subject: str | None) -> str:
        return self.mode.get(subject) or self.mode.get(None) or DEFAULT_MODE

    def referenced_by(self, subject: str, version: int, deleted: bool = False) -> list[Version]:
        return [v for versions in self.subjects.values() for v in versions.values()
                if (deleted or not v.deleted)
                and any(r.subject == subject and r.version == version for r in v.content.references)]
