"""Small pure readers for the free text that web pages, feeds and exports publish: money,
UK dates and times, yes/no, HTML fragments. The one home of each: every record format and
models.classify read text through these (this module imports nothing of the project's)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
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


def yes_no(value: object) -> bool | None:
    """'Yes'/'Y'/'true' -> True; 'No'/'N'/'false' -> False (any case); anything else None."""
    text = value.strip().lower() if isinstance(value, str) else ""
    return True if text in ("yes", "y", "true") else False if text in ("no", "n", "false") else None


# --- UK dates and times ------------------------------------------------------------------
END_OF_DAY = time(23, 59, 59)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
# 05/11/2026, 5/11/26, 05-11-2026, 05.11.2026, 5 November 2026, 5 Nov 2026, 2026-11-05
_DATE = re.compile(
    r"\b(?:(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|(?<=/)\d{2})"
    rf"|(?P<wd>\d{{1,2}})\s+(?P<wm>{_MONTH})\.?\s+(?P<wy>\d{{4}})"
    r"|(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2}))(?!\d)",
    re.IGNORECASE,
)
_TIME = r"(?<![\d:.])(?P<H>\d{1,2})[:.](?P<M>\d{2}|(?<=:)\d)(?::(?P<S>\d{2}))?(?!\d)"
_TIME_AFTER = re.compile(r"\s*" + _TIME)
_TIME_BEFORE = re.compile(_TIME + r"\s*$")
_WEEKDAY = re.compile(r"\b(mon|tues?|wed(nes)?|thu(rs)?|fri|sat(ur)?|sun)(day)?\b\.?", re.I)


def _twenty_four_hour(text: str) -> str:
    """'5pm' -> '17:00', '12 noon'/'midday' -> '12:00', '10.30am' -> '10:30'."""
    text = re.sub(r"\b(12\s*)?(noon|midday)\b", "12:00", text, flags=re.I)

    def ampm(m: re.Match[str]) -> str:
        h, mins, secs = int(m[1]) % 12, m[2] or "00", f":{m[3]}" if m[3] else ""
        return f"{h + (12 if m[4].lower() == 'pm' else 0):02d}:{mins}{secs}"

    return re.sub(r"\b(\d{1,2})(?:[:.](\d{2}))?(?::(\d{2}))?\s*([ap]m)\b", ampm, text, flags=re.I)


def _day(m: re.Match[str]) -> date | None:
    """The date _DATE matched; None if there is no such day."""
    if m["wd"]:
        parts = (int(m["wy"]), _MONTHS.index(m["wm"][:3].lower()) + 1, int(m["wd"]))
    elif m["iy"]:
        parts = (int(m["iy"]), int(m["im"]), int(m["id"]))
    else:
        year = int(m["y"])
        if year < 100:  # two digits, read as strptime's %y reads them
            year += 2000 if year < 69 else 1900
        parts = (year, int(m["m"]), int(m["d"]))
    try:
        return date(*parts)
    except ValueError:
        return None


def _clock(m: re.Match[str]) -> time | None:
    """The time of day _TIME matched; None if there is no such time."""
    try:
        return time(int(m["H"]), int(m["M"]), int(m["S"] or 0))
    except ValueError:
        return None


def uk_local(day: date, clock: time) -> datetime:
    """A UK wall-clock date and time -> aware UTC (an hour that repeats: the first)."""
    return datetime.combine(day, clock, tzinfo=UK).astimezone(UTC)


def parse_uk_date(text: str) -> date | None:
    """Text that is a date and nothing else ('05/11/2026', '2026-11-05'...) -> the date."""
    m = _DATE.fullmatch(text.strip())
    return _day(m) if m else None


def parse_time(text: str) -> time | None:
    """Text that is a time of day and nothing else ('17:00', '5:00 PM', '5pm', 'noon')."""
    m = re.fullmatch(_TIME, _twenty_four_hour(text.strip()))
    return _clock(m) if m else None


def parse_uk_datetime(text: object, *, date_only: time = END_OF_DAY) -> datetime | None:
    """A date as UK pages write it, day first, in UK local time -> aware UTC. The one reader.

    '05/11/2026 12:00', '5/11/26', '5 November 2026 12.00', 'Friday 20th March 2026 at
    5pm', '12 noon on 5 Nov 2026': the first date in the text, with the time written just
    after it (or just before). ISO 8601 and RFC 822 with a zone keep their zone; without one
    they are UK time. A date without a time means ``date_only`` on that day: by default the
    end of the day (23:59:59), so that "closes 14 March" does not look closed on the
    morning of the 14th. No such day or time ('31/02/2026') -> None.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    raw = " ".join(text.split())
    try:
        iso = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        if iso.tzinfo is not None:
            return iso.astimezone(UTC)
        is_date = re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", raw)
        return uk_local(iso.date(), date_only if is_date else iso.time())
    try:
        rfc = parsedate_to_datetime(raw)  # as in RSS pubDate: its own zone
    except (TypeError, ValueError, IndexError):
        rfc = None
    if rfc is not None and rfc.tzinfo is not None:
        return rfc.astimezone(UTC)
    t = _twenty_four_hour(_WEEKDAY.sub(" ", raw))
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    t = " ".join(re.sub(r"\b(at|by|on)\b|,", " ", t, flags=re.I).split())
    m = _DATE.search(t)
    if m is None:
        return None
    day, c = _day(m), _TIME_AFTER.match(t, m.end()) or _TIME_BEFORE.search(t, 0, m.start())
    clock = _clock(c) if c else date_only
    return uk_local(day, clock) if day is not None and clock is not None else None


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
