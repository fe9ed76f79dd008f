"""Pure functions: an OCDS release (any publisher) -> the canonical notice fields.

No I/O. Used by the store on import and by later sources that publish OCDS (Contracts
Finder, Public Contracts Scotland, Sell2Wales).
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import ftfy

from models import jsoncodec
from models.formats.uk_regions import codes_for_name

UK = ZoneInfo("Europe/London")

# Record formats -> the function that reads them ("module:function"). A spider says which
# format each RawNotice is in; adding a format is one line here and one module.
FORMATS: dict[str, str] = {
    "ocds-release": "models.normalise:normalise_release",
    "listing-row": "models.formats.listing:normalise_listing_row",
    "feed-entry": "models.formats.feed:normalise_feed_entry",
    "cf-csv-row": "models.formats.contracts_finder_csv:normalise_cf_csv_row",
    "procontract-advert": "models.formats.procontract:normalise_procontract_advert",
}

_NOTICE_TYPE = re.compile(r"^UK\d{1,2}$")
_CPV = re.compile(r"^(\d{8})(?:-\d)?$")


class NormaliseError(ValueError):
    """A record that cannot become a notice (names the reason)."""


@dataclass
class Lot:
    id: str
    title: str | None = None
    value_amount: float | None = None
    value_currency: str | None = None
    status: str | None = None


@dataclass
class NoticeFields:
    ocid: str
    source_id: str
    title: str = ""
    description: str = ""
    buyer_name: str = ""
    buyer_id: str | None = None
    buyer_postcode: str | None = None
    buyer_region: str | None = None
    value_amount: float | None = None
    value_amount_gross: float | None = None
    value_min: float | None = None
    value_currency: str | None = None
    deadline: datetime | None = None
    published_at: datetime | None = None
    stage: str = "unknown"
    notice_type: str | None = None
    cpv_codes: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    lots: list[dict[str, Any]] = field(default_factory=list)
    sme_suitable: bool | None = None
    vcse_suitable: bool | None = None
    # Sub-contract work under a prime contractor, and the parent contract's reference.
    is_subcontract: bool | None = None
    parent_reference: str | None = None
    url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def json_object(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one (sources omit or null parts)."""
    return value if isinstance(value, dict) else {}


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 -> aware UTC. A value without a zone is UK local time (as the sources use)."""
    if not value or not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UK)
    return dt.astimezone(UTC)


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


def clean_text(value: Any) -> str:
    """Repair mojibake, make the sources' ``\\r\\n`` line breaks plain ``\\n``, strip."""
    if not isinstance(value, str):
        return ""
    if not value.isascii():  # mojibake is never pure ASCII: skip ftfy's cost on most text
        value = ftfy.fix_text(value, _FTFY)
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")


def uk_postcode(value: Any) -> str | None:
    """'me141xq' or 'ME14 1XQ' -> 'ME14 1XQ'; other short text as published (upper-cased);
    None for text too long to be a postcode (an address in the postcode field)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = re.sub(r"\s+", " ", value.strip().upper())
    compact = text.replace(" ", "")
    if _POSTCODE.match(compact):
        return f"{compact[:-3]} {compact[-3:]}"
    return text if len(text) <= 16 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return None


def cpv_code(value: Any) -> str | None:
    """'45233000-9' or '45233000' -> '45233000'; anything else -> None."""
    if not isinstance(value, str | int):
        return None
    m = _CPV.match(str(value).strip())
    return m.group(1) if m else None


def _classifications(obj: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    if isinstance(obj.get("classification"), dict):
        out.append(obj["classification"])
    out.extend(c for c in obj.get("additionalClassifications") or [] if isinstance(c, dict))
    return out


def cpv_codes(tender: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    sources = [tender, *(i for i in tender.get("items") or [] if isinstance(i, dict))]
    for obj in sources:
        for c in _classifications(obj):
            if str(c.get("scheme", "")).upper() == "CPV" and (code := cpv_code(c.get("id"))):
                seen.setdefault(code, None)
    return list(seen)


def delivery_regions(tender: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    addresses = list(tender.get("deliveryAddresses") or [])
    for item in tender.get("items") or []:
        if isinstance(item, dict):
            addresses.extend(item.get("deliveryAddresses") or [])
    for a in addresses:
        if isinstance(a, dict) and isinstance(a.get("region"), str) and a["region"].strip():
            # Contracts Finder names regions in words ("South East"): NUTS codes instead.
            codes = codes_for_name(a["region"])
            for code in codes if codes is not None else [a["region"].strip().upper()]:
                seen.setdefault(code, None)
    return list(seen)


def notice_type(release: dict[str, Any]) -> str | None:
    """Procurement Act notice type (UK1..UK17) from the release's documents, if any."""
    tender = release.get("tender") or {}
    docs = list(tender.get("documents") or [])
    for part in ("awards", "contracts"):
        for obj in release.get(part) or []:
            if isinstance(obj, dict):
                docs.extend(obj.get("documents") or [])
    docs.extend((release.get("planning") or {}).get("documents") or [])
    types = [
        d["noticeType"]
        for d in docs
        if isinstance(d, dict) and _NOTICE_TYPE.match(str(d.get("noticeType", "")))
    ]
    return types[-1] if types else None


