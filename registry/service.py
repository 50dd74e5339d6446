"""What the registry does, independent of HTTP: register, look up, delete, check compatibility,
configure. Writes are serialized (one asyncio lock) and go through the Kafka log; reads use the
state the log built.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from confluent_kafka import KafkaException

from registry import compat, proto
from registry.errors import (
    INCOMPATIBLE_SCHEMA,
    INVALID_COMPATIBILITY_LEVEL,
    INVALID_MODE,
    INVALID_VERSION,
    OPERATION_NOT_PERMITTED,
    REFERENCE_EXISTS,
    SCHEMA_NOT_FOUND,
    STORE_ERROR,
    SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED,
    SUBJECT_LEVEL_MODE_NOT_CONFIGURED,
    SUBJECT_NOT_FOUND,
    SUBJECT_NOT_SOFT_DELETED,
    SUBJECT_SOFT_DELETED,
    VERSION_NOT_FOUND,
    VERSION_NOT_SOFT_DELETED,
    VERSION_SOFT_DELETED,
    RegistryError,
    invalid_schema,
    not_found,
    unprocessable,
)
from registry.kafkalog import KafkaLog
from registry.state import (
    DEFAULT_LEVEL,
    DEFAULT_MODE,
    Content,
    Reference,
    State,
    Version,
    config_key,
    delete_subject_key,
    dump,
    mode_key,
    schema_key,
    schema_value,
)

log = logging.getLogger("registry")

MODES = ("READWRITE", "READONLY", "IMPORT")
MAX_VERSION = 2**31 - 1
WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class SchemaRequest:
    """The body of a register, lookup or compatibility request."""

    schema: str
    references: tuple[Reference, ...]
    id: int | None = None
    version: int | None = None

    @classmethod
    def from_json(cls, body: Any) -> SchemaRequest:
        if not isinstance(body, dict):
            invalid_schema("the request body must be a JSON object with a 'schema' field")
        kind = body.get("schemaType") or "AVRO"  # Confluent's default when the field is absent
        if kind != "PROTOBUF":
            invalid_schema(f"Invalid schema: schemaType {kind!r} is not supported; this registry supports "
                           f"PROTOBUF schemas only (send \"schemaType\": \"PROTOBUF\")")
        schema = body.get("schema")
        if not isinstance(schema, str) or not schema.strip():
            invalid_schema("Invalid schema: 'schema' must be a non-empty string (.proto text or base64 descriptor)")
        refs = body.get("references") or []
        if not isinstance(refs, list) or not all(_valid_ref(r) for r in refs):
            invalid_schema("Invalid schema: 'references' must be a list of {name, subject, version} with a "
                           "string name and subject and a version from 1")
        for r in refs:
            proto.check_import_name(r["name"])
        return cls(schema, tuple(Reference(r["name"], r["subject"], r["version"]) for r in refs),
                   _optional_int(body, "id"), _optional_int(body, "version"))


def _valid_ref(r: Any) -> bool:
    return (isinstance(r, dict) and isinstance(r.get("name"), str) and isinstance(r.get("subject"), str)
            and type(r.get("version")) is int and 1 <= r["version"] <= MAX_VERSION)


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= MAX_VERSION:
        invalid_schema(f"'{name}' must be an integer from 1 to {MAX_VERSION}")
    return value


def parse_version(raw: str) -> int | None:
    """A version path segment: a number, or None for "latest" (also spelled -1)."""
    if raw in ("latest", "-1"):
        return None
    if raw.isdigit() and 1 <= int(raw) <= MAX_VERSION:
        return int(raw)
    raise RegistryError(422, INVALID_VERSION, f"The specified version '{raw}' is not a valid version id. "
                        f"Allowed values are between [1, {MAX_VERSION}] and the string \"latest\"")


def parse_level(body: Any) -> str:
    level = body.get("compatibility", body.get("compatibilityLevel")) if isinstance(body, dict) else None
    if not isinstance(level, str) or level.upper() not in compat.LEVELS:
        unprocessable(INVALID_COMPATIBILITY_LEVEL, f"Invalid compatibility level {level!r}. "
                      f"Valid values are: {', '.join(compat.LEVELS)}")
    return level.upper()


class Registry:
    def __init__(self, bootstrap: str, topic: str, timeout_ms: int = 10_000) -> None:
        self.state = State()
        self.log = KafkaLog(bootstrap, topic, self._on_record, timeout_ms)
        self.ready = False
        self._write_lock = asyncio.Lock()
        self._by_id: dict[tuple[int, bool], bytes] = {}  # answers of GET /schemas/ids/{id}, encoded
        self._dep_cache: dict[tuple[Reference, ...], tuple[tuple[str, str], ...]] = {}

    def _on_record(self, key: bytes | None, value: bytes | None) -> None:
        self.state.apply(key, value)
        self._dep_cache.clear()  # references resolve against the state, which just changed
        if value is None:
            self._by_id.clear()  # a permanent delete may have freed an id

    async def start(self) -> None:
        """Replay the topic; ready once caught up. Retries while Kafka is unreachable."""
        for step in (self.log.start, self.log.catch_up):
            while True:
                try:
                    await step()
                    break
                except KafkaException as exc:
                    log.warning("waiting for Kafka at %s: %s", self.log.bootstrap, exc)
                    await asyncio.sleep(1)
        self.ready = True
        log.info("ready: replayed %s (%d subjects, max id %d)", self.log.topic, len(self.state.subjects),
                 self.state.max_id)

    # -- parsing ---------------------------------------------------------------------------

    def _deps(self, refs: tuple[Reference, ...]) -> dict[str, Version]:
        """Every reference, transitively, by import name."""
        found: dict[str, Version] = {}

        def visit(ref: Reference) -> None:
            target = self.state.subjects.get(ref.subject, {}).get(ref.version)
            if target is None:
                invalid_schema(f"Invalid schema: reference {ref.name!r} points to subject {ref.subject!r} "
                               f"version {ref.version}, which does not exist")
            if ref.name in found:
                if found[ref.name].content != target.content:
                    invalid_schema(f"Invalid schema: two references named {ref.name!r} differ")
                return
            found[ref.name] = target
            for inner in target.content.references:
                visit(inner)

        for ref in refs:
            visit(ref)
        return found

    def _dep_texts(self, refs: tuple[Reference, ...]) -> tuple[tuple[str, str], ...]:
        found = self._dep_cache.get(refs)
        if found is None:
            found = self._dep_cache[refs] = tuple(sorted((n, v.content.schema) for n, v in self._deps(refs).items()))
        return found

    def parse(self, schema: str, refs: tuple[Reference, ...]) -> proto.ParsedSchema:
        return proto.parse(schema, self._dep_texts(refs))

    def view(self, content: Content, parsed: proto.ParsedSchema | None = None) -> compat.SchemaView:
        parsed = parsed or self.parse(content.schema, content.references)
        refs = {name: (v.subject, v.version) for name, v in self._deps(content.references).items()}
        return compat.SchemaView(parsed.fdp, parsed.imports, refs)

    # -- reads -------------------------------------------------------------------------------

    def subject_versions(self, subject: str, deleted: bool = False) -> list[Version]:
        versions = self.state.versions(subject, deleted)
        if not versions:
            not_found(SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
        return versions

    def get_version(self, subject: str, raw_version: str, deleted: bool = False) -> Version:
        number = parse_version(raw_version)
        versions = self.subject_versions(subject, deleted)
        if number is None:
            live = [v for v in versions if deleted or not v.deleted]
            if live:
                return live[-1]
        else:
            match = next((v for v in versions if v.version == number), None)
            if match is not None and (deleted or not match.deleted):
                return match
        not_found(VERSION_NOT_FOUND, f"Version {raw_version} not found.")

    def content_by_id(self, schema_id: int) -> Content:
        content = self.state.ids.get(schema_id)
        if content is None:
            not_found(SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")
        return content

    def schema_json(self, content: Content, serialized: bool) -> dict[str, Any]:
        text = self.parse(content.schema, content.references).serialized() if serialized else content.schema
        return {"schemaType": "PROTOBUF", "schema": text, "references": [r.to_json() for r in content.references]}

    def version_json(self, v: Version, serialized: bool = False) -> dict[str, Any]:
        return {"subject": v.subject, "version": v.version, "id": v.id, **self.schema_json(v.content, serialized)}

    def by_id(self, schema_id: int, serialized: bool) -> bytes:
        """The encoded answer; cached, as an id never changes meaning (the log's first record wins)."""
        found = self._by_id.get((schema_id, serialized))
        if found is None:
            answer = self.schema_json(self.content_by_id(schema_id), serialized)
            found = self._by_id[(schema_id, serialized)] = dump(answer)
        return found

    def lookup(self, subject: str, request: SchemaRequest, normalize: bool, deleted: bool) -> Version:
        versions = self.subject_versions(subject, deleted=True)
        content = Content(self.parse(request.schema, request.references).canonical(normalize), request.references)
        match = next((v for v in reversed(versions) if v.content == content and (deleted or not v.deleted)), None)
        if match is None:
            not_found(SCHEMA_NOT_FOUND, "Schema not found")
        return match

    def referenced_by(self, subject: str, raw_version: str) -> list[int]:
        v = self.get_version(subject, raw_version)
        return sorted({user.id for user in self.state.referenced_by(subject, v.version)})

    def compatibility(self, subject: str, raw_version: str | None, request: SchemaRequest,
                      normalize: bool) -> list[str]:
        """Messages explaining each incompatibility; empty when compatible."""
        parsed = self.parse(request.schema, request.references)
        new = self.view(Content(parsed.canonical(normalize), request.references), parsed)
        level = self.state.level(subject)
        if raw_version is None:  # against the history, as the level says
            history = self.state.versions(subject)
        else:
            history = [self.get_version(subject, raw_version)]
            level = level.removesuffix("_TRANSITIVE")
        return self._explain(level, history, new)

    def _explain(self, level: str, history: list[Version], new: compat.SchemaView) -> list[str]:
        found = compat.check(level, [self.view(v.content) for v in history], new)
        return [f"{{errorType:'{d.rule}', description:'{d}', oldSchemaVersion: {history[i].version}, "
                f"compatibility: '{level}'}}" for i, d in found]

    # -- writes ------------------------------------------------------------------------------

    def _writable(self, subject: str | None, importing: bool = False) -> None:
        mode = self.state.effective_mode(subject)
        if mode == "READONLY" or (mode == "IMPORT") != importing:
            what = "a schema with a given id needs IMPORT mode" if importing else f"the registry is in {mode} mode"
            raise RegistryError(422, OPERATION_NOT_PERMITTED, f"Subject {subject!r}: {what}")

    async def _write(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Append records and wait until the reader applied them."""
        try:
            offset = -1
            for key, value in records:
                offset = await self.log.append(key, value)
            await asyncio.wait_for(self.log.applied(offset), self.log.timeout_ms / 1000)
        except KafkaException as exc:
            raise RegistryError(500, STORE_ERROR, f"Error while writing to the schemas topic: {exc}") from exc
        except TimeoutError:
            raise RegistryError(500, STORE_ERROR, "Error in the backend data store: the write was acknowledged "
                                "but could not be read back from the schemas topic in time") from None

    async def _catch_up(self) -> None:
        try:
            await asyncio.wait_for(self.log.catch_up(), 2 * self.log.timeout_ms / 1000)
        except (KafkaException, TimeoutError) as exc:
            raise RegistryError(500, STORE_ERROR, f"Error while reading the schemas topic: {exc!r}") from exc

    async def register(self, subject: str, request: SchemaRequest, normalize: bool) -> Version:
        parsed = self.parse(request.schema, request.references)
        content = Content(parsed.canonical(normalize), request.references)
        async with self._write_lock:
            for _ in range(WRITE_ATTEMPTS):
                await self._catch_up()  # see what other instances wrote before deciding
                self._writable(subject, importing=request.id is not None)
                versions = self.state.versions(subject, deleted=True)
                same = next((v for v in versions if v.content == content and not v.deleted), None)
                if same is not None and request.id in (None, same.id):
                    return same
                schema_id = self._choose_id(content, request.id)
                number = request.version or (versions[-1].version + 1 if versions else 1)
                if any(v.version == number for v in versions):
                    raise RegistryError(422, OPERATION_NOT_PERMITTED,
                                        f"Subject {subject!r} already has version {number}")
                if request.id is None:
                    problems = self._explain(self.state.level(subject), self.state.versions(subject),
                                             self.view(content, parsed))
                    if problems:
                        raise RegistryError(409, INCOMPATIBLE_SCHEMA,
                                            f"Schema being registered is incompatible with an earlier schema for "
                                            f"subject \"{subject}\", details: [{', '.join(problems)}]")
                new = Version(subject, number, schema_id, content)
                await self._write([(schema_key(subject, number), schema_value(new))])
                won = self.state.subjects.get(subject, {}).get(number)
                if won is not None and (won.id, won.content) == (new.id, new.content):
                    return new
                await self._repair(subject, number)
        raise RegistryError(500, STORE_ERROR, "Error in the backend data store: lost too many write races")

    def _choose_id(self, content: Content, wanted: int | None) -> int:
        existing = self.state.id_of.get(content)
        if wanted is None:
            return existing if existing is not None else self.state.max_id + 1
        if existing not in (None, wanted) or self.state.ids.get(wanted, content) != content:
            raise RegistryError(422, OPERATION_NOT_PERMITTED,
                                f"Cannot import with id {wanted}: the id or the schema is registered already "
                                f"(schema has id {existing})")
        return wanted

    async def _repair(self, subject: str, number: int) -> None:
        # Our record lost; rewrite the winner's value under the key so compaction keeps the winner.
        winner = self.state.subjects.get(subject, {}).get(number)
        await self._write([(schema_key(subject, number), schema_value(winner) if winner else None)])

    def _check_unreferenced(self, versions: list[Version], deleted: bool) -> None:
        for v in versions:
            users = self.state.referenced_by(v.subject, v.version, deleted)
            if users:
                raise RegistryError(422, REFERENCE_EXISTS,
                                    f"One or more references exist to the schema {{subject={v.subject}, "
                                    f"version={v.version}}}: ids {sorted({u.id for u in users})}")

    async def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        async with self._write_lock:
            await self._catch_up()
            self._writable(subject)
            versions = self.subject_versions(subject, deleted=True)
            if not permanent:
                live = [v for v in versions if not v.deleted]
                if not live:
                    not_found(SUBJECT_SOFT_DELETED, f"Subject '{subject}' was soft deleted. "
                              "Set permanent=true to delete permanently")
                self._check_unreferenced(live, deleted=False)
                await self._write([(delete_subject_key(subject),
                                    dump({"subject": subject, "version": versions[-1].version}))])
                return [v.version for v in live]
            if any(not v.deleted for v in versions):
                not_found(SUBJECT_NOT_SOFT_DELETED, f"Subject '{subject}' was not deleted first before being "
                          "permanently deleted")
            self._check_unreferenced(versions, deleted=True)
            await self._write([(schema_key(subject, v.version), None) for v in versions]
                              + [(delete_subject_key(subject), None)])
            return [v.version for v in versions]

    async def delete_version(self, subject: str, raw_version: str, permanent: bool) -> int:
        async with self._write_lock:
            await self._catch_up()
            self._writable(subject)
            number = parse_version(raw_version)
            v = self.get_version(subject, raw_version, deleted=permanent or number is not None)
            if not permanent:
                if v.deleted:
                    not_found(VERSION_SOFT_DELETED, f"Subject '{subject}' Version {v.version} was soft deleted. "
                              "Set permanent=true to delete permanently")
                self._check_unreferenced([v], deleted=False)
                await self._write([(schema_key(subject, v.version), schema_value(replace(v, deleted=True)))])
            else:
                if not v.deleted:
                    not_found(VERSION_NOT_SOFT_DELETED, f"Subject '{subject}' Version {v.version} was not deleted "
                              "first before being permanently deleted")
                self._check_unreferenced([v], deleted=True)
                await self._write([(schema_key(subject, v.version), None)])
            return v.version

    # -- config and mode ---------------------------------------------------------------------

    def get_level(self, subject: str | None, default_to_global: bool) -> str:
        if subject is None or default_to_global:
            return self.state.level(subject)
        level = self.state.config.get(subject)
        if level is None:
            not_found(SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED,
                      f"Subject '{subject}' does not have subject-level compatibility configured")
        return level

    async def set_level(self, subject: str | None, level: str) -> None:
        async with self._write_lock:
            await self._write([(config_key(subject), dump({"compatibilityLevel": level}))])

    async def delete_level(self, subject: str | None) -> str:
        async with self._write_lock:
            await self._catch_up()
            previous = self.state.config.get(subject)
            if subject is not None and previous is None:
                if not self.state.versions(subject, deleted=True):
                    not_found(SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
                self.get_level(subject, default_to_global=False)  # raises 40408
            await self._write([(config_key(subject), None)])
            return previous or DEFAULT_LEVEL

    def get_mode(self, subject: str | None, default_to_global: bool) -> str:
        if subject is None or default_to_global:
            return self.state.effective_mode(subject)
        mode = self.state.mode.get(subject)
        if mode is None:
            not_found(SUBJECT_LEVEL_MODE_NOT_CONFIGURED, f"Subject '{subject}' does not have subject-level mode "
                      "configured")
        return mode

    async def set_mode(self, subject: str | None, body: Any, force: bool) -> str:
        mode = body.get("mode") if isinstance(body, dict) else None
        if not isinstance(mode, str) or mode.upper() not in MODES:
            unprocessable(INVALID_MODE, f"Invalid mode {mode!r}. Valid values are: {', '.join(MODES)}")
        mode = mode.upper()
        async with self._write_lock:
            await self._catch_up()
            has_schemas = any(self.state.versions(s, deleted=True) for s in self.state.subjects
                              if subject is None or s == subject)
            if mode == "IMPORT" and has_schemas and not force:
                raise RegistryError(422, OPERATION_NOT_PERMITTED,
                                    "Cannot import since found existing subjects (use force=true to import anyway)")
            await self._write([(mode_key(subject), dump({"mode": mode}))])
        return mode

    async def delete_mode(self, subject: str) -> str:
        async with self._write_lock:
            previous = self.get_mode(subject, default_to_global=False)
            await self._write([(mode_key(subject), None)])
            return previous or DEFAULT_MODE


