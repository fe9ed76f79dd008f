"""Deduplication: one procurement published on several portals -> one opportunity.

Pure functions, no I/O. Records are NoticeFields or anything with the same attribute names
(objects or mappings): ``ocid``, ``source_id``, ``title``, ``description``, ``buyer_name``,
``buyer_id``, ``value_amount`` (a number, or money as text such as "£50k"),
``value_amount_gross``, ``value_min``, ``deadline`` and ``published_at`` (aware datetimes or
ISO text), ``url``, and optionally ``references`` (identifiers the source publishes: the OCDS
``tender.id``, Contracts Finder's "Notice Identifier", the buyer's own reference).

Order of evidence (``same_procurement``):

1. Exact keys. The same OCID is the same procurement (OCDS identity; never overruled).
   The same published identifier (a source id, an explicit reference, a portal advert id
   in the URL) on both records is too, unless a hard conflict below says otherwise (a
   project-level reference is shared by sibling lots: Highways England's
   ``tender_205996/...`` is both Free-Flow Charging Package A and Package B).
2. Hard conflicts, which keep records apart whatever else agrees: different lot / package /
   phase numbers, different call-off or mini-competition numbers, other small numbers
   that differ ("Technology Services 3" / "4"), different years in the titles (a yearly
   re-tender), references of one series that differ (``P291`` / ``P292``), deadlines two
   months or more apart, or first publications ten months or more apart.
3. Fuzzy comparison of title (soft token Jaccard: abbreviations by prefix, plurals,
   typos; word order ignored; a truncated title matches its full form), buyer (token
   overlap, or the same buyer id), deadline (± a day covers time-zone representations;
   an extension of up to 15 days still counts, more does not), value (net or gross,
   rounding of "£54k") and the opening words of the descriptions; a reference in both
   titles ("DM/00157") adds to it.
   Titles that each name things the other does not ("Catering" / "Cleaning", "Diesel
   Fuelled Fleet" / "Zero Emission Fleet") are different procurements. Buyer names that
   do not match at all (a portal names itself: "capitalEsourcing") are let pass only when
   a specific title agrees and the closing day or the description does too.

``cluster`` blocks candidates (OCID, identifiers, buyer tokens x deadline day ± 1 or
published week, rare title tokens x deadline day), merges by exact keys first and then by
fuzzy matches in order of score, and never merges two groups holding a hard conflict
(complete linkage on conflicts), so "Lot 1" and "Lot 2" cannot join through a third notice.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from models.formats.text import parse_money
from models.normalise import parse_datetime

UK = ZoneInfo("Europe/London")

# Decision thresholds (set by hand on the real hard negatives in the captures; see
# bench/pairs/README.md for the labelled set they are measured on).
SAME_SCORE = 0.78  # weighted evidence needed for a fuzzy match
MIN_TITLE = 0.6  # titles less alike than this are never the same procurement
DEADLINE_APART_DAYS = 60  # deadlines further apart: a different procurement (hard)
DEADLINE_MOVED_DAYS = 15  # a fuzzy match allows a deadline moved this much, no more
PUBLISHED_APART_DAYS = 300  # first publications further apart (no close deadlines): idem
WEIGHTS = {"title": 0.5, "buyer": 0.2, "deadline": 0.15, "value": 0.15, "description": 0.15}
BLOCK_CAP = 300  # a blocking key shared by more records than this is not used


class Match(NamedTuple):
    same: bool
    score: float
    reasons: list[str]


# --- reading records -----------------------------------------------------------------------


def _field(rec: Any, name: str) -> Any:
    if isinstance(rec, Mapping):
        return rec.get(name)
    return getattr(rec, name, None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _money(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        amount, _, _ = parse_money(value)
        return amount if amount and amount > 0 else None
    return None


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UK)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59), tzinfo=UK)
    return parse_datetime(value) if isinstance(value, str) else None


# --- text normalisation --------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP = _words(
    """the of for and to a an in on at with by from via as per or & provision supply
    supplies procurement tender tenders tendering itt rfq rfp rfi invitation quotation
    quote request ref reference re notice opportunity gb uk united kingdom contract
    contracts agreement"""
)
# Words that name the buyer's kind, not the buyer.
_BUYER_STOP = _words(
    """the of and for & council borough city county district metropolitan royal mbc cbc
    bc dc cc ltd limited plc llp cic group trust foundation nhs authority services service
    department dept school schools primary secondary academy academies college university
    hospital hospitals teaching police fire rescue housing association partnership
    commissioning clinical health care england scotland wales national regional
    government public combined"""
)
_NUMBER_NAMES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_NUMBER_NAMES.split(" "))}
# Common spellings of the same word in notice titles (after lower-casing).
_SYNONYMS = {
    "&": "and",
    "+": "and",
    "svcs": "services",
    "svc": "service",
    "mgmt": "management",
    "mgt": "management",
    "dept": "department",
    "govt": "government",
    "intl": "international",
    "assmt": "assessment",
    "maint": "maintenance",
    "ltd": "limited",
    "co": "company",
    "uni": "university",
    "rd": "road",
    "st": "street",
    "fwa": "framework",
    "fw": "framework",
    "cctv": "cctv",
}
# "GB-London: ", "United Kingdom-Tunbridge Wells: " (the TED/OJEU title form), anywhere.
_TED_PREFIX = re.compile(r"(?:^|(?<=\s))(?:gb|uk|united kingdom)\s*-\s*[a-z' .&-]{2,40}:\s*")
_DATE_IN_TEXT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[ t]\d{1,2}:\d{2}(?::\d{2})?)?\b|\b\d{1,2}:\d{2}\b"
)
_GLUED = re.compile(
    r"\b(lots?|stage|phase|package|part|beat|round|tranche|block|no)(\d+[a-z]?)\b", re.I
)
_TOKEN = re.compile(r"[a-z0-9]+(?:[/_.\-][a-z0-9]+)*")
_YEAR = re.compile(r"^(?:19[5-9]\d|20\d\d)$")
_YEAR_SPAN = re.compile(r"\b(19[5-9]\d|20\d\d)(?:\s*[-/\u2013]\s*(\d{4}|\d{2})\b)?")

_MARK_KINDS = {
    "lot": "lot",
    "lots": "lot",
    "package": "package",
    "pkg": "package",
    "work package": "package",
    "phase": "phase",
    "stage": "phase",
    "beat": "part",
    "part": "part",
    "round": "part",
    "tranche": "part",
    "block": "part",
    "schedule": "part",
    "call off": "calloff",
    "call off contract": "calloff",
    "call off order": "calloff",
    "mini competition": "calloff",
    "further competition": "calloff",
    "order": "calloff",
    "task order": "calloff",
}
_ID = r"(?:\d{1,3}[a-z]?|[a-z]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_MARK = re.compile(
    r"\b(lots?|work package|package|pkg|phase|stage|beat|part|round|tranche|block|schedule|"
    r"call off(?: contract| order)?|mini competition|further competition|task order|order)"
    r"(?:\s*[:#.]\s*|\s+)(?:(?:no\.?|number)\s*)?[:.]?\s*"
    rf"({_ID}(?:\s*(?:,|&|and|\+|-|to)\s*{_ID}\b)*)\b"
)
_LETTER_OK = {"lot", "package", "phase", "part"}
_SPLIT_REF = re.compile(r"\b([a-z]{1,3})[\s-]+(?!(?:19|20)\d\d\b)(\d{1,4}[a-z]?)\b")


def _ascii_lower(text: str) -> str:
    if not text.isascii():  # accents off ("café" -> "cafe"); plain ASCII needs none of it
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return text.lower().replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")


def _is_ref(token: str) -> bool:
    """A reference-like token: 'dm/00157', 'bth579', 'ca11272', 'a303', '861/2020', '20535'."""
    if _YEAR.match(token) or len(token) < 4 or _YEAR_SPAN.fullmatch(token):
        return False
    digits = sum(c.isdigit() for c in token)
    if digits == 0:
        return False
    if token.isdigit():
        return len(token) >= 4
    has_alpha = any(c.isalpha() for c in token)
    return has_alpha or any(c in "/_.-" for c in token)


def _ref_key(token: str) -> str:
    return re.sub(r"[/_.\-]", "", token)


def _expand_ids(text: str) -> list[str]:
    ids = re.findall(rf"\b{_ID}\b", text)
    out: list[str] = []
    nums = [_NUMBER_WORDS.get(i, i) for i in ids]
    if "-" in text or " to " in text:  # "lots 1-3"
        ints = [int(n) for n in nums if n.isdigit()]
        if len(ints) == 2 and 0 < ints[1] - ints[0] < 30:
            return [str(i) for i in range(ints[0], ints[1] + 1)]
    out.extend(nums)
    return out


def _years(text: str) -> frozenset[int]:
    years: set[int] = set()
    for m in _YEAR_SPAN.finditer(text):
        start = int(m.group(1))
        years.add(start)
        end = m.group(2)
        if end:
            e = int(end) if len(end) == 4 else (start // 100) * 100 + int(end)
            if start < e <= start + 30:
                years.add(e)
    return frozenset(years)


@dataclass(frozen=True)
class TitleParts:
    tokens: tuple[str, ...]  # content words in order, refs/years/markers/stopwords removed
    refs: frozenset[str]
    marks: frozenset[tuple[str, str]]  # (kind, id): ("lot", "2"), ("calloff", "4")
    numbers: frozenset[str]  # other small numbers
    years: frozenset[int]
    flat: str = ""  # the whole title, lower-case letters and digits only (for truncation)
    every: tuple[str, ...] = ()  # all words in order, stopwords too (for truncation)


_LONG_STOP = tuple(w for w in _STOP if len(w) >= 8)


@lru_cache(maxsize=1 << 14)
def _is_stop_abbreviation(word: str) -> bool:
    """'prov' (provision), 'agmt' (agreement): an abbreviated stopword is a stopword."""
    return 3 <= len(word) <= 5 and any(_word_match(word, s) for s in _LONG_STOP)


def title_parts(title: str) -> TitleParts:
    t = _ascii_lower(title)
    t = _TED_PREFIX.sub(" ", t)
    flat = " ".join(re.findall(r"[a-z0-9]+", re.sub(r"(\.\.\.|\u2026)\s*$", "", t)))
    t = _DATE_IN_TEXT.sub(" ", t)
    t = _GLUED.sub(r"\1 \2", t)
    t = re.sub(r"call[\s-]*off", "call off", t)
    t = re.sub(r"mini[\s-]*comp(?:etition)?s?", "mini competition", t)
    # "Lots 1 & 2 - Lot 1: Social Workers" is lot 1: an occurrence naming one id wins.
    found: dict[str, list[list[str]]] = defaultdict(list)
    for m in _MARK.finditer(t):
        kind = _MARK_KINDS[m.group(1)]
        ids = [
            i
            for i in _expand_ids(m.group(2))
            if not (i.isalpha() and len(i) == 1 and kind not in _LETTER_OK)
        ]
        if ids:
            found[kind].append(ids)
    marks: set[tuple[str, str]] = set()
    for kind, occurrences in found.items():
        single = [o[0] for o in occurrences if len(o) == 1]
        marks.update((kind, i) for i in (single or [i for o in occurrences for i in o]))
    t = _MARK.sub(" ", t)
    # "AH-64E" / "AH 64E" / "ah64e": one reference however it is spaced.
    t = _SPLIT_REF.sub(lambda m: m.group(0) if m.group(1) in _STOP else m.group(1) + m.group(2), t)
    refs: set[str] = set()

    def take_ref(m: re.Match[str]) -> str:
        if _is_ref(m.group(0)):
            refs.add(_ref_key(m.group(0)))
            return " "
        return m.group(0)

    t = _TOKEN.sub(take_ref, t)
    years = _years(t)
    t = _YEAR_SPAN.sub(" ", t)
    words: list[str] = []
    every: list[str] = []
    numbers: set[str] = set()
    for tok in _TOKEN.findall(t):
        for w in re.split(r"[/_.\-]", tok):
            if not w:
                continue
            w = _SYNONYMS.get(w, w)
            every.append(w)
            if w in _NUMBER_WORDS:
                numbers.add(_NUMBER_WORDS[w])
            elif w.isdigit():
                numbers.add(str(int(w)))
            elif w not in _STOP and len(w) > 1 and not _is_stop_abbreviation(w):
                words.append(w)
    return TitleParts(
        tuple(words),
        frozenset(refs),
        frozenset(marks),
        frozenset(numbers),
        years,
        flat,
        tuple(every),
    )


def buyer_tokens(name: str) -> frozenset[str]:
    t = _ascii_lower(name).replace("&", " and ")
    words = (_SYNONYMS.get(w, w) for w in re.findall(r"[a-z0-9]+", t))
    return frozenset(w for w in words if w not in _BUYER_STOP and len(w) > 1)


# --- features ------------------------------------------------------------------------------

# A portal's own notice id in a link: ProContract "/Advert?advertId=<GUID>" and the like.
_ADVERT_ID = re.compile(
    r"^(?:https?://)?([^/?#]+)[^?#]*\?(?:.*&)?(?:advertid|noticeid|id)=([0-9a-z-]{6,})", re.I
)


@dataclass(frozen=True)
class Features:
    ocid: str
    ids: frozenset[str]  # published identifiers of this record, normalised
    title: TitleParts
    title_text: str  # the title as compared for truncation (content words joined)
    buyer: frozenset[str]
    buyer_id: str
    deadline: datetime | None
    published: datetime | None
    values: tuple[float, ...]
    value_min: float | None
    description: frozenset[str] = frozenset()


DESCRIPTION_CHARS = 300  # the opening of a description is compared (portals cut them)


def description_words(text: str) -> frozenset[str]:
    t = _ascii_lower(text[:DESCRIPTION_CHARS])
    return frozenset(w for w in re.findall(r"[a-z]{3,}", t) if w not in _STOP)


def _norm_id(value: Any) -> str | None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    v = re.sub(r"\s+", "", str(value)).lower()
    return v if len(v) >= 6 and any(c.isdigit() for c in v) else None


def features(rec: Any) -> Features:
    """The comparable form of one record (cache it when comparing one record many times)."""
    if isinstance(rec, Features):
        return rec
    ids: set[str] = set()
    for value in (_field(rec, "source_id"), *(_field(rec, "references") or ())):
        if (nid := _norm_id(value)) is not None:
            ids.add(nid)
    url = _text(_field(rec, "url"))
    if m := _ADVERT_ID.search(url):
        ids.add(f"url:{m.group(1).lower()}:{m.group(2).lower()}")
    parts = title_parts(_text(_field(rec, "title")))
    amount = _money(_field(rec, "value_amount"))
    gross = _money(_field(rec, "value_amount_gross"))
    return Features(
        ocid=_text(_field(rec, "ocid")).strip(),
        ids=frozenset(ids),
        title=parts,
        title_text=" ".join(parts.tokens),
        buyer=buyer_tokens(_text(_field(rec, "buyer_name"))),
        buyer_id=_text(_field(rec, "buyer_id")).strip().lower(),
        deadline=_when(_field(rec, "deadline")),
        published=_when(_field(rec, "published_at")),
        values=tuple(v for v in (amount, gross) if v is not None),
        value_min=_money(_field(rec, "value_min")),
        description=description_words(_text(_field(rec, "description"))),
    )


# --- comparisons ---------------------------------------------------------------------------


_VOWELS = frozenset("aeiou")


def _is_subsequence(short: str, long_: str) -> bool:
    it = iter(long_)
    return all(c in it for c in short)


@lru_cache(maxsize=1 << 16)
def _word_match(a: str, b: str) -> bool:
    """Two title words one and the same (abbreviation, plural, typo)? Cached: the same
    words meet again and again when one notice is compared with its candidates."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if short.isdigit() or long_.isdigit():
        return False
    if len(short) >= 3 and long_.startswith(short):
        return True  # "maint" / "maintenance", "prog" / "programme", plurals
    if (
        3 <= len(short) <= 5
        and short[0] == long_[0]
        and len(long_) >= len(short) + 2
        and sum(c in _VOWELS for c in short) <= 1
        and _is_subsequence(short, long_)
    ):
        return True  # a consonant skeleton: "mgmt", "svcs", "cncl", "hlth", "dept"
    # a typo: "nutrional" / "nutritional"
    return len(short) >= 5 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.88


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
            px, py = re.match(r"[a-z]*", x), re.match(r"[a-z]*", y)
            if (
                px and py and px.group(0) and px.group(0) == py.group(0)
                and len(x) == len(y) and x != y
            ):  # fmt: skip
                return x, y
    return None


