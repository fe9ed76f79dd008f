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

import re
from typing import Any

from bidbell.clock import find_deadline
from bidbell.clock import published as read_published
from bidbell.ids import entry_key, entry_source_id, feed_ocid
from models.formats.fields import NormaliseError, NoticeFields, json_list
from models.formats.text import cpv_code, html_to_text, squash

_NUTS = re.compile(r"^(UK|TL)[C-N](\d{0,2}|\d{1,2}[A-Z0-9]?)$")


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
    tags = [t.strip().upper() for t in json_list(payload.get("tags")) if isinstance(t, str)]
    tags = [t for t in tags if t and len(t) <= 16]
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
