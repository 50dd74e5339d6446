"""Consumer-driven contracts: Pact v4 files written by the consumers' tests, verified against the providers' real code.

    python -m tools.contracts write                 the consumers' contracts and their page, into consumers-contracts/
    python -m tools.contracts verify [--provider P] every contract against its provider's real code (gate stage 4)
    python -m tools.contracts stale                 committed contracts, page and pair coverage are current (stage 5)
    python -m tools.contracts page                  the page alone
    (each takes --dir DIR instead of consumers-contracts/)

Declarations live in tests/contracts/: `consumers/<service>.py` says, for each event a service consumes
and each call it makes, the example it relies on (a real Protobuf message holding only the fields the
consumer reads) and the check that runs its real handler or caller on it; `providers/<service>.py`
says how a provider reaches each state a consumer names. No Pact plugin is reachable here, so bodies
travel in the canonical proto3 JSON mapping (field names as in the .proto); the contract pins every
field of the example (present, of its type; an enum among the values the consumer says it handles; a
list with at least one such element) and allows everything else. A field the consumer relies on is one it
needs filled: proto3 JSON leaves out default values, so a provider that stops filling a field breaks the
contract too.

Callers: a service's call carries its own credentials, as before; a site's call (sites/<site>/) is made
for the person of the session, so its interaction says so (`caller="customer"` or `"anonymous"`; the
back-office's `"staff"` or `"admin"`, a staff member of that role), the site's check asserts that its code sent
the session's token or none, and verification answers it as the provider's process would: the provider's own
access rules (services/<name>/access.py) applied to a customer's token for the customer the state made, to a
staff token of the caller's role (whose subject fills the request's actor field), or to no token, then the
servicer with that caller. A server-streaming call
(a PDF) declares the messages of the stream the consumer relies on, in a list: its contract holds a stream
containing each of them.

In-process services: the real stores, handlers and servicers on an EventBus that never starts, whose
units of work apply in memory (MemoryCommitter) and whose events go through the real serializer
against the registry at SCHEMA_REGISTRY_URL, under a namespace of the run's own.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import difflib
import functools
import importlib
import json
import os
import pkgutil
import re
import sys
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import descriptor, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")  # no network but package registries: no telemetry

from pact import Pact, Verifier, match
from pact.types import Message as PactMessage

from services.runtime import auth, inputs, topic_map
from services.runtime.auth import AUTHORIZATION
from services.runtime.bus import envelope_class
from services.runtime.inprocess import Context, Service
from services.runtime.process import PROCESS_FOLDERS

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = ROOT / "consumers-contracts"
PAGE = "README.md"
JSON_TYPE = "application/json"
T = TypeVar("T")
M = TypeVar("M", bound=Message)

# --- bodies: Protobuf messages <-> proto3 JSON and Pact matchers ---------------------------------------------

TIMESTAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"
INT64 = r"^-?\d+$"
FD = descriptor.FieldDescriptor
INT64_TYPES = {FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_SINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64}


def as_json(message: Message) -> dict[str, Any]:
    """The canonical proto3 JSON mapping, with the .proto's field names; default values left out."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def parse(body: str | bytes | dict[str, Any], message_class: type[M]) -> M:
    raw = body if isinstance(body, dict) else json.loads(body)
    return json_format.ParseDict(raw, message_class())


@dataclass(frozen=True)
class Rule:
    """What a consumer's code handles in one field, beyond the field's type: the values it knows (an enum's,
    or a string's), or a pattern its values match. Said in the consumer's declaration, so that its contract
    changes when its code does, never because the schema grew."""

    values: tuple[Any, ...] = ()
    pattern: str = ""
    why: str = ""


def one_of(*values: Any) -> Rule:
    """The values the consumer handles: enum values (their numbers, from the generated code) or strings."""
    return Rule(values=values)


def matching(pattern: str, why: str) -> Rule:
    """A pattern the consumer relies on (for a string, or an int64, which proto3 JSON writes as a string)."""
    return Rule(pattern=pattern, why=why)


CURRENCY = matching(r"^[A-Z]{3}$", "an ISO 4217 code")
POSITIVE = matching(r"^[1-9][0-9]*$", "above zero")


def matchers(message: Message, handles: dict[str, Rule] | None = None) -> dict[str, Any]:
    """A Pact body pinning every field set in `message`: present and of its type, nothing else asked. An
    enum is pinned to the values `handles` gives for its path ("order_cancelled.reason"), else to the
    example's own value: a consumer handles what it says it handles, whatever the schema may add."""
    rules, used = handles or {}, set[str]()
    body = _matchers(message, rules, "", used)
    unused = set(rules) - used
    if unused:
        raise DeclarationError(f"a rule names {', '.join(sorted(unused))}, which the example does not set")
    return body


def _matchers(message: Message, rules: dict[str, Rule], prefix: str, used: set[str]) -> dict[str, Any]:
    raw = as_json(message)
    return {f.name: _field_matcher(f, value, raw[f.name], rules, f"{prefix}{f.name}", used)
            for f, value in message.ListFields()}