def conflicts(a: Any, b: Any) -> list[str]:
    """Hard reasons two records are different procurements (empty: none found)."""
    fa, fb = features(a), features(b)
    out: list[str] = []
    ta, tb = fa.title, fb.title
    for kind in ("lot", "package", "phase", "part", "calloff"):
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


def exact_key(a: Any, b: Any) -> str | None:
    """The exact key two records share, if any: 'same OCID' or 'same identifier X'."""
    fa, fb = features(a), features(b)
    if fa.ocid and fa.ocid == fb.ocid:
        return "same OCID"
    shared = fa.ids & fb.ids
    if shared:
        return f"same published identifier {sorted(shared)[0]}"
    return None


def same_procurement(a: Any, b: Any) -> Match:
    """Are two notices the same procurement? (same, score 0..1, reasons in words)."""
    fa, fb = features(a), features(b)
    if fa.ocid and fa.ocid == fb.ocid:
        return Match(True, 1.0, ["same OCID"])
    hard = conflicts(fa, fb)
    key = exact_key(fa, fb)
    if key and not hard:
        return Match(True, 1.0, [key])
    if hard:
        return Match(False, 0.0, hard + ([f"despite {key}"] if key else []))

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
        return Match(False, 0.0, reasons)
    if tc.similarity < MIN_TITLE:
        return Match(False, round(tc.similarity * WEIGHTS["title"], 3), reasons)
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
            return Match(False, round(tc.similarity * WEIGHTS["title"], 3), reasons)
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
        return Match(False, round(score * 0.8, 3), reasons)
    # A word each side that the other lacks ("Catering" / "Cleaning"): more proof needed.
    if tc.only_a and tc.only_b and not tc.truncated:
        corroborated = sum(1 for k in ("deadline", "value") if parts.get(k, 0) >= 0.85)
        if tc.similarity < 0.75 or corroborated < 2:
            reasons.append(f"title words differ ({' '.join(tc.only_a)} / {' '.join(tc.only_b)})")
            return Match(False, round(min(score, SAME_SCORE - 0.01), 3), reasons)
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
            return Match(False, round(min(score, SAME_SCORE - 0.01), 3), reasons)
        del parts["buyer"]
        score = min(1.0, weighted() + adjust)
        reasons.append("buyer names differ, but the title and closing day or text agree")
    score = round(score, 3)
    return Match(score >= SAME_SCORE, score, reasons)


