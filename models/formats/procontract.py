"""ProContract (Proactis) adverts -> NoticeFields (record format "procontract-advert").

The payload is what spiders.sources.procontract read, as raw text:
``{"advert_id", "listing" | "feed": {...row...}, "advert": {...labelled fields...},
"advert_skipped"?, "config_region"?}``. The advert page, where read, wins over the row.

Rules:
- ocid: the OCID the advert page shows (``ocds-xxxxxx-...``: the procurement is also
  published in OCDS, e.g. on Find a Tender, so the notices merge into one opportunity);
  otherwise ``bidbell-procontract-<advertId>``, ours, stable for the advert's life.
- Dates on the portal are UK local wall-clock text ("05/11/2026 12:00") -> aware UTC. A date
  without a time is taken as 00:00 UK time: never later than the portal means. The feed's
  pubDate (RFC 822) carries its own zone.
- Values: "£50,000" -> value_amount 50000; "£10,000 - £25,000" -> value_min 10000 and
  value_amount 25000; "£1.2m", "£8k" too. Only amounts written with £ (or GBP) count, so
  "£40,000 a year for 3 years" is 40000; with no £ at all, a bare number is the amount.
- Buyer region: the source's configured ``region`` (NUTS/ITL), made more precise when the
  buyer is a Kent council we can name (Medway UKJ41, "Swale Borough Council" UKJ43...).
- Delivery regions: "Region(s) of supply" names -> NUTS codes (Kent UKJ4, Kent districts and
  Medway their UKJ4x, English regions UKC..UKK, "United Kingdom" UK); unknown names dropped.
- CPV: the 8-digit codes at the start of each "Categories" entry.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from models.classify import KENT_AREAS, NUTS1
from models.normalise import (
    UK,
    Lot,
    NormaliseError,
    NoticeFields,
    clean_text,
    cpv_code,
    parse_datetime,
)

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_OCID = re.compile(r"^ocds-[a-z0-9]{6}-\S+$")
_UK_DATE = re.compile(
    r"\b(\d{1,2})/(\d{1,2})/(\d{4})(?:\s*(?:at\s*)?(\d{1,2})[:.](\d{2})(?::(\d{2}))?)?", re.I
)
_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTHS = {
    **{n: i for i, n in enumerate(_MONTH_NAMES, 1)},
    **{n[:3]: i for i, n in enumerate(_MONTH_NAMES, 1)},
    "sept": 9,
}
_WORD_DATE = re.compile(
    r"\b(\d{1,2})\s+([A-Za-z]{3,9})\s+(\d{4})(?:\s*(?:at\s*)?(\d{1,2})[:.](\d{2}))?"
)
_MONEY = re.compile(
    r"(?:£|GBP)\s*(\d[\d,]*(?:\.\d+)?)\s*(k|m|bn|thousand|million|billion)?\b", re.I
)
_BARE = re.compile(r"^\s*(\d[\d,]*(?:\.\d+)?)\s*(k|m|thousand|million)?\s*$", re.I)
_RANGE_SEP = re.compile(r"^\s*(?:-|–|—|to|and)\s*$", re.I)  # noqa: RUF001 (dashes)
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?)\s*(\d[A-Z]{2})\b")

PREFIX = "bidbell-procontract-"

# Kent places by name -> NUTS 2016 code: each district (first word is enough: "Tonbridge",
# "Tunbridge", "Folkestone") and Medway from models.classify.KENT_AREAS.
KENT_PLACES: dict[str, str] = {
    district.split()[0].lower(): code
    for code, (_name, districts) in KENT_AREAS.items()
    for district in districts
}
REGION_NAMES: dict[str, str] = {
    **{name.lower(): code for code, name in NUTS1.items()},
    "kent": "UKJ4",
    "kent and medway": "UKJ4",
    "united kingdom": "UK",
    "uk": "UK",
    "national": "UK",
    **{name.lower(): code for code, (name, _d) in KENT_AREAS.items()},
}


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else ""


def parse_uk_datetime(value: Any) -> datetime | None:
    """Portal date text (UK local time) -> aware UTC; RFC 822 and ISO 8601 too."""
    text = _str(value)
    if not text:
        return None
    m = _UK_DATE.search(text)
    if m:
        day, month, year, hour, minute, second = m.groups()
        parts = (int(year), int(month), int(day), int(hour or 0), int(minute or 0))
        return _local(*parts, int(second or 0))
    try:
        dt = parsedate_to_datetime(text)  # RFC 822, as in RSS pubDate, with its own zone
    except (TypeError, ValueError, IndexError):
        dt = None
    if dt is not None and dt.tzinfo is not None:
        return dt.astimezone(UTC)
    m = _WORD_DATE.search(text)
    if m and m.group(2).lower() in _MONTHS:
        day, name, year, hour, minute = m.groups()
        month = _MONTHS[name.lower()]
        return _local(int(year), month, int(day), int(hour or 0), int(minute or 0), 0)
    return parse_datetime(text)


def _local(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UK).astimezone(UTC)
    except ValueError:
        return None


def _amount(number: str, scale: str | None) -> float | None:
    try:
        value = float(number.replace(",", ""))
    except ValueError:
        return None
    return value * _SCALE.get((scale or "").lower(), 1.0)


def parse_value(value: Any) -> tuple[float | None, float | None]:
    """'£10,000 - £25,000' -> (25000.0, 10000.0): (amount, minimum); (None, None) if none."""
    text = _str(value)
    if not text:
        return None, None
    found = list(_MONEY.finditer(text))
    if not found:
        bare = _BARE.match(text)
        return (_amount(bare.group(1), bare.group(2)), None) if bare else (None, None)
    first = _amount(found[0].group(1), found[0].group(2))
    if len(found) >= 2 and _RANGE_SEP.match(text[found[0].end() : found[1].start()]):
        second = _amount(found[1].group(1), found[1].group(2))
        if first is not None and second is not None:
            return max(first, second), min(first, second)
    return first, None


def _yes_no(value: Any) -> bool | None:
    text = _str(value).lower()
    if text in ("yes", "y", "true"):
        return True
    if text in ("no", "n", "false"):
        return False
    return None


def region_codes(names: Any) -> list[str]:
    """'Region(s) of supply' entries -> NUTS codes (unknown names are dropped)."""
    items = names if isinstance(names, list) else [names]
    out: dict[str, None] = {}
    for item in items:
        for name in re.split(r"[,;]", _str(item)):
            key = " ".join(name.replace("&", " and ").split()).lower()
            if not key:
                continue
            code = REGION_NAMES.get(key) or KENT_PLACES.get(key.split()[0])
            if code is None and re.fullmatch(r"(uk|tl)[c-n]\w{0,2}", key):
                code = "UK" + key[2:].upper()
            if code:
                out.setdefault(code, None)
    return list(out)


def buyer_region(buyer: str, configured: str | None) -> str | None:
    """The configured region, made more precise for a Kent council we can name."""
    words = re.findall(r"[a-z]+", buyer.lower())
    named = next((KENT_PLACES[w] for w in words if w in KENT_PLACES), None)
    if named and (not configured or named.startswith(configured)):
        return named
    return configured or named


def _cpv(categories: Any) -> list[str]:
    out: dict[str, None] = {}
    for entry in categories if isinstance(categories, list) else [categories]:
        m = re.match(r"\s*(\d{8}(?:-\d)?)\b", _str(entry))
        code = cpv_code(m.group(1)) if m else None
        if code:
            out.setdefault(code, None)
    return list(out)


def _lots(lots: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for lot in lots if isinstance(lots, list) else []:
        lot = _obj(lot)
        amount, _min = parse_value(lot.get("value"))
        out.append(
            vars(
                Lot(
                    id=_str(lot.get("lot")) or str(len(out) + 1),
                    title=_str(lot.get("title")) or None,
                    value_amount=amount,
                    value_currency="GBP" if amount is not None else None,
                )
            )
        )
    return out


def normalise_procontract_advert(source: str, payload: Any) -> NoticeFields:
    """One ProContract advert (listing row or feed item, and the advert page) -> NoticeFields."""
    if not isinstance(payload, dict):
        raise NormaliseError(f"advert is a {type(payload).__name__}, not an object")
    advert_id = _str(payload.get("advert_id")).lower()
    if not _GUID.match(advert_id):
        raise NormaliseError(f"advert has no advertId GUID (got {payload.get('advert_id')!r})")
    row = _obj(payload.get("listing")) or _obj(payload.get("feed"))
    page = _obj(payload.get("advert"))

    def pick(field: str) -> Any:
        return page.get(field) or row.get(field)

    title = _str(pick("title"))
    if not title:
        raise NormaliseError(f"advert {advert_id} has no title")
    ocid = _str(page.get("ocid"))
    amount, minimum = parse_value(pick("value"))
    buyer = _str(pick("buyer"))
    configured = _str(payload.get("config_region")).upper() or None
    postcode = _POSTCODE.search(_str(page.get("buyer_address")).upper())
    return NoticeFields(
        ocid=ocid if _OCID.match(ocid) else f"{PREFIX}{advert_id}",
        source_id=advert_id,
        title=title,
        description=_str(page.get("description")) or _str(row.get("summary")),
        buyer_name=buyer,
        buyer_postcode=f"{postcode.group(1)} {postcode.group(2)}" if postcode else None,
        buyer_region=buyer_region(buyer, configured),
        value_amount=amount,
        value_min=minimum,
        value_currency="GBP" if amount is not None else None,
        deadline=parse_uk_datetime(pick("deadline")),
        published_at=parse_uk_datetime(pick("published")),
        stage="tender",
        cpv_codes=_cpv(page.get("categories")),
        regions=region_codes(page.get("regions") or []),
        lots=_lots(page.get("lots")),
        sme_suitable=_yes_no(page.get("sme_suitable")),
        vcse_suitable=_yes_no(page.get("vcse_suitable")),
        url="",
    )
