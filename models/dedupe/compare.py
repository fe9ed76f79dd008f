"""Comparing two records: hard conflicts, exact keys, and the weighted fuzzy evidence of
``same_procurement`` (thresholds set on the labelled pairs of bench/pairs)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from models.dedupe.features import Features, features
from models.dedupe.text import TitleParts, _word_match, same_supplier

# Decision thresholds (set by hand on the real hard negatives in the captures; see
# bench/pairs/README.md for the labelled set they are measured on).
SAME_SCORE = 0.78  # weighted evidence needed for a fuzzy match
MIN_TITLE = 0.6  # titles less alike than this are never the same procurement
DEADLINE_APART_DAYS = 60  # deadlines further apart: a different procurement (hard)
DEADLINE_MOVED_DAYS = 15  # a fuzzy match allows a deadline moved this much, no more
PUBLISHED_APART_DAYS = 300  # first publications further apart (no close deadlines): idem
WEIGHTS = {"title": 0.5, "buyer": 0.2, "deadline": 0.15, "value": 0.15, "description": 0.15}
_LETTERS = re.compile(r"[a-z]*")  # a reference's series: its opening letters


class SameProcurement(NamedTuple):
    same: bool
    score: float
    reasons: list[str]


# --- comparisons ---------------------------------------------------------------------------


def _soft_match(a: Sequence[str], b: Sequence[str]) -> tuple[int, list[str], list[str]]:
    """(matched words, words of a unmatched, words of b unmatched); order ignored."""
    rest_b = list(dict.fromkeys(b))
    unmatched_a: list[str] = []
    matched = 0
    for w in dict.fromkeys(a):
        hit = next((i for i, x in enumerate(rest_b) if x == w), None)
        if hit is None:
            hit = next((i for i, x in enumerate(rest_b) if _word_match(w, x)), None)
        if hit is None:
            unmatched_a.append(w)
        else:
            matched += 1
            rest_b.pop(hit)
    return matched, unmatched_a, rest_b


@dataclass(frozen=True)
class TitleComparison:
    similarity: float
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    truncated: bool


# Two titles of the same content words, in the same order: every word matched, none left
# (a framework's call-offs, a notice published again).
_SAME_TITLE = TitleComparison(1.0, (), (), False)


def _head_match(short: Sequence[str], long_: Sequence[str]) -> bool:
    """The shorter title is the longer one's opening words, the last one possibly cut."""
    if not short or len(short) >= len(long_):
        return False
    *body, last = short
    return all(_word_match(x, y) for x, y in zip(body, long_, strict=False)) and (
        long_[len(body)].startswith(last) or _word_match(last, long_[len(body)])
    )


def compare_titles(a: TitleParts, b: TitleParts, ignore: Iterable[str] = ()) -> TitleComparison:
    """Soft token Jaccard of two titles. Unmatched words in ``ignore`` (the buyers' names:
    who is buying, not what) do not count against them."""
    if not a.tokens or not b.tokens:
        return TitleComparison(0.0, a.tokens, b.tokens, False)
    short, long_ = (a, b) if len(a.every) <= len(b.every) else (b, a)
    # A portal that cuts titles short: the shorter is the longer one's opening, word for
    # word (abbreviations allowed, the last word possibly cut), with some words to go on.
    if (len(short.tokens) >= 3 or len(short.every) >= 6) and _head_match(short.every, long_.every):
        return TitleComparison(0.9, (), (), True)
    if a.tokens == b.tokens:  # what the rest makes of the same words, without the walk
        return _SAME_TITLE
    matched, only_a, only_b = _soft_match(a.tokens, b.tokens)
    skip = list(ignore)
    only_a = [w for w in only_a if not any(_word_match(w, x) for x in skip)]
    only_b = [w for w in only_b if not any(_word_match(w, x) for x in skip)]
    # A cut last word ("Distribution - Contracts Fi..."): the start of a word of the other.
    for mine, theirs, parts in ((only_a, only_b, a), (only_b, only_a, b)):
        if mine and mine[-1] == parts.tokens[-1]:
            hit = next((w for w in theirs if w.startswith(mine[-1])), None)
            if hit is not None:
                mine.pop()
                theirs.remove(hit)
                matched += 1
    sim = matched / max(1, matched + len(only_a) + len(only_b))
    # Every word of a title of four words or more found in the other (word order aside).
    small, large = (only_a, only_b) if len(a.tokens) <= len(b.tokens) else (only_b, only_a)
    if min(len(a.tokens), len(b.tokens)) >= 4 and not small and large:
        sim = max(sim, 0.8)
    return TitleComparison(sim, tuple(only_a), tuple(only_b), False)


