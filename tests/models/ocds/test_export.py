"""OCDS export of the stored opportunities (on SQLite and on PostgreSQL): every real capture
stored, exported and validated against the vendored OCDS 1.1.5 schema, with and without the
declared extensions; a known Find a Tender notice read back field by field; listings of one
procurement; broken packages reported with their OCID; and ``bidbell export``."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from cli.main import app
from models.ocds import EXTENSION_DIR, LOTS_EXTENSION_URL, extension_url
from models.ocds.export import clean, export_release_package
from models.ocds.validate import FORMATS_CHECKED, merge_patch, validate_package
from models.store.store import store_records
from models.store.tables import Opportunity
from spiders.files import read_file

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
PUBLIC = "https://bidbell.example.org"
ALDBANKS = "ocds-h6vhtk-078219"  # FTS 094476-2026: a UK4 tender notice with one lot
# (source, spider type, files under the shared fixtures folder)
CAPTURES = [
    ("find_a_tender", "find_a_tender", "find-a-tender/*.json"),
    ("contracts_finder", "contracts_finder", "contracts-finder/*.json"),
    ("contracts_finder", "contracts_finder", "contracts-finder/legacy-2016-ocds/*.json"),
    ("contracts_finder_csv", "contracts_finder_csv", "contracts-finder/*.csv"),
    ("public_contracts_scotland", "ocds_monthly", "scotland-pcs/*.jsonl"),
    ("sell2wales", "ocds_monthly", "wales-sell2wales/*.jsonl"),
]


def store(engine, paths: list[tuple[str, str, Path]]) -> None:
    with Session(engine) as s:
        for source, spider_type, path in paths:
            recs = [r.model_dump() for r in read_file(source, spider_type, path)]
            r = store_records(s, [x for x in recs if x["kind"] == "notice"], now=NOW)
            assert r.rejected == 0, path
        s.commit()


def store_fts(engine, fts_files: list[Path]) -> None:
    store(engine, [("find_a_tender", "find_a_tender", f) for f in fts_files])


def export(engine, include_duplicates: bool = False) -> dict[str, Any]:
    with Session(engine) as s:
        return export_release_package(s, NOW, PUBLIC, include_duplicates)


def by_ocid(package: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["ocid"]: r for r in package["releases"]}


def test_every_capture_exports_to_a_valid_package(engine, fixtures_dir) -> None:
    paths = [
        (source, spider_type, path)
        for source, spider_type, pattern in CAPTURES
        for path in sorted(fixtures_dir.glob(pattern))
    ]
    assert len({p for _, _, p in paths}) >= 8  # every capture file named above was found
    store(engine, paths)
    package = export(engine)
    assert validate_package(package, extended=False) == []  # core OCDS 1.1.5
    assert validate_package(package) == []  # core + Lots + bidbell extension
    with Session(engine) as s:
        canonical = s.exec(
            select(func.count())
            .select_from(Opportunity)
            .where(col(Opportunity.canonical_id).is_(None))
        ).one()
        stored = s.exec(select(func.count()).select_from(Opportunity)).one()
    releases = package["releases"]
    assert len(releases) == canonical > 600
    assert len({r["ocid"] for r in releases}) == len(releases)
    assert len({r["id"] for r in releases}) == len(releases)
    assert package["version"] == "1.1" and package["publisher"]["name"] == "Bidbell"
    assert package["extensions"] == [LOTS_EXTENSION_URL, f"{PUBLIC}/ocds/extension.json"]
    assert package["publishedDate"] == "2026-10-06T19:00:00+01:00"
    # Every source is in the export, with its classification.
    sources = {s for r in releases for s in r["bidbell"]["sources"]}
    assert sources == {c[0] for c in CAPTURES}
    assert {r["bidbell"]["valueBand"] for r in releases} == {
        "under_10k", "below_publication", "below_threshold", "above_threshold", "not_stated",
    }  # fmt: skip
    # which threshold applied is said on every release
    assert all(r["bidbell"]["bandBasis"].count("threshold £") == 1 for r in releases)
    # Contracts Finder's 2016-17 notices state only a minimum: minValue, and no value
    kent = by_ocid(package)["ocds-b5fd17-2d13960d-adc8-11e6-9901-0019b9f3037b"]
    assert kent["tender"]["minValue"] == {"amount": 578229, "currency": "GBP"}
    assert "value" not in kent["tender"] and kent["bidbell"]["valueBand"] == "above_threshold"
    # the category as published (core OCDS)
    assert {r["tender"].get("mainProcurementCategory") for r in releases} == {
        None, "goods", "services", "works",
    }  # fmt: skip
    # Nothing empty is written (OCDS: no empty strings, arrays or objects).
    assert clean(releases) == releases
    # Every listing: one release per stored row, still valid.
    everything = export(engine, include_duplicates=True)
    assert len(everything["releases"]) == stored
    assert validate_package(everything) == []


def test_a_real_find_a_tender_notice_comes_out_right(engine, fts_files, fts_releases) -> None:
    store_fts(engine, fts_files)
    package = export(engine)
    assert validate_package(package) == []
    releases = by_ocid(package)
    assert set(releases) == {r["ocid"] for r in fts_releases}
    raw = next(r for r in fts_releases if r["ocid"] == ALDBANKS)
    r = releases[ALDBANKS]
    assert r["id"] == f"{ALDBANKS}-bidbell-1" and r["tag"] == ["tender"]
    assert r["initiationType"] == "tender" and r["date"] == "2026-10-06T19:00:00+01:00"
    tender = r["tender"]
    assert tender["title"] == raw["tender"]["title"]
    assert tender["status"] == "active"
    end = tender["tenderPeriod"]["endDate"]
    assert end == "2026-11-05T12:00:00+00:00"  # GMT by then
    assert datetime.fromisoformat(end) == datetime.fromisoformat(
        raw["tender"]["tenderPeriod"]["endDate"]
    )
    # Net of VAT where the source gives both; the gross figure in the extension.
    assert tender["value"] == {"amount": 2772000, "currency": "GBP"}
    assert tender["value"]["amount"] == raw["tender"]["value"]["amount"]
    assert r["bidbell"]["valueGross"] == raw["tender"]["value"]["amountGross"] == 3326400
    assert tender["items"] == [{"id": "1", "classification": {"scheme": "CPV", "id": "85311000"}}]
    assert [lot["id"] for lot in tender["lots"]] == ["1"]
    assert tender["documents"][0]["url"] == (
        "https://www.find-tender.service.gov.uk/Notice/094476-2026"
    )
    assert r["buyer"] == {"id": raw["buyer"]["id"], "name": "Central Bedfordshire Council"}
    (party,) = r["parties"]
    assert party["roles"] == ["buyer"] and party["address"] == {"postalCode": "SG17 5TQ"}
    ext = r["bidbell"]
    assert ext["stage"] == "tender" and ext["noticeType"] == "UK4"
    assert ext["valueBand"] == "above_threshold" and ext["deliveryRegions"] == ["UKH25"]
    assert ext["sectors"] == ["Social care and health"]
    assert ext["workInKent"] is False and ext["sources"] == ["find_a_tender"]
    assert ext["bandBasis"] == "light-touch services threshold £663,540"
    assert ext["fitScore"] == 35
    assert "at or above the light-touch services threshold £663,540" in ext["fitReasons"]
    assert tender["mainProcurementCategory"] == "services"
    assert ext["listings"] == [
        {"ocid": ALDBANKS, "sources": ["find_a_tender"], "url": tender["documents"][0]["url"]}
    ]
    # BST deadline as published. An award notice with no estimate: the awarded value (only
    # the figure including VAT is published) stands in, as in the store.
    harrogate = releases["ocds-h6vhtk-067fb8"]["tender"]
    assert harrogate["tenderPeriod"]["endDate"] == "2026-05-08T23:59:59+01:00"
    assert harrogate["value"] == {"amount": 33721, "currency": "GBP"}
    award = releases["ocds-h6vhtk-06e832"]
    assert award["tag"] == ["award"] and award["tender"]["status"] == "complete"
    assert "tenderPeriod" not in award["tender"]
    assert award["tender"]["value"] == {"amount": 256378.74, "currency": "GBP"}
    assert award["bidbell"]["valueGross"] == 256378.74


def test_another_listing_is_in_its_canonical_release(engine, fts_files) -> None:
    store_fts(engine, fts_files)
    with Session(engine) as s:
        rows = {o.ocid: o for o in s.exec(select(Opportunity)).all()}
        first, other = rows[ALDBANKS], rows["ocds-h6vhtk-078217"]
        other.canonical_id = first.id
        other.duplicate_reasons = ["titles 0.95 alike", "deadline within a day"]
        s.add(other)
        s.commit()
    package = export(engine)
    assert validate_package(package) == []
    releases = by_ocid(package)
    assert len(releases) == 4 and "ocds-h6vhtk-078217" not in releases
    listings = releases[ALDBANKS]["bidbell"]["listings"]
    assert [x["ocid"] for x in listings] == [ALDBANKS, "ocds-h6vhtk-078217"]
    assert listings[1]["duplicateReasons"] == ["titles 0.95 alike", "deadline within a day"]
    assert "duplicateReasons" not in listings[0]
    everything = by_ocid(export(engine, include_duplicates=True))
    assert len(everything) == 5
    assert everything["ocds-h6vhtk-078217"]["bidbell"]["canonicalOcid"] == ALDBANKS
    assert "canonicalOcid" not in everything[ALDBANKS]["bidbell"]


def test_broken_packages_are_reported_with_the_ocid_and_path(engine, fts_files) -> None:
    store_fts(engine, fts_files)
    good = export(engine)
    i = next(n for n, r in enumerate(good["releases"]) if r["ocid"] == ALDBANKS)

    def errors(change, extended: bool = True) -> list[str]:
        package = copy.deepcopy(good)
        change(package, package["releases"][i])
        return validate_package(package, extended=extended)

    def amount_as_text(p, r) -> None:
        r["tender"]["value"]["amount"] = "2772000"

    for extended in (False, True):
        (e,) = errors(amount_as_text, extended)
        assert e.startswith(f"{ALDBANKS}: releases[{i}].tender.value.amount: '2772000' is not")

    def no_ocid(p, r) -> None:
        del r["ocid"]

    assert errors(no_ocid) == [
        f"release {i} (no ocid): releases[{i}]: 'ocid' is a required property"
    ]

    def bad_tag(p, r) -> None:
        r["tag"] = ["opportunity"]

    (e,) = errors(bad_tag)
    assert e.startswith(f"{ALDBANKS}: releases[{i}].tag[0]: 'opportunity' is not one of")

    def bad_date(p, r) -> None:
        r["date"] = "6 October 2026"

    assert "date-time" in FORMATS_CHECKED  # rfc3339-validator is installed
    assert errors(bad_date) == [
        f"{ALDBANKS}: releases[{i}].date: '6 October 2026' is not a 'date-time'"
    ]

    def no_publisher(p, r) -> None:
        del p["publisher"]

    assert errors(no_publisher) == ["package: (package): 'publisher' is a required property"]

    # Extension fields are type-checked only with the extensions applied.
    def bad_extension_fields(p, r) -> None:
        r["bidbell"]["fitScore"] = "high"
        r["bidbell"]["valueBand"] = "small"
        r["tender"]["lots"][0]["value"]["amount"] = "2772000"

    assert errors(bad_extension_fields, extended=False) == []
    found = errors(bad_extension_fields)
    assert len(found) == 3 and all(e.startswith(f"{ALDBANKS}: releases[{i}].") for e in found)
    assert any(".bidbell.fitScore: 'high' is not of type 'integer'" in e for e in found)
    assert any(".bidbell.valueBand: 'small' is not one of" in e for e in found)
    assert any(".tender.lots[0].value.amount: '2772000' is not of type" in e for e in found)


def test_merge_patch_follows_rfc_7386() -> None:
    # Examples from RFC 7386, appendix A.
    cases = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "foo"}, None, None),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for target, patch, expected in cases:
        before = copy.deepcopy(target)
        assert merge_patch(target, patch) == expected
        assert target == before


def test_extension_files_are_consistent() -> None:
    meta = json.loads((EXTENSION_DIR / "extension.json").read_text(encoding="utf-8"))
    assert meta["compatibility"] == ["1.1"] and meta["schemas"] == ["release-schema.json"]
    assert set(meta) >= {"name", "description", "documentationUrl"}
    patch = json.loads((EXTENSION_DIR / "release-schema.json").read_text(encoding="utf-8"))
    fields = patch["definitions"]["BidbellClassification"]["properties"]
    readme = (EXTENSION_DIR / "README.md").read_text(encoding="utf-8")
    for name, spec in fields.items():
        assert spec.get("description"), name
        assert f"| `{name}` |" in readme, f"{name} is not documented in the README"
    assert extension_url(PUBLIC + "/") == f"{PUBLIC}/ocds/extension.json"


# --- the command line ----------------------------------------------------------------------

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_cli_export_to_a_file_and_to_stdout(engine, fts_files, tmp_path) -> None:
    r = invoke("import", "--source", "find_a_tender", *map(str, fts_files))
    assert r.exit_code == 0, r.output
    out = tmp_path / "ocds.json"
    r = invoke("export", "--format", "ocds", "--output", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and r.stderr.strip() == f"wrote 5 release(s) to {out}"
    package = json.loads(out.read_text(encoding="utf-8"))
    assert validate_package(package) == [] and len(package["releases"]) == 5
    assert package["extensions"][-1] == "http://localhost:8000/ocds/extension.json"
    r = invoke("export", "--format", "ocds")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["releases"] == package["releases"]


def test_cli_export_refuses_bad_input(engine, fts_files, tmp_path, monkeypatch) -> None:
    out = tmp_path / "ocds.json"
    r = invoke("export", "--format", "csv", "--output", str(out))
    assert r.exit_code == 2 and "unknown format 'csv'; known: ocds" in r.stderr
    r = invoke("export", "--format", "ocds", "--output", str(out))
    assert r.exit_code == 1 and "nothing to export" in r.stderr
    invoke("import", "--source", "find_a_tender", *map(str, fts_files))

    import models.ocds.export

    real = models.ocds.export.export_release_package

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        package = real(*args, **kwargs)
        package["releases"][0]["tender"]["value"] = {"amount": "lots", "currency": "GBP"}
        return package

    monkeypatch.setattr(models.ocds.export, "export_release_package", broken)
    r = invoke("export", "--format", "ocds", "--output", str(out))
    assert r.exit_code == 1 and r.stdout == ""
    assert "the OCDS export is not valid: 1 error(s); nothing written" in r.stderr
    assert "ocds-h6vhtk-067fb8: releases[0].tender.value.amount: 'lots'" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("name", ["release-package-schema.json", "release-schema.json"])
def test_vendored_core_schemas_are_the_published_ones(name) -> None:
    from models.ocds import CORE_SCHEMA_DIR

    schema = json.loads((CORE_SCHEMA_DIR / name).read_text(encoding="utf-8"))
    assert schema["id"] == f"https://standard.open-contracting.org/schema/1__1__5/{name}"
