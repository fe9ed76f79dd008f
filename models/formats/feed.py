"""Format ``feed-entry``: one entry of an RSS or Atom feed of opportunities, as
spiders.sources.feed reads it with feedparser.

Payload keys (strings as the feed gives them, any may be missing): ``id`` (the entry's
guid/id), ``link``, ``title``, ``summary`` (may be HTML), ``published`` and ``updated``
(as written), ``published_at``/``updated_at`` (the same, ISO 8601 UTC, from feedparser),
``author``, ``tags`` (category terms), ``feed_title``, ``feed_link``.

OCID rule: feeds carry no OCID, so ``bidbell-<source>-<h>``, where ``h`` is the first 20 hex
digits of the SHA-256 of the entry's guid (its link when it has no guid): guids are URLs or
opaque strings of any length, the hash is short, stable and safe in a URL.

Fields: title; summary -> description (as text); published (else updated) ->
published_at; link -> url; author -> buyer; category terms that are CPV codes -> cpv_codes
and NUTS/ITL codes -> regions; a "closing date ..." in the summary -> deadline. A feed
states no value: value not stated. Stage "tender": the feeds configured are feeds of open
opportunities.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from bidbell.clock import find_deadline
from bidbell.clock import published as read_published
from bidbell.ids import bidbell_ocid
from models.formats.fields import NormaliseError, NoticeFields
from models.formats.text import cpv_code, html_to_text, squash

_NUTS = re.compile(r"^(UK|TL)[C-N](\d{0,2}|\d{1,2}[A-Z0-9]?)$")


def entry_key(payload: dict[str, Any]) -> str | None:
    """What identifies an entry: its guid, else its link."""
    for k in ("id", "link"):
        v = payload.get(k)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def feed_ocid(source: str, key: str) -> str:
    return bidbell_ocid(source, key, hashed=True)


def entry_source_id(key: str) -> str:
    """The record id: the guid itself, or its hash when too long to be a column value."""
    return key if len(key) <= 200 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def normalise_feed_entry(source: str, payload: Any) -> NoticeFields:
    if not isinstance(payload, dict):
        raise NormaliseError(f"feed entry is a {type(payload).__name__}, not an object")
    key = entry_key(payload)
    if not key:
        raise NormaliseError("feed entry has neither a guid nor a link")
    title = squash(html_to_text(payload.get("title")))
    if not title:
        raise NormaliseError(f"feed entry {key} has no title")
    description = html_to_text(payload.get("summary"))
    tags = [str(t).strip().upper() for t in payload.get("tags") or [] if str(t).strip()]
    link = payload.get("link")
    return NoticeFields(
        ocid=feed_ocid(source, key),
        source_id=entry_source_id(key),
        title=title,
        description=description,
        buyer_name=squash(payload.get("author")),
        deadline=find_deadline(description),
        published_at=read_published(payload.get("published_at"))
        or read_published(payload.get("updated_at")),
        stage="tender",
        cpv_codes=list(dict.fromkeys(c for c in (cpv_code(t) for t in tags) if c)),
        regions=[t for t in tags if _NUTS.match(t)],
        url=link if isinstance(link, str) else "",
    )
