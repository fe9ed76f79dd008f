"""Small pure readers for the text that web pages, feeds, exports and OCDS publish: plain
text (mojibake repaired), HTML fragments, money, yes/no, postcodes, CPV codes. The one home
of each: every record format and models.classify read text through these. Dates and times
have their one reader in the ground package (bidbell.clock)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from typing import Any

import ftfy
from ftfy.badness import BADNESS_RE
from ftfy.chardata import CONTROL_CHARS

from bidbell.text import yes_no as yes_no  # the one reader, re-exported for the formats


class _Text(HTMLParser):
    BREAKS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: object) -> str:
    """An HTML fragment (or plain text) -> plain text, blank lines and runs of spaces folded."""
    if not isinstance(value, str) or not value.strip():
        return ""
    if "<" in value:
        parser = _Text()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    else:
        value = unescape(value)
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in value.split("\n"))
    return "\n".join(line for line in lines if line)


def squash(value: object) -> str:
    """Text on one line: every run of whitespace one space."""
    return re.sub(r"\s+", " ", value).strip() if isinstance(value, str) else ""


_MONEY = re.compile(
    r"(?P<cur>£|€|\$|GBP|EUR|USD)?\s*(?P<num>\d[\d,]*+(?:\.\d+)?)"
    r"(?:\s*(?P<mult>bn|billion|m|million|k|thousand)\b|(?![a-z]))",
    re.IGNORECASE,
)
_MULT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_CURRENCY = {"£": "GBP", "gbp": "GBP", "€": "EUR", "eur": "EUR", "$": "USD", "usd": "USD"}
_RANGE_SEP = re.compile(r"\s*(?:-|\u2013|\u2014|to|and)\s*", re.IGNORECASE)
_PER_YEAR = re.compile(r"\b(per\s+(annum|year)|p\.?\s?a\.?|a year|annually|/\s?yr)\b", re.I)
_UPPER_ONLY = re.compile(r"\b(up to|maximum of|not exceeding|max\.?)\b", re.I)


@dataclass(frozen=True)
class ValueText:
    amount: float | None  # the top of a range, or the single figure
    minimum: float | None
    currency: str | None
    per_year: bool
    upper_bound_only: bool  # "up to £25,000"


def _figure(m: re.Match[str]) -> float:
    return float(m["num"].replace(",", "")) * _MULT.get((m["mult"] or "").lower(), 1.0)


def parse_value_text(text: object, *, money_field: bool = False) -> ValueText | None:
    """Money in text -> figures; None if there is none. The one reader of money text.

    '£5k', '£1.2m', 'GBP 12,500.50'; a range '£10,000 - £25,000' (or 'to', 'and', dashes;
    the second figure may omit the sign) gives amount 25000 and minimum 10000; a second
    figure that is not larger is no range. The first sum with a currency sign wins ('12 month
    term, £40k' is £40k). Without a sign, a number counts only with a multiplier ('5k',
    taken as pounds) - or, when the caller says the text is a money field
    (``money_field=True``), any number (currency None: not stated). Free text's bare
    numbers are as likely years or references. 'up to £25,000 per annum' sets
    upper_bound_only and per_year.
    """
    if not isinstance(text, str):
        return None
    found = list(_MONEY.finditer(text))
    money = [m for m in found if money_field or m["cur"] or m["mult"]]
    first = next((m for m in money if m["cur"]), money[0] if money else None)
    if first is None:
        return None
    amount, minimum = _figure(first), None
    after = next((m for m in found if m.start() >= first.end()), None)
    high = _figure(after) if after else 0.0
    if after and high > amount and _RANGE_SEP.fullmatch(text, first.end(), after.start()):
        amount, minimum = high, amount
    cur = first["cur"]
    return ValueText(
        amount=amount,
        minimum=minimum,
        currency=_CURRENCY[cur.lower()] if cur else None if money_field else "GBP",
        per_year=bool(_PER_YEAR.search(text)),
        upper_bound_only=bool(_UPPER_ONLY.search(text)),
    )


def parse_money(text: object) -> tuple[float | None, float | None, str | None]:
    """A money field's text -> (amount, minimum, currency): '£45,000' -> (45000, None,
    'GBP'); '£10k - £25k' -> (25000, 10000, 'GBP'); '45000' -> (45000, None, None);
    'TBC' or '' -> (None, None, None). See parse_value_text."""
    v = parse_value_text(text, money_field=True)
    return (v.amount, v.minimum, v.currency) if v else (None, None, None)


# --- plain text, postcodes, CPV codes --------------------------------------------------------
# Mojibake repair only (Contracts Finder publishes "â€™" for a right quote, U+2019): the other
# ftfy fixes would change text that is right as published (curly quotes, ligatures,
# full-width characters, HTML entities), and line breaks are made plain below.
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    fix_line_breaks=False,
    explain=False,
)
# Control characters other than tab and line breaks (NUL above all: PostgreSQL text refuses
# it) are dropped from every text we keep.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# ftfy costs more than the rest of reading a notice, though it leaves nearly every text as it
# is. ``_ftfy_keeps`` says, far more cheaply, when it would, from what ftfy 6.3.1 does with
# _FTFY (read in its source; another version turns this shortcut off):
# - it fixes text line by line (a line of over ``max_decode_length`` characters in parts);
# - a line's encoding is only repaired when ``badness.is_bad`` finds mojibake in it
#   (``BADNESS_RE``); else the line keeps its characters through the other fixes when it
#   has no C1 control (BADNESS_RE finds those too), no surrogate, no ``\x1b`` (a terminal
#   escape: _CONTROL has removed it) and none of ``chardata.CONTROL_CHARS``; and it is
#   NFC-normalised, which it keeps if it is already (NFC never joins across a line break).
# BADNESS_RE has no context of its own but ``^`` (at a line's start: a line that starts
# "Ã " or "Â " is left to ftfy), so it finds mojibake in no line when it finds none in the
# whole text. Every match of it holds a non-ASCII character and is at most
# _MOJIBAKE_WIDTH long: searching around the non-ASCII characters is searching the text.
_FTFY_CHECKED = ftfy.__version__ == "6.3.1"
_MOJIBAKE_WIDTH = 7
# Non-ASCII characters, grouped when fewer ASCII characters than two search widths part them.
_NON_ASCII = re.compile(rf"[^\x00-\x7f](?:[\x00-\x7f]{{0,{2 * _MOJIBAKE_WIDTH - 2}}}[^\x00-\x7f])*")
_FTFY_REMOVES = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in sorted(CONTROL_CHARS)) + "\ud800-\udfff]"
)


def _ftfy_keeps(text: str) -> bool:
    """True only when ``ftfy.fix_text(text, _FTFY)`` would return the text unchanged (see
    above); False also when it cannot tell, and ftfy decides."""
    if not _FTFY_CHECKED or len(text) > _FTFY.max_decode_length:
        return False
    if "\n\u00c3 " in text or "\n\u00c2 " in text or _FTFY_REMOVES.search(text):
        return False
    if not unicodedata.is_normalized("NFC", text):
        return False
    reach = _MOJIBAKE_WIDTH - 1
    for m in _NON_ASCII.finditer(text):
        # A search bounded by pos/endpos: "^" still means the start of the text.
        if BADNESS_RE.search(text, max(0, m.start() - reach), m.end() + reach):
            return False
    return True


def clean_text(value: Any) -> str:
    """Repair mojibake, make the sources' ``\\r\\n`` line breaks plain ``\\n``, drop control
    characters, strip."""
    if not isinstance(value, str):
        return ""
    value = _CONTROL.sub("", value)
    # Mojibake is never pure ASCII, nor text that _ftfy_keeps: skip ftfy's cost on most text.
    if not value.isascii() and not _ftfy_keeps(value):
        value = ftfy.fix_text(value, _FTFY)
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.strip()


_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
# A full postcode inside other text (an address): outward and inward parts.
POSTCODE_IN_TEXT = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?)\s*(\d[A-Z]{2})\b")


def uk_postcode(value: Any) -> str | None:
    """'me141xq' or 'ME14 1XQ' -> 'ME14 1XQ'; other short text as published (upper-cased);
    None for text too long to be a postcode (an address in the postcode field)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(value.upper().split())  # runs of whitespace one space, as re's \s+
    compact = text.replace(" ", "")
    if _POSTCODE.match(compact):
        return f"{compact[:-3]} {compact[-3:]}"
    return text if len(text) <= 16 else None


_OUTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?)(?:\s*([0-9][A-Z]{2}))?")


def outcode(postcode: str | None) -> str | None:
    """'me14 1xq' -> 'ME14'; 'CT11XZ' -> 'CT1'; 'TN23' -> 'TN23'; not a postcode -> None."""
    if not isinstance(postcode, str) or len(postcode) > 16:
        return None
    text = " ".join(postcode.upper().split())  # runs of whitespace one space, as re's \s+
    m = _OUTCODE.fullmatch(text)
    return m.group(1) if m else None


def postcode_in(text: Any) -> str | None:
    """The first full UK postcode written in a text (an address), formatted 'ME14 1XQ'."""
    if not isinstance(text, str):
        return None
    m = POSTCODE_IN_TEXT.search(text.upper())
    return f"{m.group(1)} {m.group(2)}" if m else None


_CPV = re.compile(r"^(\d{8})(?:-\d)?$")


def cpv_code(value: Any) -> str | None:
    """'45233000-9' or '45233000' -> '45233000'; anything else -> None."""
    if isinstance(value, str):
        text = str(value).strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        return None
    m = _CPV.match(text) if len(text) <= 12 else None
    return m.group(1) if m else None


def number(value: Any) -> float | None:
    """A finite number from a JSON value (number, or numeric text with commas); else None.
    Integers too large for a float (a 401-digit 'value') are not numbers here."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            out = float(value)
        elif isinstance(value, str) and len(value) <= 40:
            out = float(value.replace(",", ""))
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return out if out == out and out not in (float("inf"), float("-inf")) else None
