"""RSS 2.0 and Atom feeds of opportunities, replayed from CONSTRUCTED fixtures
(demo/constructed/feed/: fictional publishers; no real feed capture exists).

``GET /rss.xml`` and ``GET /atom.xml`` answer with an ``ETag`` (a hash of the body) and a
``Last-Modified`` date, and honour conditional requests as a web server does: a matching
``If-None-Match`` (which wins when both are sent), or an ``If-Modified-Since`` at or after
the feed's date, gets ``304 Not Modified`` with no body. ``update(path, body)`` changes a
feed (tests: "the feed changed since the last run").
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from demo.replay import ReplayServer, Reply

FOLDER = Path(__file__).resolve().parent.parent / "constructed" / "feed"
FEEDS = {
    "/rss.xml": ("opportunities_rss20.xml", "application/rss+xml; charset=utf-8"),
    "/atom.xml": ("opportunities_atom.xml", "application/atom+xml; charset=utf-8"),
}
# When each constructed feed was last built (its newest item/lastBuildDate).
MODIFIED = {
    "/rss.xml": datetime(2026, 3, 3, 9, 30, tzinfo=UTC),
    "/atom.xml": datetime(2026, 3, 4, 16, 0, tzinfo=UTC),
}


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


class FeedSite:
    def __init__(self) -> None:
        self.bodies = {path: (FOLDER / name).read_bytes() for path, (name, _t) in FEEDS.items()}
        self.modified = dict(MODIFIED)

    def update(self, path: str, body: bytes, modified: datetime | None = None) -> None:
        self.bodies[path] = body
        self.modified[path] = modified or datetime.now(UTC).replace(microsecond=0)

    def handle(
        self, server: ReplayServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        if path not in self.bodies:
            return Reply(404, b"not found", content_type="text/plain")
        body, modified = self.bodies[path], self.modified[path]
        validators = {"ETag": etag_of(body), "Last-Modified": format_datetime(modified, True)}
        lower = {k.lower(): v for k, v in headers.items()}
        inm, ims = lower.get("if-none-match"), lower.get("if-modified-since")
        if inm is not None:
            tags = {t.strip() for t in inm.split(",")}
            if "*" in tags or validators["ETag"] in tags:
                return Reply(304, b"", validators, content_type=FEEDS[path][1])
        elif ims is not None:
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                since = None
            if since is not None and since.tzinfo is not None and modified <= since:
                return Reply(304, b"", validators, content_type=FEEDS[path][1])
        return Reply(200, body, validators, content_type=FEEDS[path][1])
