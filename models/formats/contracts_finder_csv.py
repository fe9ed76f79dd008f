"""Contracts Finder's website CSV export ("download CSV" of a search): one row -> a notice.

A record (format ``cf-csv-row``) is one row as published: header -> raw text. Rules, checked
against the real export of 2020-04-16 (../shared/fixtures/contracts-finder/):

- Identity. ``source_id`` is ``Notice Identifier`` (the publisher's own reference, e.g.
  ``KENT001-DN455447-64717365``; unique within the publishing organisation). The export has
  no OCID and no Contracts Finder GUID, so the OCID is ours: ``bidbell-cf-<Notice
  Identifier>`` (``cf_csv_ocid``). The same procurement seen through the OCDS API has a real
  ``ocds-b5fd17-`` OCID; the two are joined later by matching, not by this key.
- Stage from ``Notice Type``: Pipeline (a future opportunity) -> pipeline; PreProcurement
  (CF's "Early engagement") -> early_engagement; Contract (an opportunity) -> tender;
  Awarded Contract -> award. ``Status`` Withdrawn -> cancelled, Awarded -> award.
- Text: ``Title`` and ``Description`` through clean_text (mojibake repaired, CRLF -> LF).
- Buyer: ``Organisation Name``; its postcode is ``Contact Postcode``. The column named
  ``Postcode`` is the delivery location (CF asks publishers for regions and/or a postcode of
  where the work is), not the buyer's: in the capture it differs from the contact
  postcode in 15 of 116 rows (Leicestershire County Council: site LE12 7TZ, County Hall
  LE3 8RA). Bidbell has no column for a delivery postcode; it stays in the payload.
- Regions: ``Region`` is a comma-separated list of names -> NUTS1 codes
  (models.formats.uk_regions); "Any region" or ``Nationwide`` = yes -> no restriction (empty).
- CPV: ``Cpv Codes`` separated by spaces or commas.
- Dates: ``Published Date`` is ISO 8601 (``...Z``). ``Closing Date`` is dd/mm/yyyy, with
  ``Closing Time`` (exports from 2021) when present, in UK local time; a date without a time
  closes at 23:59:59 UK time, as Contracts Finder's own OCDS writes date-only deadlines.
  01/01/2001 (and anything earlier) is CF's placeholder for "no closing date" (7 pipeline
  rows in the capture): no deadline.
- Values: ``Value Low`` / ``Value High`` in GBP; 0 means "not stated". A range (low below
  high) gives value_min = low and value_amount = high; one value alone is value_amount.
- Sub-contracts: ``Is sub-contract`` YES -> is_subcontract, with ``Parent Reference``.
  ``Supply Chain`` Yes marks a prime contractor's supply-chain opportunity (e.g. The Growth
  Company for DWP), which is sub-contract work too: is_subcontract is True.
- Suitability: ``Suitable for SME`` / ``Suitable for VCO`` Yes/No.
- Link: the first URL in ``Links`` (the buyer's portal page for the notice). Otherwise the
  Contracts Finder page ``/Notice/<GUID>`` only when a GUID is known (the identifier itself
  is one); otherwise none.
A value that is present but unreadable (a date, a number, "inf" or a number too large to
be one) or too long for its column raises NormaliseError naming the column, so the row is
kept as an IngestError, not stored half-read. Nothing else is raised, whatever the text.

Columns. The reader reads exactly the columns named above; all but ``Closing Time`` are in
every export, and the spider (spiders.sources.contracts_finder_csv: ``REQUIRED_COLUMNS``,
``OPTIONAL_COLUMNS``) refuses a file whose header lacks one, so a renamed column cannot
blank a field in every row. tests/models/formats checks the two lists against this reader.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, TypeVar

from bidbell.clock import END_OF_DAY, START_OF_DAY, parse_time, parse_uk_date, uk_local
from bidbell.clock import deadline as read_deadline
from bidbell.clock import published as read_published
from bidbell.ids import guid
from models.classify.uk_regions import regions_from_names
from models.formats.fields import NormaliseError, NoticeFields
from models.formats.text import clean_text, cpv_code, uk_postcode, yes_no

OCID_PREFIX = "bidbell-cf-"
CF_NOTICE_URL = "https://www.contractsfinder.service.gov.uk/Notice/{guid}"
_URL = re.compile(r"(?:https?://|www\.)[^\s\"'<>]+", re.IGNORECASE)
NO_DEADLINE_BEFORE = date(2001, 1, 2)  # 01/01/2001 is CF's "no closing date"
# What the tables hold (models.tables): longer values are refused by name, not cut.
MAX_ID, MAX_BUYER, MAX_URL = 240, 512, 2048
_T = TypeVar("_T")

# Notice Type (spaces, hyphens and case ignored) -> stage
STAGES = {
    "pipeline": "pipeline",
    "futureopportunity": "pipeline",
    "preprocurement": "early_engagement",
    "earlyengagement": "early_engagement",
    "contract": "tender",
    "opportunity": "tender",
    "liveopportunity": "tender",
    "awardedcontract": "award",
    "award": "award",
    "awarded": "award",
}
STATUS_STAGES = {"withdrawn": "cancelled", "cancelled": "cancelled", "awarded": "award"}


def cf_csv_ocid(identifier: str) -> str:
    return f"{OCID_PREFIX}{identifier.strip()}"


def _get(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def _money(row: dict[str, Any], column: str) -> float | None:
    text = _get(row, column).replace("£", "").replace(",", "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # also "inf", "nan" and 1e400 (float says inf)
        raise NormaliseError(f"{column} is not a number: {text[:100]!r}")
    return value if value > 0 else None


def _required(value: _T | None, column: str, text: str, kind: str = "date") -> _T:
    """What was read from a column's text, or NormaliseError naming the column."""
    if value is None:
        raise NormaliseError(f"{column} is not a {kind}: {text[:100]!r}")
    return value


