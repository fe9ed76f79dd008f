"""Any RSS or Atom feed of opportunities.

One conditional GET (spiders.base.ConditionalGetSpider: ``If-None-Match`` /
``If-Modified-Since`` from the ETag and Last-Modified the feed sent last time, carried in the
state), then feedparser on the response bytes (never ``feedparser.parse(url)``: Scrapy is the
HTTP client, with our retries, timeouts and user agent). A 304 yields nothing and the crawl
is complete.

Params: ``path`` (appended to base_url; base_url alone may be the feed).
Records: ``format="feed-entry"`` (models/formats/feed.py, which gives the OCID rule:
``bidbell-<source>-<hash of the guid>``); ``source_id`` is the entry's guid, else its link.

A body that is not a feed is a RawError with the body kept, and the crawl is incomplete:
feedparser's "bozo" with no entries, or no recognisable RSS/Atom at all. XML that is not
well-formed but from which feedparser's lenient parser still recovered entries is also a
RawError (body kept, crawl incomplete), and the recovered entries are kept: a feed with a
stray "&" still delivers. After a bad body the old validators are kept, so the next run
asks again rather than being told "not modified".
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import feedparser
from scrapy.http import Response
from twisted.python.failure import Failure

from bidbell.clock import now_iso
from bidbell.ids import entry_key, entry_source_id, feed_ocid
from bidbell.records import RawError, RawNotice
from spiders.base import ConditionalGetSpider


def _iso(parsed: Any) -> str | None:
    """feedparser's *_parsed (a UTC time.struct_time) -> ISO 8601 UTC."""
    try:
        y, mo, d, h, mi, sec = parsed[:6]
        return datetime(y, mo, d, h, mi, sec, tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        return None


def entry_payload(entry: Any, feed: Any) -> dict[str, Any]:
    """A feedparser entry as plain JSON: the texts as the feed gives them. Read with
    dict.get: feedparser's own get() maps a missing "updated" to "published" (deprecated)."""

    def raw(obj: Any, key: str) -> Any:
        return dict.get(obj, key) if isinstance(obj, dict) else None

    payload: dict[str, Any] = {
        "id": raw(entry, "id"),
        "link": raw(entry, "link"),
        "title": raw(entry, "title"),
        "summary": raw(entry, "summary"),
        "published": raw(entry, "published"),
        "published_at": _iso(raw(entry, "published_parsed")),
        "updated": raw(entry, "updated"),
        "updated_at": _iso(raw(entry, "updated_parsed")),
        "author": raw(entry, "author"),
        "tags": [raw(t, "term") for t in raw(entry, "tags") or [] if raw(t, "term")],
        "feed_title": raw(feed, "title"),
        "feed_link": raw(feed, "link"),
    }
    return {k: v for k, v in payload.items() if v not in (None, "", [])}


class FeedSpider(ConditionalGetSpider):
    name = "feed"
    record_format = "feed-entry"

    def __init__(self, source: str = "", base_url: str = "", path: str = "", **kwargs: Any):
        super().__init__(source=source, base_url=base_url, **kwargs)
        self.feed_url = self.base_url + path

    async def start(self) -> Any:
        yield self.conditional_request(self.feed_url, self.parse_feed, self.on_error)

    def parse_feed(self, response: Response) -> Iterator[Any]:
        self.report.pages += 1
        if self.not_modified(response):
            return
        body = response.body
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers={"content-type": ctype, "content-location": response.url},
        )
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if not parsed.get("version") or (problem and not parsed.entries):
            self.keep_old_validators(response)
            yield self.error(
                response.url,
                f"invalid feed: {problem or 'not RSS or Atom'}",
                response.status,
                body.decode("utf-8", "replace"),
            )
            return
        # feedparser's "things nobody cares about" (an encoding declared differently from
        # the header, a feed served as text/html) are warnings; anything else (the XML is
        # not well-formed) is an error, though its lenient parser still recovered entries.
        invalid = problem is not None and not isinstance(
            problem, feedparser.ThingsNobodyCaresAboutButMe
        )
        if invalid:
            yield self.error(
                response.url,
                f"invalid XML: {problem}; the {len(parsed.entries)} entries a lenient parse "
                "recovered are kept",
                response.status,
                body.decode("utf-8", "replace"),
            )
        elif problem:
            self.logger.warning("%s: %s (the feed is used)", self.source, problem)
        fetched = now_iso()
        for n, entry in enumerate(parsed.entries, 1):
            yield self.record(response.url, entry, parsed.feed, n, fetched)
        if invalid:  # incomplete, and the old validators: the next run reads it again
            self.keep_old_validators(response)
            return
        self.keep_new_validators(response)
        self.report.complete = True

    def record(self, url: str, entry: Any, feed: Any, n: int, fetched: str) -> RawNotice | RawError:
        payload = entry_payload(entry, feed)
        key = entry_key(payload)
        if not key:
            return self.error(
                url,
                "entry without a guid or link",
                record=f"entry {n}",
                body=json.dumps(payload, ensure_ascii=False),
            )
        self.report.notices += 1
        link = payload.get("link")
        return RawNotice(
            source=self.source,
            format=self.record_format,
            source_id=entry_source_id(key),
            ocid=feed_ocid(self.source, key),
            url=url,
            notice_url=link if isinstance(link, str) and link.startswith("http") else None,
            fetched_at=fetched,
            payload=payload,
        )

    def on_error(self, failure: Failure) -> Iterator[RawError]:
        yield self.failure_error(failure)
