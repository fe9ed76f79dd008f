"""`bidbell opportunities` with the web search's filters: a header, the currency, the same
answers as the search, JSON Lines that keep their fields, clear refusals, and a word when
the database it reads is empty."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session
from typer.testing import CliRunner

from bidbell.clock import parse_iso
from cli.main import app
from models.store.db import get_engine
from models.store.queries import Search, search_opportunities
from tests.web.conftest import AS_OF

runner = CliRunner()
JSON_FIELDS = {
    "ocid", "title", "buyer", "buyer_id", "value", "value_gross", "value_min", "value_max",
    "value_text", "currency", "deadline", "published", "cpv_codes", "regions", "stage",
    "notice_type", "value_band", "lot_band", "band_basis", "sectors", "sector_basis", "areas",
    "work_in_kent", "buyer_in_kent", "buyer_area", "sme_suitable", "vcse_suitable",
    "is_subcontract", "parent_reference", "fit_score", "fit_reasons", "sources", "url",
    "listings", "version",
}  # fmt: skip


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_filters_header_and_currency(web_db: str) -> None:
    r = invoke("opportunities", "--open", "--sector", "Social care and health", "--area", "UKH")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    summary = next(x for x in lines if " in sqlite:///" in x)
    header_at = lines.index("OCID\tSTAGE\tCLOSES (UK)\tVALUE\tSIZE\tBUYER\tTITLE")
    rows = [x.split("\t") for x in lines[header_at + 1 :]]
    with Session(get_engine()) as s:
        expected = search_opportunities(
            s,
            Search(
                open_only=True, sectors=["Social care and health"], areas=["UKH"], per_page=1000
            ),
            parse_iso(AS_OF),
        ).items
    assert summary.startswith(f"{len(expected)} opportunit")
    assert [row[0] for row in rows] == [o.ocid for o in expected]
    cambs = next(row for row in rows if row[6].startswith("Cambridgeshire County Council Home"))
    assert cambs[3] == "£300,000,000" and cambs[1] == "tender" and cambs[2] == "2027-10-31 23:59"
    # no value in pounds stated: "-", or the figure in the currency it was published in
    r = invoke("opportunities", "--band", "not_stated", "--limit", "5000")
    values = [x.split("\t")[3] for x in r.output.splitlines() if x.count("\t") == 6][1:]
    assert values and "-" in values and "EUR 114,000" in values
    assert all(v == "-" or not v.startswith("£") for v in values)


def test_json_keeps_its_fields(web_db: str) -> None:
    r = invoke("opportunities", "--json", "--q", "maintenance", "--closing-within", "365")
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert rows and all(set(row) == JSON_FIELDS for row in rows)
    now = parse_iso(AS_OF)
    for row in rows:
        assert 0 < (parse_iso(row["deadline"]) - now).days <= 365


def test_bad_filters_are_refused_naming_the_option(web_db: str) -> None:
    r = invoke("opportunities", "--sector", "Knitting")
    assert r.exit_code == 2 and "sectors: 'Knitting' is not a sector" in r.output
    r = invoke("opportunities", "--band", "huge")
    assert r.exit_code == 2 and "bands: 'huge' is not allowed" in r.output
    r = invoke("opportunities", "--stage", "tender", "--area", "Atlantis")
    assert r.exit_code == 2 and "areas:" in r.output


def test_an_empty_database_is_named(env: Any) -> None:
    r = invoke("opportunities", "--open")
    assert r.exit_code == 0
    assert "0 opportunities in sqlite:///" in r.output
    assert "the database is empty" in r.output and "demo" in r.output