# Procurement Act 2023 notice types -> our stage (see the FTS notice-types capture).
_UK_STAGE = {
    "UK1": "pipeline", "UK2": "early_engagement", "UK3": "planned",
    "UK4": "tender", "UK5": "tender", "UK6": "award", "UK7": "award",
    "UK8": "award", "UK9": "award", "UK10": "award", "UK11": "award",
    "UK12": "cancelled", "UK13": "award", "UK14": "award", "UK15": "award",
    "UK16": "award", "UK17": "award",
}  # fmt: skip


def stage(release: dict[str, Any], ntype: str | None) -> str:
    tags = {str(t) for t in release.get("tag") or []}
    tender_status = str(json_object(release.get("tender")).get("status") or "")
    # A cancellation says so in its tag or status, whatever documents it still carries.
    # "unsuccessful" (OCDS: the tender closed without an award) is not open to bids either.
    if "tenderCancellation" in tags or tender_status in ("cancelled", "withdrawn", "unsuccessful"):
        return "cancelled"
    if ntype and ntype in _UK_STAGE:
        return _UK_STAGE[ntype]
    if tags & {"contractTermination"}:
        return "terminated"
    if tags & {"award", "awardUpdate", "contract", "contractUpdate", "contractAmendment"}:
        return "award"
    if tags & {"tender", "tenderAmendment", "tenderUpdate"}:
        return "tender"
    if tags & {"planning", "planningUpdate"}:
        return "planned"
    return "unknown"