# --- clustering ----------------------------------------------------------------------------


def _day_keys(when: datetime | None, spread: int) -> list[str]:
    if when is None:
        return []
    day = when.astimezone(UK).date()
    return [(day + timedelta(days=d)).isoformat() for d in range(-spread, spread + 1)]


def _week_keys(when: datetime | None) -> list[str]:
    if when is None:
        return []
    out = []
    for d in (-7, 0, 7):
        y, w, _ = (when.astimezone(UK) + timedelta(days=d)).isocalendar()
        out.append(f"{y}-W{w:02d}")
    return out


def blocking_keys(f: Features, rare_title_words: Sequence[str] = ()) -> set[str]:
    """Keys to block on in memory (``cluster``): the spread keys of ``listing_keys`` and
    the OCID."""
    keys = listing_keys(f, rare_title_words, spread=True)
    return keys | {f"o:{f.ocid}"} if f.ocid else keys


def listing_keys(
    f: Features, rare_title_words: Sequence[str] = (), spread: bool = True
) -> set[str]:
    """Blocking keys for a stored index: ``spread=False`` gives the keys to store (the
    closing day and publication week themselves), ``spread=True`` the keys to probe with
    (day +-1, week +-1), so that two records meet when their days or weeks are near.
    The OCID is left out: a stored opportunity is one per OCID already.

    A reference in the title is blocked with the year of publication (+-1 year when
    probing): records first published ten months or more apart are different procurements
    unless their deadlines agree, which the day keys find; without the year, a framework's
    reference would make every call-off of ten years a candidate of every other."""
    keys = {f"i:{i}" for i in f.ids}
    if f.published is None:
        keys.update(f"r:{r}" for r in f.title.refs)
    else:
        year = f.published.astimezone(UK).year
        years = (year - 1, year, year + 1) if spread else (year,)
        keys.update(f"r:{r}|y:{y}" for r in f.title.refs for y in years)
    buyer = {f"b:{t}" for t in f.buyer} | ({f"bid:{f.buyer_id}"} if f.buyer_id else set())
    if spread:
        days, weeks = _day_keys(f.deadline, 1), _week_keys(f.published)
    else:
        days, weeks = _day_keys(f.deadline, 0), _week_keys(f.published)[1:2]
    for b in buyer:
        keys.update(f"{b}|d:{d}" for d in days)
        keys.update(f"{b}|w:{w}" for w in weeks)
        if not days and not weeks:
            keys.add(b)
    for word in rare_title_words:
        keys.update(f"t:{word}|d:{d}" for d in days)
        keys.update(f"t:{word}|w:{w}" for w in weeks)
    return keys


