"""The merge gate (`make gates`): five stages in order, stopping at the first that fails.

A refusal at stages 1-3 (a schema change) is followed by the consumers that read what it names, from
their contracts in consumers-contracts/, and a pointer to the recipe for a breaking change; the gate
ends with one table: each stage, passed or failed, and its time.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ('to make this change, follow "A breaking change" (a v2 package on a topic of its own) in README.md, '
          '"Changing a schema safely"')


@dataclass(frozen=True)
class Stage:
    title: str
    command: tuple[str, ...]  # "{python}" and "{buf}" are the venv's

    def argv(self) -> list[str]:
        bin_dir = Path(sys.executable).parent
        return [part.replace("{python}", sys.executable).replace("{buf}", str(bin_dir / "buf"))
                for part in self.command]


STAGES = [
    Stage("buf lint", ("{buf}", "lint")),
    Stage("buf breaking against the last published schemas",
          ("{buf}", "breaking", "--against", "registry/published/image.json")),
    Stage("registry compatibility of every event subject, and the published history",
          ("{python}", "-m", "registry", "check")),
    Stage("every consumer contract verified against its provider", ("{python}", "-m", "tools.contracts", "verify")),
    Stage("contracts and their page current and every pair covered", ("{python}", "-m", "tools.contracts", "stale")),
]
SCHEMA_STAGES = 3  # the stages that judge a schema change, whose refusals say for whom they matter


def run(stage: Stage) -> tuple[int, str]:
    """The stage's command, its output shown as it comes and kept."""
    proc = subprocess.Popen(stage.argv(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    return proc.wait(), "".join(lines)


# buf names a message by its name in its file ("OrderCreated", "Order.Line") and a field by its name or number.
BUF_LINE = re.compile(r"^(?:schemas/)?(?P<path>[\w/]+)/(?P<file>[\w.]+\.proto):(?P<line>\d+):\d+:(?P<text>.*)$")
BUF_MESSAGE = re.compile(r'\bmessage "(?P<message>[\w.]+)"')
BUF_FIELDS = re.compile(r'(?:with name|changed name from) "(?P<field>\w+)"')
# The registry names the element in full: "FIELD_SCALAR_KIND_CHANGED at ordering.v1.OrderCreated.cart_id".
REGISTRY_AT = re.compile(r"\bat (?P<name>[a-z]\w*(?:\.\w+)+)")


def named_in(output: str) -> list[str]:
    """The messages and fields ("ordering.v1.OrderCreated", "ordering.v1.OrderCreated.cart_id") a refusal names."""
    found: list[str] = []
    for line in output.splitlines():
        if buf := BUF_LINE.match(line):
            if message := BUF_MESSAGE.search(buf["text"]):  # breaking: it names the message
                # One package a directory (docs/schemas.md): schemas/ordering/v1/ holds ordering.v1.
                name = f"{buf['path'].replace('/', '.')}.{message['message']}"
                found += [name, *(f"{name}.{f}" for f in BUF_FIELDS.findall(buf["text"]))]
            else:  # lint: it points at the element
                found += located(f"{buf['path']}/{buf['file']}", int(buf["line"]))
        found += REGISTRY_AT.findall(line)
    return list(dict.fromkeys(found))


MESSAGE_TYPE, NESTED_TYPE, FIELD = 4, 3, 2  # descriptor.proto's field numbers, as SourceCodeInfo paths use them


def located(path: str, line: int) -> list[str]:
    """The message and field of the working tree's `path` whose declaration spans `line`, a field named as the
    published schemas name its number (a field lint refuses may be a renamed one that consumers read)."""
    from google.protobuf import descriptor_pb2

    from tools.contracts import published_pool

    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "image.binpb"
        if subprocess.run([str(Path(sys.executable).parent / "buf"), "build", "--path", f"schemas/{path}", "-o",
                           str(image)], cwd=ROOT, capture_output=True).returncode != 0:
            return []
        files = descriptor_pb2.FileDescriptorSet.FromString(image.read_bytes()).file
    file = next((f for f in files if f.name == path), None)
    if file is None:
        return []
    # the innermost message or field whose span (0-based lines: start, [end]) holds the line
    spans = [(list(loc.path), loc.span[0], loc.span[2] if len(loc.span) == 4 else loc.span[0])
             for loc in file.source_code_info.location]
    paths = [p for p, start, end in spans if start <= line - 1 <= end and p[:1] == [MESSAGE_TYPE] and len(p) % 2 == 0
             and all(kind in (NESTED_TYPE, FIELD) for kind in p[2::2])]
    if not paths:
        return []
    deepest = max(paths, key=len)
    message, name, number = file.message_type[deepest[1]], f"{file.package}.{file.message_type[deepest[1]].name}", 0
    for kind, index in zip(deepest[2::2], deepest[3::2], strict=True):
        if kind == NESTED_TYPE:
            message = message.nested_type[index]
            name = f"{name}.{message.name}"
        else:
            number = message.field[index].number
    found = [name]
    if number:
        try:
            published = published_pool().FindMessageTypeByName(name).fields_by_number[number].name
        except KeyError:
            published = next(f.name for f in message.field if f.number == number)
        found.append(f"{name}.{published}")
    return found


def for_whom(output: str) -> list[str]:
    """What to say under a schema refusal: who reads what it names, and where the way forward is written."""
    from tools.contracts import readers

    messages, fields = readers()
    lines = []
    for name in named_in(output):
        # a name is a message, or a field of the message before its last dot
        for what, subject, who in (("field", name, fields.get(name)), ("message", name, messages.get(name)),
                                   ("message", name.rsplit(".", 1)[0], messages.get(name.rsplit(".", 1)[0]))):
            if who:
                lines.append(f"read by {', '.join(sorted(who))}: the {what} {subject} (consumers-contracts/)")
    if not lines:
        lines.append("read by no consumer's contract: no consumer reads what this refusal names")
    return [*dict.fromkeys(lines), RECIPE]


def main() -> int:
    results: list[tuple[str, str, float | None]] = []
    failed = False
    for number, stage in enumerate(STAGES, 1):
        if failed:
            results.append((f"{number}/{len(STAGES)} {stage.title}", "not run", None))
            continue
        print(f"gate {number}/{len(STAGES)}: {stage.title}", flush=True)
        started = time.monotonic()
        code, output = run(stage)
        if code != 0 and number <= SCHEMA_STAGES:
            for line in for_whom(output):
                print(f"  {line}")
        took = time.monotonic() - started
        failed = code != 0
        if failed:
            print(f"gate {number}/{len(STAGES)} FAILED: {stage.title} (what broke is listed above)")
        results.append((f"{number}/{len(STAGES)} {stage.title}", "FAILED" if failed else "passed", took))
    width = max(len(name) for name, _, _ in results)
    print(f"\n{'stage'.ljust(width)}  result   time")
    for name, result, seconds in results:
        print(f"{name.ljust(width)}  {result.ljust(7)}  {'' if seconds is None else f'{seconds:5.1f} s'}".rstrip())
    print(f"{'total'.ljust(width)}  {'FAILED' if failed else 'passed':7}  "
          f"{sum(t for _, _, t in results if t is not None):5.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
