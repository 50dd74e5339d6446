"""Checks every request gets before its handler, whatever the service: no text longer than MAX_TEXT, no
control characters in text (a tab, a line feed and a carriage return excepted, for the free text people
type), and times and durations that are valid ones. Each service's domain still applies its own, tighter
bounds (a SKU's 64 characters, a note's 500); this is the floor under all of them, so no field lets 10 KB
or a NUL reach a store, a log line or a PDF, and no impossible time reach a handler.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.runtime.errors import InvalidArgument

MAX_TEXT = 10_000
# What google.protobuf.Timestamp and Duration allow (their .proto says so); anything else cannot be turned
# into a datetime or timedelta, and would fail deep in a handler.
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31
MAX_DURATION_SECONDS = 315_576_000_000  # 10,000 years
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_request(request: Any) -> None:
    """InvalidArgument naming the first offending field ("address.city"); requests that are not Protobuf
    messages (the runtime's own tests send JSON) pass."""
    if isinstance(request, Message):
        _check(request, "")


def _check(message: Message, prefix: str) -> None:
    for field, value in message.ListFields():
        name = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            for text in (value if field.is_repeated else (value,)):
                _check_text(text, name)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    _check_text(str(key), f"{name} key")
                    if isinstance(item, Message):
                        _check(item, f"{name}[{str(key)[:20]!r}].")
                    elif isinstance(item, str):
                        _check_text(item, f"{name}[{str(key)[:20]!r}]")
            else:
                for item in (value if field.is_repeated else (value,)):
                    _check_time(item, name)
                    _check(item, f"{name}.")


def _check_time(message: Message, name: str) -> None:
    kind = message.DESCRIPTOR.full_name
    if kind == "google.protobuf.Timestamp":
        seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
        if not (MIN_SECONDS <= seconds <= MAX_SECONDS and 0 <= nanos <= 999_999_999):
            raise InvalidArgument(f"{name} must be a time between years 1 and 9999 with nanos from 0 to 999,999,999, "
                                  f"got seconds {seconds}, nanos {nanos}")
    elif kind == "google.protobuf.Duration":
        seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
        if not (abs(seconds) <= MAX_DURATION_SECONDS and abs(nanos) <= 999_999_999
                and (seconds == 0 or nanos == 0 or (seconds > 0) == (nanos > 0))):
            raise InvalidArgument(f"{name} must be a duration of at most 10,000 years, its seconds and nanos of "
                                  f"the same sign, got seconds {seconds}, nanos {nanos}")


def _check_text(text: str, name: str) -> None:
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"{name} must be at most {MAX_TEXT:,} characters, got {len(text):,}")
    if (found := _CONTROL.search(text)) is not None:
        raise InvalidArgument(f"{name} must not contain control characters (found U+{ord(found.group()):04X} at "
                              f"position {found.start()})")
