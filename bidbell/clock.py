"""Time in one place: aware UTC inside, Europe/London at the edges."""

from __future__ import annotations

from datetime import UTC, datetime

from bidbell.settings import UK, get_settings


def utcnow() -> datetime:
    """Now, as aware UTC; ``BIDBELL_AS_OF`` pins it (used to replay old captures)."""
    as_of = get_settings().as_of
    return as_of.astimezone(UTC) if as_of is not None else datetime.now(UTC)


def to_uk(dt: datetime) -> datetime:
    return dt.astimezone(UK)


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 string; a naive value is taken as UK local time (as the sources use)."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UK)
    return dt.astimezone(UTC)
