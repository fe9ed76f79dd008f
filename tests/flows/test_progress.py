"""What a person sees while long work runs (flows.progress)."""

from __future__ import annotations

import io

from flows.progress import RunDisplay, progress_bar


def test_a_bar_in_a_terminal_and_nothing_otherwise() -> None:
    out = io.StringIO()
    with progress_bar("reclassify", None, stream=out, unit="procurements",
                      force_terminal=True) as advance:  # fmt: skip
        for done in (1, 2, 3):
            advance(done, 3)
    drawn = out.getvalue()
    assert "reclassify" in drawn and "3/3" in drawn and "left" in drawn
    quiet = io.StringIO()
    with progress_bar("reclassify", 3, stream=quiet) as advance:
        advance(3, 3)
    assert quiet.getvalue() == ""


def test_one_plain_line_per_finished_step_when_not_a_terminal() -> None:
    out = io.StringIO()
    with RunDisplay(out) as display:
        display.started("collect find_a_tender")
        display.started("collect contracts_finder")
        display.finished("collect find_a_tender", "5 notice(s), 5 new")
        display.finished("collect contracts_finder", "HTTP 500", ok=False)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  ok   collect find_a_tender: 5 notice(s), 5 new (")
    assert lines[1].startswith("  FAIL collect contracts_finder: HTTP 500 (")
    assert len(lines) == 2  # no spinner, no colour codes
    assert "\x1b[" not in out.getvalue()


def test_an_import_tells_its_progress(env, fixtures_dir) -> None:
    """A big import (here the real 500-row Contracts Finder export) reports the records
    read as it goes, ending at what it read; `bidbell import` draws it as a bar."""
    from bidbell.clock import utcnow
    from bidbell.settings import get_settings
    from flows.steps import import_files
    from models.store.db import migrate

    s = get_settings()
    migrate(s.effective_database_url)
    path = (
        fixtures_dir
        / "contracts-finder"
        / ("cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv")
    )
    heard: list[tuple[int, int | None]] = []
    r = import_files("contracts_finder_csv", [path], s, utcnow(),
                     progress=lambda done, total: heard.append((done, total)))  # fmt: skip
    assert r.received == 500
    counts = [done for done, _ in heard]
    assert counts == sorted(counts) and counts[0] < 500 and counts[-1] == 500
    assert len(heard) >= 3  # told along the way, not only at the end
