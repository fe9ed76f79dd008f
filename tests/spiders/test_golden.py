"""Every registered source, crawled from the local replay of its fixtures, normalised, and
compared with a golden file of expected records (tests/golden/<source>.jsonl).

After a deliberate change, regenerate with:
    BIDBELL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/spiders/test_golden.py
and review the diff like code.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bidbell.settings import get_settings
from demo.replay import replay_all
from models.formats import normalise
from spiders.config import load_sources
from spiders.crawl import crawl
from spiders.registry import SPIDER_TYPES

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FIELDS = (
    "ocid",
    "source_id",
    "title",
    "buyer_name",
    "buyer_postcode",
    "buyer_region",
    "value_amount",
    "value_amount_gross",
    "value_min",
    "value_currency",
    "deadline",
    "published_at",
    "stage",
    "notice_type",
    "cpv_codes",
    "regions",
    "sme_suitable",
    "vcse_suitable",
    "is_subcontract",
    "parent_reference",
    "url",
)

# source -> (mount prefix in demo.replay.replay_all, extra spider arguments)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "find_a_tender": (
        "/fts",
        {
            "updated_from": "2026-04-10T00:00:00",
            "updated_to": "2026-10-07T00:00:00",
            "window_hours": 24,
        },
    ),
    "contracts_finder": (
        "/cf",
        {
            "updated_from": "2022-10-21T00:00:00",
            "updated_to": "2022-10-23T00:00:00",
            "window_hours": 48,
        },
    ),
    "contracts_finder_csv": ("/cf-csv", {}),
    "public_contracts_scotland": (
        "/pcs",
        {"updated_from": "2019-03-01T00:00:00", "updated_to": "2019-05-01T00:00:00"},
    ),
    "sell2wales": (
        "/s2w",
        {"updated_from": "2025-02-01T00:00:00", "updated_to": "2025-03-01T00:00:00"},
    ),
    "kent_business_portal": ("/kent-business-portal", {"download_delay": 0}),
    "prime_example": ("/prime-example", {}),
    "feed_example": ("/feed", {}),
}


# Real notices whose source itself publishes a closing date before the notice: known, each
# with its reason, so that a date read wrongly elsewhere still fails the test below.
PUBLISHED_AFTER_CLOSING = {
    # Contracts Finder, 21 Oct 2022: "Technology Provisioning for the Rosalind Franklin
    # Laboratory", tenderPeriod.endDate 30 Sep 2021: a notice published after the fact.
    "b70f565f-1fb0-42c4-946c-a27930d0ca1d-484452",
}


def check_dates(source: str, rows: list[dict[str, Any]]) -> None:
    """No record was published after it was fetched, and none closes before it was
    published (a date alone: start of the day for a publication, end for a deadline)."""
    for rec in rows:
        f = normalise(rec["format"], rec["source"], rec["payload"])
        fetched = datetime.fromisoformat(rec["fetched_at"])
        if f.published_at is not None:
            assert f.published_at <= fetched, (source, f.source_id, f.published_at)
        if f.published_at and f.deadline and f.source_id not in PUBLISHED_AFTER_CLOSING:
            assert f.deadline >= f.published_at, (source, f.source_id, f.published_at)


def test_every_spider_type_has_a_golden_case() -> None:
    types = {c.type for c in load_sources(get_settings().sources_file).values() if c.name in CASES}
    assert set(SPIDER_TYPES) <= types, f"no golden case for {sorted(set(SPIDER_TYPES) - types)}"


def _record(rec: dict[str, Any], server_url: str) -> dict[str, Any]:
    f = normalise(rec["format"], rec["source"], rec["payload"])
    # links built from the base URL carry the replay server's random port
    f.url = (rec.get("notice_url") or f.url).replace(server_url, "http://replay")
    out = {k: getattr(f, k) for k in FIELDS}
    for k in ("deadline", "published_at"):
        out[k] = out[k].isoformat() if out[k] else None
    return out


@pytest.mark.parametrize("source", sorted(CASES))
def test_source_matches_its_golden_file(source: str, fixtures_dir: Path, tmp_path: Path) -> None:
    prefix, args = CASES[source]
    server, _urls = replay_all(fixtures_dir)
    with server:
        outcome = crawl(
            source,
            tmp_path / "out.jsonl",
            {"base_url": server.url + prefix, **args},
            {"BIDBELL_BACKOFF_BASE": 0.1, "DOWNLOAD_DELAY": 0},
        )
    log = outcome.log_path.read_text()
    assert outcome.complete, log
    rows = [json.loads(x) for x in outcome.notices_path.read_text().splitlines() if x.strip()]
    check_dates(source, rows)
    got = sorted((_record(r, server.url) for r in rows), key=lambda r: (r["source_id"], r["ocid"]))
    path = GOLDEN / f"{source}.jsonl"
    if os.environ.get("BIDBELL_UPDATE_GOLDEN"):
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in got)
        )
    assert path.exists(), f"no golden file {path}; run with BIDBELL_UPDATE_GOLDEN=1"
    expected = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == e, f"{source} record {e['source_id']} differs from {path.name}"
