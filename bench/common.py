"""Shared helpers: the one output line format, and scaled copies of real records."""

from __future__ import annotations

import copy
import json
import resource
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from bidbell.clock import parse_iso
from bidbell.settings import get_settings


def line(name: str, value: float, unit: str, baseline: float | None, target: str) -> str:
    base = f"{baseline:.3g} {unit}" if baseline is not None else "n/a"
    out = f"bench {name}: {value:.3g} {unit} | baseline {base} | target {target}"
    print(out, flush=True)
    return out


def peak_gb() -> float:
    """This process's peak resident memory, GB: Linux's VmHWM, the high-water mark of what
    this program mapped (resettable: ``/proc/self/clear_refs``). Not ``ru_maxrss`` alone:
    on Linux it keeps, across exec, the resident size of the process forked to run the
    program, a copy of its parent's (a child of ``bench.ingest`` peaking at 0.38 GB printed
    1.07, the bench's own size after its backfill)."""
    try:
        with open("/proc/self/status") as f:
            for row in f:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) / 1024**2  # kB -> GiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def real_releases() -> list[tuple[str, dict[str, Any]]]:
    """Every OCDS release of the shared captures with its record format: Find a Tender,
    Contracts Finder's search ("ocds-release"), Public Contracts Scotland and Sell2Wales
    (JSON Lines, "ocds-proactis")."""
    root = get_settings().fixtures_dir
    releases: list[tuple[str, dict[str, Any]]] = []
    for f in sorted(root.glob("find-a-tender/*.json")) + sorted(
        root.glob("contracts-finder/cf_ocds_search_*.json")
    ):
        releases.extend(("ocds-release", r) for r in json.loads(f.read_text())["releases"])
    for f in sorted(root.glob("scotland-pcs/*.jsonl")) + sorted(
        root.glob("wales-sell2wales/*.jsonl")
    ):
        releases.extend(
            ("ocds-proactis", json.loads(x)) for x in f.read_text().splitlines() if x.strip()
        )
    if not releases:
        raise SystemExit(f"no captures in {root}: set BIDBELL_FIXTURES_DIR")
    return releases


def _shift(value: Any, delta: timedelta) -> Any:
    if not isinstance(value, str) or not value:
        return value
    try:
        return (parse_iso(value) + delta).isoformat()
    except ValueError:
        return value


def _move_dates(rel: dict[str, Any], delta: timedelta) -> None:
    """The release's date and its tender period moved by ``delta``."""
    rel["date"] = _shift(rel.get("date"), delta)
    period = (rel.get("tender") or {}).get("tenderPeriod")
    if isinstance(period, dict):
        for key in ("startDate", "endDate"):
            period[key] = _shift(period.get(key), delta)


def scaled_records(n: int, source: str = "find_a_tender") -> Iterator[dict[str, Any]]:
    """n RawNotice-shaped records: the real releases, copied with new ids and ocids, each
    copy's dates 301 days after the last copy's: every copy is a distinct procurement
    (a later round of it: first publications ten months apart, or deadlines two months
    apart, are never one procurement), so the store and its deduplication see a stream of
    real shapes without false duplicates. Copies a week apart would rightly be one
    procurement re-published; a notice without a deadline repeated two months later with
    the same title, buyer and value is one too. Copies still meet as candidates where a
    title reference has no date to block with, as a framework's call-offs do."""
    base = real_releases()
    for i in range(n):
        k, r = divmod(i, len(base))
        fmt, original = base[r]
        rel = copy.deepcopy(original)
        rel["id"] = f"{rel.get('id') or rel['ocid']}-b{i}"
        rel["ocid"] = f"{rel['ocid']}-r{k}"  # releases of one OCID stay one procurement
        _move_dates(rel, timedelta(days=301 * k))
        yield _record(source, fmt, rel)


def _record(source: str, fmt: str, rel: dict[str, Any]) -> dict[str, Any]:
    """A built release as the store takes records."""
    return {
        "source": source,
        "format": fmt,
        "source_id": rel["id"],
        "url": "bench",
        "fetched_at": "2026-10-06T18:00:00+00:00",
        "payload": rel,
    }


def alike_records(
    n: int, family: int = 400, source: str = "find_a_tender"
) -> Iterator[dict[str, Any]]:
    """n records of which nine in ten share their title with ``family - 1`` others: the
    call-offs of one framework. Each family copies one real release (its title, buyer,
    value, published identifiers) with new ids and ocids, a few hours apart: near-duplicates
    that block together on every key. Every tenth record keeps its own title."""
    base = real_releases()
    for i in range(n):
        k, j = divmod(i, family)
        fmt, original = base[k % len(base)]
        rel = copy.deepcopy(original)
        rel["id"] = f"{rel.get('id') or rel['ocid']}-a{i}"
        rel["ocid"] = f"{rel['ocid']}-a{i}"
        hours = timedelta(hours=3 * j)
        if i % 10 == 9:  # its own title: a distinct procurement of the same buyer
            tender = rel.get("tender")
            if isinstance(tender, dict):
                tender["title"] = f"{tender.get('title') or ''} refurbishment of block {i}"
        _move_dates(rel, hours)
        yield _record(source, fmt, rel)


def write_jsonl(path: Path, records: Iterator[dict[str, Any]]) -> int:
    n = 0
    with path.open("wb") as f:
        for rec in records:
            f.write(orjson.dumps(rec) + b"\n")
            n += 1
    return n


def write_package(path: Path, size: int) -> int:
    """An OCDS release package of about ``size`` bytes (scaled real releases), written as
    it goes; returns the number of releases."""
    n = 0
    with path.open("wb") as f:
        f.write(b'{"uri": "bench", "publishedDate": "2026-10-06T18:00:00Z", "releases": [')
        for rec in scaled_records(10**9):
            if f.tell() >= size:
                break
            f.write((b"," if n else b"") + orjson.dumps(rec["payload"]))
            n += 1
        f.write(b"]}")
    return n
