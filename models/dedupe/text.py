"""Text normalisation for deduplication: titles into their parts (words, marks such as
lot and call-off numbers, references, years), buyer names into tokens."""

from __future__ import annotations

import operator
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, TypeVar

from rapidfuzz import fuzz

_T = TypeVar("_T")

# --- text normalisation --------------------------------------------------------------------


# The one empty set kept: most titles have no reference, mark, number or year, many records
# no supplier; each empty set kept apart would be one more object for the garbage collector
# to walk on every collection while the features are held.
_EMPTY: frozenset[Any] = frozenset()


def _frozen(items: set[_T]) -> frozenset[_T]:
    """``frozenset(items)``, or the shared empty one."""
    return frozenset(items) if items else _EMPTY


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
# The same without IGNORECASE, for lower-case ASCII text: there it matches the same (the
# case-insensitive pattern only adds capitals and four non-ASCII letters: long s, Kelvin
# sign, dotted and dotless i) at a third of the cost.
_GLUED_LOWER = re.compile(_GLUED.pattern)
# A token (letters and digits joined by "/", "_", ".", "-") with a digit: a reference maybe.
# The look-behinds say the token starts there (no letter or digit, nor one and a separator,
# just before), so each match is a whole token as a scan of all tokens would find it, and
# the tokens without a digit (most) cost no call.
_DIGIT_TOKEN = re.compile(
    r"(?<![a-z0-9])(?<![a-z0-9][/_.\-])(?=[a-z0-9/_.\-]*[0-9])[a-z0-9]+(?:[/_.\-][a-z0-9]+)*"
)
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
_ID_WORD = re.compile(rf"\b{_ID}\b")
_CALL_OFF = re.compile(r"call[\s-]*off")
_MINI_COMPETITION = re.compile(r"mini[\s-]*comp(?:etition)?s?")
_ALNUM = re.compile(r"[a-z0-9]+")
_DIGIT = re.compile(r"\d")
# A word each ``_MARK`` alternative contains: a title without any has no marks (a substring
# test costs a fraction of the pattern's scan).
_MARK_WORDS = (
    "lot", "pkg", "package", "phase", "stage", "beat", "part", "round", "tranche", "block",
    "schedule", "call off", "competition", "order",
)  # fmt: skip
_REF_SEPARATORS = str.maketrans("", "", "/_.-")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_REFERENCE_LABEL = re.compile(r"^(?:tender\s+)?ref(?:erence)?(?:\s*no\.?)?(?:\s*[:.]\s*|\s+)")


def _drop_combining(m: re.Match[str]) -> str:
    return "".join(c for c in m.group(0) if not unicodedata.combining(c))


def _ascii_lower(text: str) -> str:
    if text.isascii():  # plain ASCII needs no accents off and has no dashes or quotes to fold
        return text.lower()
    text = unicodedata.normalize("NFKD", text)  # accents off ("café" -> "cafe")
    text = _NON_ASCII.sub(_drop_combining, text)  # no ASCII character is a combining one
    return text.lower().replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")


def _is_ref(token: str) -> bool:
    """A reference-like token: 'dm/00157', 'bth579', 'ca11272', 'a303', '861/2020', '20535'.
    ``token`` is a ``_DIGIT_TOKEN`` match (letters, digits and separators): a reference when
    it has four characters or more, a digit, and is not a year or a span of years. (The
    pattern's look-ahead can see a digit past the token: "road--12" gives "road".)"""
    if len(token) < 4 or token.isalpha() or not any(c.isdigit() for c in token):
        return False
    return not (_YEAR.match(token) or _YEAR_SPAN.fullmatch(token))


def _ref_key(token: str) -> str:
    return token.translate(_REF_SEPARATORS)


