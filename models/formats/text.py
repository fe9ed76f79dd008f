"""Small pure readers for the free text that web pages and feeds publish: money, UK dates,
HTML fragments. Shared by the listing-row and feed-entry formats."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, time
from html import unescape
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")


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
    r"(?P<cur>£|€|\$|GBP|EUR|USD)?\s*(?P<num>\d[\d,]*(?:\.\d+)?)\s*"
    r"(?P<mult>bn|billion|m|million|k|thousand)?(?![a-z])",
    re.IGNORECASE,
)
_MULT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_CURRENCY = {"£": "GBP", "gbp": "GBP", "€": "EUR", "eur": "EUR", "$": "USD", "usd": "USD"}


def _amount(m: re.Match[str]) -> float | None:
    try:
        n = float(m["num"].replace(",", ""))
    except ValueError:
        return None
    return n * _MULT.get((m["mult"] or "").lower(), 1.0)


def parse_money(text: object) -> tuple[float | None, float | None, str | None]:
    """'£45,000' -> (45000, None, 'GBP'); '£10k - £25k' or '£10,000 to 25,000' ->
    (25000, 10000, 'GBP') (the top of a range is the amount, its bottom the minimum);
    'TBC' or '' -> (None, None, None). The first sum with a currency sign wins over bare
    numbers ('12 month term, £40k' is £40k)."""
    if not isinstance(text, str):
        return None, None, None
    found = list(_MONEY.finditer(text))
    first = next((m for m in found if m["cur"]), found[0] if found else None)
    if first is None or (low := _amount(first)) is None:
        return None, None, None
    currency = _CURRENCY[first["cur"].lower()] if first["cur"] else None
    rest = re.match(r"\s*(?:-|\u2013|\u2014|to)\s*" + _MONEY.pattern, text[first.end() :], re.I)
    high = _amount(rest) if rest else None
    if high is None or high <= low:
        return low, None, currency
    return high, low, currency


_DATE_FORMATS = (
    "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d/%m/%y %H:%M", "%d/%m/%y", "%d-%m-%Y %H:%M", "%d-%m-%Y",
    "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d %B %Y %H:%M", "%d %B %Y", "%d %b %Y %H:%M", "%d %b %Y",
    "%Y-%m-%d %H:%M", "%Y-%m-%d",
)  # fmt: skip
_WEEKDAY = re.compile(r"\b(mon|tues?|wed(nes)?|thu(rs)?|fri|sat(ur)?|sun)(day)?\b\.?", re.I)


def _clock(text: str) -> str:
    """'5pm' -> '17:00', '12 noon'/'midday' -> '12:00', '10.30am' -> '10:30'."""
    text = re.sub(r"\b(12\s*)?(noon|midday)\b", "12:00", text, flags=re.I)

    def ampm(m: re.Match[str]) -> str:
        h, mins = int(m[1]) % 12, m[2] or "00"
        return f"{h + (12 if m[3].lower() == 'pm' else 0):02d}:{mins}"

    return re.sub(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*([ap]m)\b", ampm, text, flags=re.I)


def parse_uk_datetime(text: object) -> datetime | None:
    """A date as UK web pages write it, day first, in UK local time -> aware UTC.

    A date without a time means the end of that day (23:59:59 UK time): "closes 14 March"
    must not look closed on the morning of the 14th. ISO 8601 with a zone is kept as is.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    raw = text.strip()
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if dt.tzinfo is not None:
            return dt.astimezone(UTC)
    except ValueError:
        pass
    t = _clock(_WEEKDAY.sub(" ", raw))
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    t = re.sub(r"\b(at|by|on)\b|,", " ", t, flags=re.I)
    t = re.sub(r"\s+", " ", t).strip()
    for fmt in _DATE_FORMATS:
        try:
            dt = datetime.strptime(t, fmt)
        except ValueError:
            continue
        if "%H" not in fmt:
            dt = datetime.combine(dt.date(), time(23, 59, 59))
        return dt.replace(tzinfo=UK).astimezone(UTC)
    return None


_CLOSING = re.compile(
    r"(?:closing|closes|deadline|return(?:s)? by|submission)[^0-9]{0,30}"
    r"(\d{1,2}(?:st|nd|rd|th)?[ /.-](?:\d{1,2}|[A-Za-z]{3,9})[ /.-]\d{2,4}"
    r"(?:[ ,]+(?:at )?\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm)?)?)",
    re.IGNORECASE,
)


def find_deadline(text: str) -> datetime | None:
    """The date after 'closing date', 'deadline'... in free text, if one parses."""
    for m in _CLOSING.finditer(text):
        candidate = m.group(1)
        # try with the time first, then the date alone
        for cut in (candidate, re.split(r"[ ,]+(?:at )?\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm)?$",
                                         candidate)[0]):  # fmt: skip
            dt = parse_uk_datetime(cut)
            if dt:
                return dt
    return None


def bidbell_ocid(source: str, key: str, hashed: bool) -> str:
    """``bidbell-<source>-<key>`` for records with no OCID of their own (see each format)."""
    if hashed:
        key = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return f"bidbell-{source}-{key}"