def description_similarity(a: Features, b: Features) -> float | None:
    """Overlap of the descriptions' opening words (one may be cut short), if both say
    enough (a dozen words) to compare."""
    if len(a.description) < 12 or len(b.description) < 12:
        return None
    return len(a.description & b.description) / min(len(a.description), len(b.description))


def buyer_similarity(a: Features, b: Features) -> float | None:
    if a.buyer_id and b.buyer_id and a.buyer_id == b.buyer_id:
        return 1.0
    if not a.buyer or not b.buyer:
        return None
    matched, _, _ = _soft_match(sorted(a.buyer), sorted(b.buyer))
    return matched / min(len(a.buyer), len(b.buyer))


def deadline_score(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    hours = abs((a - b).total_seconds()) / 3600
    if hours <= 26:  # the same day, whatever the time-zone representation
        return 1.0
    if hours <= 4 * 24:
        return 0.8
    if hours <= 15 * 24:  # an extended deadline
        return 0.5
    if hours <= 45 * 24:
        return 0.2
    return 0.0


def value_score(a: Features, b: Features) -> float | None:
    if not a.values or not b.values:
        return None
    best = 0.0
    for x in a.values:
        for y in b.values:
            r = max(x, y) / min(x, y)
            if r <= 1.005:
                s = 1.0
            elif r <= 1.05:  # rounded ("£54k" for £53,500)
                s = 0.9
            elif abs(r - 1.2) <= 0.03:  # one gives the gross (20% VAT), the other the net
                s = 0.85
            elif r <= 1.25:
                s = 0.5
            elif r <= 2:
                s = 0.2
            else:
                s = 0.0
            best = max(best, s)
    for lo, hi, other in (
        (a.value_min, a.values[0], b.values),
        (b.value_min, b.values[0], a.values),
    ):
        if lo is not None and any(lo <= v <= hi for v in other):
            best = max(best, 0.7)
    return best


def _ref_series_conflict(a: frozenset[str], b: frozenset[str]) -> tuple[str, str] | None:
    """Two references of one series that differ: 'p291'/'p292', 'cwc19124'/'cwc20054'."""
    if a & b:
        return None
    for x in a:
        for y in b:
            px, py = _LETTERS.match(x), _LETTERS.match(y)
            if (
                px and py and px.group(0) and px.group(0) == py.group(0)
                and len(x) == len(y) and x != y
            ):  # fmt: skip
                return x, y
    return None


def _different_suppliers(a: Features, b: Features) -> bool:
    """Both records name the suppliers awarded, and no supplier of one is one of the other."""
    return bool(a.suppliers and b.suppliers) and not any(
        same_supplier(x, y) for x in a.suppliers for y in b.suppliers
    )


_KINDS = ("lot", "package", "phase", "part", "calloff")  # title marks whose numbers must agree


def conflicts(a: Any, b: Any) -> list[str]:
    """Hard reasons two records are different procurements (empty: none found). A check
    added or changed here goes into ``has_conflict`` too."""
    fa, fb = features(a), features(b)
    out: list[str] = []
    # Award notices of one framework or DPS can agree on title, buyer, value and dates:
    # the contracts awarded to different suppliers are different contracts.
    if _different_suppliers(fa, fb):
        out.append(
            f"awarded to different suppliers ({'; '.join(sorted(fa.suppliers))} / "
            f"{'; '.join(sorted(fb.suppliers))})"
        )
    # One publisher's records with different buyer references are different procurements
    # (across publishers a reference is written in other ways, or is another scheme's).
    if (
        fa.tender_ref and fb.tender_ref and fa.tender_ref != fb.tender_ref
        and fa.publisher and fa.publisher == fb.publisher
    ):  # fmt: skip
        out.append(f"different buyer references ({fa.tender_ref} / {fb.tender_ref})")
    ta, tb = fa.title, fb.title
    # Numbers of a kind differ only where both titles have marks (most have none).
    for kind in _KINDS if ta.marks and tb.marks else ():
        ia = {i for k, i in ta.marks if k == kind}
        ib = {i for k, i in tb.marks if k == kind}
        if ia and ib and ia != ib:
            name = "call-off" if kind == "calloff" else kind
            out.append(
                f"different {name} numbers ({', '.join(sorted(ia))} / {', '.join(sorted(ib))})"
            )
    if ta.numbers and tb.numbers and (ta.numbers - tb.numbers) and (tb.numbers - ta.numbers):
        out.append(f"different numbers in the titles ({sorted(ta.numbers)} / {sorted(tb.numbers)})")
    if ta.years and tb.years and min(ta.years) != min(tb.years):
        out.append(f"different years ({min(ta.years)} / {min(tb.years)})")
    if series := _ref_series_conflict(ta.refs, tb.refs):
        out.append(f"different references of one series ({series[0]} / {series[1]})")
    if fa.deadline and fb.deadline:
        days = abs((fa.deadline - fb.deadline).days)
        if days >= DEADLINE_APART_DAYS:
            out.append(f"deadlines {days} days apart")
    if fa.published and fb.published:
        days = abs((fa.published - fb.published).days)
        close = deadline_score(fa.deadline, fb.deadline)
        if days >= PUBLISHED_APART_DAYS and not (close is not None and close >= 0.5):
            out.append(f"published {days} days apart")
    return out


def has_conflict(fa: Features, fb: Features) -> bool:
    """``bool(conflicts(fa, fb))``, on features, without the words: the same checks, the
    cheapest first, stopping at the first that holds. The store's linking needs only
    whether, and most pairs it compares end here (18,846 real pairs alike in title: 1.36 us
    a pair with the reasons written out, 0.40 without). A second copy of ``conflicts``'
    checks, kept on purpose: one generator of reasons serving both took 1.04-1.07 us a pair
    here (and ``conflicts`` 1.54); tests/models/dedupe check the two agree over real pairs,
    and fail when one check is left out of this copy. Change both together."""
    da, db = fa.deadline, fb.deadline
    if da and db and abs((da - db).days) >= DEADLINE_APART_DAYS:
        return True
    pa, pb = fa.published, fb.published
    if pa and pb and abs((pa - pb).days) >= PUBLISHED_APART_DAYS:
        close = deadline_score(da, db)
        if not (close is not None and close >= 0.5):
            return True
    ta, tb = fa.title, fb.title
    if ta.years and tb.years and min(ta.years) != min(tb.years):
        return True
    if ta.numbers and tb.numbers and (ta.numbers - tb.numbers) and (tb.numbers - ta.numbers):
        return True
    if (
        fa.tender_ref and fb.tender_ref and fa.tender_ref != fb.tender_ref
        and fa.publisher and fa.publisher == fb.publisher
    ):  # fmt: skip
        return True
    if ta.marks and tb.marks:
        for kind in _KINDS:
            ia = {i for k, i in ta.marks if k == kind}
            ib = {i for k, i in tb.marks if k == kind}
            if ia and ib and ia != ib:
                return True
    if ta.refs and tb.refs and _ref_series_conflict(ta.refs, tb.refs):
        return True
    return _different_suppliers(fa, fb)


def exact_key(a: Any, b: Any) -> str | None:
    """The exact key two records share, if any: 'same OCID' or 'same identifier X'."""
    fa, fb = features(a), features(b)
    if fa.ocid and fa.ocid == fb.ocid:
        return "same OCID"
    shared = fa.ids & fb.ids
    if shared:
        return f"same published identifier {sorted(shared)[0]}"
    return None


def same_procurement(a: Any, b: Any, explain: bool = True) -> SameProcurement:
    """Are two notices the same procurement? (same, score 0..1, reasons in words).
    ``explain=False``: where a hard conflict decides, no reasons are given (the decision and
    score are the same; the store's linking reads reasons only of pairs found the same)."""
    fa, fb = features(a), features(b)
    if fa.ocid and fa.ocid == fb.ocid:
        return SameProcurement(True, 1.0, ["same OCID"])
    if not explain:
        if has_conflict(fa, fb):
            return SameProcurement(False, 0.0, [])
        key = exact_key(fa, fb)
        if key:
            return SameProcurement(True, 1.0, [key])
    else:
        hard = conflicts(fa, fb)
        key = exact_key(fa, fb)
        if key and not hard:
            return SameProcurement(True, 1.0, [key])
        if hard:
            return SameProcurement(False, 0.0, hard + ([f"despite {key}"] if key else []))

    reasons: list[str] = []
    buyer = buyer_similarity(fa, fb)
    # One portal puts the buyer's name in the title, the other does not: with the same
    # buyer on both, its words say nothing about what is bought.
    same_buyer = buyer is not None and buyer >= 0.8
    tc = compare_titles(fa.title, fb.title, ignore=fa.buyer | fb.buyer if same_buyer else ())
    reasons.append(
        f"titles {tc.similarity:.2f} alike" + (" (one cut short)" if tc.truncated else "")
    )
    if len(tc.only_a) >= 2 and len(tc.only_b) >= 2:
        reasons.append(
            f"titles name different things ({' '.join(tc.only_a)} / {' '.join(tc.only_b)})"
        )
        return SameProcurement(False, 0.0, reasons)
    if tc.similarity < MIN_TITLE:
        return SameProcurement(False, round(tc.similarity * WEIGHTS["title"], 3), reasons)
    parts: dict[str, float] = {"title": tc.similarity}
    if buyer is not None:
        parts["buyer"] = buyer
        reasons.append(f"buyer {buyer:.2f} alike")
    dl = deadline_score(fa.deadline, fb.deadline)
    if dl is not None:
        parts["deadline"] = dl
        assert fa.deadline is not None and fb.deadline is not None
        hours = abs((fa.deadline - fb.deadline).total_seconds()) / 3600
        reasons.append(
            "deadline within a day" if hours <= 26 else f"deadlines {hours / 24:.0f} days apart"
        )
        if hours > DEADLINE_MOVED_DAYS * 24:  # a re-advertisement or the next round
            return SameProcurement(False, round(tc.similarity * WEIGHTS["title"], 3), reasons)
    val = value_score(fa, fb)
    if val is not None:
        parts["value"] = val
        reasons.append(f"values {val:.2f} alike")
    desc = description_similarity(fa, fb)
    if desc is not None:
        parts["description"] = desc
        reasons.append(f"descriptions {desc:.2f} alike")

    def weighted() -> float:
        return sum(WEIGHTS[k] * v for k, v in parts.items()) / sum(WEIGHTS[k] for k in parts)

    adjust = 0.0
    if val is not None and val <= 0.2:
        adjust -= 0.1
        reasons.append("values far apart")
    if fa.tender_ref and fa.tender_ref == fb.tender_ref:
        adjust += 0.1
        reasons.append(f"same buyer reference {fa.tender_ref}")
    shared_refs = fa.title.refs & fb.title.refs
    if shared_refs:
        adjust += 0.1
        reasons.append(f"same reference {sorted(shared_refs)[0]} in the titles")
    elif fa.title.refs and fb.title.refs:
        adjust -= 0.05
        reasons.append("different references in the titles")
    score = min(1.0, weighted() + adjust)
    # Only the title to go on: it must say (almost) the same thing.
    if len(parts) == 1 and tc.similarity < 0.9:
        reasons.append("nothing but the title to compare")
        return SameProcurement(False, round(score * 0.8, 3), reasons)
    # A word each side that the other lacks ("Catering" / "Cleaning"): more proof needed.
    if tc.only_a and tc.only_b and not tc.truncated:
        corroborated = sum(1 for k in ("deadline", "value") if parts.get(k, 0) >= 0.85)
        if tc.similarity < 0.75 or corroborated < 2:
            reasons.append(f"title words differ ({' '.join(tc.only_a)} / {' '.join(tc.only_b)})")
            return SameProcurement(False, round(min(score, SAME_SCORE - 0.01), 3), reasons)
    if buyer is not None and buyer < 0.34 and not shared_refs:
        # Portals often name themselves or a shared service as the organisation
        # ("Defra Network eTendering Portal", "capitalEsourcing"): differing buyer names are
        # let pass only on a specific title (four words or more, or the same value) and
        # the same closing day; the buyer then counts neither way.
        specific = min(len(fa.title.tokens), len(fb.title.tokens)) >= 4 or (
            parts.get("value", 0) >= 0.85
        )
        same_text = parts.get("description", 0) >= 0.8
        if tc.similarity < 0.9 or not (same_text or (parts.get("deadline", 0) >= 1.0 and specific)):
            reasons.append("different buyers")
            return SameProcurement(False, round(min(score, SAME_SCORE - 0.01), 3), reasons)
        del parts["buyer"]
        score = min(1.0, weighted() + adjust)
        reasons.append("buyer names differ, but the title and closing day or text agree")
    score = round(score, 3)
    return SameProcurement(score >= SAME_SCORE, score, reasons)
