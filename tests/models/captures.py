"""Every real captured notice of the shared fixtures, as RawNotice dicts ready for
``models.store.store_records`` (the same files models.classify.sector_text.read_captures reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spiders.files import read_file

# (source, spider type, files relative to the fixtures folder)
CAPTURE_FILES = [
    ("find_a_tender", "find_a_tender", "find-a-tender/*.json"),
    (
        "contracts_finder",
        "contracts_finder",
        "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json",
    ),
    ("contracts_finder", "contracts_finder", "contracts-finder/legacy-2016-ocds/*.json"),
    (
        "contracts_finder_csv",
        "contracts_finder_csv",
        "contracts-finder/cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv",
    ),
    ("public_contracts_scotland", "ocds_monthly", "scotland-pcs/*.jsonl"),
    ("sell2wales", "ocds_monthly", "wales-sell2wales/*.jsonl"),
]


def capture_records(fixtures_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for source, spider_type, pattern in CAPTURE_FILES:
        paths = sorted(fixtures_dir.glob(pattern))
        assert paths, pattern
        for path in paths:
            for rec in read_file(source, spider_type, path):
                assert rec.kind == "notice", rec
                out.append(rec.model_dump())
    return out
