"""Dedupe on real captured notices: exact keys, hard non-duplicates, derived re-publications,
clustering, and the labelled set (bench/pairs) with its precision and recall."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bench.pairs.recipe import KINDS, PAIRS_FILE, derive, fixture_records, load_pairs
from models.dedupe import cluster, conflicts, same_procurement, title_parts
from models.formats.fields import NoticeFields

CSV = "contracts-finder/cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"
CF = "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json"
PCS = "scotland-pcs/pcs_ocds_releases_2019-03-28_to_2019-04-29_part1_45_releases.jsonl"
DEFRA_CALL_OFF_4 = (CF, "c3e5344a-741a-4f7e-92af-f401b5c8209a-583186")


@pytest.fixture(scope="module")
def records(fixtures_dir: Path) -> dict[tuple[str, str], NoticeFields]:
    return fixture_records(fixtures_dir)


@pytest.fixture(scope="module")
def pairs(fixtures_dir: Path):
    return load_pairs(fixtures_dir=fixtures_dir)


def _find(records: dict[tuple[str, str], NoticeFields], text: str) -> NoticeFields:
    hits = [r for r in records.values() if text in r.title]
    assert hits, text
    return hits[0]


# --- hard non-duplicates -------------------------------------------------------------------


def test_real_cf_call_off_stays_apart_from_its_neighbours(records) -> None:
    co4 = records[DEFRA_CALL_OFF_4]
    assert co4.title == "Defra Noise Modelling Service - Call-Off Contract 4"
    for n in (3, 5):
        other = replace(
            co4,
            ocid=f"ocds-test-co{n}",
            source_id=f"co{n}",
            title=co4.title.replace("Contract 4", f"Contract {n}"),
        )  # the same buyer, value and deadline: only the call-off number differs
        m = same_procurement(co4, other)
        assert not m.same, m
        assert any("call-off numbers" in r for r in m.reasons)


def test_real_dps_call_offs_stay_apart(records) -> None:
    suffolk = [r for r in records.values() if r.buyer_name.startswith("Suffolk County Council")]
    assert len(suffolk) == 2  # CON300 and QOC472, both passenger-transport awards
    assert not same_procurement(*suffolk).same


def test_real_sibling_packages_stay_apart(records) -> None:
    a = _find(records, "Free-Flow Charging Package A")
    b = _find(records, "Free-Flow Charging Package B")
    assert a.buyer_name == b.buyer_name and a.deadline == b.deadline
    m = same_procurement(a, b)
    assert not m.same and any("package numbers" in r for r in m.reasons)
    # Same buyer, deadline and value; titles differ in what they buy.
    diesel = _find(records, "Canterbury Park & Ride Bus Service - Diesel")
    zero = _find(records, "Canterbury Park & Ride Bus Service - Zero Emission")
    assert diesel.value_amount == zero.value_amount
    assert not same_procurement(diesel, zero).same


def test_lots_of_one_real_notice_stay_apart(records) -> None:
    base = next(r for r in records.values() if r.source_id.endswith("APR352486"))  # 5 lots
    lots = [
        derive(base, {"ocid": f"x-{i}", "source_id": f"x-{i}", "title": [["lot", i, s, w]]})
        for i, s, w in (("1", "number", "dash"), ("2", "number", "paren"), ("3", "word", "dash"))
    ]
    assert lots[1].title.endswith("(Lot 2)") and lots[2].title.endswith("- Lot Three")
    for x in range(3):
        for y in range(x + 1, 3):
            assert not same_procurement(lots[x], lots[y]).same, (lots[x].title, lots[y].title)
    # "Lot 1" and "Lot 2" never join through a third notice of the whole framework.
    whole = replace(base, ocid="x-whole", source_id="x-whole")
    groups = cluster([whole, *lots])
    assert all(sum(1 for i in g if i > 0) <= 1 for g in groups), groups


def test_yearly_re_tender_stays_apart(records) -> None:
    scaffold = _find(records, "SCAFFOLDING 2019-2021")
    again = derive(
        scaffold,
        {
            "ocid": "x",
            "source_id": "x",
            "title": [["years", 2]],
            "deadline": {"shift_days": 728},
            "published": {"shift_days": 728},
        },
    )
    assert again.title == "SCAFFOLDING 2021-2023"
    m = same_procurement(scaffold, again)
    assert not m.same and conflicts(scaffold, again)
    # The same title, a year later: the deadlines say no.
    same_title = replace(again, title=scaffold.title)
    assert not same_procurement(scaffold, same_title).same


# --- true duplicates -----------------------------------------------------------------------


def test_real_republications_merge(records) -> None:
    a, b = records[(CSV, "BIP85467447")], records[(CSV, "700432376")]
    assert a.buyer_name != b.buyer_name  # "Ministry of Defence, Helicopters, ..." / "MINISTRY..."
    assert same_procurement(a, b).same
    assert same_procurement(records[(CSV, "BIP85052192")], records[(CSV, "BIP84790109")]).same


def test_derived_republication_merges(records) -> None:
    real = records[(CF, "fe45eee8-d6d7-4e08-a878-bc73131baf52-583165")]  # RBKC door entry
    assert real.value_amount == 1_560_000
    again = derive(
        real,
        {
            "ocid": "bidbell-derived-test",
            "source_id": "derived-test",
            "title": [["reorder"], ["abbreviate", {"Maintenance": "Maint.", "and": "&"}]],
            "buyer": [["case", "upper"]],
            "value": {"text": "k"},  # "£1.6m", read back by the project's money parser
            "deadline": {"repr": "date_only_noon"},
            "description": "drop",
            "drop_cpv": True,
        },
    )
    assert again.title != real.title and again.value_amount == 1_600_000
    m = same_procurement(real, again)
    assert m.same, m
    assert m.score >= 0.78


def test_value_as_text_and_mappings_are_read(records) -> None:
    real = records[DEFRA_CALL_OFF_4]
    as_dict = real.as_dict() | {"ocid": "other", "source_id": "other", "value_amount": "£53.5k"}
    m = same_procurement(real, as_dict)
    assert m.same and any("values 1.00" in r for r in m.reasons)


def test_exact_keys(records) -> None:
    a = records[DEFRA_CALL_OFF_4]
    retitled = replace(a, source_id="elsewhere", title="Something else entirely")
    assert same_procurement(a, retitled).reasons == ["same OCID"]
    # The same published identifier (here the source id; or ``references``) on both.
    shared = {"ocid": "x-2", "source_id": a.source_id, "title": "Noise work"}
    m = same_procurement(a, shared)
    assert m.same and m.reasons[0].startswith("same published identifier")
    named = {"ocid": "x-3", "source_id": "x-3", "title": "Noise", "references": [a.source_id]}
    assert same_procurement(a, named).same
    # ... but not when the identifier is a project's, shared by two of its lots.
    lot2 = {"ocid": "x-4", "source_id": a.source_id, "title": a.title + " - Lot 2"}
    lot3 = {"ocid": "x-5", "source_id": a.source_id, "title": a.title + " - Lot 3"}
    assert not same_procurement(lot2, lot3).same


def test_title_parts_read_markers() -> None:
    assert ("calloff", "4") in title_parts("Noise Modelling - Call-Off Contract 4").marks
    assert ("lot", "3") in title_parts("Repairs for ROOFING (Lot 3 - Somerset)").marks
    assert ("lot", "1") in title_parts("Framework Lots 1 & 2 - Lot 1: Social Workers").marks
    assert title_parts("SCAFFOLDING 2019-2021").years == {2019, 2021}
    assert "dm00157" in title_parts("DM/00157 - PIN - De-Greasant Machines").refs


# --- clustering ----------------------------------------------------------------------------


def test_cluster_over_all_captures_merges_only_known_duplicates(records) -> None:
    keys = list(records)
    recs = [records[k] for k in keys]
    groups = cluster(recs)
    cross = {
        frozenset((keys[i], keys[j]))
        for g in groups
        for i in g
        for j in g
        if i < j and recs[i].ocid != recs[j].ocid
    }
    assert cross == {
        frozenset({(CSV, "BIP85467447"), (CSV, "700432376")}),
        frozenset({(CSV, "BIP85052192"), (CSV, "BIP84790109")}),
        frozenset({(CSV, "BIP84734711"), (CSV, "BIP84662391")}),
    }
    # every release of one OCID is in one group
    group_of = {i: n for n, g in enumerate(groups) for i in g}
    by_ocid: dict[str, set[int]] = {}
    for i, r in enumerate(recs):
        by_ocid.setdefault(r.ocid, set()).add(group_of[i])
    assert all(len(v) == 1 for v in by_ocid.values())


# --- the labelled set ----------------------------------------------------------------------


def test_labelled_set_shape(pairs) -> None:
    assert len(pairs) >= 200
    assert {p.label for p in pairs} == {0, 1}
    assert {p.kind for p in pairs} == set(KINDS)
    for kind in KINDS:
        assert sum(p.kind == kind for p in pairs) >= 10, kind
    assert all(p.label == (p.kind in ("real_pair", "derived_duplicate")) for p in pairs)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_labelled_set_is_a_recipe_not_copied_data() -> None:
    for raw in PAIRS_FILE.read_text(encoding="utf-8").splitlines():
        row = json.loads(raw)
        assert set(row) <= {"id", "kind", "label", "a", "b", "note"}
        for side in (row["a"], row["b"]):
            assert set(side) <= {"file", "record", "derive"}
            # transformation parameters only: short words, references, patterns
            assert all(len(s) <= 40 for s in _strings(side.get("derive", {}))), side


def test_labelled_set_precision_and_recall(pairs) -> None:
    decided = [(p.label, same_procurement(p.a, p.b).same) for p in pairs]
    tp = sum(1 for y, s in decided if y and s)
    fp = sum(1 for y, s in decided if not y and s)
    fn = sum(1 for y, s in decided if y and not s)
    assert tp / (tp + fp) >= 0.99
    assert tp / (tp + fn) >= 0.95


def test_the_quick_conflict_check_and_unexplained_decisions_agree(records, pairs) -> None:
    """``has_conflict`` is ``bool(conflicts)``, and ``same_procurement(explain=False)`` (the
    store's linking) decides and scores as the explained call: on the labelled pairs and on
    pairs of real records alike in title in one capture file (conflicts of every kind)."""
    from models.dedupe import features, has_conflict

    # each record with the 30 after it in title order in its capture file (alike titles,
    # shared buyers, dates and series)
    files: dict[str, list[NoticeFields]] = {}
    for (name, _), r in records.items():
        files.setdefault(name, []).append(r)
    near = []
    for recs in files.values():
        recs.sort(key=lambda r: (r.title, r.ocid))
        near += [(a, b) for i, a in enumerate(recs) for b in recs[i + 1 : i + 31]]
    checked = [(p.a, p.b) for p in pairs] + near
    assert len(checked) > 15000
    kinds: set[str] = set()
    for a, b in checked:
        fa, fb = features(a), features(b)
        hard = conflicts(fa, fb)
        assert has_conflict(fa, fb) == bool(hard), (a.ocid, b.ocid, hard)
        kinds.update(h.split(" (")[0].split(" ")[0] for h in hard)
        full, quick = same_procurement(fa, fb), same_procurement(fa, fb, explain=False)
        assert (quick.same, quick.score) == (full.same, full.score), (a.ocid, b.ocid)
        if quick.same:
            assert quick.reasons == full.reasons
    # the pairs met every kind of conflict the check looks for
    assert {"awarded", "different", "deadlines", "published"} <= kinds, kinds


def test_titles_of_the_same_words_compare_as_the_word_walk_does() -> None:
    """``compare_titles`` takes titles of the same content words as wholly alike without
    walking them word by word: what the walk gives (it is still taken for a title cut
    short, and for titles of other words)."""
    from models.dedupe.compare import _soft_match, compare_titles
    from models.dedupe.text import title_parts

    same = [
        ("Supply of catering services", "Supply of Catering Services"),
        ("Catering services - supply of", "Catering Services (Supply)"),
        ("Roofing repairs at the depot", "Roofing repairs, depot"),
    ]
    for x, y in same:
        a, b = title_parts(x), title_parts(y)
        assert a.tokens == b.tokens and a.tokens
        matched, only_a, only_b = _soft_match(a.tokens, b.tokens)
        assert (matched, only_a, only_b) == (len(set(a.tokens)), [], [])
        got = compare_titles(a, b)
        assert (got.similarity, got.only_a, got.only_b, got.truncated) == (1.0, (), (), False)
    # a title cut short is still one, and other words are still other words
    cut = compare_titles(
        title_parts("Provision of school catering services for the"),
        title_parts("Provision of school catering services for the north area"),
    )
    assert cut.truncated and cut.similarity == 0.9
    other = compare_titles(title_parts("Catering services"), title_parts("Cleaning services"))
    assert other.similarity < 1 and other.only_a and other.only_b


def test_listing_keys_store_the_day_and_week_and_probe_their_neighbours() -> None:
    """The blocking keys a stored opportunity is filed under, and those a new one looks
    with: each buyer token and id and each rare title word with the closing day (UK) and
    the publication week, a title's reference with the year of publication, published
    identifiers as they are; a probe also takes the day, week and year either side. With
    no date at all, only identifiers, references and the buyer are keys."""
    from datetime import UTC, datetime

    from models.dedupe import features, listing_key_sets, listing_keys

    row = {
        "ocid": "ocds-b5fd17-1",
        "source_id": "FTS-012345",
        "title": "Roofing repairs framework ref ABC123 lot 2",
        "buyer_name": "Kent County Council",
        "buyer_id": "GB-123456",
        "deadline": datetime(2026, 3, 14, 23, 30, tzinfo=UTC),  # 14 March in London (GMT)
        "published_at": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),  # ISO week 2
    }
    f = features(row)
    stored, probes = listing_key_sets(f, ["roofing"])
    heads = ["b:kent", "bid:gb-123456", "t:roofing"]
    assert stored == {
        "i:fts-012345", "r:abc123|y:2026",
        *(h + t for h in heads for t in ("|d:2026-03-14", "|w:2026-W02")),
    }  # fmt: skip
    assert probes - stored == {
        "r:abc123|y:2025", "r:abc123|y:2027",
        *(
            h + t
            for h in heads
            for t in ("|d:2026-03-13", "|d:2026-03-15", "|w:2026-W01", "|w:2026-W03")
        ),
    }  # fmt: skip
    assert listing_keys(f, ["roofing"], spread=False) == stored
    assert listing_keys(f, ["roofing"], spread=True) == probes
    undated = features({**row, "deadline": None, "published_at": None})
    assert (
        listing_key_sets(undated, ["roofing"])
        == ({"i:fts-012345", "r:abc123", "b:kent", "bid:gb-123456"},) * 2
    )