def _field_matcher(f: descriptor.FieldDescriptor, value: Any, raw: Any, rules: dict[str, Rule], path: str,
                   used: set[str]) -> Any:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        value_field = f.message_type.fields_by_name["value"]
        return {key: _one(value_field, value[key], raw[str(key)], rules, f"{path}.{key}", used) for key in value}
    if f.is_repeated:
        return match.each_like(_one(f, value[0], raw[0], rules, f"{path}[]", used), min=1)
    return _one(f, value, raw, rules, path, used)


def _one(f: descriptor.FieldDescriptor, value: Any, raw: Any, rules: dict[str, Rule], path: str,
         used: set[str]) -> Any:
    if (rule := rules.get(path)) is not None:
        used.add(path)
        return _ruled(f, raw, rule, path)
    if f.message_type is not None:
        name = f.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return match.regex(raw, regex=TIMESTAMP)
        if name.startswith("google.protobuf."):  # Duration, wrappers ...: their JSON form, by type
            return match.like(raw)
        return _matchers(value, rules, f"{path}.", used)
    if f.enum_type is not None:
        return match.regex(raw, regex=f"^({re.escape(raw)})$")
    if f.type in INT64_TYPES:
        return match.regex(raw, regex=INT64)
    if f.type == FD.TYPE_BOOL:
        return match.bool(raw)
    if f.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return match.number(raw)
    if f.cpp_type in (FD.CPPTYPE_INT32, FD.CPPTYPE_UINT32):
        return match.int(raw)
    return match.str(raw)  # strings, and bytes as base64


def _ruled(f: descriptor.FieldDescriptor, raw: Any, rule: Rule, path: str) -> Any:
    """A field pinned by the consumer's rule; the example itself must keep to it."""
    if not isinstance(raw, str):
        raise DeclarationError(f"the rule on {path} needs a string in proto3 JSON (a string, an enum, an int64)")
    if rule.values:
        names = [f.enum_type.values_by_number[v].name if f.enum_type is not None and isinstance(v, int) else str(v)
                 for v in rule.values]
        regex = f"^({'|'.join(re.escape(n) for n in names)})$"
    else:
        regex = rule.pattern
    if not re.search(regex, raw):
        raise DeclarationError(f"the example's {path} {raw!r} breaks its own rule {regex} {rule.why}".rstrip())
    return match.regex(raw, regex=regex)


def field_paths(body: Any, prefix: str = "") -> list[str]:
    """The leaf fields of a JSON body: "order_confirmed.lines[].sku"."""
    if isinstance(body, dict):
        return [p for key, value in body.items() for p in field_paths(value, f"{prefix}.{key}" if prefix else key)]
    if isinstance(body, list):  # every element: a stream's messages differ (a header, then chunks)
        return list(dict.fromkeys(p for item in body for p in field_paths(item, f"{prefix}[]"))) or [f"{prefix}[]"]
    return [prefix]


def _load_generated() -> None:
    """Import every generated module, so that services and messages can be found by name."""
    gen = next(Path(p) for p in sys.path if (Path(p) / "shop" / "common" / "v1").is_dir())
    for path in sorted(gen.rglob("*_pb2.py")):
        importlib.import_module(".".join(path.relative_to(gen).with_suffix("").parts))


@functools.cache
def method(rpc: str) -> descriptor.MethodDescriptor:
    """"carting.v1.CartService/GetCart" -> its method descriptor."""
    _load_generated()
    service, name = rpc.split("/")
    return descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)


