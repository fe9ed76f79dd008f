"""Find a Tender, replayed from the real captures.

It answers ``GET /api/1.0/ocdsReleasePackages`` the way Find a Tender does: releases whose
``date`` falls in ``[updatedFrom, updatedTo)`` (UK local time, no zone), ``limit`` per page,
an opaque ``cursor`` in ``links.next``. The releases and the package envelope are the real
captured ones from ``fixtures_dir/find-a-tender/``; only the paging is ours. Tests can script
faults (status codes, headers, truncated bodies, delays) for chosen requests.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bidbell.clock import parse_iso
from demo.replay import FixturesMissing, ReplayServer, Reply

FTS_PATH = "/api/1.0/ocdsReleasePackages"


def fts_capture_files(fixtures_dir: Path) -> list[Path]:
    folder = fixtures_dir / "find-a-tender"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise FixturesMissing(
            f"no Find a Tender captures in {folder}: set BIDBELL_FIXTURES_DIR to the shared "
            "fixtures folder (../shared/fixtures from the project root)"
        )
    return files


def load_fts_captures(fixtures_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(package envelope, releases) from every captured Find a Tender release package."""
    envelope: dict[str, Any] = {}
    releases: list[dict[str, Any]] = []
    for path in fts_capture_files(fixtures_dir):
        package = json.loads(path.read_text(encoding="utf-8"))
        if not envelope:
            envelope = {k: v for k, v in package.items() if k not in ("releases", "links", "uri")}
        releases.extend(package["releases"])
    return envelope, releases


class FtsSite:
    """Find a Tender's ``/api/1.0/ocdsReleasePackages`` over the captured releases."""

    def __init__(
        self,
        fixtures_dir: Path,
        page_size: int | None = None,
        releases: list[dict[str, Any]] | None = None,
    ) -> None:
        self.envelope, captured = load_fts_captures(fixtures_dir)
        self.releases = sorted(
            releases if releases is not None else captured, key=lambda r: r["date"]
        )
        self.page_size = page_size

    def handle(
        self, server: ReplayServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        if path != FTS_PATH:
            return Reply(404, b'{"error": "not found"}')
        base_url = server.url + next(p for p, s in server.sites.items() if s is self)
        page = self.page(base_url, query)
        return Reply(200, json.dumps(page, ensure_ascii=False).encode())

    def page(self, base_url: str, query: dict[str, str]) -> dict[str, Any]:
        start, end = parse_iso(query["updatedFrom"]), parse_iso(query["updatedTo"])
        limit = min(int(query.get("limit", 100)), 100)
        if self.page_size:
            limit = min(limit, self.page_size)
        offset = int(base64.b64decode(query["cursor"]).decode()) if query.get("cursor") else 0
        hits = [r for r in self.releases if start <= parse_iso(r["date"]) < end]
        base = {k: v for k, v in query.items() if k != "cursor"}
        package: dict[str, Any] = {
            "uri": f"{base_url}{FTS_PATH}?{urlencode(base)}",
            **self.envelope,
            "releases": hits[offset : offset + limit],
        }
        if offset + limit < len(hits):
            cursor = base64.b64encode(str(offset + limit).encode()).decode()
            next_q = urlencode({**base, "cursor": cursor})
            package["links"] = {"next": f"{base_url}{FTS_PATH}?{next_q}"}
        return package


def moved_deadline(release: dict[str, Any], when: str, days: int) -> dict[str, Any]:
    """[constructed] A later release of the same procurement moving its deadline ``days``
    on, published at ``when``: the real release with a new id and date and tenderPeriod's
    endDate moved (no real amendment of a captured tender was captured). The demo serves it
    in its second replay to show a change alert."""
    import copy

    out = copy.deepcopy(release)
    out["id"] = f"{release['id']}-deadline-moved"
    out["date"] = when
    period = out.setdefault("tender", {}).setdefault("tenderPeriod", {})
    end = parse_iso(period["endDate"])
    from datetime import timedelta

    period["endDate"] = (end + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    return out
