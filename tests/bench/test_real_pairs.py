"""The labelling rules of the real cross-publication set (bench/pairs/real.py), on
CONSTRUCTED records shaped like its two sources (a Contracts Finder CSV award row, a TED
award notice): the real set itself is fetched data, not in the repository."""

from __future__ import annotations

from bench.pairs.real import _cf_suppliers, label_pairs
from models.formats.fields import NoticeFields


def _cf(sid: str, title: str, supplier: str, value: float) -> NoticeFields:
    return NoticeFields(
        ocid=f"cf-{sid}", source_id=sid, title=title,
        buyer_name="DEPARTMENT OF HEALTH AND SOCIAL CARE", value_amount=value,
        suppliers=[supplier],
    )  # fmt: skip


def _ted(num: str, title: str, supplier: str, value: float, buyer: str = "") -> NoticeFields:
    return NoticeFields(
        ocid=f"ted-{num}", source_id=num, title=title,
        buyer_name=buyer or "Department of Health and Social Care", value_amount=value,
        suppliers=[supplier],
    )  # fmt: skip


PPE = "Supply of Personal Protective Equipment for Healthcare Workers"


def test_the_supplier_cell_of_the_export_is_read() -> None:
    cell = (
        "[Bytes Software Services Ltd|Bytes House, Leatherhead|NONE||Yes|No]"
        "[HUGH JAMES|Cardiff|NONE_PARTNERSHIP||No|No]"
    )
    assert _cf_suppliers(cell) == ["Bytes Software Services Ltd", "HUGH JAMES"]
    assert _cf_suppliers("") == []


def test_one_title_many_awards_labelled_by_supplier_and_value() -> None:
    cf = [(_cf("547420", PPE, "Brandology Ltd", 69_600_000), "")]
    ted = [
        _ted("400001-2020", PPE, "BRANDOLOGY LIMITED", 69_600_000),  # the same award
        _ted("400002-2020", PPE, "Brandology Ltd", 12_000_000),  # another award, same supplier
        _ted("400003-2020", PPE, "Unispace Global Ltd", 69_000_000),  # another supplier
        _ted("400004-2020", PPE, "Medco Solutions", 5_000_000),  # another supplier
        _ted("400005-2020", PPE, "Other Co", 1_000, buyer="Leeds City Council"),
    ]
    labels = {p.b.source_id: (p.kind, p.label) for p in label_pairs(cf, ted)}
    assert labels == {
        "400001-2020": ("cross_publication", 1),
        "400003-2020": ("other_supplier", 0),
        "400004-2020": ("other_supplier", 0),
        "400005-2020": ("other_buyer", 0),
    }


def test_a_quoted_official_journal_number_decides() -> None:
    cf = [
        (
            _cf("X1", "Reablement - AWARD", "Abbots Care", 1.0),
            "OJEU Award Notice Number: 2020/S 162-395455",
        )
    ]
    ted = [_ted("395455-2020", "HCC 02/20 The Provision of Reablement", "Care by Us Ltd", 2.0)]
    [pair] = label_pairs(cf, ted)
    assert (pair.kind, pair.label) == ("cross_publication", 1)


def test_two_awards_of_one_value_to_one_supplier_are_left_out() -> None:
    """Two TED awards that fit equally well: which one is the Contracts Finder award cannot be
    told, so neither is labelled."""
    cf = [(_cf("546154", PPE, "RED E MED LTD", 7_647_500), "")]
    ted = [
        _ted("1-2020", PPE, "Red E Med Ltd", 7_647_500),
        _ted("2-2020", PPE, "Red E Med Ltd", 7_647_500),
    ]
    assert [p for p in label_pairs(cf, ted) if p.label] == []