def _buyer(release: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    buyer = json_object(release.get("buyer"))
    name, bid = clean_text(buyer.get("name")), buyer.get("id") or None
    party = None
    for p in release.get("parties") or []:
        if not isinstance(p, dict):
            continue
        if (bid and p.get("id") == bid) or (not bid and "buyer" in (p.get("roles") or [])):
            party = p
            break
    # The old (2016) Contracts Finder format has no parties: the address is on the buyer.
    address = json_object((party or {}).get("address")) or json_object(buyer.get("address"))
    if not name and party:
        name = clean_text(party.get("name"))
    region = address.get("region")
    if isinstance(region, str) and region.strip():
        codes = codes_for_name(region)  # a region in words ("South East") -> its NUTS code
        region = codes[0] if codes and len(codes) == 1 else region
    return (
        name,
        str(bid) if bid else None,
        uk_postcode(address.get("postalCode")),
        region.strip().upper() if isinstance(region, str) and region.strip() else None,
    )


def _value(v: Any) -> tuple[float | None, float | None, str | None]:
    if not isinstance(v, dict):
        return None, None, None
    cur = v.get("currency")
    return _number(v.get("amount")), _number(v.get("amountGross")), cur if cur else None


def _lots(tender: dict[str, Any]) -> list[dict[str, Any]]:
    lots = []
    for lot in tender.get("lots") or []:
        if not isinstance(lot, dict):
            continue
        amount, gross, cur = _value(lot.get("value"))
        lots.append(
            asdict(
                Lot(
                    id=str(lot.get("id", "")),
                    title=clean_text(lot.get("title")) or None,
                    value_amount=amount if amount is not None else gross,
                    value_currency=cur,
                    status=lot.get("status"),
                )
            )
        )
    return lots


def _suitability(tender: dict[str, Any]) -> tuple[bool | None, bool | None]:
    s = json_object(tender.get("suitability"))
    x = json_object(tender.get("xClassifications"))
    sme = s.get("sme", x.get("isSuitableForSme"))
    vcse = s.get("vcse", x.get("isSuitableForVco"))
    return (sme if isinstance(sme, bool) else None, vcse if isinstance(vcse, bool) else None)


# --- publisher quirks (Public Contracts Scotland, Sell2Wales) ----------------------------
# Added to a release by a Bidbell spider, never published by the source: what the query
# that returned it said, e.g. {"noticeType": "54", "subcontract": true} (Sell2Wales notice
# types 54-56 are sub-contract notices; the release itself does not say so).
BIDBELL_KEY = "x_bidbell"

# The Proactis-run national portals, known by OCID prefix (PCS, Sell2Wales). Their
# timestamps end in "Z" but are UK local wall-clock time: in the captures deadlines are
# "12:00:00Z" as often in British Summer Time (PCS, Apr-Jun 2019: 40 of 45) as in winter
# (Sell2Wales, Feb 2025: 33 of 45), i.e. the usual noon deadline, not 13:00 BST. Reading
# them as local can only make a summer deadline look an hour earlier, never later. They
# also publish a token value (0.01) where no value is stated.
LOCAL_TIME_Z_OCID_PREFIXES = ("ocds-r6ebe6-", "ocds-kuma6s-")


def _local_time_z(value: Any) -> datetime | None:
    """A Proactis timestamp ("...Z", really UK local time) -> aware UTC."""
    if isinstance(value, str) and value.strip().endswith("Z"):
        value = value.strip()[:-1]
    return parse_datetime(value)


def notice_document(release: dict[str, Any]) -> dict[str, Any] | None:
    """The document that is the notice itself (documentType contractNotice, awardNotice...),
    which PCS and Sell2Wales publish with the notice's own id and web page."""
    docs: list[Any] = list(json_object(release.get("tender")).get("documents") or [])
    for part in ("awards", "contracts"):
        for obj in release.get(part) or []:
            docs.extend(json_object(obj).get("documents") or [])
    for d in docs:
        if isinstance(d, dict) and d.get("id") and str(d.get("documentType")).endswith("Notice"):
            return d
    return None


def release_id(release: dict[str, Any]) -> str | None:
    """The release's id; where a publisher leaves it out (Public Contracts Scotland does),
    ``<ocid>-<id of its notice document>``, e.g. ``ocds-r6ebe6-0000581860-APR352786``."""
    rid = release.get("id")
    if rid not in (None, "", [], {}):
        return str(rid)
    doc, ocid = notice_document(release), release.get("ocid")
    if doc and isinstance(ocid, str) and ocid:
        return f"{ocid}-{doc['id']}"
    return None


def normalise_release(source: str, release: Any) -> NoticeFields:
    """One OCDS release -> NoticeFields. Raises NormaliseError naming what is wrong."""
    if not isinstance(release, dict):
        raise NormaliseError(f"release is a {type(release).__name__}, not an object")
    rid = release_id(release)
    if not rid:
        raise NormaliseError("release has no id")
    ocid = release.get("ocid")
    if not ocid or not isinstance(ocid, str):
        raise NormaliseError(f"release {rid} has no ocid")
    tender = json_object(release.get("tender"))
    ntype = notice_type(release)
    amount, gross, currency = _value(tender.get("value"))
    min_value = _number((tender.get("minValue") or {}).get("amount"))
    if amount is None and gross is None:
        # An award notice states the awarded value rather than the estimate.
        for award in release.get("awards") or []:
            a_amount, a_gross, a_cur = _value((award or {}).get("value"))
            if a_amount is not None or a_gross is not None:
                amount, gross, currency = a_amount, a_gross, a_cur
                break
    name, bid, postcode, region = _buyer(release)
    sme, vcse = _suitability(tender)
    # The old (2016-17) Contracts Finder OCDS (tender.xClassifications) put the notice's
    # anticipated contract dates in tenderPeriod (2015-04-01..2017-03-31 on a notice of
    # 2014-12-17; a DPS "open until 28/10/2015" with endDate 2016-04-01, its contract
    # start): not a closing date, so the deadline is unknown rather than wrong.
    legacy_cf = isinstance(tender.get("xClassifications"), dict)
    when = parse_datetime
    if ocid.startswith(LOCAL_TIME_Z_OCID_PREFIXES):
        when = _local_time_z
        if gross is None and amount is not None and amount <= 1:  # a token, not a value
            amount, currency = None, None
    ours = json_object(release.get(BIDBELL_KEY))
    subcontract = True if ours.get("subcontract") is True else None
    parent = None
    if subcontract:
        for rp in release.get("relatedProcesses") or []:
            if "parent" in (json_object(rp).get("relationship") or []) and rp.get("identifier"):
                parent = str(rp["identifier"])
                break
    return NoticeFields(
        ocid=ocid,
        source_id=str(rid),
        title=clean_text(tender.get("title")) or clean_text(release.get("title")),
        description=clean_text(tender.get("description")),
        buyer_name=name,
        buyer_id=bid,
        buyer_postcode=postcode,
        buyer_region=region,
        value_amount=amount,
        value_amount_gross=gross,
        value_min=min_value,
        value_currency=currency,
        deadline=None
        if legacy_cf
        else when(json_object(tender.get("tenderPeriod")).get("endDate")),
        published_at=when(release.get("date")),
        stage=stage(release, ntype),
        notice_type=ntype,
        cpv_codes=cpv_codes(tender),
        regions=delivery_regions(tender),
        lots=_lots(tender),
        sme_suitable=sme,
        vcse_suitable=vcse,
        is_subcontract=subcontract,
        parent_reference=parent,
        url="",
    )


def normalise(fmt: str, source: str, payload: Any) -> NoticeFields:
    """Any record format -> NoticeFields (raises NormaliseError naming the problem)."""
    target = FORMATS.get(fmt)
    if target is None:
        raise NormaliseError(f"unknown record format {fmt!r}; known: {', '.join(sorted(FORMATS))}")
    module, _, name = target.partition(":")
    func = getattr(importlib.import_module(module), name)
    result: NoticeFields = func(source, payload)
    return result


MERGED_FIELDS = [
    "title", "description", "buyer_name", "buyer_id", "buyer_postcode", "buyer_region",
    "value_amount", "value_amount_gross", "value_min", "value_currency", "deadline",
    "published_at", "stage", "notice_type", "cpv_codes", "regions", "lots",
    "sme_suitable", "vcse_suitable", "is_subcontract", "parent_reference", "url",
]  # fmt: skip


def merge_notices(notices: list[NoticeFields]) -> dict[str, Any]:
    """The opportunity as its notices describe it: the newest notice that states a field wins.

    An award notice says nothing about the deadline or the estimate; those stay from the
    tender notice. ``published_at`` is the first publication; stage and type the newest.
    """
    if not notices:
        raise ValueError("merge_notices needs at least one notice")
    far_past = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(notices, key=lambda n: (n.published_at or far_past, n.source_id))
    merged: dict[str, Any] = {"ocid": ordered[0].ocid}
    for n in ordered:
        for f in MERGED_FIELDS:
            v = getattr(n, f)
            if v not in (None, "", [], "unknown"):
                merged[f] = v
    for f in MERGED_FIELDS:
        merged.setdefault(f, [] if f in ("cpv_codes", "regions", "lots") else None)
    merged["stage"] = merged["stage"] or "unknown"
    for f in ("title", "description", "buyer_name", "url"):
        merged[f] = merged[f] or ""
    firsts = [n.published_at for n in ordered if n.published_at]
    merged["published_at"] = firsts[0] if firsts else None
    return merged


def content_hash(data: Any) -> str:
    """Stable hash of JSON-able data (datetimes as ISO strings)."""
    return hashlib.sha256(jsoncodec.dumps(data, sort_keys=True).encode()).hexdigest()
