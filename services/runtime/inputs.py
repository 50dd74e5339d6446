"""Checks every request gets before its handler, whatever the service: no text longer than MAX_TEXT and no
control characters in text (a tab, a line feed and a carriage return excepted, for the free text people
type). Each service's domain still applies its own, tighter bounds (a SKU's 64 characters, a note's 500);
this is the floor under all of them, so no field lets 10 KB or a NUL reach a store, a log line or a PDF.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.runtime.errors import InvalidArgument

MAX_TEXT = 10_000
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
                    _check(item, f"{name}.")


def _check_text(text: str, name: str) -> None:
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"{name} must be at most {MAX_TEXT:,} characters, got {len(text):,}")
    if (found := _CONTROL.search(text)) is not None:
        raise InvalidArgument(f"{name} must not contain control characters (found U+{ord(found.group()):04X} at "
                              f"position {found.start()})")
