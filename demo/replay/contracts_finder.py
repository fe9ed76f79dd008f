"""Contracts Finder, replayed from the real captures.

``CfOcdsSite`` answers ``GET /Published/Notices/OCDS/Search`` as Contracts Finder does:
releases whose ``date`` falls in ``[publishedFrom, publishedTo)`` (ISO 8601 with ``Z`` or an
offset; no zone means UK local time), ``limit`` per page (at most 100), and ``links.next``
with a ``cursor``, built like the real one (base64 of ``publishedFrom=..|publishedTo=..|
limit=..|nextCursor=N``). ``stages`` keeps releases whose tag is of one of those stages
(``tenderAmendment`` is a tender, ``awardUpdate`` an award): our reading of the parameter,
as no capture shows a filtered answer. The releases and the package envelope are the real
ones of ``contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json``; only the
paging is ours. With ``empty_first_page`` the first page is the real empty page that still
has a ``links.next`` (``cf_ocds_search_2025-01-23_empty_releases_page_with_next.json``),
pointing at the first real page.

``CfCsvSite`` answers ``GET /Search/GetCsvFile`` with the captured export's bytes.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bidbell.clock import parse_iso
from demo.replay import FixturesMissing, ReplayServer, Reply

CF_SEARCH_PATH = "/Published/Notices/OCDS/Search"
CF_CSV_PATH = "/Search/GetCsvFile"
CF_SEARCH_CAPTURE = "cf_ocds_search_2022-10-22_publishedTo_limit100.json"
CF_EMPTY_PAGE_CAPTURE = "cf_ocds_search_2025-01-23_empty_releases_page_with_next.json"
CF_CSV_CAPTURE = "cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"


def cf_capture(fixtures_dir: Path, name: str) -> Path:
    path = Path(fixtures_dir) / "contracts-finder" / name
    if not path.is_file():
        raise FixturesMissing(
            f"Contracts Finder capture {path} not found: set BIDBELL_FIXTURES_DIR to the shared "
            "fixtures folder (../shared/fixtures from the project root)"
        )
    return path


def load_cf_capture(fixtures_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(package envelope, releases) of the captured Contracts Finder search page."""
    package = json.loads(cf_capture(fixtures_dir, CF_SEARCH_CAPTURE).read_text(encoding="utf-8"))
    envelope = {k: v for k, v in package.items() if k not in ("releases", "links", "uri")}
    return envelope, list(package["releases"])


def _when(value: str) -> datetime:
    # a "+" in a query string arrives as a space
    return parse_iso(value.strip().replace(" ", "+"))


def _stage(tag: str) -> str:
    for suffix in ("Amendment", "Update", "Cancellation", "Termination"):
        if tag.endswith(suffix):
            return tag[: -len(suffix)]
    return "implementation" if tag.startswith("contract") else tag


class CfOcdsSite:
    """Contracts Finder's ``/Published/Notices/OCDS/Search`` over the captured releases."""

    def __init__(
        self,
        fixtures_dir: Path,
        page_size: int | None = None,
        releases: list[dict[str, Any]] | None = None,
        empty_first_page: bool = False,
    ) -> None:
        self.envelope, captured = load_cf_capture(fixtures_dir)
        self.releases = sorted(
            releases if releases is not None else captured, key=lambda r: _when(r["date"])
        )
        self.page_size = page_size
        self.empty_page: dict[str, Any] | None = None
        if empty_first_page:
            path = cf_capture(fixtures_dir, CF_EMPTY_PAGE_CAPTURE)
            self.empty_page = json.loads(path.read_text(encoding="utf-8"))

    def handle(
        self, server: ReplayServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        if path != CF_SEARCH_PATH:
            return Reply(404, b'{"error": "not found"}')
        base_url = server.url + next(p for p, s in server.sites.items() if s is self)
        return Reply(200, json.dumps(self.page(base_url, query), ensure_ascii=False).encode())

    def page(self, base_url: str, query: dict[str, str]) -> dict[str, Any]:
        base = {k: v for k, v in query.items() if k != "cursor"}
        limit = min(int(query.get("limit", 100)), 100)
        if self.page_size:
            limit = min(limit, self.page_size)
        if query.get("cursor"):
            state = dict(
                part.split("=", 1)
                for part in base64.b64decode(query["cursor"]).decode().split("|")
                if "=" in part
            )
            offset = int(state["nextCursor"])
        elif self.empty_page is not None:
            # The real empty page, its next link pointing at our first page.
            page = {k: v for k, v in self.empty_page.items() if k != "links"}
            page["uri"] = f"{base_url}{CF_SEARCH_PATH}?{urlencode(base)}"
            page["links"] = {"next": self._next(base_url, base, 0)}
            return page
        else:
            offset = 0
        start = _when(base["publishedFrom"]) if base.get("publishedFrom") else None
        end = _when(base["publishedTo"]) if base.get("publishedTo") else None
        stages = {s.strip() for s in base.get("stages", "").split(",") if s.strip()}
        hits = [
            r
            for r in self.releases
            if (start is None or start <= _when(r["date"]))
            and (end is None or _when(r["date"]) < end)
            and (not stages or any(_stage(t) in stages for t in r.get("tag") or []))
        ]
        package: dict[str, Any] = {
            "uri": f"{base_url}{CF_SEARCH_PATH}?{urlencode(base)}",
            **self.envelope,
            "releases": hits[offset : offset + limit],
        }
        if offset + limit < len(hits):
            package["links"] = {"next": self._next(base_url, base, offset + limit)}
        return package

    @staticmethod
    def _next(base_url: str, base: dict[str, str], offset: int) -> str:
        state = "|".join(f"{k}={v}" for k, v in base.items()) + f"|nextCursor={offset}"
        cursor = base64.b64encode(state.encode()).decode()
        return f"{base_url}{CF_SEARCH_PATH}?{urlencode({**base, 'cursor': cursor})}"


class CfCsvSite:
    """Contracts Finder's ``/Search/GetCsvFile``: the captured export, byte for byte."""

    def __init__(self, fixtures_dir: Path, capture: str = CF_CSV_CAPTURE) -> None:
        self.body = cf_capture(fixtures_dir, capture).read_bytes()

    def handle(
        self, server: ReplayServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        if path != CF_CSV_PATH:
            return Reply(404, b"not found", content_type="text/plain")
        return Reply(
            200,
            self.body,
            headers={"Content-Disposition": 'attachment; filename="notices.csv"'},
            content_type="text/csv; charset=utf-8",
        )
