"""ProContract (Proactis) adverts -> NoticeFields (record format "procontract-advert").

The payload is what spiders.sources.procontract read, as the portal writes it:
``{"advert_id", "listing": {title, buyer, published, deadline, value, reference},
"advert": {labelled fields of the advert page}, "advert_skipped"?, "config_region"?}``.
The advert page, where read, wins over the listing row. Each field has its reader below, and
the same readers read the real adverts' field values in the tests.

Rules:
- ocid: ``bidbell-procontract-<advertId>``, ours, stable for the advert's life (the pages
  show no OCID).
- Dates are UK wall-clock text read by bidbell.clock: the advert's expression-of-interest
  window "01/07/2026 15:00 to 31/07/2026 14:00" gives the publication and the deadline; the
  listing's Expression Start / End are dates alone, so without the advert page a deadline
  closes at 23:59:59 that day (UK) and a publication is 00:00 that day.
- Value: the advert's "Estimated value", else the listing's ("£192,000.00"; "N/A" is none);
  as both are almost always N/A, a budget the description states is taken ("The estimated
  overall budget for this Tender is £75,000 to £125,000": min 75000, amount 125000), but only
  a sum written next to budget / estimated value words, not any sum in the text. "£" that
  arrived as U+FFFD before a figure is read as "£" (also in the text shown).
- CPV: the 8-digit codes at the start of each "Categories" entry ("45000000-7 - Construction
  work", or a bare "45000000-7").
- Delivery regions: "Region(s) of supply" names -> NUTS codes (Kent UKJ4, its NUTS 3 areas
  and districts, English regions such as "North West (England)" UKD, "United Kingdom" UK);
  a name is read whole first (official names have commas: "Herefordshire, County of"), then
  by its comma- or semicolon-separated parts; names not known are dropped.
- Buyer region: the source's configured ``region`` (NUTS/ITL), made more precise when the
  buyer is a Kent council we can name (Medway UKJ41, "Swale Borough Council" UKJ43...).
- references: the portal's DN reference ("Opportunity Id", also the listing link's title).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bidbell.clock import deadline as read_deadline
from bidbell.clock import published as read_published
from bidbell.ids import guid
from models.classify import KENT_AREAS, NUTS1
from models.formats.fields import NormaliseError, NoticeFields, json_object
from models.formats.text import clean_text, cpv_code, parse_money, parse_value_text, postcode_in

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
    "england": "UK",  # no NUTS code of its own: the country is the nearest
    "national": "UK",
    **{name.lower(): code for code, (name, _d) in KENT_AREAS.items()},
}
_NATION = re.compile(r"\s*\((england|wales|scotland|northern ireland)\)$")
_WINDOW = re.compile(r"\s+to\s+", re.IGNORECASE)
_FFFD_POUND = re.compile(r"\ufffd(?=\s?\d)")
# "budget", "estimated (contract) value", "value of the contract"... then, within the same
# sentence or two, the sum.
_BUDGET = re.compile(
    r"\b(?:budget|estimated\s+(?:\w+\s+)?value|(?:contract|total|indicative)\s+value"
    r"|value\s+of\s+(?:the|this)\s+(?:contract|work|works|tender))\b",
    re.IGNORECASE,
)
BUDGET_REACH = 120  # characters after the words within which the sum must start


def _str(value: Any) -> str:
    return pounds(clean_text(value)) if isinstance(value, str) else ""


def pounds(text: str) -> str:
    """'\ufffd60,000' -> '£60,000': a pound sign that arrived as U+FFFD (the portal's text
    decoded in the wrong character set) before a figure."""
    return _FFFD_POUND.sub("£", text) if "\ufffd" in text else text


def parse_value(value: Any) -> tuple[float | None, float | None]:
    """'£10,000 - £25,000' -> (25000.0, 10000.0): (amount, minimum) in pounds; (None, None)
    for 'N/A', no figure, or a sum in another currency."""
    amount, minimum, currency = parse_money(_str(value))
    return (amount, minimum) if currency in (None, "GBP") else (None, None)


def budget_in(description: Any) -> tuple[float | None, float | None]:
    """A budget the description states ('The estimated overall budget for this Tender is
    £75,000 to £125,000') -> (amount, minimum); (None, None) if it states none."""
    text = _str(description)
    for m in _BUDGET.finditer(text):
        found = parse_value_text(text[m.end() : m.end() + BUDGET_REACH])
        if found and found.currency == "GBP" and found.amount:
            return found.amount, found.minimum
    return None, None


def read_window(text: Any) -> tuple[datetime | None, datetime | None]:
    """The expression-of-interest window '01/07/2026 15:00 to 31/07/2026 14:00' -> (opens,
    closes) as aware UTC; a side that is not a date is None."""
    parts = _WINDOW.split(_str(text), maxsplit=1)
    if len(parts) != 2:
        return None, None
    return read_published(parts[0]), read_deadline(parts[1])


def region_codes(names: Any) -> list[str]:
    """'Region(s) of supply' entries -> NUTS codes (unknown names are dropped)."""
    out: dict[str, None] = {}
    for item in names if isinstance(names, list) else [names]:
        text = _str(item)
        code = _region(text)
        parts = [text] if code else re.split(r"[,;]", text)
        for part in parts:
            if found := _region(part):
                out.setdefault(found, None)
    return list(out)


def _region(name: str) -> str | None:
    key = _NATION.sub("", " ".join(name.replace("&", " and ").split()).lower())
    if not key:
        return None
    code = REGION_NAMES.get(key) or KENT_PLACES.get(key.split()[0])
    if code is None and re.fullmatch(r"(uk|tl)[c-n]\w{0,2}", key):
        code = "UK" + key[2:].upper()
    return code


def buyer_region(buyer: str, configured: str | None) -> str | None:
    """The configured region, made more precise for a Kent council we can name."""
    words = re.findall(r"[a-z]+", buyer.lower())
    named = next((KENT_PLACES[w] for w in words if w in KENT_PLACES), None)
    if named and (not configured or named.startswith(configured)):
        return named
    return configured or named


def cpv_codes(categories: Any) -> list[str]:
    """'Categories' entries ('45000000-7 - Construction work') -> ['45000000']."""
    out: dict[str, None] = {}
    for entry in categories if isinstance(categories, list) else [categories]:
        m = re.match(r"\s*(\d{8}(?:-\d)?)(?!\d)", _str(entry))
        code = cpv_code(m.group(1)) if m else None
        if code:
            out.setdefault(code, None)
    return list(out)


def reference(text: Any) -> str | None:
    """The portal's reference ('DN820956'), as written; None if blank."""
    value = " ".join(_str(text).split())
    return value or None


def normalise_procontract_advert(source: str, payload: Any) -> NoticeFields:
    """One ProContract advert (its listing row, and its advert page if read) -> NoticeFields."""
    if not isinstance(payload, dict):
        raise NormaliseError(f"advert is a {type(payload).__name__}, not an object")
    advert_id = guid(payload.get("advert_id"))
    if advert_id is None:
        raise NormaliseError(f"advert has no advertId GUID (got {payload.get('advert_id')!r})")
    row = json_object(payload.get("listing"))
    page = json_object(payload.get("advert"))

    def pick(field: str) -> Any:
        return page.get(field) or row.get(field)

    title = _str(pick("title"))
    if not title:
        raise NormaliseError(f"advert {advert_id} has no title")
    description = _str(page.get("description"))
    amount, minimum = parse_value(page.get("value"))
    if amount is None:
        amount, minimum = parse_value(row.get("value"))
    if amount is None:
        amount, minimum = budget_in(description)
    opens, closes = read_window(page.get("window"))
    buyer = _str(pick("buyer"))
    configured = _str(payload.get("config_region")).upper() or None
    ref = reference(pick("reference"))
    return NoticeFields(
        ocid=f"{PREFIX}{advert_id}",
        source_id=advert_id,
        title=title,
        description=description,
        buyer_name=buyer,
        buyer_postcode=postcode_in(_str(page.get("buyer_address")).upper()),
        buyer_region=buyer_region(buyer, configured),
        value_amount=amount,
        value_min=minimum,
        value_currency="GBP" if amount is not None else None,
        deadline=closes or read_deadline(_str(row.get("deadline"))),
        published_at=opens or read_published(_str(row.get("published"))),
        stage="tender",
        cpv_codes=cpv_codes(page.get("categories")),
        regions=region_codes(page.get("regions") or []),
        references=[ref] if ref else [],
        url="",
    )
