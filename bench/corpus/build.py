"""Build the labelled sector corpus (``notices.jsonl.gz``) from public captures of real UK
notices with CPV codes, read straight from snapshots of the repositories that hold them
(git directories, as the search tool's ``fetch`` leaves them: ``<mirror>/<owner>+<name>/repo``).

Each source is named by repository @ commit : path (see README.md beside this file); every
notice keeps that provenance. One line per notice: ``id``, ``source`` (the capture),
``published`` (YYYY-MM-DD), ``title``, ``description`` (its first 500 characters), ``cpv``
(8-digit codes) and ``provenance``. Notices seen twice (the same title and publication day,
or the same notice id) are kept once.

    python -m bench.corpus.build --mirror /work/.mirror --out var/corpus

The corpus is not committed to this repository (data fetched from public repositories is
kept under the steering repository's shared/ only): the lead puts the built file into
``shared/fixtures/corpus/``; ``bench.captures.corpus_path`` finds it there, or in
``var/corpus/`` where this command writes it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DESCRIPTION_CHARS = 500

# (repository, commit, path or path prefix, reader). Repositories from which the shared
# fixtures were copied are left out on purpose: the hidden acceptance set was drawn from
# them (SOURCES.md), and a model trained on it would be judged on what it has seen.
SOURCES: tuple[tuple[str, str, str, str], ...] = (
    (
        "tompickup23/burnleycouncil",
        "467dd3f984bef8fcfc72cd2e4735492238ca1e3c",
        "burnley-council/data/",  # <council>/procurement.json
        "cf_v2_search",
    ),
    ("sfong8/bidstat_scrape", "1fc40056bb815ff6de9776f9e359b0d2245b8539", "notices.csv", "cf_csv"),
    (
        "sfong8/bidstat_scrape",
        "1fc40056bb815ff6de9776f9e359b0d2245b8539",
        "hmrc_contracts.csv",
        "cf_csv",
    ),
    (
        "sunnydilgeer/bidboost-backend",
        "44ea4c19f5bbbe8be821a5ec5baa25728f79fc49",
        "data/notices.csv",
        "cf_csv",
    ),
    (
        "sandyknight/young-people-treatment-unit-cost",
        "81ef205ffea414e7df70ed06f2cd86edc5edf7fb",
        "data/raw/notices.csv",
        "cf_csv",
    ),
)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _cpv(text: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"\b(\d{8})(?:-\d)?\b", text)))


def _clean(text: str) -> str:
    """Whitespace collapsed, HTML entities the exports left in ("&amp;", "&#039;") undone."""
    import html

    return re.sub(r"\s+", " ", html.unescape(html.unescape(text or ""))).strip()


def _notice(
    nid: str, source: str, published: str, title: str, description: str, cpv: list[str], prov: str
) -> dict[str, Any] | None:
    title, description = _clean(title), _clean(description)[:DESCRIPTION_CHARS]
    if not title or not cpv or not re.match(r"^\d{4}-\d{2}-\d{2}", published or ""):
        return None
    return {
        "id": nid,
        "source": source,
        "published": published[:10],
        "title": title,
        "description": description,
        "cpv": cpv,
        "provenance": prov,
    }


def read_cf_csv(text: str, prov: str) -> Iterator[dict[str, Any]]:
    """The Contracts Finder website's CSV export ("Notice Identifier", "Cpv Codes", ...)."""
    for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff"))):
        n = _notice(
            row["Notice Identifier"].strip(),
            "contracts_finder_csv",
            row["Published Date"],
            row["Title"],
            row["Description"],
            _cpv(row["Cpv Codes"]),
            prov,
        )
        if n:
            yield n


def read_cf_v2_search(text: str, prov: str) -> Iterator[dict[str, Any]]:
    """Contracts Finder's V2 search API items as one scraper kept them (id, title, the first
    500 characters of the description, cpv_codes, published_date)."""
    for c in json.loads(text).get("contracts", []):
        n = _notice(
            c["id"],
            "contracts_finder_v2",
            c.get("published_date") or "",
            c.get("title") or "",
            c.get("description") or "",
            _cpv(str(c.get("cpv_codes") or "")),
            prov,
        )
        if n:
            yield n


READERS = {"cf_csv": read_cf_csv, "cf_v2_search": read_cf_v2_search}


def build(mirror: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for repo_name, commit, path, reader in SOURCES:
        repo = mirror / repo_name.replace("/", "+") / "repo"
        files = [
            f
            for f in _git(repo, "ls-tree", "-r", "--name-only", commit).split("\n")
            if f == path
            or (path.endswith("/") and f.startswith(path) and f.endswith("/procurement.json"))
        ]
        for f in sorted(files):
            prov = f"{repo_name} @ {commit} : {f}"
            for n in READERS[reader](_git(repo, "show", f"{commit}:{f}"), prov):
                keys = {("id", n["id"]), ("tp", f"{n['title'].lower()}|{n['published']}")}
                if keys & seen:
                    continue
                seen |= keys
                out.append(n)
    out.sort(key=lambda n: (n["published"], n["id"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=Path("var/corpus"))
    args = ap.parse_args()
    notices = build(args.mirror)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "notices.jsonl.gz"
    with io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8") as f:
        for n in notices:
            f.write(json.dumps(n, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{len(notices)} notices -> {path}")


if __name__ == "__main__":
    main()
