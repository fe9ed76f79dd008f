"""Reading a record (NoticeFields, a mapping, or any object with the same names) into
the features compared: title parts, buyer tokens, identifiers, dates, values, the opening
words of its description."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from typing import Any

from bidbell.clock import UK
from bidbell.clock import published as read_instant
from models.dedupe.text import (
    _EMPTY,
    _STOP,
    TitleParts,
    _ascii_lower,
    _frozen,
    buyer_tokens,
    reference_key,
    supplier_name,
    title_parts,
)
from models.formats.text import parse_money

# --- reading records -----------------------------------------------------------------------


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
    return read_instant(value) if isinstance(value, str) else None


# --- features ------------------------------------------------------------------------------

# A portal's own notice id in a link: ProContract "/Advert?advertId=<GUID>" and the like.
_ADVERT_ID = re.compile(
    r"^(?:https?://)?([^/?#]+)[^?#]*\?(?:.*&)?(?:advertid|noticeid|id)=([0-9a-z-]{6,})", re.I
)


@dataclass(frozen=True, slots=True)
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
    # The buyer's reference (``tender_reference``, normalised by ``reference_key``) and the
    # award's suppliers (normalised by ``supplier_name``); empty when the record has none.
    tender_ref: str = ""
    suppliers: frozenset[str] = frozenset()
    publisher: str = ""  # the OCID's publisher prefix ("ocds-b5fd17"): one reference scheme

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its field values, rebuilt by the constructor: the parsing workers send
        # a batch's features to the writer, and a slots dataclass's own pickling (a state
        # dict made and read field by field in Python) took over a quarter of the batch's
        # pickling (1,000 features: 47 -> 34 ms dumped and loaded).
        return (Features, _feature_values(self))


_feature_values = operator.attrgetter(*(f.name for f in fields(Features)))


DESCRIPTION_CHARS = 300  # the opening of a description is compared (portals cut them)


_DESCRIPTION_WORD = re.compile(r"[a-z]{3,}")
# ASCII bytes -> lower-case letters, everything else a space; and what description_words
# leaves out: stopwords and words of one or two letters.
_LETTERS_LOWER = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 else 32 for c in range(256))
_STOP_OR_SHORT = _STOP.union(
    chr(a) + b for a in range(97, 123) for b in ("", *(chr(b) for b in range(97, 123)))
)


def description_words(text: str) -> frozenset[str]:
    head = text[:DESCRIPTION_CHARS]
    if head.isascii():
        # The same words as below (lower-cased runs of three letters or more) at half the
        # cost: a byte table and a split instead of lower() and a pattern scan.
        runs = head.encode("ascii").translate(_LETTERS_LOWER).decode("ascii").split()
        words = frozenset(runs).difference(_STOP_OR_SHORT)
    else:
        words = frozenset(_DESCRIPTION_WORD.findall(_ascii_lower(head))).difference(_STOP)
    return words if words else _EMPTY


def _norm_id(value: Any) -> str | None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    # Whitespace dropped (str.split's whitespace is the pattern \s's, character for character).
    v = "".join(str(value).split()).lower()
    return v if len(v) >= 6 and any(map(str.isdigit, v)) else None


def features(rec: Any) -> Features:
    """The comparable form of one record (cache it when comparing one record many times)."""
    if isinstance(rec, Features):
        return rec
    # A mapping's fields by key, an object's by attribute: chosen once per record (an ABC
    # isinstance test per field was a tenth of the cost of a record).
    get: Callable[[str], Any]
    if isinstance(rec, Mapping):
        get = rec.get
    else:

        def get(name: str) -> Any:
            return getattr(rec, name, None)

    ids: set[str] = set()
    for value in (get("source_id"), *(get("references") or ())):
        if (nid := _norm_id(value)) is not None:
            ids.add(nid)
    url = _text(get("url"))
    if "?" in url and (m := _ADVERT_ID.search(url)):  # the pattern needs a query
        ids.add(f"url:{m.group(1).lower()}:{m.group(2).lower()}")
    parts = title_parts(_text(get("title")))
    amount = _money(get("value_amount"))
    ocid = _text(get("ocid")).strip()
    suppliers = get("suppliers") or ()
    gross = _money(get("value_amount_gross"))
    names = frozenset(n for s in suppliers if isinstance(s, str) and (n := supplier_name(s)))
    return Features(
        ocid=ocid,
        ids=_frozen(ids),
        title=parts,
        title_text=" ".join(parts.tokens),
        buyer=buyer_tokens(_text(get("buyer_name"))),
        buyer_id=_text(get("buyer_id")).strip().lower(),
        deadline=_when(get("deadline")),
        published=_when(get("published_at")),
        values=tuple(v for v in (amount, gross) if v is not None),
        value_min=_money(get("value_min")),
        description=description_words(_text(get("description"))),
        tender_ref=reference_key(_text(get("tender_reference"))),
        suppliers=names if names else _EMPTY,
        publisher="-".join(ocid.lower().split("-")[:2]) if ocid.count("-") >= 2 else "",
    )
