"""The command-line contract: init, import, opportunities --json (subscribers:
test_subscribers.py)."""

from __future__ import annotations

import json
from datetime import datetime

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_init_is_repeatable(env) -> None:
    r1, r2 = invoke("init"), invoke("init")
    assert r1.exit_code == 0 and "database ready at revision" in r1.output
    assert r2.exit_code == 0 and "database ready at revision" in r2.output


def test_import_then_reimport_changes_nothing(env, fts_files) -> None:
    r = invoke("import", "--source", "find_a_tender", *map(str, fts_files))
    assert r.exit_code == 0, r.output
    assert "5 record(s) read; 5 new, 0 updated, 0 unchanged, 0 rejected" in r.output
    assert "opportunities: 5 new, 0 changed" in r.output
    r = invoke("import", "--source", "find_a_tender", *map(str, fts_files))
    assert "5 record(s) read; 0 new, 0 updated, 5 unchanged, 0 rejected" in r.output
    assert "opportunities: 0 new, 0 changed" in r.output


def test_reclassify_rebuilds_and_reports(env, fts_files) -> None:
    invoke("import", "--source", "find_a_tender", *map(str, fts_files))
    r = invoke("reclassify")
    assert r.exit_code == 0, r.output
    assert "opportunities: 0 changed, 0 new, 0 another listing of one" in r.output
    assert "procurements" not in r.output  # not a terminal: no progress bar drawn


def test_opportunities_json_lines(env, fts_files, fts_releases) -> None:
    invoke("import", "--source", "find_a_tender", *map(str, fts_files))
    r = invoke("opportunities", "--json")
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert len(rows) == 5 == len({r["ocid"] for r in fts_releases})
    aldbanks = next(x for x in rows if x["ocid"] == "ocds-h6vhtk-078219")
    assert aldbanks["buyer"] == "Central Bedfordshire Council"
    assert (aldbanks["value"], aldbanks["currency"]) == (2772000, "GBP")
    assert aldbanks["deadline"] == "2026-11-05T12:00:00+00:00"  # GMT by then
    assert aldbanks["cpv_codes"] == ["85311000"] and aldbanks["regions"] == ["UKH25"]
    assert aldbanks["stage"] == "tender" and aldbanks["sources"] == ["find_a_tender"]
    harrogate = next(x for x in rows if x["ocid"] == "ocds-h6vhtk-067fb8")
    assert harrogate["deadline"] == "2026-05-08T23:59:59+01:00"  # BST, as published
    for row in rows:
        if row["deadline"]:
            assert datetime.fromisoformat(row["deadline"]).tzinfo is not None
    text = invoke("opportunities")
    assert "ocds-h6vhtk-078219\ttender\t2026-11-05 12:00\t£2,772,000\t" in text.output


def test_import_reports_a_broken_file_and_keeps_going(env, fts_files, tmp_path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(fts_files[0].read_text()[:500])
    r = invoke("import", "--source", "find_a_tender", str(broken), *map(str, fts_files))
    assert r.exit_code == 0
    assert "6 record(s) read; 5 new" in r.output and "1 rejected" in r.output
    assert "kept with its reason and raw payload in the ingesterror table" in r.output
    assert "rejected broken.json: malformed page" in r.output  # the reason, said


def test_import_rejects_unknown_source_and_missing_file(env, tmp_path) -> None:
    r = invoke("import", "--source", "nope", str(tmp_path))
    assert r.exit_code == 2 and "unknown source 'nope'; known: " in r.output
    assert "find_a_tender" in r.output
    r = invoke("import", "--source", "find_a_tender", str(tmp_path / "missing.json"))
    assert r.exit_code == 2 and "no such file" in r.output


def test_sources_lists_every_configured_source_with_its_health(env, fts_files) -> None:
    r = invoke("sources", "--json")
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in map(json.loads, r.output.splitlines())}
    fts = rows["find_a_tender"]
    assert fts["enabled"] and fts["last_success_at"] is None and fts["total_items"] == 0
    text = invoke("sources").output
    assert "find_a_tender [find_a_tender] every 30 min" in text
    assert "last success: never" in text


def test_a_broken_sources_file_is_reported(env, tmp_path, monkeypatch) -> None:
    from bidbell.settings import reset_settings

    bad = tmp_path / "sources.toml"
    bad.write_text('[sources.x]\ntype = "nope"\nbase_url = "https://example.org"\n')
    monkeypatch.setenv("BIDBELL_SOURCES_FILE", str(bad))
    reset_settings()
    r = invoke("sources")
    assert r.exit_code == 2
    assert "source 'x': type 'nope' is not one of" in r.output
