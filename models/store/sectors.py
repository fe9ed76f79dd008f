"""The text sector model in use: trained from the store, kept in one file, and used to give a
sector to opportunities that carry no CPV code.

Training data are the stored opportunities that do carry CPV codes, each labelled with the
sector of its first CPV code (``models.classify.sectors_for``), plus the 9,454 descriptions
of the CPV 2008 list that ships with the package (models/classify/data, with its
provenance), so that words no stored notice has used yet still point somewhere.

The model file (``settings.effective_sector_model_path``, default ``var/sector_model.npz``)
is a numpy ``.npz`` of plain arrays and one JSON string: no pickle. It records the store's
size when trained, so the pipeline retrains once the store has grown by more than a fifth
(``GROWTH``). A file written for other sectors or other text features than this code's is
ignored (``active_model`` returns None) and so retrained.

Opportunities labelled from text have ``sector_basis = "text"``; from CPV codes, "cpv". A
text label is kept only when the model is at least ``sector_text.CONFIDENCE_THRESHOLD`` sure
(0.6: right 84% of the time on held-out notices of a later period, bench/corpus); below it
the opportunity keeps no sector (``sector_basis`` None), so a low-confidence guess is never
shown as its sector.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select, update
from sqlmodel import Session

from bidbell.settings import Settings, get_settings
from models.classify import SECTORS, sector_text, sectors_for
from models.classify.sector_text import LabelledNotice, SectorModel, cpv_descriptions, train
from models.store.tables import Opportunity

log = logging.getLogger(__name__)

FORMAT = 1
GROWTH = 0.2  # retrain when the store has grown by more than this share since training


def features_fingerprint() -> str:
    """What the text features depend on: a model saved under other settings is stale."""
    parts = (
        sorted(sector_text._STOP),
        sector_text._SUFFIXES,
        sector_text.TITLE_WEIGHT,
        sector_text.DESCRIPTION_CHARS,
        sector_text.ALPHA,
        sector_text.TEMPERATURE,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


class NothingToTrain(ValueError):
    """No stored opportunity with a CPV code and no CPV list to learn from."""


# --- training data -------------------------------------------------------------------------


def labelled_from_store(session: Session) -> list[LabelledNotice]:
    """Stored opportunities with a CPV code in a known division, one per OCID, ordered by
    OCID: (title, the start of the description, the sector of the first CPV code)."""
    t = Opportunity.__table__  # type: ignore[attr-defined]
    q = select(
        t.c.ocid, t.c.title, func.substr(t.c.description, 1, sector_text.DESCRIPTION_CHARS),
        t.c.cpv_codes,
    ).order_by(t.c.ocid)  # fmt: skip
    out: list[LabelledNotice] = []
    for ocid, title, description, cpv_codes in session.execute(q):
        sectors = sectors_for(cpv_codes or [])
        if sectors and title:
            out.append(LabelledNotice("store", ocid, title, description or "", sectors[0]))
    return out


def store_size(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Opportunity)).scalar_one())


# --- the model file ------------------------------------------------------------------------


def save_model(model: SectorModel, path: Path, **meta: Any) -> Path:
    """Write the model atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    words = sorted(model.vocabulary, key=model.vocabulary.__getitem__)
    info = {
        "format": FORMAT,
        "features": features_fingerprint(),
        "n_train": model.n_train,
        "fallback": list(model.fallback),
        "store_size": model.store_size,
        **meta,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                classes=np.array(model.classes, dtype=str),
                words=np.array(words, dtype=str),
                log_likelihood=model.log_likelihood,
                log_prior=model.log_prior,
                class_counts=np.array(model.class_counts, dtype=np.int64),
                meta=np.array(json.dumps(info)),
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_model(path: Path) -> SectorModel:
    """Read a model written by ``save_model``. ValueError if it was written for other
    sectors or other text features than this code's."""
    with np.load(Path(path), allow_pickle=False) as data:
        info = json.loads(str(data["meta"]))
        classes = tuple(str(c) for c in data["classes"])
        if info.get("format") != FORMAT or info.get("features") != features_fingerprint():
            raise ValueError(f"{path}: written for other text features; retrain")
        if classes != tuple(SECTORS):
            raise ValueError(f"{path}: written for other sectors; retrain")
        words = [str(w) for w in data["words"]]
        sector, share = info["fallback"]
        return SectorModel(
            classes=classes,
            vocabulary={w: i for i, w in enumerate(words)},
            log_likelihood=np.array(data["log_likelihood"], dtype=float),
            log_prior=np.array(data["log_prior"], dtype=float),
            n_train=int(info["n_train"]),
            fallback=(str(sector), float(share)),
            class_counts=tuple(int(c) for c in data["class_counts"]),
            store_size=int(info.get("store_size", 0)),
        )


_CACHE: dict[Path, tuple[tuple[int, int], SectorModel | None]] = {}
_LOCK = threading.Lock()


def active_model(settings: Settings | None = None) -> SectorModel | None:
    """The saved model at the settings' path (cached by path, modification time and size),
    or None when there is none yet or it is stale or unreadable (said once per file)."""
    path = (settings or get_settings()).effective_sector_model_path
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    with _LOCK:
        hit = _CACHE.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    model: SectorModel | None
    try:
        model = load_model(path)
    except Exception as exc:  # unreadable, truncated, stale: retrained by the pipeline
        log.warning("sector model %s not used: %s", path, exc)
        model = None
    with _LOCK:
        _CACHE[path] = (stamp, model)
    return model


# --- training and labelling ----------------------------------------------------------------


def train_from_store(
    session: Session, settings: Settings, now: datetime | None = None
) -> tuple[SectorModel, Path, int]:
    """Train on the store (plus the CPV list when the fixtures folder has it) and save.
    (model, where it was saved, how many stored notices it was trained on)."""
    labelled = labelled_from_store(session)
    cpv = cpv_descriptions()
    if not labelled and not cpv:
        raise NothingToTrain("no stored opportunity has a CPV code, and there is no CPV list")
    model = replace(train(labelled, cpv), store_size=store_size(session))
    path = save_model(
        model,
        settings.effective_sector_model_path,
        cpv_descriptions=len(cpv),
        trained_at=now.isoformat() if now else None,
    )
    return model, path, len(labelled)


def trained_sectors(model: SectorModel) -> int:
    """How many sectors the stored training notices covered."""
    return sum(1 for c in model.class_counts if c)


def label_uncoded(session: Session, model: SectorModel) -> int:
    """Give a sector from text (sector_basis "text") to stored opportunities with no CPV
    code and no sector yet, where the model is sure enough; returns how many it labelled."""
    t = Opportunity.__table__  # type: ignore[attr-defined]
    q = select(
        t.c.id, t.c.title, func.substr(t.c.description, 1, sector_text.DESCRIPTION_CHARS),
        t.c.cpv_codes, t.c.sectors,
    ).where(t.c.sector_basis.is_(None))  # fmt: skip
    rows = []
    for opp_id, title, description, cpv_codes, sectors in session.execute(q):
        if cpv_codes or sectors:
            continue
        sector = model.confident_sector(title or "", description or "")
        if sector is not None:
            rows.append({"b_id": opp_id, "b_sectors": [sector]})
    if rows:
        session.execute(
            update(t)
            .where(t.c.id == bindparam("b_id"))
            .values(sectors=bindparam("b_sectors"), sector_basis="text"),
            rows,
        )
    return len(rows)


@dataclass
class SectorRefresh:
    trained: bool = False
    n_train: int = 0  # stored notices the model in use was trained on
    sectors: int = 0  # sectors among them
    labelled: int = 0  # opportunities given a sector from text in this run
    store_size: int = 0
    path: str = ""
    error: bool = False  # it failed (logged); nothing was labelled


def needs_training(model: SectorModel | None, size: int) -> bool:
    return model is None or size > model.store_size * (1 + GROWTH)


def refresh_sectors(session: Session, settings: Settings, now: datetime) -> SectorRefresh:
    """Train from the store when there is no model yet or the store has grown by more than
    ``GROWTH`` since; then label the opportunities without CPV codes."""
    report = SectorRefresh(
        store_size=store_size(session), path=str(settings.effective_sector_model_path)
    )
    model = active_model(settings)
    if needs_training(model, report.store_size):
        try:
            model, _path, _n = train_from_store(session, settings, now)
        except NothingToTrain as exc:
            log.info("sector model not trained: %s", exc)
            return report
        report.trained = True
    assert model is not None
    report.n_train, report.sectors = model.n_train, trained_sectors(model)
    report.labelled = label_uncoded(session, model)
    return report
