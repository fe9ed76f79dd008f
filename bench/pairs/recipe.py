"""The labelled dedupe set, built at run time from the shared captures and pairs.jsonl.

pairs.jsonl holds no notice text: each line names real records by fixture file and record
id, the label and kind, and for a derived record the transformation that turns the real
record into the same notice as a second portal would publish it (or into a sibling lot, a
later call-off, next year's re-tender). See README.md in this folder.

    from bench.pairs.recipe import load_pairs
    for p in load_pairs(): p.a, p.b, p.label, p.kind
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bench.captures import read_captures
from bidbell.clock import UK
from bidbell.settings import get_settings
from models.formats.fields import NoticeFields
from models.formats.text import parse_money

HERE = Path(__file__).resolve().parent
PAIRS_FILE = HERE / "pairs.jsonl"
KINDS = ("real_pair", "derived_duplicate", "sibling_lot", "call_off", "re_tender", "different")


@dataclass(frozen=True)
class LabelledPair:
    id: str
    kind: str
    label: int  # 1: the same procurement; 0: different procurements
    a: NoticeFields
    b: NoticeFields
    note: str = ""


# --- the real records --------------------------------------------------------------------


def fixture_records(fixtures_dir: Path | None = None) -> dict[tuple[str, str], NoticeFields]:
    """Every record of the shared captures: (file, record id) -> its NoticeFields.

    The record id is the release id (OCDS; ``<ocid>-<notice document id>`` where Public
    Contracts Scotland leaves it out) or the CSV export's Notice Identifier. The same
    reader trains the sector classifier (models.classify.sector_text.read_captures)."""
    return read_captures(fixtures_dir or get_settings().fixtures_dir)


# --- transformations (each one a plain, named step; parameters come from pairs.jsonl) ----

_SEGMENT = re.compile(r"\s+[-\u2013:]\s+|:\s+")


def _reorder(title: str) -> str:
    """'A - B' -> 'B - A'; 'Supply of X' -> 'X - Supply'; 'X for Y' -> 'Y - X'."""
    parts = [p for p in _SEGMENT.split(title) if p.strip()]
    if len(parts) >= 2:
        return " - ".join([*parts[1:], parts[0]])
    m = re.match(r"^(.{3,}?)\s+(of|for)\s+(.{3,})$", title, re.I)
    if m:
        return f"{m.group(3)} - {m.group(1)}"
    return title


def _abbreviate(text: str, table: dict[str, str]) -> str:
    for long_, short in table.items():
        text = re.sub(rf"(?<![\w]){re.escape(long_)}(?![\w])", short, text, flags=re.I)
    return text


def _case(text: str, how: str) -> str:
    return {"upper": text.upper(), "lower": text.lower(), "title": text.title()}[how]


def _punct(text: str) -> str:
    text = re.sub(r"[\-\u2013:;,()/\[\]~'\"]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _shift_years(text: str, years: int) -> str:
    def span(m: re.Match[str]) -> str:
        start = int(m.group(1)) + years
        end = m.group(3)
        if end is None:
            return str(start)
        e = int(end) + years
        return f"{start}{m.group(2)}{e if len(end) == 4 else f'{e % 100:02d}'}"

    return re.sub(r"\b(19[5-9]\d|20\d\d)(?:(\s*[-/\u2013]\s*)(\d{4}|\d{2})\b)?", span, text)


def _lot_label(lot: dict[str, Any], style: str) -> str:
    n = str(lot["id"])
    words = {"1": "One", "2": "Two", "3": "Three", "4": "Four", "5": "Five", "6": "Six"}
    ident = {
        "number": n,
        "letter": chr(ord("A") + int(n) - 1) if n.isdigit() and 0 < int(n) < 27 else n,
        "word": words.get(n, n),
    }[style]
    title = str(lot.get("title") or "").strip()
    return f"Lot {ident}" + (f": {title}" if title and not title.lower().startswith("lot") else "")


def _title(rec: NoticeFields, ops: list[list[Any]]) -> str:
    text = rec.title
    for op in ops:
        name, args = op[0], op[1:]
        if name == "prefix":
            text = f"{args[0]}{text}"
        elif name == "suffix":
            text = f"{text}{args[0]}"
        elif name == "reorder":
            text = _reorder(text)
        elif name == "abbreviate":
            text = _abbreviate(text, args[0])
        elif name == "case":
            text = _case(text, args[0])
        elif name == "punct":
            text = _punct(text)
        elif name == "truncate":
            text = text[: int(args[0])].rstrip() + (args[1] if len(args) > 1 else "")
        elif name == "years":
            text = _shift_years(text, int(args[0]))
        elif name == "replace":
            text = re.sub(args[0], args[1], text, flags=re.I)
        elif name == "lot":
            lot = next(x for x in rec.lots if str(x["id"]) == str(args[0]))
            label = _lot_label(lot, args[1])
            text = f"{text} ({label})" if args[2] == "paren" else f"{text} - {label}"
        else:
            raise ValueError(f"unknown title step {name!r}")
    return text


def _deadline(when: datetime | None, spec: dict[str, Any]) -> datetime | None:
    if when is None or spec.get("drop"):
        return None
    if "shift_days" in spec:
        when = when + timedelta(days=spec["shift_days"])
    repr_ = spec.get("repr")
    if repr_ == "utc_wall_as_local":  # "2022-11-24T23:59:59" (a UTC time, no zone) read as UK
        when = when.astimezone(UTC).replace(tzinfo=None).replace(tzinfo=UK)
    elif repr_ == "local_wall_as_utc":  # UK wall-clock time published with a "Z"
        when = when.astimezone(UK).replace(tzinfo=None).replace(tzinfo=UTC)
    elif repr_ == "date_only":  # "24/11/2022": closes at the end of that UK day
        when = datetime.combine(when.astimezone(UK).date(), time(23, 59, 59), tzinfo=UK)
    elif repr_ == "date_only_noon":  # "24/11/2022 12:00"
        when = datetime.combine(when.astimezone(UK).date(), time(12, 0), tzinfo=UK)
    elif repr_ is not None:
        raise ValueError(f"unknown deadline representation {repr_!r}")
    return when.astimezone(UTC)


def _value(rec: NoticeFields, spec: dict[str, Any]) -> dict[str, Any]:
    base = rec.value_amount if rec.value_amount is not None else rec.value_amount_gross
    if spec.get("drop") or base is None:
        return {"value_amount": None, "value_amount_gross": None, "value_min": None}
    if "lot" in spec:
        lot = next(x for x in rec.lots if str(x["id"]) == str(spec["lot"]))
        base = lot.get("value_amount") or base
    factor = float(spec.get("factor", 1.0))
    amount: float | None = round(base * factor, 2)
    if spec.get("text"):  # rendered the way a portal page shows it, read back by our parser
        style = spec["text"]
        assert amount is not None
        if style == "k":
            text = f"£{amount / 1000:.0f}k" if amount < 1e6 else f"£{amount / 1e6:.1f}m"
        elif style == "commas":
            text = f"£{amount:,.2f}"
        elif style == "plain":
            text = f"GBP {amount:,.0f}"
        else:
            raise ValueError(f"unknown value text style {style!r}")
        amount, _, _ = parse_money(text)
    if spec.get("as") == "gross":
        return {"value_amount": None, "value_amount_gross": amount, "value_min": None}
    return {"value_amount": amount, "value_amount_gross": None, "value_min": None}


def derive(rec: NoticeFields, spec: dict[str, Any]) -> NoticeFields:
    """The record as published again elsewhere (or as its sibling), by the named steps."""
    changes: dict[str, Any] = {
        "ocid": spec["ocid"],
        "source_id": spec["source_id"],
        "url": "",
        "title": _title(rec, spec.get("title", [])),
    }
    if "buyer" in spec:
        buyer = rec.buyer_name
        for op in spec["buyer"]:
            if op[0] == "case":
                buyer = _case(buyer, op[1])
            elif op[0] == "replace":
                buyer = re.sub(op[1], op[2], buyer, flags=re.I)
            elif op[0] == "abbreviate":
                buyer = _abbreviate(buyer, op[1])
            else:
                raise ValueError(f"unknown buyer step {op[0]!r}")
        changes["buyer_name"] = buyer.strip()
    if spec.get("drop_buyer_id"):
        changes["buyer_id"] = None
    if "value" in spec:
        changes.update(_value(rec, spec["value"]))
    if "deadline" in spec:
        changes["deadline"] = _deadline(rec.deadline, spec["deadline"])
    if "published" in spec and rec.published_at is not None:
        changes["published_at"] = rec.published_at + timedelta(
            days=spec["published"].get("shift_days", 0)
        )
    desc = spec.get("description")
    if desc == "drop":
        changes["description"] = ""
    elif isinstance(desc, int):
        changes["description"] = rec.description[:desc]
    if spec.get("drop_cpv"):
        changes["cpv_codes"] = []
    if spec.get("drop_lots"):
        changes["lots"] = []
    return replace(rec, **changes)


# --- the set -------------------------------------------------------------------------------


def _side(side: dict[str, Any], records: dict[tuple[str, str], NoticeFields]) -> NoticeFields:
    key = (side["file"], side["record"])
    if key not in records:
        raise KeyError(f"pairs.jsonl names a record the captures do not hold: {key}")
    rec = records[key]
    return derive(rec, side["derive"]) if "derive" in side else rec


def load_pairs(path: Path | None = None, fixtures_dir: Path | None = None) -> list[LabelledPair]:
    """The labelled pairs, built from the captures by the recipe in pairs.jsonl."""
    records = fixture_records(Path(fixtures_dir) if fixtures_dir else None)
    out: list[LabelledPair] = []
    with (path or PAIRS_FILE).open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            if row["kind"] not in KINDS or row["label"] not in (0, 1):
                raise ValueError(f"bad pair {row['id']}: kind {row['kind']}, label {row['label']}")
            out.append(
                LabelledPair(
                    id=row["id"],
                    kind=row["kind"],
                    label=int(row["label"]),
                    a=_side(row["a"], records),
                    b=_side(row["b"], records),
                    note=row.get("note", ""),
                )
            )
    return out
