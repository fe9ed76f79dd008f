"""RSS 2.0 and Atom feeds of opportunities, built with feedgen: the one renderer for the web's
feeds (per search, the default, a profile's private one: web/feeds.py serves them) and for
the files the pipeline writes (``var/feeds/opportunities.rss`` and ``.atom``). Items are
dated when the opportunity was first published, link to its page on the web front (which
links to every place it is published), and carry stable GUIDs; the default lists open
opportunities, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from feedgen.feed import FeedGenerator

from bidbell.settings import get_settings
from models.store.tables import Opportunity
from notifiers.render import source_label, stage_label, uk_time, value_text

Kind = Literal["rss", "atom"]
FEED_ITEMS = 50
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # "updated" of a feed with nothing in it


def base_url() -> str:
    return get_settings().public_url.rstrip("/")


def _published(o: Opportunity) -> datetime:
    return o.published_at or o.first_seen_at or EPOCH


def build_feed(
    kind: Kind,
    opportunities: Sequence[Opportunity],
    *,
    title: str,
    description: str,
    page_url: str,
    self_url: str,
) -> tuple[bytes, datetime]:
    """(the feed's bytes, when it last changed). The same opportunities give the same bytes
    (no "now" in them), so the ETag only changes when the feed does."""
    base = base_url()
    updated = max((o.updated_at or _published(o) for o in opportunities), default=EPOCH)
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(title)
    fg.subtitle(description)
    fg.author({"name": "Bidbell", "uri": base})
    fg.link(href=page_url, rel="alternate")
    fg.link(href=self_url, rel="self")
    fg.language("en-gb")
    fg.generator("Bidbell")
    fg.updated(updated)
    fg.lastBuildDate(updated)
    for o in opportunities:
        url = f"{base}/opportunities/{o.id}"
        entry = fg.add_entry(order="append")
        entry.id(url)
        entry.guid(url, permalink=True)
        entry.title(" ".join((o.title or o.ocid).split()))
        entry.link(href=url)
        entry.published(_published(o))
        entry.updated(o.updated_at or _published(o))
        closes = uk_time(o.deadline) if o.deadline else "no deadline stated"
        where = ", ".join(source_label(s) for s in o.sources)
        value = value_text(
            o.value_amount, o.value_currency, gross=o.value_amount_gross, minimum=o.value_min
        )
        entry.summary(
            f"{o.buyer_name or 'Buyer not stated'} | {value} | closes {closes} | "
            f"{stage_label(o.stage)} | published on {where}"
        )
        for sector in o.sectors:
            entry.category(term=sector)
    data = fg.rss_str(pretty=True) if kind == "rss" else fg.atom_str(pretty=True)
    return data, updated


def write_feed(path: Path, data: bytes) -> Path:
    """Write a feed file atomically: readers never see a half-written feed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
