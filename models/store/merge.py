"""An opportunity as its notices describe it, and the content hash that says whether a
stored row changed. Pure functions over NoticeFields."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from bidbell import jsoncodec
from models.formats.fields import NoticeFields

MERGED_FIELDS = [
    "title", "description", "buyer_name", "buyer_id", "buyer_postcode", "buyer_region",
    "value_amount", "value_amount_gross", "value_min", "value_currency", "deadline",
    "published_at", "stage", "notice_type", "cpv_codes", "regions", "lots",
    "sme_suitable", "vcse_suitable", "is_subcontract", "parent_reference", "url",
    "buyer_type", "main_category", "light_touch",
]  # fmt: skip


_FAR_PAST = datetime.min.replace(tzinfo=UTC)


def notice_order(n: NoticeFields) -> tuple[datetime, str]:
    """The order of one procurement's notices, oldest first: by publication, then record
    id. What is newest is decided by it, never by the order notices were read in."""
    return (n.published_at or _FAR_PAST, n.source_id)


def merge_notices(notices: list[NoticeFields]) -> dict[str, Any]:
    """The opportunity as its notices describe it: the newest notice that states a field wins.

    An award notice says nothing about the deadline or the estimate; those stay from the
    tender notice. ``published_at`` is the first publication; stage and type the newest.
    """
    if not notices:
        raise ValueError("merge_notices needs at least one notice")
    ordered = sorted(notices, key=notice_order)
    merged: dict[str, Any] = {"ocid": ordered[0].ocid}
    for n in ordered:
        for f in MERGED_FIELDS:
            v = getattr(n, f)
            if v not in (None, "", [], "unknown"):
                merged[f] = v
    for f in MERGED_FIELDS:
        merged.setdefault(f, [] if f in ("cpv_codes", "regions", "lots") else None)
    merged["stage"] = merged["stage"] or "unknown"
    for f in ("title", "description", "buyer_name", "url"):
        merged[f] = merged[f] or ""
    firsts = [n.published_at for n in ordered if n.published_at]
    merged["published_at"] = firsts[0] if firsts else None
    return merged


def content_hash(data: Any) -> str:
    """Stable hash of JSON-able data (datetimes as ISO strings)."""
    return hashlib.sha256(jsoncodec.dumps(data, sort_keys=True).encode()).hexdigest()