def message_class(message_descriptor: descriptor.Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(message_descriptor)


def provider_of_rpc(rpc: str) -> str:
    return rpc.split(".", 1)[0]


# --- declarations ------------------------------------------------------------------------------------------

Check = Callable[..., Awaitable[None]]


@dataclass
class Expectation:
    """One interaction of a consumer's contract: an event it handles or a call it makes."""

    consumer: str
    provider: str
    given: str
    params: dict[str, Any]
    check: Check
    topic: str = ""  # an event ...
    example: Message | None = None
    rpc: str = ""  # ... or a call
    request: Message | None = None
    response: Message | list[Message] | None = None  # a list: the messages of a server stream
    caller: str = ""  # a site's call: "customer", "staff", "admin" (the session's token) or "anonymous" (none)
    variant: str = ""
    handles: dict[str, Rule] = field(default_factory=dict)  # path in the event or response -> what the code handles

    @property
    def subject(self) -> str:
        """What the interaction is about: "<topic> <event>" or "<package.Service>/<Method>"."""
        return f"{self.topic} {self.example.WhichOneof('event')}" if self.example is not None else self.rpc

    @property
    def description(self) -> str:
        return f"{self.subject} ({self.variant})" if self.variant else self.subject


CALLERS = {"customer": "with the signed-in customer's token", "anonymous": "without a token",
           "staff": "with the signed-in staff member's token (role STAFF)",
           "admin": "with the signed-in administrator's token (role ADMIN)"}
STAFF_CALLERS = {"staff": auth.Role.STAFF, "admin": auth.Role.ADMIN}  # caller -> the role its staff token has


class Consumer:
    """A service's expectations of the others: `CONSUMER = Consumer("billing")` in tests/contracts/consumers/.
    A consumer that is not a service (a site) gives `build`, which makes what its checks drive: something with
    a FakeStub for each provider in `stubs` (and `aclose()`, called after each check, if it needs one)."""

    def __init__(self, name: str, build: Callable[[str], Any] | None = None) -> None:
        self.name, self.build = name, build
        self.expectations: list[Expectation] = []

    def event(self, topic: str, example: Message, *, given: str, variant: str = "",
              handles: dict[str, Rule] | None = None, **params: Any) -> Callable[[Check], Check]:
        """The consumer handles this event: `example` is the topic's envelope holding what the handler reads;
        the decorated `async def check(service, envelope)` runs the real handler on it and asserts the effect.
        `handles` says, for a field of the example (its path, "order_cancelled.reason"), the values its code
        handles or the rule they keep to; an enum field without one is pinned to the example's value."""
        def register(check: Check) -> Check:
            self.expectations.append(Expectation(self.name, topic_map.load()[topic].producer, given, params, check,
                                                 topic=topic, example=example, variant=variant,
                                                 handles=handles or {}))
            return check
        return register

    def call(self, rpc: str, request: Message, response: Message | list[Message], *, given: str, variant: str = "",
             handles: dict[str, Rule] | None = None, caller: str = "", **params: Any) -> Callable[[Check], Check]:
        """The consumer calls `rpc` with (at least) `request` and reads `response`'s fields; the decorated
        `async def check(service, response)` drives the real caller, whose stub answers `response`. `handles`:
        as for an event, on the response's fields. A server-streaming `rpc` reads a list of messages, each of
        which the stream must contain. A site says whose call it is: `caller` "customer" or "anonymous", the
        back-office "staff" or "admin" (a staff member's token of that role)."""
        if caller and caller not in CALLERS:
            raise DeclarationError(f"{self.name}, {rpc}: caller {caller!r} is none of {', '.join(CALLERS)}")
        if isinstance(response, list) != method(rpc).server_streaming:
            raise DeclarationError(f"{self.name}, {rpc}: a server stream's response is a list of its messages, "
                                   "any other response one message")

        def register(check: Check) -> Check:
            self.expectations.append(Expectation(self.name, provider_of_rpc(rpc), given, params, check, rpc=rpc,
                                                 request=request, response=response, variant=variant,
                                                 handles=handles or {}, caller=caller))
            return check
        return register

    def providers(self) -> list[str]:
        return sorted({e.provider for e in self.expectations})

    def pact(self, provider: str) -> Pact:
        pact = Pact(self.name, provider)
        for e in self.expectations:
            if e.provider != provider:
                continue
            params = e.params or None
            if e.example is not None:
                (pact.upon_receiving(e.description, "Async").given(e.given, params)
                 .with_body(self._matchers(e, e.example), JSON_TYPE).with_metadata({"topic": e.topic}))
            else:
                assert e.request is not None and e.response is not None
                response: Any = (match.array_containing([self._matchers(e, m) for m in e.response])
                                 if isinstance(e.response, list) else self._matchers(e, e.response))
                (pact.upon_receiving(e.description, "Sync").given(e.given, params)
                 .with_body(json.dumps(as_json(e.request), sort_keys=True), JSON_TYPE, part="Request")
                 .with_metadata({"rpc": e.rpc, **({"caller": e.caller} if e.caller else {})}, "Request")
                 .with_body(response, JSON_TYPE, part="Response"))
        return pact

    def _matchers(self, e: Expectation, body: Message) -> dict[str, Any]:
        try:
            return matchers(body, e.handles)
        except DeclarationError as exc:
            raise DeclarationError(f"tests/contracts/consumers/{self.name}.py, {e.description}: {exc}") from exc


State = Callable[..., Coroutine[Any, Any, dict[str, Any] | None]]


class Provider:
    """How a provider reaches the states its consumers name: `PROVIDER = Provider("ordering", build)`, with
    `build()` returning a fresh in-process Service, and `@PROVIDER.state("...")` on `async def setup(service,
    **params)` that drives the real code until it has published the event (or can answer the call). A state
    may return the ids it made ({"cart_id": ...}): they replace the example's in the call's request (what
    Pact calls values injected from the provider state)."""

    def __init__(self, name: str, build: Callable[[], Service]) -> None:
        self.name, self.build = name, build
        self.states: dict[str, State] = {}

    def state(self, name: str) -> Callable[[State], State]:
        def register(setup: State) -> State:
            self.states[name] = setup
            return setup
        return register


class DeclarationError(Exception):
    """A module of tests/contracts/ that cannot be loaded (its example sets a field the schema no longer has...)."""


def _load(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise DeclarationError(f"{module.replace('.', '/')}.py cannot be loaded: {type(exc).__name__}: {exc}") from exc


def _names(package: str) -> list[str]:
    return [info.name for info in pkgutil.iter_modules(importlib.import_module(package).__path__)]


def consumers() -> dict[str, Consumer]:
    found = [_load(f"tests.contracts.consumers.{name}").CONSUMER for name in _names("tests.contracts.consumers")]
    return {c.name: c for c in sorted(found, key=lambda c: c.name)}


def providers() -> list[str]:
    return _names("tests.contracts.providers")


def provider(name: str) -> Provider:
    """tests/contracts/providers/<name>.py's PROVIDER."""
    if name not in providers():
        raise DeclarationError(f"no provider states for {name}: tests/contracts/providers/{name}.py does not exist")
    found: Provider = _load(f"tests.contracts.providers.{name}").PROVIDER
    return found


# --- services in-process ---------------------------------------------------------------------------------------


def metadata(**fields: Any) -> Any:
    """EventMetadata for an example (the bus reads event_id; the rest as a handler needs)."""
    from shop.common.v1 import event_pb2

    return event_pb2.EventMetadata(event_id=fields.pop("event_id", str(uuid.UUID(int=1))), **fields)


# --- the consumer side -----------------------------------------------------------------------------------------


async def run_consumer(consumer: Consumer, provider: str, build: Callable[[str], Any]) -> None:
    """Feed each of the pair's contract examples, as Pact gives it back, to the consumer's real code (a service
    built by `build`, a site by its consumer's own)."""
    build = consumer.build or build
    pact = consumer.pact(provider)
    by_description = {e.description: e for e in consumer.expectations if e.provider == provider}
    for message in pact.interactions("Async"):
        e = by_description[message.description]
        contents = message.contents
        assert contents is not None and contents.contents is not None
        envelope = parse(contents.contents, envelope_class(topic_map.load()[e.topic].envelope))
        try:
            await e.check(build(consumer.name), envelope)
        except Exception as exc:
            raise AssertionError(f"{consumer.name}, {e.description}: {type(exc).__name__}: {exc}") from exc
    for sync in pact.interactions("Sync"):
        e = by_description[sync.description]
        rpc = method(e.rpc)
        raw = json.loads(next(iter(sync.response_contents)).contents or "{}")
        output = message_class(rpc.output_type)
        response: Any = [parse(m, output) for m in raw] if rpc.server_streaming else parse(raw, output)
        service = build(consumer.name)
        stub = service.stubs[provider]
        stub.answers[rpc.name] = response
        try:
            await e.check(service, response)
            sent = [request for name, request in stub.calls if name == rpc.name]
            assert sent, f"the caller never called {e.rpc}"
            asked = set(field_paths(as_json(e.request))) - set(field_paths(as_json(sent[-1])))  # type: ignore[arg-type]
            assert not asked, f"the contract's request has {sorted(asked)}, which the caller does not send"
            if e.caller:
                token = stub.credentials(rpc.name)[-1].get(AUTHORIZATION, "")
                assert bool(token) == (e.caller != "anonymous"), (
                    f"the contract says the call is made {CALLERS[e.caller]}, the caller sent "
                    f"{'a token' if token else 'none'}")
                session_token = getattr(service, "access_token", None)  # a site: the token its session holds
                if token and session_token is not None:
                    assert token == f"Bearer {session_token()}", (
                        f"the contract says the call is made {CALLERS[e.caller]}, the caller sent another token")
        except Exception as exc:
            raise AssertionError(f"{consumer.name}, {e.description}: {type(exc).__name__}: {exc}") from exc
        finally:
            if (close := getattr(service, "aclose", None)) is not None:
                await close()


def write(directory: Path) -> list[Path]:
    """Every consumer's contracts (one file a pair) and the page, into `directory`; a contract no consumer
    declares any more is removed."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for consumer in consumers().values():
        for provider in consumer.providers():
            consumer.pact(provider).write_file(directory, overwrite=True)
            written.append(directory / f"{consumer.name}-{provider}.json")
    for left in set(directory.glob("*.json")) - set(written):
        left.unlink()
    (directory / PAGE).write_text(page(directory))
    return written


# --- the provider side -----------------------------------------------------------------------------------------


@dataclass
class Failure:
    consumer: str
    interaction: str
    problem: str

    def __str__(self) -> str:
        return f"{self.consumer} <- {self.interaction}: {self.problem}"


STATE_TIMEOUT_S = 60  # the longest a provider state or answer may take


class _Loop:
    """An event loop in a thread of its own, for the provider's async code called from Pact's callbacks."""

    def __enter__(self) -> _Loop:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=STATE_TIMEOUT_S)

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Pact's verifier (Rust) prints every interaction to stdout and its callback server logs every request
    to stderr; the results it returns say what matters."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def contract_files(directory: Path, provider: str | None = None) -> list[Path]:
    files = sorted(directory.glob("*.json"))
    return [f for f in files if provider is None or json.loads(f.read_text())["provider"]["name"] == provider]


def verify(provider: Provider, files: list[Path]) -> list[Failure]:
    """Check the provider's real code against each consumer's contract with Pact's Verifier: for each
    interaction, the provider state is set up, the real code publishes the event (or answers the call),
    the real serializer encodes it and the real deserializer decodes it, and Pact compares."""
    # Built once before Pact's verifier runs: the first build imports the provider's code and registers the
    # envelopes, which on a loaded machine can outlast the verifier's wait for a state-change callback.
    provider.build()
    return [failure for path in files for failure in _verify_file(provider, path)]


def _verify_file(provider: Provider, path: Path) -> list[Failure]:
    consumer = json.loads(path.read_text())["consumer"]["name"]
    current: dict[str, Any] = {}
    raised: dict[str, str] = {}  # state or interaction -> what our callback raised (Pact only says "failed")

    @contextlib.contextmanager
    def reported(key: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            raised[key] = f"{type(exc).__name__}: {exc}"
            raise

    def set_up(state: str, action: str, parameters: dict[str, Any] | None) -> None:
        if action != "setup":
            return
        with reported(state):
            if state not in provider.states:
                raise LookupError(f"no such state in tests/contracts/providers/{provider.name}.py")
            current["service"] = service = provider.build()
            current["values"] = loop.run(provider.states[state](service, **(parameters or {}))) or {}

    def produce(name: str, metadata: dict[str, Any]) -> PactMessage:
        with reported(name):
            return _produce(current.pop("service"), current.pop("values"), name.split(" (")[0], metadata, loop)

    # Pact gives up on a state handler after 5 s by default and says only "One or more of the setup state change
    # handlers has failed"; on a loaded machine a state can take longer, so it waits as long as _Loop.run does.
    verifier = (Verifier(provider.name).state_handler(set_up, teardown=False).message_handler(produce)
                .set_request_timeout(STATE_TIMEOUT_S * 1000).add_source(str(path)))
    with _Loop() as loop, _silenced(), contextlib.suppress(RuntimeError):
        verifier.verify()  # failures are read from the results below
    results = verifier.results
    failures = []
    for result in results.get("interactionResults", []):
        if result.get("result") == "OK" or result.get("pending"):
            continue
        states = result.get("providerStates") or []
        interaction = result["description"] + (f" given {', '.join(states)!r}" if states else "")
        mismatch = result.get("mismatch") or {}
        problems = [f"{m.get('path', '')} {m.get('mismatch', '')}".strip() for m in mismatch.get("mismatches", [])]
        if not problems:
            why = [raised[key] for key in [*states, result["description"]] if key in raised]
            problems = why or [mismatch.get("message") or json.dumps(mismatch)]
        failures += [Failure(consumer, interaction, problem) for problem in problems]
    if not results.get("interactionResults"):
        failures += [Failure(consumer, str(e.get("interaction", "")), json.dumps(e.get("mismatch")))
                     for e in results.get("errors", [])]
    return failures


def _produce(service: Service, values: dict[str, Any], subject: str, metadata: dict[str, Any],
             loop: _Loop) -> PactMessage:
    """What the provider sends for an interaction: its servicer's answer to the contract's request, or the
    last such event its state published, as the real deserializer decoded it."""
    if "request" in metadata:
        rpc = method(subject)
        request = parse(metadata["request"]["contents"]["content"], message_class(rpc.input_type))
        # the ids the provider state made, in place of the example's (those the request has)
        json_format.ParseDict(values, request, ignore_unknown_fields=True)
        caller = (metadata["request"].get("metadata") or {}).get("caller", "")
        if caller:
            answer: Any = loop.run(_answer_as(caller, service, subject, request, values))
        else:
            answer = loop.run(service.call(subject, request))
        body = [as_json(part) for part in answer] if isinstance(answer, list) else as_json(answer)
        return PactMessage(contents=json.dumps(body).encode(), content_type=JSON_TYPE, metadata=None)
    topic, event = subject.split(" ")
    found = service.published(topic, event)
    if not found:
        published = [e.WhichOneof("event") for e in service.published(topic)]
        raise LookupError(f"the provider state published no {event} on {topic} (it published {published})")
    return PactMessage(contents=json.dumps(as_json(found[-1])).encode(), content_type=JSON_TYPE,
                       metadata={"topic": topic})


CUSTOMER_OF_NO_DATA = "customer-0"  # the customer a site's call is made for when the state made no one's data
STAFF_OF_NO_DATA = "staff-0"  # the staff member a back-office call is made by when the state made no staff account


async def _answer_as(caller: str, service: Service, rpc: str, request: Message, values: dict[str, Any]) -> Any:
    """The provider's answer to a site's call, as its process gives it: the access rule of its access.py checked
    on the credentials the site sends (a customer's token for the customer the state made, or none), which sets
    the caller its servicer sees (and fills or checks the request's owner field), the input floor, then the
    servicer; a server stream's messages in a list."""
    from tools.platform import as_customer, as_staff  # signs people's tokens with profiling's key, as sign-in does

    rules = importlib.import_module(f"services.{service.name}.access").RULES
    credentials: dict[str, Any] = {}
    if caller == "customer":
        credentials = dict(as_customer(values.get("customer_id") or CUSTOMER_OF_NO_DATA))
    elif caller in STAFF_CALLERS:
        acting = values.get("acting_staff_id") or values.get("staff_id") or STAFF_OF_NO_DATA
        credentials = dict(as_staff(acting, STAFF_CALLERS[caller]))
    auth.Authoriser(rules).authorise(f"/{rpc}", credentials.items(), request)
    inputs.check_request(request)
    answer = getattr(service.servicer, rpc.split("/")[1])(request, Context(**credentials))
    if method(rpc).server_streaming:
        return [type(part).FromString(part.SerializeToString()) async for part in answer]
    answered = await answer
    return type(answered).FromString(answered.SerializeToString())


# --- pairs: what exists in the code, what the contracts cover --------------------------------------------------


def event_subjects() -> dict[tuple[str, str], set[str]]:
    """(consumer, provider) -> "<topic> <event>" for every event the topic map says a service consumes."""
    found: dict[tuple[str, str], set[str]] = {}
    for topic in topic_map.load().values():
        for consumer, events in topic.consumers.items():
            found.setdefault((consumer, topic.producer), set()).update(f"{topic.name} {e}" for e in events)
    return found


def call_subjects(root: Path = ROOT) -> dict[tuple[str, str], set[str]]:
    """(caller, callee) -> "<package.Service>/<Method>" for every call a process makes to another: the stubs its
    bootstrap.py declares in `CALLS = {"<callee>": <X>Stub, ...}`, which wire() passes on as
    `name=callees["<callee>"]`, and the `self.<name>.<Method>(...)` calls in its code."""
    found: dict[tuple[str, str], set[str]] = {}
    for main in sorted(path for folder in PROCESS_FOLDERS for path in (root / folder).glob("*/bootstrap.py")):
        caller = main.parent.name
        tree = ast.parse(main.read_text())
        packages = {alias.name: node.module.rsplit(".", 1)[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
        calls: dict[str, str] = {}  # callee -> package.Service
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict)
                    and any(isinstance(t, ast.Name) and t.id == "CALLS"
                            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))):
                for key, value in zip(node.value.keys, node.value.values, strict=True):
                    if (isinstance(key, ast.Constant) and isinstance(value, ast.Name)
                            and value.id.endswith("Stub")):
                        calls[str(key.value)] = f"{packages[value.id]}.{value.id.removesuffix('Stub')}"
        stubs: dict[str, tuple[str, str]] = {}  # attribute -> (callee, package.Service)
        for node in ast.walk(tree):
            if (isinstance(node, ast.keyword) and node.arg and isinstance(node.value, ast.Subscript)
                    and isinstance(node.value.value, ast.Name) and node.value.value.id == "callees"
                    and isinstance(name := node.value.slice, ast.Constant) and name.value in calls):
                stubs[node.arg] = (str(name.value), calls[str(name.value)])
        for source in sorted(main.parent.glob("*.py")):
            for node in ast.walk(ast.parse(source.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Attribute) and node.func.value.attr in stubs
                        and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "self"):
                    callee, service = stubs[node.func.value.attr]
                    found.setdefault((caller, callee), set()).add(f"{service}/{node.func.attr}")
    for pair, subjects in site_call_subjects(root).items():
        found.setdefault(pair, set()).update(subjects)
    return found


SITE_RUNTIME = "runtime"  # sites/runtime/: what every site runs on, not a site


def site_call_subjects(root: Path = ROOT) -> dict[tuple[str, str], set[str]]:
    """(site, callee) -> "<package.Service>/<Method>" for every call a site makes (sites/<site>/*.py): through
    `Calls` (sites/runtime/calls.py), as `Calls.of(request).<callee>.<Method>(...)`, or through a name bound to
    `Calls.of(request)` or to `Calls.of(request).<callee>` in the same function; the stub of each callee is the
    one `STUBS` in calls.py names. The runtime's own calls (`....stubs["<callee>"].<Method>(...)`, the token
    refresh) are every site's whose `CALLS` (sites/<site>/app.py) holds the callee."""
    runtime = root / "sites" / SITE_RUNTIME / "calls.py"
    if not runtime.exists():
        return {}
    tree = ast.parse(runtime.read_text())
    packages = {alias.name: node.module.rsplit(".", 1)[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
    services: dict[str, str] = {}  # callee -> package.Service
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "STUBS"
                        for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Name) and value.id.endswith("Stub"):
                    services[str(key.value)] = f"{packages[value.id]}.{value.id.removesuffix('Stub')}"
    runtime_calls = {(str(node.func.value.slice.value), node.func.attr)
                     for source in sorted(runtime.parent.glob("*.py"))
                     for node in ast.walk(ast.parse(source.read_text()))
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                     and isinstance(node.func.value, ast.Subscript) and isinstance(node.func.value.value, ast.Attribute)
                     and node.func.value.value.attr == "stubs" and isinstance(node.func.value.slice, ast.Constant)}
    found: dict[tuple[str, str], set[str]] = {}
    for app in sorted((root / "sites").glob("*/app.py")):
        site = app.parent.name
        if site == SITE_RUNTIME:
            continue
        calls: list[tuple[str, str]] = []
        for source in sorted(app.parent.glob("*.py")):
            calls += _site_calls(ast.parse(source.read_text()))
        declared_callees = set()
        for node in ast.walk(ast.parse(app.read_text())):
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CALLS" for t in node.targets)
                    and isinstance(node.value, ast.List)):
                declared_callees = {str(e.value) for e in node.value.elts if isinstance(e, ast.Constant)}
        calls += [(callee, rpc) for callee, rpc in runtime_calls if callee in declared_callees]
        for callee, rpc in calls:
            if callee in services and rpc[:1].isupper():
                found.setdefault((site, callee), set()).add(f"{services[callee]}/{rpc}")
    return found


def _site_calls(module: ast.Module) -> list[tuple[str, str]]:
    """(callee, Method) of each `Calls` call in a site's module, function by function."""
    def is_calls(node: ast.AST, roots: set[str]) -> bool:  # Calls.of(...), or a name bound to it
        return ((isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "of"
                 and isinstance(node.func.value, ast.Name) and node.func.value.id == "Calls")
                or (isinstance(node, ast.Name) and node.id in roots))

    found = []
    for function in ast.walk(module):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        roots: set[str] = set()
        callees: dict[str, str] = {}  # a name bound to Calls.of(...).<callee>
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name, value = node.targets[0].id, node.value
                if is_calls(value, roots):
                    roots.add(name)
                elif isinstance(value, ast.Attribute) and is_calls(value.value, roots):
                    callees[name] = value.attr
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target = node.func.value
            if isinstance(target, ast.Attribute) and is_calls(target.value, roots):
                found.append((target.attr, node.func.attr))
            elif isinstance(target, ast.Name) and target.id in callees:
                found.append((callees[target.id], node.func.attr))
    return found


def coverage_problems(directory: Path = CONTRACTS_DIR, root: Path = ROOT) -> list[str]:
    """Every pair in the code (of the services and of the sites under `root`) has its contract file, holding an
    interaction for each event and call; no contract file is left for a pair that no longer exists."""
    needed: dict[tuple[str, str], set[str]] = {}
    for found in (event_subjects(), call_subjects(root)):
        for pair, subjects in found.items():
            needed.setdefault(pair, set()).update(subjects)
    problems = []
    for (consumer, provider), subjects in sorted(needed.items()):
        path = directory / f"{consumer}-{provider}.json"
        if not path.exists():
            problems.append(f"{consumer} consumes from {provider} ({', '.join(sorted(subjects))}) but "
                            f"{path.relative_to(directory.parent)} does not exist: add the expectations to "
                            f"tests/contracts/consumers/{consumer}.py and run `make contracts`")
            continue
        covered = {i["description"].split(" (")[0] for i in json.loads(path.read_text())["interactions"]}
        problems += [f"{path.name}: no interaction for {s}, which {consumer} consumes: add it to "
                     f"tests/contracts/consumers/{consumer}.py" for s in sorted(subjects - covered)]
    for path in contract_files(directory):
        contract = json.loads(path.read_text())
        pair = (contract["consumer"]["name"], contract["provider"]["name"])
        if pair not in needed:
            problems.append(f"{path.name}: {pair[0]} neither consumes events from nor calls {pair[1]} any more")
    return problems


# --- the page ------------------------------------------------------------------------------------------------------


def page(directory: Path = CONTRACTS_DIR) -> str:
    """consumers-contracts/README.md: every pair, and for each provider message which consumers read which fields."""
    contracts = [json.loads(p.read_text()) for p in contract_files(directory)]
    lines = ["# Consumer-driven contracts", "",
             "Written by `make contracts` (`python -m tools.contracts write`), with the Pact files beside it, from "
             "the consumers' declarations in `tests/contracts/consumers/`; `make gates` fails when either is stale. "
             "How they are verified: [the README](../README.md#changing-a-schema-safely).", "",
             "## Pairs", "", "| consumer | provider | events | calls | contract |", "|---|---|---|---|---|"]
    reads: dict[str, dict[str, set[str]]] = {}  # provider message -> field -> consumers
    for c in contracts:
        consumer, provider = c["consumer"]["name"], c["provider"]["name"]
        events = [i for i in c["interactions"] if i["type"] == "Asynchronous/Messages"]
        calls = [i for i in c["interactions"] if i["type"] == "Synchronous/Messages"]
        lines.append(f"| {consumer} | {provider} | {len(events)} | {len(calls)} | "
                     f"[{consumer}-{provider}.json]({consumer}-{provider}.json) |")
        for i in events:
            subject = i["description"].split(" (")[0]
            for path in field_paths(i["contents"]["content"]):
                reads.setdefault(f"{subject} ({provider})", {}).setdefault(path, set()).add(consumer)
        for i in calls:
            subject = i["description"].split(" (")[0]
            for path in field_paths(i["response"][0]["contents"]["content"]):
                reads.setdefault(f"{subject} response ({provider})", {}).setdefault(path, set()).add(consumer)
    lines += ["", f"{len(contracts)} pairs, "
              f"{sum(1 for c in contracts for i in c['interactions'] if i['type'] == 'Asynchronous/Messages')} "
              "event interactions, "
              f"{sum(1 for c in contracts for i in c['interactions'] if i['type'] == 'Synchronous/Messages')} "
              "call interactions.", "", "## Who reads what", "",
              "A field listed here must be filled by its provider: the consumers named rely on it.", ""]
    for subject in sorted(reads):
        lines += [f"### {subject}", "", "| field | read by |", "|---|---|"]
        lines += [f"| `{path}` | {', '.join(sorted(who))} |" for path, who in sorted(reads[subject].items())]
        lines.append("")
    return "\n".join(lines)


@functools.cache
def published_pool() -> descriptor_pool.DescriptorPool:
    """The last published schemas (registry/published/image.json), by name."""
    from registry.workflow import History, load_image

    pool = descriptor_pool.DescriptorPool()
    for fdp in load_image(History(ROOT).image).values():  # buf writes an image's files imports first
        pool.Add(fdp)
    return pool


def readers(directory: Path = CONTRACTS_DIR) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Who reads what, by Protobuf name: each message ("ordering.v1.OrderCreated") and each field
    ("ordering.v1.OrderCreated.cart_id") of the providers' events and answers -> the consumers whose contracts
    hold it (and of the requests, which their callers rely on too). The bodies are typed with the last published
    schemas: a refused change is a change to them, and the working tree may no longer have what it removed."""
    pool = published_pool()
    topics = topic_map.load()
    messages: dict[str, set[str]] = {}
    fields: dict[str, set[str]] = {}

    def walk(message: descriptor.Descriptor, body: Any, consumer: str) -> None:
        if not isinstance(body, dict):
            return
        messages.setdefault(message.full_name, set()).add(consumer)
        for key, value in body.items():
            fields.setdefault(f"{message.full_name}.{key}", set()).add(consumer)
            f = message.fields_by_name.get(key)
            if f is None or f.message_type is None:
                continue
            inner, items = f.message_type, value if isinstance(value, list) else [value]
            if inner.GetOptions().map_entry:  # a map: its values, when they are messages
                if (value_type := inner.fields_by_name["value"].message_type) is None:
                    continue
                inner, items = value_type, list(value.values())
            for item in items:
                walk(inner, item, consumer)

    def typed(name: str, body: Any, consumer: str) -> None:
        body = json.loads(body) if isinstance(body, str) else body
        with contextlib.suppress(KeyError):  # a type the published schemas do not have: nobody read it yet
            for message in body if isinstance(body, list) else [body]:  # a list: a stream's messages
                walk(pool.FindMessageTypeByName(name), message, consumer)

    for path in contract_files(directory):
        contract = json.loads(path.read_text())
        consumer = contract["consumer"]["name"]
        for i in contract["interactions"]:
            if i["type"] == "Asynchronous/Messages":
                if (topic := topics.get(i.get("metadata", {}).get("topic", ""))) is not None:
                    typed(topic.envelope, i["contents"]["content"], consumer)
                continue
            with contextlib.suppress(KeyError):
                service, name = i["request"]["metadata"]["rpc"].split("/")
                rpc = pool.FindServiceByName(service).methods_by_name[name]
                typed(rpc.input_type.full_name, i["request"]["contents"]["content"], consumer)
                typed(rpc.output_type.full_name, i["response"][0]["contents"]["content"], consumer)
    return messages, fields


# --- staleness -------------------------------------------------------------------------------------------------


def stale(directory: Path = CONTRACTS_DIR) -> list[str]:
    """What differs between the committed contracts and page and what the consumers' declarations write now."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="contracts-") as tmp:
        fresh = Path(tmp)
        write(fresh)
        names = {p.name for p in fresh.iterdir()} | {p.name for p in directory.glob("*.json")}
        for name in sorted(names | {PAGE}):
            new, old = fresh / name, directory / name
            shown = old.relative_to(directory.parent)
            if not old.exists():
                problems.append(f"{shown} is missing")
            elif not new.exists():
                problems.append(f"{shown} is written by no consumer's declarations any more")
            elif new.read_text() != old.read_text():
                diff = difflib.unified_diff(old.read_text().splitlines(), new.read_text().splitlines(),
                                            f"committed {name}", f"written now {name}", lineterm="", n=1)
                problems.append(f"{shown} is stale:\n" + "\n".join(list(diff)[:30]))
    return problems


# --- the command line ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def registry() -> Iterator[None]:
    """SCHEMA_REGISTRY_URL, or a scratch registry (on KAFKA_BOOTSTRAP's broker, or one started here)."""
    if os.environ.get("SCHEMA_REGISTRY_URL"):
        yield
        return
    from registry.workflow import ephemeral_registry

    with ephemeral_registry([]) as client:
        os.environ["SCHEMA_REGISTRY_URL"] = client.url
        try:
            yield
        finally:
            del os.environ["SCHEMA_REGISTRY_URL"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.contracts")
    parser.add_argument("command", choices=["write", "verify", "stale", "page"])
    parser.add_argument("--provider", action="append", help="verify only this provider's contracts")
    parser.add_argument("--dir", type=Path, default=CONTRACTS_DIR)
    args = parser.parse_args(argv)
    try:
        if args.command == "write":
            for path in write(args.dir):
                print(f"wrote {path}")
        elif args.command == "page":
            (args.dir / PAGE).write_text(page(args.dir))
        elif args.command == "stale":
            return _report_stale(args.dir)
        else:
            return _report_verified(args.dir, args.provider)
    except DeclarationError as exc:
        print(f"FAIL {exc}\nresult: FAILED — the declarations in tests/contracts/ no longer load")
        return 1
    return 0


def _report_stale(directory: Path) -> int:
    problems = stale(directory) + coverage_problems(directory)
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        print("result: FAILED — run `make contracts` and commit consumers-contracts/ with the change that made it "
              "differ")
        return 1
    print(f"result: ok ({len(contract_files(directory))} contracts and their page are current)")
    return 0


def _report_verified(directory: Path, chosen: list[str] | None) -> int:
    failures: list[Failure] = []
    with registry():
        names = {json.loads(path.read_text())["provider"]["name"] for path in contract_files(directory)}
        for name in chosen or sorted(names):
            files = contract_files(directory, name)
            try:
                found = verify(provider(name), files)
            except DeclarationError as exc:
                readers = [json.loads(f.read_text())["consumer"]["name"] for f in files]
                found = [Failure(consumer, "*", str(exc)) for consumer in readers or ["*"]]
            count = sum(len(json.loads(f.read_text())["interactions"]) for f in files)
            print(f"{name}: {count} interactions of {len(files)} consumers: "
                  f"{'ok' if not found else f'{len(found)} FAILED'}")
            failures += found
    for failure in failures:
        print(f"FAIL {failure}")
    print("result: " + ("FAILED — the provider no longer gives a consumer what its contract relies on"
                        if failures else "ok"))
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

