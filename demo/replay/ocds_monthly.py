"""Public Contracts Scotland and Sell2Wales, replayed from the real captures.

Both answer ``GET /v1/Notices?dateFrom=mm-yyyy&noticeType=N&outputType=0`` with one OCDS
release package for the month. The releases are the real captured ones
(``fixtures_dir/scotland-pcs/*.jsonl``, ``fixtures_dir/wales-sell2wales/*.jsonl``), served
for the month of their ``date`` (as published). The package envelope (uri, publisher,
publishedDate, version) is ours: no envelope was captured. Every captured release is a
contract notice, served as ``noticeType=2`` (its ``documentType`` is ``contractNotice``);
other notice types answer an empty package unless a test gives releases for them
(``by_type``), e.g. a real release served as a Sell2Wales sub-contract notice (54).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from demo.replay import FixturesMissing, ReplayServer, Reply

NOTICES_PATH = "/v1/Notices"
PUBLISHERS = {
    "pcs": ("scotland-pcs", "Public Contracts Scotland"),
    "s2w": ("wales-sell2wales", "Sell2Wales"),
}


def load_monthly_releases(fixtures_dir: Path, folder: str) -> list[dict[str, Any]]:
    """Every release, one per line, from ``fixtures_dir/folder/*.jsonl``."""
    files = sorted((Path(fixtures_dir) / folder).glob("*.jsonl"))
    if not files:
        raise FixturesMissing(
            f"no captures in {Path(fixtures_dir) / folder}: set BIDBELL_FIXTURES_DIR to the "
            "shared fixtures folder (../shared/fixtures from the project root)"
        )
    out: list[dict[str, Any]] = []
    for f in files:
        out.extend(json.loads(line) for line in f.read_text("utf-8").splitlines() if line.strip())
    return out


def month_of(release: dict[str, Any]) -> str:
    """'2019-04-29T00:00:00Z' -> '04-2019' (the month as the publisher wrote the date)."""
    date = str(release.get("date", ""))
    return f"{date[5:7]}-{date[:4]}"


class OcdsMonthlySite:
    """``/v1/Notices`` of a Proactis-run portal over captured releases."""

    def __init__(
        self,
        fixtures_dir: Path,
        publisher: str,
        by_type: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        folder, self.publisher_name = PUBLISHERS[publisher]
        self.by_type = by_type if by_type is not None else {}
        if by_type is None or "2" not in by_type:
            self.by_type["2"] = load_monthly_releases(fixtures_dir, folder)

    def handle(
        self, server: ReplayServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        if path != NOTICES_PATH:
            return Reply(404, b'{"error": "not found"}')
        month = query.get("dateFrom", "")
        if not re.fullmatch(r"(0[1-9]|1[0-2])-\d{4}", month):
            return Reply(400, b'{"error": "dateFrom must be mm-yyyy"}')
        if query.get("outputType", "0") != "0":
            return Reply(400, b'{"error": "only OCDS output (outputType=0) is replayed"}')
        ntype = query.get("noticeType", "2")
        releases = [r for r in self.by_type.get(ntype, []) if month_of(r) == month]
        base_url = server.url + next(p for p, s in server.sites.items() if s is self)
        package = {
            "uri": f"{base_url}{NOTICES_PATH}?{urlencode(query)}",
            "publishedDate": max((str(r.get("date")) for r in releases), default=None),
            "publisher": {"name": self.publisher_name},
            "version": "1.1",
            "releases": releases,
        }
        return Reply(200, json.dumps(package, ensure_ascii=False).encode())
