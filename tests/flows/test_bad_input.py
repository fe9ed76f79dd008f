"""One bad record never costs the good ones: real payloads mutilated by the test, collected
from the local replay or imported from files, on SQLite and PostgreSQL. Each bad record is
rejected with its reason and kept; every good record beside it is stored; the checkpoint
moves past it; the exit status says what happened."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from bidbell.settings import get_settings, reset_settings
from cli.main import app
from demo.replay import Fault, ReplayServer
from demo.replay.fts import FTS_PATH, FtsSite
from flows.steps import collect_source
from models.store.db import get_engine, migrate
from models.store.tables import IngestError, Notice, Opportunity, SourceState

runner = CliRunner()
CF_SEARCH = "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json"
FTS_PAGE = (
    "find-a-tender/fts_release_package_2026-10-06_updatedFrom_limit4_with_next_cursor"
    "_contacts_redacted.json"
)
SINCE = datetime(2026, 10, 5, 23, 0, tzinfo=UTC)  # 6 Oct 00:00 UK
NOW = datetime(2026, 10, 6, 23, 0, tzinfo=UTC)  # 7 Oct 00:00 UK


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def cf_package(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / CF_SEARCH).read_text(encoding="utf-8"))


def write_package(tmp_path: Path, package: dict[str, Any], name: str = "page.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    return path


def stored(url: str) -> tuple[int, list[IngestError]]:
    with Session(get_engine(url)) as s:
        notices = len(s.exec(select(Notice)).all())
        errors = list(s.exec(select(IngestError)).all())
    return notices, errors


@pytest.fixture
def store_env(engine, db_url, tmp_path, monkeypatch) -> str:
    """A migrated database (both dialects) that the command line uses too."""
    monkeypatch.setenv("BIDBELL_DATABASE_URL", db_url)
    reset_settings()
    return db_url


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        # the case that used to end in an AttributeError and store none of the 100
        (lambda r: r.__setitem__("tender", "no longer an object"), "tender is a str"),
        # a 401-digit integer used to raise OverflowError
        (
            lambda r: r["tender"].__setitem__("value", {"amount": 10**400, "currency": "GBP"}),
            "tender.value.amount is not a number we can read (an integer of 401 digits)",
        ),
        # PostgreSQL cannot keep U+0000: it used to lose the whole import there
        (
            lambda r: r["tender"].__setitem__("title", "Grounds\x00maintenance"),
            "NUL character",
        ),
        (lambda r: r.__setitem__("id", ["a", "list"]), "release without an id"),
        (lambda r: r.__setitem__("ocid", 12345), "has no ocid"),
        (lambda r: r.__setitem__("id", "x" * 300), "release without an id"),
    ],
    ids=["tender-a-string", "401-digits", "nul-byte", "id-a-list", "ocid-a-number", "id-too-long"],
)
def test_one_bad_release_in_a_real_package_costs_only_itself(
    store_env, fixtures_dir, tmp_path, mutate, reason
) -> None:
    package = cf_package(fixtures_dir)
    victim = package["releases"][37]
    mutate(victim)
    path = write_package(tmp_path, package)
    r = invoke("import", "--source", "contracts_finder", str(path))
    assert r.exit_code == 0, r.output
    assert "100 record(s) read; 99 new, 0 updated, 0 unchanged, 1 rejected" in r.output
    assert reason in r.output  # the reason is said, not only kept
    notices, errors = stored(store_env)
    assert notices == 99 and len(errors) == 1
    assert reason in errors[0].reason
    # the raw record is kept for inspection, NUL written out so every database keeps it
    assert errors[0].body and "\x00" not in errors[0].body


def test_a_file_that_is_not_json_is_bad_input(store_env, tmp_path) -> None:
    path = tmp_path / "not-json.json"
    path.write_text("<html><body>Service unavailable</body></html>")
    r = invoke("import", "--source", "find_a_tender", str(path))
    assert r.exit_code == 2, r.output
    assert "rejected" in r.output and "malformed page" in r.output
    assert "nothing usable was read" in r.output
    sources = invoke("sources", "--json")
    row = next(json.loads(x) for x in sources.output.splitlines() if '"find_a_tender"' in x)
    assert row["errors_kept"] == 1 and "malformed page" in row["last_error"]


def test_a_source_that_cannot_import_files_says_so(store_env, tmp_path) -> None:
    path = write_package(tmp_path, {"releases": []})
    r = invoke("import", "--source", "feed_example", str(path))
    assert r.exit_code == 2
    assert "cannot import saved files" in r.output and "Traceback" not in r.output


def deep_page(fixtures_dir: Path, depth: int) -> bytes:
    """The real FTS page with one release's description nested ``depth`` deep."""
    page = json.loads((fixtures_dir / FTS_PAGE).read_text(encoding="utf-8"))
    page.pop("links", None)
    page["releases"][1]["tender"]["description"] = "__DEEP__"
    text = json.dumps(page, ensure_ascii=False)
    return text.replace('"__DEEP__"', "[" * depth + "]" * depth).encode()


