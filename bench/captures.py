"""The shared captures as labelled data for measuring (bench/quality.py and the tests): every
real notice in ``BIDBELL_FIXTURES_DIR`` read through the product's own record formats, the
notices that carry a CPV code labelled with its sector, a deterministic held-out split, and a
sector model trained on the training side. Nothing in the product imports this module: the
product trains from its own store (models.store.sectors) and the CPV list it ships.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from models.classify import sectors_for
from models.classify.sector_text import (
    SPLIT_SEED,
    TEST_FRACTION,
    LabelledNotice,
    SectorModel,
    cpv_descriptions,
    train,
)
from models.formats import normalise
from models.formats.fields import NoticeFields

# The captures read (relative to the fixtures folder): OCDS packages, OCDS JSON Lines, and
# the Contracts Finder CSV export.
OCDS_PACKAGES = (
    "find-a-tender/*.json",
    "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json",
    "contracts-finder/legacy-2016-ocds/*.json",
)
OCDS_JSONL = ("scotland-pcs/*.jsonl", "wales-sell2wales/*.jsonl")
CF_CSV = ("contracts-finder/cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv",)


def _fixtures_dir(fixtures_dir: Path | None) -> Path:
    if fixtures_dir is not None:
        return Path(fixtures_dir)
    from bidbell.settings import get_settings

    return get_settings().fixtures_dir


@lru_cache(maxsize=4)
def read_captures(fixtures_dir: Path | None = None) -> dict[tuple[str, str], NoticeFields]:
    """Every notice in the shared captures: (file relative to the folder, record id) ->
    NoticeFields. The record id is the release id (OCDS) or the Notice Identifier (CSV)."""
    root = _fixtures_dir(fixtures_dir)
    out: dict[tuple[str, str], NoticeFields] = {}

    def add(path: Path, fields: NoticeFields) -> None:
        key = (path.relative_to(root).as_posix(), fields.source_id)
        if key in out:
            raise ValueError(f"record id {key} is not unique")
        out[key] = fields

    for pattern in OCDS_PACKAGES:
        for path in sorted(root.glob(pattern)):
            for release in json.loads(path.read_text(encoding="utf-8"))["releases"]:
                add(path, normalise("ocds-release", path.parent.name, release))
    for pattern in OCDS_JSONL:
        for path in sorted(root.glob(pattern)):
            with path.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        release = json.loads(line)
                        add(path, normalise("ocds-proactis", path.parent.name, release))
    for name in CF_CSV:
        path = root / name
        if path.exists():
            with path.open(encoding="utf-8-sig", newline="") as f:
                for row in csv.DictReader(f):
                    add(path, normalise("cf-csv-row", "contracts_finder_csv", row))
    if not out:
        raise FileNotFoundError(f"no captures under {root}: set BIDBELL_FIXTURES_DIR")
    return out


def labelled_notices(fixtures_dir: Path | None = None) -> list[LabelledNotice]:
    """Real notices with a CPV code in a known division, one per OCID, in a stable order."""
    out: list[LabelledNotice] = []
    seen: set[str] = set()
    for (file, record), n in sorted(read_captures(fixtures_dir).items()):
        sectors = sectors_for(n.cpv_codes)
        if not sectors or n.ocid in seen or not n.title:
            continue
        seen.add(n.ocid)
        day = n.published_at.date().isoformat() if n.published_at else ""
        out.append(LabelledNotice(file, record, n.title, n.description, sectors[0], day))
    return out


# --- the labelled corpus of real notices (bench/corpus) ------------------------------------

CORPUS_FILE = "notices.jsonl.gz"
PERIOD_CUTOFF = "2024-01-01"  # train on notices published before, hold out those after


def corpus_path(name: str = CORPUS_FILE) -> Path | None:
    """A file of the corpus (bench/corpus/README.md): in the shared fixtures' ``corpus/``
    folder, else where ``python -m bench.corpus.build`` writes it (``var/corpus/``)."""
    from bidbell.settings import get_settings

    settings = get_settings()
    for folder in (settings.fixtures_dir / "corpus", settings.var_dir / "corpus"):
        if (folder / name).exists():
            return folder / name
    return None


def corpus_notices(path: Path) -> list[LabelledNotice]:
    """The corpus's notices with a CPV code in a known division, labelled like the captures."""
    import gzip

    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            sectors = sectors_for(r["cpv"])
            if sectors:
                out.append(
                    LabelledNotice(
                        r["provenance"],
                        r["id"],
                        r["title"],
                        r["description"],
                        sectors[0],
                        r["published"],
                    )
                )
    return out


def split_by_period(
    notices: Sequence[LabelledNotice], cutoff: str = PERIOD_CUTOFF
) -> tuple[list[LabelledNotice], list[LabelledNotice]]:
    """(published before ``cutoff``, published on or after it); undated notices left out."""
    dated = [n for n in notices if n.published]
    return [n for n in dated if n.published < cutoff], [n for n in dated if n.published >= cutoff]


def is_held_out(notice: LabelledNotice, seed: str = SPLIT_SEED) -> bool:
    digest = hashlib.sha256(f"{seed}|{notice.group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < TEST_FRACTION


def split(
    notices: Sequence[LabelledNotice], seed: str = SPLIT_SEED
) -> tuple[list[LabelledNotice], list[LabelledNotice]]:
    """(training notices, held-out notices), deterministic for a seed."""
    train = [n for n in notices if not is_held_out(n, seed)]
    test = [n for n in notices if is_held_out(n, seed)]
    return train, test


@lru_cache(maxsize=1)
def default_model() -> SectorModel:
    """Trained on the training side of the captures plus the CPV list (cached)."""
    training, _ = split(labelled_notices())
    return train(training, cpv_descriptions())


def predict_sector(title: str, description: str = "") -> tuple[str, float]:
    """(sector, confidence 0..1) from a notice's text. Confidence under ~0.4 is a guess."""
    return default_model().predict(title or "", description or "")
