"""ProContract (Proactis) adverts -> NoticeFields (record format "procontract-advert").

The payload is what spiders.sources.procontract read, as raw text:
``{"advert_id", "listing" | "feed": {...row...}, "advert": {...labelled fields...},
"advert_skipped"?, "config_region"?}``. The advert page, where read, wins over the row.

Rules:
- ocid: the OCID the advert page shows (``ocds-xxxxxx-...``: the procurement is also
  published in OCDS, e.g. on Find a Tender, so the notices merge into one opportunity);
  otherwise ``bidbell-procontract-<advertId>``, ours, stable for the advert's life.
- Dates on the portal are UK local wall-clock text ("05/11/2026 12:00") -> aware UTC
  (bidbell.clock): a deadline written without a time closes at the end of that day, a
  publication date without one is the start of it. The feed's pubDate (RFC 822) carries
  its own zone.
- Values (models.formats.text.parse_money): "£50,000" -> value_amount 50000; "£10,000 -
  £25,000" -> value_min 10000 and value_amount 25000; "£1.2m", "£8k" too. The first sum
  written with £ (or GBP) wins, so "£40,000 a year for 3 years" is 40000; with no sign at
  all, a bare number is the amount; a sum in another currency is not taken.
- Buyer region: the source's configured ``region`` (NUTS/ITL), made more precise when the
  buyer is a Kent council we can name (Medway UKJ41, "Swale Borough Council" UKJ43...).
- Delivery regions: "Region(s) of supply" names -> NUTS codes (Kent UKJ4, Kent districts and
  Medway their UKJ4x, English regions UKC..UKK, "United Kingdom" UK); unknown names dropped.
- CPV: the 8-digit codes at the start of each "Categories" entry.
"""

from __future__ import annotations

import re
from typing import Any

from bidbell.clock import deadline as read_deadline
from bidbell.clock import published as read_published
from models.classify import KENT_AREAS, NUTS1
from models.formats.fields import Lot, NormaliseError, NoticeFields, json_object
from models.formats.text import clean_text, cpv_code, parse_money, yes_no

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_OCID = re.compile(r"^ocds-[a-z0-9]{6}-\S+$")
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


def _str(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else ""


def parse_value(value: Any) -> tuple[float | None, float | None]:
    """'£10,000 - £25,000' -> (25000.0, 10000.0): (amount, minimum) in pounds; (None, None)
    if none (or the sum is in another currency)."""
    amount, minimum, currency = parse_money(_str(value))
    return (amount, minimum) if currency in (None, "GBP") else (None, None)


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
        lot = json_object(lot)
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
    row = json_object(payload.get("listing")) or json_object(payload.get("feed"))
    page = json_object(payload.get("advert"))

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
        deadline=read_deadline(_str(pick("deadline"))),
        published_at=read_published(_str(pick("published"))),
        stage="tender",
        cpv_codes=_cpv(page.get("categories")),
        regions=region_codes(page.get("regions") or []),
        lots=_lots(page.get("lots")),
        sme_suitable=yes_no(page.get("sme_suitable")),
        vcse_suitable=yes_no(page.get("vcse_suitable")),
        url="",
    )
