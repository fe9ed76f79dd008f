"""Real cross-publication pairs: the same 2020 award published on Contracts Finder and in the
EU's Official Journal (TED), and the hard non-pairs met among them (a framework's or a
programme's awards with one title and buyer but other suppliers; the same title bought by
another buyer).

Beside them, hard non-pairs among one publisher's notices (``council_non_pairs``):
Lancashire councils' Contracts Finder notices of 2015-2026 (tompickup23/burnleycouncil @
467dd3f984bef8fcfc72cd2e4735492238ca1e3c : ``burnley-council/data/<council>/procurement.json``)
with alike titles from one buyer - next year's re-tender, and call-off awards of one
framework to other suppliers.

Both sides of the cross-publication pairs are real records of one period (July-October
2020), from one public capture:
sfong8/bidstat_scrape @ 1fc40056bb815ff6de9776f9e359b0d2245b8539 - ``notices.csv`` and
``hmrc_contracts.csv`` (the Contracts Finder website's CSV export of awarded notices) and
``ojeu_2020_10_05.csv`` (UK award notices of 2020 in the Official Journal, one row per
awarded supplier, with the TED notice link). Contracts Finder data and TED notices of UK
buyers are Crown copyright / public notices under the Open Government Licence v3.0.

Candidates: every Contracts Finder award and TED award whose titles are alike (rapidfuzz
token-set ratio 80 or more). The label is decided by what the two notices say of the award,
not by the matcher:

* 1 (the same procurement): the Contracts Finder notice quotes the TED notice's number
  ("2020/S 162-395455"); or the titles agree (token-set ratio 90+), the buyers agree, and a
  supplier of one is a supplier of the other, and the values are within 25% (of several TED
  awards that fit, the one whose value agrees within 1%; none when that is not one).
* 0 (different procurements): the titles agree but no supplier is shared (another contract
  of the same framework or programme, e.g. the Department of Health and Social Care's
  PPE awards to different suppliers under one title), or the buyers differ.
* Pairs that fit neither rule (titles only roughly alike with a shared supplier) are left out.

The set is written to ``real_pairs.jsonl.gz`` beside the sector corpus (``corpus_path``); it
is not committed (fetched data stays under shared/). ``python -m bench.pairs.real --mirror
/work/.mirror --out var/corpus`` builds it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from bench.pairs.recipe import LabelledPair
from models.dedupe.text import buyer_tokens, same_supplier, supplier_name
from models.formats import normalise
from models.formats.fields import NoticeFields
from models.formats.text import number

REPO = "sfong8/bidstat_scrape"
COMMIT = "1fc40056bb815ff6de9776f9e359b0d2245b8539"
CF_FILES = ("notices.csv", "hmrc_contracts.csv")
TED_FILE = "ojeu_2020_10_05.csv"
FILE_NAME = "real_pairs.jsonl.gz"
_OJ_REF = re.compile(r"\b(20\d\d)/S\s*\d{1,3}\s*-\s*(\d{3,6})\b")
_TED_URL = re.compile(r"NOTICE:(\d+)-(\d{4})")


def _git_show(mirror: Path, path: str) -> str:
    repo = mirror / REPO.replace("/", "+") / "repo"
    return subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"{COMMIT}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _cf_suppliers(cell: str) -> list[str]:
    """'[Name|Address|Ref type|Ref Number|Is SME|Is VCSE][...]' -> the names."""
    return [m.split("|", 1)[0].strip() for m in re.findall(r"\[([^\]]*)\]", cell or "") if m]


def cf_records(mirror: Path) -> list[tuple[NoticeFields, str]]:
    """Contracts Finder award rows read by the product's own CSV reader, with the suppliers
    (the reader does not read that column) and the text in which a TED number may stand."""
    out = []
    for name in CF_FILES:
        for row in csv.DictReader(io.StringIO(_git_show(mirror, name).lstrip("\ufeff"))):
            n = normalise("cf-csv-row", "contracts_finder_csv", row)
            n.suppliers = _cf_suppliers(
                row.get("Supplier [Name|Address|Ref type|Ref Number|Is SME|Is VCSE]", "")
            )
            text = " ".join(
                row.get(k) or "" for k in ("Title", "Description", "Additional Text", "Links")
            )
            out.append((n, text))
    return out


def ted_records(mirror: Path) -> list[NoticeFields]:
    """TED award notices (one per notice link; its rows' suppliers together)."""
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in csv.DictReader(io.StringIO(_git_show(mirror, TED_FILE).lstrip("\ufeff"))):
        if m := _TED_URL.search(row["CONTRACT_URL"]):
            rows[f"{int(m.group(1))}-{m.group(2)}"].append(row)
    out = []
    for num, group in rows.items():
        first = group[0]
        lo, _, hi = first["CONTRACT_VALUE"].partition("-")
        day = first.get("CONTRACT_DATE") or ""
        out.append(
            NoticeFields(
                ocid=f"ted-{num}",
                source_id=num,
                title=first["CONTRACT_TITLE"].strip(),
                description=first["CONTRACT_DESC"].strip(),
                buyer_name=first["CONTRACT_BUYER"].strip(),
                buyer_postcode=first["CONTRACT_BUYER_POSTCODE"].strip() or None,
                value_amount=number(hi or lo),
                value_min=number(lo) if hi else None,
                value_currency=first["CONTRACT_CURRENCY"].strip() or None,
                published_at=datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
                if re.fullmatch(r"\d{8}", day)
                else None,
                stage="award",
                suppliers=list(
                    dict.fromkeys(
                        r["SUPPLIER_NAME"].strip() for r in group if r["SUPPLIER_NAME"].strip()
                    )
                ),
                url=first["CONTRACT_URL"].strip(),
            )
        )
    return out


def _norm_title(t: str) -> str:
    t = re.sub(r"^\s*(?:gb|uk|united kingdom)\s*-\s*[^:]{2,40}:\s*", "", t.lower())
    return " ".join(re.findall(r"[a-z0-9]+", t))


def _same_buyer(a: NoticeFields, b: NoticeFields) -> bool:
    ta, tb = buyer_tokens(a.buyer_name), buyer_tokens(b.buyer_name)
    if ta and tb and len(ta & tb) / min(len(ta), len(tb)) >= 0.5:
        return True
    return fuzz.token_set_ratio(a.buyer_name.lower(), b.buyer_name.lower()) >= 85


def _shared_supplier(a: NoticeFields, b: NoticeFields) -> bool:
    sa = {supplier_name(s) for s in a.suppliers} - {""}
    sb = {supplier_name(s) for s in b.suppliers} - {""}
    return any(same_supplier(x, y) for x in sa for y in sb)


def _value_ratio(a: NoticeFields, b: NoticeFields) -> float | None:
    """How far apart the two values are (1.0: equal); None when one is not stated. A TED
    range counts as the value nearest the other."""
    if not a.value_amount or not b.value_amount:
        return None
    lo = b.value_min or b.value_amount
    x = min(max(a.value_amount, lo), b.value_amount)
    return max(a.value_amount, x) / min(a.value_amount, x)


def label_pairs(
    cf: Iterable[tuple[NoticeFields, str]], ted: list[NoticeFields]
) -> list[LabelledPair]:
    """Label the candidate pairs (see the module docstring). One Contracts Finder award
    matching several TED awards by title, buyer and supplier (a buyer's many PPE contracts
    with one supplier) is the same as the one whose value agrees (within 1%), or, when no
    single one does, left out; values more than 25% apart are never the same award.
    Non-pairs are kept to the two with the nearest values (another supplier) and the one
    with the most alike title (another buyer) per Contracts Finder award."""
    ted_titles = [(_norm_title(t.title), t) for t in ted]
    out: list[LabelledPair] = []

    def pair(n: NoticeFields, t: NoticeFields, kind: str, label: int, note: str) -> None:
        out.append(LabelledPair(f"real:{n.source_id}|{t.source_id}", kind, label, n, t, note))

    far = float("inf")
    for n, text in cf:
        quoted = {f"{int(m.group(2))}-{m.group(1)}" for m in _OJ_REF.finditer(text)}
        nt = _norm_title(n.title)
        same: list[NoticeFields] = []
        other_supplier: list[NoticeFields] = []
        other_buyer: list[tuple[float, NoticeFields]] = []
        for tt, t in ted_titles:
            if t.source_id in quoted:
                pair(
                    n,
                    t,
                    "cross_publication",
                    1,
                    "the Contracts Finder notice quotes the TED number",
                )
                continue
            ratio = fuzz.token_set_ratio(nt, tt)
            if ratio < 80:
                continue
            buyer, supplier = _same_buyer(n, t), _shared_supplier(n, t)
            if ratio >= 90 and buyer and supplier:
                same.append(t)
            elif ratio >= 90 and buyer and n.suppliers and t.suppliers:
                other_supplier.append(t)
            elif not buyer and not supplier:
                other_buyer.append((ratio, t))
        if not quoted:
            close = [t for t in same if (_value_ratio(n, t) or 1.0) <= 1.25]
            if len(close) > 1:
                close = [t for t in close if (_value_ratio(n, t) or far) <= 1.01]
            if len(close) == 1:
                pair(
                    n, close[0], "cross_publication", 1, "titles, buyer, a supplier and value agree"
                )
        other_supplier.sort(key=lambda t: (_value_ratio(n, t) or far, t.source_id))
        for t in other_supplier[:2]:
            pair(
                n,
                t,
                "other_supplier",
                0,
                "one title and buyer, no supplier shared: another contract",
            )
        other_buyer.sort(key=lambda rt: (-rt[0], rt[1].source_id))
        for _, t in other_buyer[:1]:
            pair(n, t, "other_buyer", 0, "alike titles, another buyer and other suppliers")
    unique = {p.id: p for p in out}
    return sorted(unique.values(), key=lambda p: p.id)


# One council publisher's notices of 2015-2026 (Contracts Finder V2 search items): the
# source of the re-tenders and call-off awards below.
COUNCILS_REPO = "tompickup23/burnleycouncil"
COUNCILS_COMMIT = "467dd3f984bef8fcfc72cd2e4735492238ca1e3c"
RETENDER_DAYS = 300  # published, and closing, this far apart: a re-tender, not a re-publication


def _day(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value[:10]).replace(tzinfo=UTC) if value else None


def council_records(mirror: Path) -> list[NoticeFields]:
    """Lancashire councils' Contracts Finder notices as that repository's scraper kept them
    (one per notice id; ``awarded_supplier`` is the suppliers joined by commas)."""
    repo = mirror / COUNCILS_REPO.replace("/", "+") / "repo"

    def git(*args: str) -> str:
        cmd = ["git", "--git-dir", str(repo), *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    out: dict[str, NoticeFields] = {}
    for path in git("ls-tree", "-r", "--name-only", COUNCILS_COMMIT).split("\n"):
        if not (path.startswith("burnley-council/data/") and path.endswith("/procurement.json")):
            continue
        for c in json.loads(git("show", f"{COUNCILS_COMMIT}:{path}")).get("contracts", []):
            out.setdefault(
                c["id"],
                NoticeFields(
                    ocid=f"cf-{c['id']}", source_id=c["id"], title=c.get("title") or "",
                    description=c.get("description") or "", buyer_name=c.get("organisation") or "",
                    value_amount=c.get("awarded_value") or c.get("value_low") or None,
                    published_at=_day(c.get("published_date")),
                    deadline=_day(c.get("deadline_date")),
                    suppliers=[x.strip() for x in (c.get("awarded_supplier") or "").split(",")
                               if x.strip()],
                    url=c.get("url") or "",
                ),
            )  # fmt: skip
    return sorted(out.values(), key=lambda n: n.source_id)


def council_non_pairs(records: list[NoticeFields]) -> list[LabelledPair]:
    """Hard non-pairs among one buyer's notices with alike titles (token-set ratio 90+):
    published, and closing, ``RETENDER_DAYS`` or more apart (next year's re-tender), or
    published within a month with suppliers named on both and none shared (call-off awards
    of one framework)."""
    by_buyer: dict[str, list[NoticeFields]] = defaultdict(list)
    for n in records:
        by_buyer[n.buyer_name.lower().strip()].append(n)
    out = []
    for group in by_buyer.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if fuzz.token_set_ratio(a.title.lower(), b.title.lower()) < 90:
                    continue
                if a.published_at is None or b.published_at is None:
                    continue
                apart = abs((a.published_at - b.published_at).days)
                closing = (
                    abs((a.deadline - b.deadline).days) if a.deadline and b.deadline else apart
                )
                if apart >= RETENDER_DAYS and closing >= RETENDER_DAYS:
                    kind, note = (
                        "re_tender",
                        f"one buyer, alike titles, published {apart} days apart",
                    )
                elif apart <= 31 and a.suppliers and b.suppliers and not _shared_supplier(a, b):
                    kind, note = "call_off_award", "one buyer, alike titles, other suppliers"
                else:
                    continue
                out.append(LabelledPair(f"real:{a.source_id}|{b.source_id}", kind, 0, a, b, note))
    return out


def _dump(n: NoticeFields) -> dict[str, Any]:
    d = asdict(n)
    for k in ("deadline", "published_at"):
        d[k] = d[k].isoformat() if d[k] else None
    return d


def _load(d: dict[str, Any]) -> NoticeFields:
    for k in ("deadline", "published_at"):
        d[k] = datetime.fromisoformat(d[k]) if d[k] else None
    return NoticeFields(**d)


def write_pairs(pairs: list[LabelledPair], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8") as f:
        for p in pairs:
            row = {"id": p.id, "kind": p.kind, "label": p.label, "note": p.note,
                   "a": _dump(p.a), "b": _dump(p.b)}  # fmt: skip
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def load_real_pairs(path: Path) -> list[LabelledPair]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out.append(
                LabelledPair(
                    r["id"], r["kind"], r["label"], _load(r["a"]), _load(r["b"]), r["note"]
                )
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=Path("var/corpus"))
    args = ap.parse_args()
    pairs = label_pairs(cf_records(args.mirror), ted_records(args.mirror))
    pairs += council_non_pairs(council_records(args.mirror))
    write_pairs(pairs, args.out / FILE_NAME)
    kinds: dict[str, int] = defaultdict(int)
    for p in pairs:
        kinds[p.kind] += 1
    print(f"{len(pairs)} pairs -> {args.out / FILE_NAME}: {dict(kinds)}")


if __name__ == "__main__":
    main()
