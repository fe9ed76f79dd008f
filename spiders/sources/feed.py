"""Any RSS or Atom feed of opportunities.

One conditional GET (``If-None-Match`` / ``If-Modified-Since`` from the ETag and
Last-Modified the feed sent last time, kept in ``state_in``; the new ones go to
``report.state``), then feedparser on the response bytes (never ``feedparser.parse(url)``:
Scrapy is the HTTP client, with our retries, timeouts and user agent). A 304 yields
nothing and the crawl is complete.

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
import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from bidbell.clock import now_iso
from bidbell.ids import entry_key, entry_source_id, feed_ocid
from bidbell.records import RawError, RawNotice
from spiders.base import BidbellSpider


def _iso(parsed: Any) -> str | None:
    """feedparser's *_parsed (a UTC time.struct_time) -> ISO 8601 UTC."""
    try:
        y, mo, d, h, mi, sec = parsed[:6]
        return datetime(y, mo, d, h, mi, sec, tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        return None


def header(response: Response, name: bytes) -> str:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else ""


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


class FeedSpider(BidbellSpider):
    name = "feed"
    record_format = "feed-entry"

    def __init__(self, source: str = "", base_url: str = "", path: str = "", **kwargs: Any):
        super().__init__(source=source, base_url=base_url, **kwargs)
        self.feed_url = self.base_url + path

    def validators(self) -> dict[str, str]:
        """The last run's ETag / Last-Modified, if they were for this feed URL."""
        if self.state_in.get("url") != self.feed_url:
            return {}
        return {
            k: v
            for k, v in (
                ("etag", self.state_in.get("etag")),
                ("last_modified", self.state_in.get("last_modified")),
            )
            if isinstance(v, str) and v
        }

    async def start(self) -> Any:
        old = self.validators()
        headers = {}
        if "etag" in old:
            headers["If-None-Match"] = old["etag"]
        if "last_modified" in old:
            headers["If-Modified-Since"] = old["last_modified"]
        yield scrapy.Request(
            self.feed_url,
            headers=headers,
            callback=self.parse_feed,
            errback=self.on_error,
            meta={"handle_httpstatus_list": [304]},
            dont_filter=True,
        )

    def parse_feed(self, response: Response) -> Iterator[Any]:
        self.report.pages += 1
        if response.status == 304:
            self.logger.info("%s: not modified since the last run", self.source)
            self.report.state = {"url": self.feed_url, **self.validators()}
            self.report.complete = True
            return
        body = response.body
        ctype = header(response, b"Content-Type")
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers={"content-type": ctype, "content-location": response.url},
        )
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if not parsed.get("version") or (problem and not parsed.entries):
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
        if invalid:
            return  # incomplete, and no new validators: the next run reads it again
        self.report.state = {
            "url": self.feed_url,
            "etag": header(response, b"ETag") or None,
            "last_modified": header(response, b"Last-Modified") or None,
        }
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