def test_json_nested_100000_deep_costs_one_release(store_env, fixtures_dir, tmp_path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(deep_page(fixtures_dir, 100_000))
    r = invoke("import", "--source", "find_a_tender", str(path))
    assert r.exit_code == 0, r.output
    assert "4 record(s) read; 3 new, 0 updated, 0 unchanged, 1 rejected" in r.output
    notices, errors = stored(store_env)
    assert notices == 3 and len(errors) == 1 and "deep" in errors[0].reason


def collect(monkeypatch, replay: ReplayServer, params: dict[str, Any] | None = None):
    monkeypatch.setenv("BIDBELL_SOURCE_URLS", json.dumps({"find_a_tender": replay.url + "/fts"}))
    monkeypatch.setenv(
        "BIDBELL_SOURCE_PARAMS",
        json.dumps({"find_a_tender": {"window_hours": 24, **(params or {})}}),
    )
    reset_settings()
    s = get_settings()
    migrate(s.effective_database_url)
    return collect_source("find_a_tender", s, NOW, since=SINCE), s


def checkpoint(s) -> datetime | None:
    with Session(get_engine(s.effective_database_url)) as session:
        st = session.get(SourceState, "find_a_tender")
        return st.checkpoint if st else None


def test_a_poisoned_release_is_rejected_and_the_checkpoint_moves_past_it(
    store_env, fixtures_dir, monkeypatch
) -> None:
    site = FtsSite(fixtures_dir, page_size=2)
    poisoned = copy.deepcopy(site.releases)
    poisoned[2]["tender"] = "poison"
    site.releases = poisoned
    with ReplayServer() as server:
        server.mount("/fts", site)
        r, s = collect(monkeypatch, server)
    assert r.error is None, r.error
    assert r.notices == 4 and r.stored["inserted"] == 3 and r.stored["rejected"] == 1
    assert r.rejections and "tender is a str" in r.rejections[0]
    assert checkpoint(s) == NOW  # the next run does not meet the poison again
    _notices, errors = stored(s.effective_database_url)
    assert len(errors) == 1 and "poison" in errors[0].body


def test_deeply_nested_release_on_a_live_page(store_env, fixtures_dir, monkeypatch) -> None:
    with ReplayServer() as server:
        server.mount("/fts", FtsSite(fixtures_dir))
        server.add_fault(
            Fault(
                match=lambda p, q: p.endswith(FTS_PATH),
                body=deep_page(fixtures_dir, 100_000),
                times=1,
            )
        )
        r, s = collect(monkeypatch, server)
    assert r.error is None, r.error
    assert r.stored["inserted"] == 3 and r.errors == 1
    assert checkpoint(s) == NOW


def test_a_cursor_pointing_to_itself_is_not_followed_forever(
    store_env, fixtures_dir, monkeypatch
) -> None:
    page = json.loads((fixtures_dir / FTS_PAGE).read_text(encoding="utf-8"))
    with ReplayServer() as server:
        server.mount("/fts", FtsSite(fixtures_dir))
        url = f"{server.url}/fts{FTS_PATH}?updatedFrom=2026-10-06T00:00:00"
        page["links"] = {"next": url + "&cursor=loop"}
        server.add_fault(
            Fault(
                match=lambda p, q: p.endswith(FTS_PATH),
                body=json.dumps(page).encode(),
                times=None,
            )
        )
        r, s = collect(monkeypatch, server)
        requests = len(server.requests)
    assert requests == 2  # the first page, and the one its cursor named: then it stops
    assert r.stored["inserted"] == 4 and r.error is None
    _notices, errors = stored(s.effective_database_url)
    assert any("links.next points to a page already read" in e.reason for e in errors)
    assert checkpoint(s) == NOW


def test_an_opportunity_is_still_built_when_a_stored_notice_beside_it_is_rejected(
    store_env, fixtures_dir, tmp_path
) -> None:
    package = cf_package(fixtures_dir)
    ocid = package["releases"][0]["ocid"]
    twin = copy.deepcopy(package["releases"][0])
    twin["id"] = twin["id"] + "-twin"
    twin["tender"]["value"] = {"amount": "lots", "currency": "GBP"}
    package["releases"].append(twin)
    r = invoke("import", "--source", "contracts_finder", str(write_package(tmp_path, package)))
    assert r.exit_code == 0 and "1 rejected" in r.output
    with Session(get_engine(store_env)) as s:
        assert s.exec(select(Opportunity).where(Opportunity.ocid == ocid)).first() is not None
