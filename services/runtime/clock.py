"""The one clock of a service's I/O layer. Domains never read it: a use case takes `now` as an argument."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """This moment, as an aware UTC datetime (what every record and event stores)."""
    return datetime.now(UTC)