def _expand_ids(text: str) -> list[str]:
    ids = _ID_WORD.findall(text)
    out: list[str] = []
    nums = [_NUMBER_WORDS.get(i, i) for i in ids]
    if "-" in text or " to " in text:  # "lots 1-3"
        ints = [int(n) for n in nums if n.isdigit()]
        if len(ints) == 2 and 0 < ints[1] - ints[0] < 30:
            return [str(i) for i in range(ints[0], ints[1] + 1)]
    out.extend(nums)
    return out


def _take_years(text: str) -> tuple[str, frozenset[int]]:
    """The text with its years and spans of years ("2019-2021", "2020/21") blanked, and the
    years they name."""
    years: set[int] = set()

    def take(m: re.Match[str]) -> str:
        start = int(m.group(1))
        years.add(start)
        end = m.group(2)
        if end:
            e = int(end) if len(end) == 4 else (start // 100) * 100 + int(end)
            if start < e <= start + 30:
                years.add(e)
        return " "

    return _YEAR_SPAN.sub(take, text), _frozen(years)


@dataclass(frozen=True, slots=True)
class TitleParts:
    tokens: tuple[str, ...]  # content words in order, refs/years/markers/stopwords removed
    refs: frozenset[str]
    marks: frozenset[tuple[str, str]]  # (kind, id): ("lot", "2"), ("calloff", "4")
    numbers: frozenset[str]  # other small numbers
    years: frozenset[int]
    flat: str = ""  # the whole title, lower-case letters and digits only (for truncation)
    every: tuple[str, ...] = ()  # all words in order, stopwords too (for truncation)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its field values (see Features.__reduce__).
        return (TitleParts, _title_parts_values(self))


_title_parts_values = operator.attrgetter(*(f.name for f in fields(TitleParts)))

_LONG_STOP = tuple(w for w in _STOP if len(w) >= 8)


def _is_stop_abbreviation(word: str) -> bool:
    """'prov' (provision), 'agmt' (agreement): an abbreviated stopword is a stopword."""
    return 3 <= len(word) <= 5 and any(_word_match(word, s) for s in _LONG_STOP)


@lru_cache(maxsize=1 << 16)
def _word_role(word: str) -> tuple[str, str | None, bool]:
    """A title word as compared (its usual spelling), the small number it names if any,
    and whether it is a content word. Cached: titles are made of a few thousand words."""
    word = _SYNONYMS.get(word, word)
    if word in _NUMBER_WORDS:
        return word, _NUMBER_WORDS[word], False
    if word.isdigit():
        return word, str(int(word)), False
    return word, None, word not in _STOP and len(word) > 1 and not _is_stop_abbreviation(word)


def _unglue(m: re.Match[str]) -> str:
    return m.group(1) + " " + m.group(2)


def _join_split_ref(m: re.Match[str]) -> str:
    return m.group(0) if m.group(1) in _STOP else m.group(1) + m.group(2)


def _marks(t: str) -> tuple[str, set[tuple[str, str]]]:
    """The title without its marks ("Lot 2", "Call off 4"), and the marks."""
    # "Lots 1 & 2 - Lot 1: Social Workers" is lot 1: an occurrence naming one id wins.
    found: dict[str, list[list[str]]] = defaultdict(list)
    pieces: list[str] = []
    end = 0
    for m in _MARK.finditer(t):
        kind = _MARK_KINDS[m.group(1)]
        ids = [
            i
            for i in _expand_ids(m.group(2))
            if not (i.isalpha() and len(i) == 1 and kind not in _LETTER_OK)
        ]
        if ids:
            found[kind].append(ids)
        pieces += (t[end : m.start()], " ")
        end = m.end()
    marks: set[tuple[str, str]] = set()
    for kind, occurrences in found.items():
        single = [o[0] for o in occurrences if len(o) == 1]
        marks.update((kind, i) for i in (single or [i for o in occurrences for i in o]))
    # Each match replaced by a space, as ``_MARK.sub(" ", t)`` would: one scan, not two.
    return ("".join(pieces) + t[end:] if pieces else t), marks


def title_parts(title: str) -> TitleParts:
    # Each pattern runs only where it can match: most titles have no ":" (no TED prefix),
    # no digit (no date, glued number, reference or year) and no mark word; skipping the
    # scans there changes nothing and halves the cost of a title.
    t = _ascii_lower(title)
    if ":" in t:
        t = _TED_PREFIX.sub(" ", t)
    # The letter and digit runs (a trailing "..." of a cut title has none).
    runs = _ALNUM.findall(t)
    flat = " ".join(runs)
    unchanged = t
    digits = _DIGIT.search(t) is not None  # no pattern below puts a digit in
    if digits:
        if ":" in t or "-" in t:  # a date has one or the other
            t = _DATE_IN_TEXT.sub(" ", t)
        t = (_GLUED_LOWER if t.isascii() else _GLUED).sub(_unglue, t)
    if "call" in t:
        t = _CALL_OFF.sub("call off", t)
    if "mini" in t:
        t = _MINI_COMPETITION.sub("mini competition", t)
    marks: set[tuple[str, str]] = set()
    for w in _MARK_WORDS:  # a plain loop: ``any`` of a generator costs three times more
        if w in t:
            t, marks = _marks(t)
            break
    refs: set[str] = set()
    years: frozenset[int] = _EMPTY
    if digits:
        # "AH-64E" / "AH 64E" / "ah64e": one reference however it is spaced.
        t = _SPLIT_REF.sub(_join_split_ref, t)

        def take_ref(m: re.Match[str]) -> str:
            if _is_ref(m.group(0)):
                refs.add(_ref_key(m.group(0)))
                return " "
            return m.group(0)

        t = _DIGIT_TOKEN.sub(take_ref, t)
        t, years = _take_years(t)
    words: list[str] = []
    every: list[str] = []
    numbers: set[str] = set()
    # The words of the tokens (split at their separators) are the letter and digit runs:
    # those of the flat title when nothing above changed it.
    for w in runs if t == unchanged else _ALNUM.findall(t):
        w, number, content = _word_role(w)
        every.append(w)
        if number is not None:
            numbers.add(number)
        elif content:
            words.append(w)
    return TitleParts(
        tuple(words),
        _frozen(refs),
        _frozen(marks),
        _frozen(numbers),
        years,
        flat,
        tuple(every),
    )


# Words of a company name that say what kind of company it is, not which.
_SUPPLIER_STOP = _words(
    """the ltd limited plc llp lp llc inc co company uk gb group holdings t a ta trading as"""
)


def supplier_name(name: str) -> str:
    """'Bytes Software Services Ltd.' -> 'bytes software services': for comparing names."""
    t = _ascii_lower(name).replace("&", " and ")
    return " ".join(w for w in _ALNUM.findall(t) if w not in _SUPPLIER_STOP)


def same_supplier(a: str, b: str) -> bool:
    """Two normalised supplier names one company? Word order, a dropped word ("Care By Us"
    / "Care By Us Services") and typos allowed (rapidfuzz token-set ratio)."""
    return a == b or fuzz.token_set_ratio(a, b) >= 90


def reference_key(ref: str) -> str:
    """'Tender Ref: 22/AG/007' -> '22ag007'; '' when it says nothing."""
    t = _ascii_lower(ref).strip()
    if t.startswith(("tender", "ref")):  # the only words the label can start with
        t = _REFERENCE_LABEL.sub("", t)
    key = "".join(_ALNUM.findall(t))  # the letters and digits, all else dropped
    return key if len(key) >= 3 else ""


def buyer_tokens(name: str) -> frozenset[str]:
    t = _ascii_lower(name).replace("&", " and ")
    words = (_SYNONYMS.get(w, w) for w in _ALNUM.findall(t))
    tokens = frozenset(w for w in words if w not in _BUYER_STOP and len(w) > 1)
    return tokens if tokens else _EMPTY


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
    # a typo: "nutrional" / "nutritional" (rapidfuzz's ratio: the Indel similarity, 0..100)
    return len(short) >= 5 and fuzz.ratio(a, b) >= 88
