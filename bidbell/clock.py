"""Time in one place: aware UTC inside, Europe/London at the edges, and the one reader of the
dates and times that sources publish.

``UK`` is the one zone constant. ``parse_instant`` reads every way the sources write a date
(ISO 8601 with or without a zone, RFC 822 as in RSS, UK day-first text such as
"05/11/2026 12:00" or "Friday 20th March 2026 at 5pm"); without a zone it is UK local time.
A date written without a time of day means a different instant by what it dates: the end of
that day for a deadline ("closes 14 March" is still open on the morning of the 14th), the
start of it for a publication. Callers say which with ``deadline`` / ``published`` (or the
``day`` argument); nothing else in the code base parses date text.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from typing import Literal
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")
START_OF_DAY = time(0, 0, 0)
END_OF_DAY = time(23, 59, 59)
DayPart = Literal["start", "end"]


def utcnow() -> datetime:
    """Now, as aware UTC; ``BIDBELL_AS_OF`` pins it (used to replay old captures)."""
    from bidbell.settings import get_settings

    as_of = get_settings().as_of
    return as_of.astimezone(UTC) if as_of is not None else datetime.now(UTC)


def to_uk(dt: datetime) -> datetime:
    return dt.astimezone(UK)


def uk_local(day: date, clock: time) -> datetime:
    """A UK wall-clock date and time -> aware UTC (an hour that repeats: the first)."""
    return datetime.combine(day, clock, tzinfo=UK).astimezone(UTC)


def iso_utc(dt: datetime) -> str:
    """ISO 8601 in UTC, seconds precision (fetched_at stamps)."""
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def now_iso() -> str:
    return iso_utc(datetime.now(UTC))


# --- the reader ----------------------------------------------------------------------------
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
_ISO_DATE_ONLY = re.compile(r"\d{4}-?\d{2}-?\d{2}")
# Longer text than any date a source writes is not read (it would only cost time).
MAX_DATE_TEXT = 200


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


def parse_uk_date(text: str) -> date | None:
    """Text that is a date and nothing else ('05/11/2026', '2026-11-05'...) -> the date."""
    if not isinstance(text, str) or len(text) > MAX_DATE_TEXT:
        return None
    m = _DATE.fullmatch(text.strip())
    return _day(m) if m else None


def parse_time(text: str) -> time | None:
    """Text that is a time of day and nothing else ('17:00', '5:00 PM', '5pm', 'noon')."""
    if not isinstance(text, str) or len(text) > MAX_DATE_TEXT:
        return None
    m = re.fullmatch(_TIME, _twenty_four_hour(text.strip()))
    return _clock(m) if m else None


def parse_instant(value: object, *, day: DayPart) -> datetime | None:
    """Date text as the sources write it -> aware UTC; None if it holds no date. The one reader.

    '2026-11-05T12:00:00Z', '2026-11-05T12:00:00' (UK time), '2026-11-05', RFC 822
    ('Thu, 05 Nov 2026 12:00:00 GMT'), '05/11/2026 12:00', '5/11/26', '5 November 2026
    12.00', 'Friday 20th March 2026 at 5pm', '12 noon on 5 Nov 2026': the first date in the
    text, with the time written just after it (or just before). A zone, where written, is
    kept; without one the time is UK local time. A date without a time is the start
    (``day="start"``) or the end (``day="end"``, 23:59:59) of that day in the UK. No such
    day or time ('31/02/2026') -> None.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_DATE_TEXT:
        return None
    date_only = END_OF_DAY if day == "end" else START_OF_DAY
    raw = " ".join(value.split())
    try:
        iso = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        if iso.tzinfo is not None:
            try:
                return iso.astimezone(UTC)
            except OverflowError:  # year 1 with a positive offset
                return None
        return uk_local(iso.date(), date_only if _ISO_DATE_ONLY.fullmatch(raw) else iso.time())
    try:
        rfc = parsedate_to_datetime(raw)  # as in RSS pubDate: its own zone
    except (TypeError, ValueError, IndexError, OverflowError):
        rfc = None
    if rfc is not None and rfc.tzinfo is not None:
        return rfc.astimezone(UTC)
    t = _twenty_four_hour(_WEEKDAY.sub(" ", raw))
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    t = " ".join(re.sub(r"\b(at|by|on)\b|,", " ", t, flags=re.I).split())
    m = _DATE.search(t)
    if m is None:
        return None
    found, c = _day(m), _TIME_AFTER.match(t, m.end()) or _TIME_BEFORE.search(t, 0, m.start())
    clock = _clock(c) if c else date_only
    return uk_local(found, clock) if found is not None and clock is not None else None


def deadline(value: object) -> datetime | None:
    """A closing date or time: a date alone closes at the end of that day (UK)."""
    return parse_instant(value, day="end")


def published(value: object) -> datetime | None:
    """A publication (or any past event) date: a date alone is the start of that day (UK)."""
    return parse_instant(value, day="start")


def parse_iso(value: str) -> datetime:
    """Strict ISO 8601 (command-line options, windows we asked for) -> aware UTC; a naive
    value is UK local time, a date alone the start of that day. Raises ValueError."""
    dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UK)
    return dt.astimezone(UTC)


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
            dt = deadline(cut)
            if dt:
                return dt
    return None
