"""Real captured notices as the matcher sees them: every capture normalised and classified
by the project's own readers (no store: the store's own path is in test_property.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from matching.rules import Facts, facts_from
from models.classify import classify_opportunity
from models.formats import normalise
from tests.models.captures import capture_records


def captured_rows(fixtures_dir: Path) -> dict[str, Any]:
    """source id -> an Opportunity-shaped row (the fields facts_from reads), ids from 1."""
    out: dict[str, Any] = {}
    for i, rec in enumerate(capture_records(fixtures_dir), 1):
        n = normalise(rec.get("format") or "ocds-release", rec["source"], rec["payload"])
        row = n.as_dict()
        row.update(classify_opportunity(row, [n.stage]))
        out[n.source_id] = SimpleNamespace(id=i, **row)
    return out


@pytest.fixture(scope="session")
def rows(fixtures_dir: Path) -> dict[str, Any]:
    return captured_rows(fixtures_dir)


@pytest.fixture(scope="session")
def facts(rows: dict[str, Any]) -> dict[str, Facts]:
    return {sid: facts_from(r) for sid, r in rows.items()}
