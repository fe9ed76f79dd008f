"""A ProContract (Proactis) portal, replayed from CONSTRUCTED pages.

No capture of ProContract pages exists (../shared/fixtures/SOURCES.md), so the files in
``constructed/procontract/`` were built by hand from the documented layout; each says so at
its top. This site serves them the way the portal is documented to answer:

- ``GET /Opportunities/Index?Page=N``: ``opportunities_page_N.html``; a page past the last
  one is a grid with no rows. ``changed_layout=True`` serves page 1 as it would look after a
  redesign (no ``#opportunitiesGrid``).
- ``GET /Advert?advertId=<GUID>``: ``advert_<GUID>.html``, or a 404 page.
- ``GET /Opportunities/rss?site=<id>``: ``opportunities_rss_site_<id>.xml`` with an ``ETag``
  and ``Last-Modified``; a matching ``If-None-Match`` or a ``If-Modified-Since`` not before
  it gets ``304 Not Modified``.
"""

from __future__ import annotations

import hashlib
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from demo.replay import FixturesMissing, ReplayServer, Reply

CONSTRUCTED_DIR = Path(__file__).resolve().parent.parent / "constructed" / "procontract"
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
NOT_FOUND = b"<!DOCTYPE html><html><body><h1>Page not found</h1></body></html>"


class ProContractSite:
    """The listing, advert pages and per-site RSS of one ProContract portal."""

    def __init__(self, folder: Path = CONSTRUCTED_DIR, changed_layout: bool = False) -> None:
        if not (folder / "opportunities_page_1.html").is_file():
            raise FixturesMissing(f"no constructed ProContract pages in {folder}")
        self.folder = folder
        self.changed_layout = changed_layout

    def _file(self, name: str) -> bytes | None:
        path = self.folder / name
        return path.read_bytes() if path.is_file() else None

    def handle(
        self, server: ReplayServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        if path == "/Opportunities/Index":
            page = int(query.get("Page", "1"))
            if page < 1:
                raise ValueError(f"bad page {page}")
            if page == 1 and self.changed_layout:
                body = self._file("opportunities_changed_layout.html")
            else:
                body = self._file(f"opportunities_page_{page}.html")
            return Reply(200, body or self._file("opportunities_empty.html") or b"", {}, HTML)
        if path == "/Advert":
            advert_id = query.get("advertId", "").lower()
            body = self._file(f"advert_{advert_id}.html") if advert_id.isascii() else None
            return Reply(200, body, {}, HTML) if body else Reply(404, NOT_FOUND, {}, HTML)
        if path == "/Opportunities/rss":
            site = query.get("site", "")
            body = self._file(f"opportunities_rss_site_{site}.xml") if site.isalnum() else None
            if body is None:
                return Reply(404, NOT_FOUND, {}, HTML)
            return self._conditional(body, headers)
        return Reply(404, NOT_FOUND, {}, HTML)

    def _conditional(self, body: bytes, headers: dict[str, str]) -> Reply:
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        modified = self.last_modified(body)
        validators = {"ETag": etag, "Last-Modified": modified}
        lower = {k.lower(): v for k, v in headers.items()}
        if_none_match = lower.get("if-none-match")
        if_modified_since = lower.get("if-modified-since")
        if if_none_match is not None:
            fresh = etag in [t.strip() for t in if_none_match.split(",")] or if_none_match == "*"
        elif if_modified_since is not None:
            try:
                fresh = parsedate_to_datetime(if_modified_since) >= parsedate_to_datetime(modified)
            except (TypeError, ValueError):
                fresh = False
        else:
            fresh = False
        if fresh:
            return Reply(304, b"", validators, RSS)
        return Reply(200, body, validators, RSS)

    @staticmethod
    def last_modified(body: bytes) -> str:
        """The feed's own lastBuildDate, as an HTTP date."""
        text = body.decode("utf-8", "replace")
        start = text.find("<lastBuildDate>")
        end = text.find("</lastBuildDate>")
        if start < 0 or end < 0:
            raise ValueError("constructed feed has no lastBuildDate")
        when = parsedate_to_datetime(text[start + len("<lastBuildDate>") : end].strip())
        return format_datetime(when, usegmt=True)
