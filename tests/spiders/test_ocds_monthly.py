"""The ocds_monthly spider (Public Contracts Scotland, Sell2Wales), run as the product runs
it (its own process), against the real captured releases served by month from 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from demo.replay import Fault, ReplayServer
from demo.replay.ocds_monthly import OcdsMonthlySite, load_monthly_releases
from models.formats.ocds import normalise_release
from models.store.checkpoint import completed_until
from spiders.crawl import crawl

FAST = {"BIDBELL_BACKOFF_BASE": 0.2, "BIDBELL_RETRY_TIMES": 2}
# PCS captures: 28 Mar .. 29 Apr 2019; Sell2Wales: 3 .. 21 Feb 2025
PCS_RANGE = {"updated_from": "2019-03-15T00:00:00", "updated_to": "2019-05-02T00:00:00"}
S2W_RANGE = {"updated_from": "2025-02-01T00:00:00", "updated_to": "2025-03-01T00:00:00"}


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def queries(server: ReplayServer) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in parse_qs(urlsplit(r).query).items()} for r in server.requests]


@pytest.fixture
def pcs_releases(fixtures_dir: Path) -> list[dict[str, Any]]:
    return load_monthly_releases(fixtures_dir, "scotland-pcs")


@pytest.fixture
def s2w_releases(fixtures_dir: Path) -> list[dict[str, Any]]:
    return load_monthly_releases(fixtures_dir, "wales-sell2wales")


@pytest.fixture
def server(fixtures_dir: Path) -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        s.mount("/pcs", OcdsMonthlySite(fixtures_dir, "pcs"))
        s.mount("/s2w", OcdsMonthlySite(fixtures_dir, "s2w"))
        yield s


def test_asks_each_month_for_each_notice_type(server, tmp_path, pcs_releases) -> None:
    outcome = crawl(
        "public_contracts_scotland",
        tmp_path / "out.jsonl",
        {"base_url": server.url + "/pcs", "notice_types": "2,3", **PCS_RANGE},
        FAST,
    )
    assert outcome.returncode == 0, outcome.log_path.read_text()
    asked = sorted((q["dateFrom"], q["noticeType"], q["outputType"]) for q in queries(server))
    assert asked == [(m, t, "0") for m in ("03-2019", "04-2019", "05-2019") for t in ("2", "3")]
    assert all(r.startswith("/pcs/v1/Notices?") for r in server.requests)
    # one window per calendar month (UK time), each complete only when both types came
    assert [(w["status"], w["notices"], w["pages"]) for w in outcome.windows] == [
        ("complete", 4, 2),
        ("complete", 41, 2),
        ("complete", 0, 2),
    ]
    notices = lines(outcome.notices_path)
    assert len(notices) == len(pcs_releases) == 45
    by_ocid = {r["ocid"]: r for r in pcs_releases}
    for n in notices:
        release = by_ocid[n["ocid"]]
        # kept as published, plus the query's notice type under our own key
        assert n["payload"] == {**release, "x_bidbell": {"noticeType": "2"}}
        # PCS releases have no id: <ocid>-<notice document id>, the normaliser's rule too
        assert "id" not in release
        assert n["source_id"] == normalise_release("pcs", n["payload"]).source_id
    first = next(n for n in notices if n["ocid"] == "ocds-r6ebe6-0000581860")
    assert first["source_id"] == "ocds-r6ebe6-0000581860-APR352786"
    assert first["notice_url"] == (
        "https://www.publiccontractsscotland.gov.uk/search/show/search_view.aspx?ID=APR352786"
    )
    assert not lines(outcome.errors_path)


def test_sell2wales_sub_contract_types_are_flagged(fixtures_dir, tmp_path, s2w_releases) -> None:
    # No sub-contract notice was captured: a real release is served as noticeType 54 here,
    # to follow the flag from the query to the normalised record.
    sub, others = s2w_releases[0], s2w_releases[1:]
    with ReplayServer() as s:
        s.mount("/s2w", OcdsMonthlySite(fixtures_dir, "s2w", by_type={"2": others, "54": [sub]}))
        outcome = crawl(
            "sell2wales",
            tmp_path / "out.jsonl",
            {"base_url": s.url + "/s2w", "notice_types": "2,54", **S2W_RANGE},
            FAST,
        )
        asked = queries(s)
    assert outcome.returncode == 0, outcome.log_path.read_text()
    assert sorted((q["dateFrom"], q["noticeType"], q["locale"]) for q in asked) == [
        ("02-2025", "2", "2057"),
        ("02-2025", "54", "2057"),
    ]
    notices = lines(outcome.notices_path)
    assert len(notices) == 45
    flagged = [n for n in notices if n["payload"]["x_bidbell"].get("subcontract")]
    assert [n["source_id"] for n in flagged] == [sub["id"]]
    assert flagged[0]["payload"]["x_bidbell"] == {"noticeType": "54", "subcontract": True}
    assert normalise_release("sell2wales", flagged[0]["payload"]).is_subcontract is True
    plain = next(n for n in notices if n["source_id"] != sub["id"])
    assert normalise_release("sell2wales", plain["payload"]).is_subcontract is None
    assert plain["notice_url"].startswith(
        "https://www.sell2wales.gov.wales/search/show/search_view.aspx?ID=FEB"
    )


def test_a_failed_notice_type_fails_its_month_only(server, tmp_path) -> None:
    server.add_fault(
        Fault(
            match=lambda p, q: q.get("dateFrom") == "04-2019" and q.get("noticeType") == "3",
            status=500,
            body=b"Internal Server Error",
            times=None,
        )
    )
    outcome = crawl(
        "public_contracts_scotland",
        tmp_path / "out.jsonl",
        {"base_url": server.url + "/pcs", "notice_types": "2,3", **PCS_RANGE},
        FAST,
    )
    assert outcome.returncode == 3  # partial
    statuses = [(w["status"], w["error"]) for w in outcome.windows]
    assert statuses == [
        ("complete", None),
        ("failed", "noticeType 3: HTTP 500"),
        ("complete", None),
    ]
    # April's contract notices still arrived; the checkpoint stops at the start of April
    assert len(lines(outcome.notices_path)) == 45
    assert completed_until(outcome.windows) == datetime(2019, 3, 31, 23, 0, tzinfo=UTC)
    [err] = lines(outcome.errors_path)
    assert err["status"] == 500 and err["body"] == "Internal Server Error"
    assert "dateFrom=04-2019" in err["url"] and "noticeType=3" in err["url"]


def test_a_malformed_package_is_reported_with_its_body(server, tmp_path) -> None:
    server.add_fault(Fault(match=lambda p, q: q.get("dateFrom") == "03-2019", truncate=120))
    outcome = crawl(
        "sell2wales",
        tmp_path / "out.jsonl",
        {"base_url": server.url + "/pcs", "notice_types": "2", **PCS_RANGE},
        FAST,
    )
    assert outcome.returncode == 3
    [err] = lines(outcome.errors_path)
    assert err["reason"].startswith("malformed page") and len(err["body"]) == 120
    assert [w["status"] for w in outcome.windows] == ["failed", "complete", "complete"]
    assert len(lines(outcome.notices_path)) == 41  # April's


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"notice_types": "2,x"}, "notice type codes must be numbers"),
        ({"subcontract_notice_types": "54;55"}, "notice type codes must be numbers"),
        ({"notice_url_template": "https://x/{nope}"}, "notice_url_template may use"),
        ({"updated_to": "2019-03-01T00:00:00"}, "is not before"),
    ],
)
def test_bad_configuration_fails_fast(server, tmp_path, args, message) -> None:
    outcome = crawl(
        "public_contracts_scotland",
        tmp_path / "o.jsonl",
        {"base_url": server.url + "/pcs", "notice_types": "2", **PCS_RANGE, **args},
    )
    assert outcome.returncode == 2
    assert message in outcome.log_path.read_text()
    assert server.requests == []