def candidate_pairs(feats: Sequence[Features]) -> set[tuple[int, int]]:
    """Index pairs worth comparing (sharing a blocking key)."""
    df: dict[str, int] = defaultdict(int)
    for f in feats:
        for w in set(f.title.tokens):
            df[w] += 1
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(feats):
        rare = sorted(set(f.title.tokens), key=lambda w: (df[w], -len(w), w))[:2]
        for k in blocking_keys(f, rare):
            blocks[k].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > BLOCK_CAP:
            continue
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((members[x], members[y]))
    return pairs


def cluster(records: Iterable[Any]) -> list[list[int]]:
    """Group records that are one procurement. Returns groups of indices into ``records``
    (every record in exactly one group; groups and members in input order)."""
    feats = [features(r) for r in records]
    parent = list(range(len(feats)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(feats))}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int, check: bool) -> None:
        ri, rj = find(i), find(j)
        if ri == rj:
            return
        if check and any(conflicts(feats[x], feats[y]) for x in members[ri] for y in members[rj]):
            return
        if len(members[ri]) < len(members[rj]):
            ri, rj = rj, ri
        parent[rj] = ri
        members[ri].extend(members.pop(rj))

    # 1. exact keys: the same OCID always; the same identifier unless a conflict says no.
    by_ocid: dict[str, int] = {}
    for i, f in enumerate(feats):
        if f.ocid:
            union(i, by_ocid.setdefault(f.ocid, i), check=False)
    by_id: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(feats):
        for k in f.ids:
            by_id[k].append(i)
    for ids in by_id.values():
        for j in ids[1:]:
            union(ids[0], j, check=True)
    # 2. fuzzy matches among blocked candidates, best first.
    scored = []
    for i, j in candidate_pairs(feats):
        if find(i) == find(j):
            continue
        m = same_procurement(feats[i], feats[j])
        if m.same:
            scored.append((-m.score, i, j))
    for _, i, j in sorted(scored):
        union(i, j, check=True)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(feats)):
        groups[find(i)].append(i)
    return sorted(groups.values(), key=lambda g: g[0])