def deadline(row: dict[str, Any]) -> datetime | None:
    """Closing Date (+ Closing Time) in UK local time -> aware UTC; None if not given."""
    text = _get(row, "Closing Date")
    if not text:
        return None
    if "T" in text:  # an ISO timestamp, should an export ever carry one
        return _required(read_deadline(text), "Closing Date", text)
    parts = text.split()
    day = _required(parse_uk_date(parts[0]), "Closing Date", parts[0])
    if day < NO_DEADLINE_BEFORE:
        return None
    clock_text = _get(row, "Closing Time") or " ".join(parts[1:])
    if not clock_text:
        return uk_local(day, END_OF_DAY)
    return uk_local(day, _required(parse_time(clock_text), "Closing Time", clock_text, "time"))


def published(row: dict[str, Any]) -> datetime | None:
    text = _get(row, "Published Date")
    if not text:
        return None
    day = parse_uk_date(text)
    if day is not None:
        return uk_local(day, START_OF_DAY)
    return _required(read_published(text), "Published Date", text)


def stage(row: dict[str, Any]) -> str:
    status = _get(row, "Status").lower()
    if status in STATUS_STAGES:
        return STATUS_STAGES[status]
    key = re.sub(r"[\s_-]+", "", _get(row, "Notice Type").lower())
    return STAGES.get(key, "unknown")


def cpv_codes(row: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for token in re.split(r"[\s,;]+", _get(row, "Cpv Codes")):
        if code := cpv_code(token):
            seen.setdefault(code, None)
    return list(seen)


def regions(row: dict[str, Any]) -> list[str]:
    if yes_no(_get(row, "Nationwide")):
        return []
    return regions_from_names(_get(row, "Region").split(","))


def notice_url(row: dict[str, Any]) -> str:
    m = _URL.search(_get(row, "Links"))
    if m:
        url = m.group(0).rstrip(".,;)")
        url = url if url.lower().startswith("http") else f"https://{url}"
        if len(url) <= MAX_URL:
            return url
    identifier = _get(row, "Notice Identifier")
    known = guid(identifier)
    return CF_NOTICE_URL.format(guid=known) if known else ""


def values(row: dict[str, Any]) -> tuple[float | None, float | None]:
    """(value_min, value_amount) from Value Low / Value High."""
    stated = sorted(v for v in (_money(row, "Value Low"), _money(row, "Value High")) if v)
    if not stated:
        return None, None
    low, high = stated[0], stated[-1]
    return (low if low < high else None), high


def subcontract(row: dict[str, Any]) -> bool | None:
    flag = yes_no(_get(row, "Is sub-contract"))
    # A prime contractor's supply-chain opportunity is sub-contract work as well.
    if yes_no(_get(row, "Supply Chain")):
        return True
    return flag


def normalise_cf_csv_row(source: str, row: Any) -> NoticeFields:
    """One export row -> NoticeFields. Raises NormaliseError naming what is wrong."""
    if not isinstance(row, dict):
        raise NormaliseError(f"row is a {type(row).__name__}, not an object")
    identifier = _get(row, "Notice Identifier")
    if not identifier:
        raise NormaliseError("row has no Notice Identifier")
    parent = clean_text(row.get("Parent Reference")) or None
    buyer = clean_text(row.get("Organisation Name"))
    for column, text, limit in (
        ("Notice Identifier", identifier, MAX_ID),
        ("Parent Reference", parent or "", MAX_ID),
        ("Organisation Name", buyer, MAX_BUYER),
    ):
        if len(text) > limit:
            raise NormaliseError(f"{column} is longer than {limit} characters")
    value_min, value_amount = values(row)
    return NoticeFields(
        ocid=cf_csv_ocid(identifier),
        source_id=identifier,
        title=clean_text(row.get("Title")),
        description=clean_text(row.get("Description")),
        buyer_name=buyer,
        buyer_postcode=uk_postcode(row.get("Contact Postcode")),
        value_amount=value_amount,
        value_min=value_min,
        value_currency="GBP" if value_amount is not None else None,
        deadline=deadline(row),
        published_at=published(row),
        stage=stage(row),
        cpv_codes=cpv_codes(row),
        regions=regions(row),
        sme_suitable=yes_no(_get(row, "Suitable for SME")),
        vcse_suitable=yes_no(_get(row, "Suitable for VCO")),
        is_subcontract=subcontract(row),
        parent_reference=parent,
        url=notice_url(row),
    )
