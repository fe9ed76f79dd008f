"""Normalisation of the real Find a Tender captures, field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.formats.fields import NormaliseError
from models.formats.ocds import normalise_release
from models.formats.text import clean_text, cpv_code
from models.store.merge import content_hash, merge_notices


@pytest.fixture
def by_id(fts_releases):
    return {r["id"]: normalise_release("find_a_tender", r) for r in fts_releases}


def test_tender_notice_fields(by_id) -> None:
    n = by_id["094476-2026"]  # Central Bedfordshire: Aldbanks supported living (UK4)
    assert n.ocid == "ocds-h6vhtk-078219"
    assert n.title.startswith("Competitive Flexible Procedure (CFP)  Aldbanks Supported Living")
    assert n.buyer_name == "Central Bedfordshire Council"
    assert n.buyer_id == "GB-PPON-PVNH-1137-QJBX"
    assert n.buyer_region == "UKH25" and n.buyer_postcode == "SG17 5TQ"
    assert (n.value_amount, n.value_amount_gross, n.value_currency) == (2772000, 3326400, "GBP")
    assert n.deadline == datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    assert n.deadline.tzinfo is not None
    assert n.published_at == datetime(2026, 10, 6, 16, 59, 32, tzinfo=UTC)  # 17:59:32+01:00
    assert (n.stage, n.notice_type) == ("tender", "UK4")
    assert n.cpv_codes == ["85311000"] and n.regions == ["UKH25"]
    # a real quirk: the lot's currency says AED in a GBP tender; kept as published
    assert n.lots == [
        {
            "id": "1",
            "title": None,
            "value_amount": 2772000.0,
            "value_currency": "AED",
            "status": "active",
        }
    ]


def test_award_notice_takes_the_awarded_value(by_id) -> None:
    n = by_id["094477-2026"]  # award with gross value only
    assert (n.stage, n.notice_type) == ("award", "UK6")
    assert n.value_amount is None and n.value_amount_gross == 256378.74
    assert n.deadline is None and n.cpv_codes == []


def test_empty_buyer_id_list_does_not_break_the_buyer(fts_releases) -> None:
    with_empty = [r for r in fts_releases if r.get("buyerID") == []]
    assert with_empty, "the capture has releases with buyerID: []"
    for r in with_empty:
        n = normalise_release("find_a_tender", r)
        assert n.buyer_name and n.buyer_id == r["buyer"]["id"]


def test_below_threshold_notice_with_two_cpv_codes(by_id) -> None:
    n = by_id["032703-2026"]  # Harrogate Town Council
    assert n.cpv_codes == ["09323000", "79314000"]
    assert n.regions == ["UKE2"]
    assert n.value_amount == 33721 and n.value_amount_gross == 40465.2
    # 23:59:59 BST is 22:59:59 UTC
    assert n.deadline == datetime(2026, 5, 8, 22, 59, 59, tzinfo=UTC)


def test_bad_records_are_named() -> None:
    with pytest.raises(NormaliseError, match="no usable id"):
        normalise_release("find_a_tender", {"ocid": "x"})
    with pytest.raises(NormaliseError, match="release r1 has no ocid"):
        normalise_release("find_a_tender", {"id": "r1"})
    with pytest.raises(NormaliseError, match="not an object"):
        normalise_release("find_a_tender", [1, 2])


def test_small_helpers() -> None:
    assert cpv_code("45233000-9") == "45233000" and cpv_code("4523") is None
    assert clean_text("a\r\nb\r\n") == "a\nb"
    assert content_hash({"b": 1, "a": [1]}) == content_hash({"a": [1], "b": 1})


def test_merge_keeps_tender_facts_when_an_award_follows(fts_releases) -> None:
    tender = next(r for r in fts_releases if r["id"] == "094476-2026")
    award = {
        **tender,
        "id": "999999-2026",
        "date": "2026-12-01T10:00:00+00:00",
        "tag": ["award"],
        "tender": {"id": "x", "title": tender["tender"]["title"], "status": "complete"},
        "awards": [{"id": "1", "value": {"amount": 2700000, "currency": "GBP"}}],
    }
    merged = merge_notices(
        [normalise_release("find_a_tender", award), normalise_release("find_a_tender", tender)]
    )
    assert merged["stage"] == "award"  # newest notice decides the stage
    assert merged["deadline"] == datetime(2026, 11, 5, 12, 0, tzinfo=UTC)  # kept from tender
    assert merged["cpv_codes"] == ["85311000"]
    assert merged["value_amount"] == 2700000  # the award states the value
    assert merged["published_at"] == datetime(2026, 10, 6, 16, 59, 32, tzinfo=UTC)  # first
