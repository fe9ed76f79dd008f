"""Shared helpers: the one output line format, and scaled copies of real records."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bidbell.settings import get_settings


def line(name: str, value: float, unit: str, baseline: float | None, target: str) -> str:
    base = f"{baseline:.3g} {unit}" if baseline is not None else "n/a"
    out = f"bench {name}: {value:.3g} {unit} | baseline {base} | target {target}"
    print(out, flush=True)
    return out


def real_fts_releases() -> list[dict[str, Any]]:
    folder = get_settings().fixtures_dir / "find-a-tender"
    releases: list[dict[str, Any]] = []
    for f in sorted(folder.glob("*.json")):
        releases.extend(json.loads(f.read_text())["releases"])
    if not releases:
        raise SystemExit(f"no captures in {folder}: set BIDBELL_FIXTURES_DIR")
    return releases


def scaled_records(n: int, source: str = "find_a_tender") -> Iterator[dict[str, Any]]:
    """n RawNotice-shaped records: the real releases, copied with new ids (and ocids), so the
    store does real work on real shapes. Each copy is a distinct procurement."""
    base = real_fts_releases()
    for i in range(n):
        r = copy.deepcopy(base[i % len(base)])
        r["id"] = f"{r['id']}-b{i}"
        r["ocid"] = f"{r['ocid']}-b{i}"
        yield {
            "source": source,
            "format": "ocds-release",
            "source_id": r["id"],
            "url": "bench",
            "fetched_at": "2026-10-06T18:00:00+00:00",
            "payload": r,
        }


def write_jsonl(path: Path, records: Iterator[dict[str, Any]]) -> int:
    n = 0
    with path.open("w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
            n += 1
    return n
