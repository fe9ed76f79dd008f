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

from models import jsoncodec

UK = ZoneInfo("Europe/London")

# Record formats -> the function that reads them ("module:function"). A spider says which
# format each RawNotice is in; adding a format is one line here and one module.
FORMATS: dict[str, str] = {
    "ocds-release": "models.normalise:normalise_release",
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


def _obj(value: Any) -> dict[str, Any]:
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


def clean_text(value: Any) -> str:
    """Strip, and make the sources' ``\\r\\n`` line breaks plain ``\\n``."""
    if not isinstance(value, str):
        return ""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


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
            seen.setdefault(a["region"].strip().upper(), None)
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
    tender_status = str(_obj(release.get("tender")).get("status") or "")
    # A cancellation says so in its tag or status, whatever documents it still carries.
    if "tenderCancellation" in tags or tender_status in ("cancelled", "withdrawn"):
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
    buyer = _obj(release.get("buyer"))
    name, bid = clean_text(buyer.get("name")), buyer.get("id") or None
    party = None
    for p in release.get("parties") or []:
        if not isinstance(p, dict):
            continue
        if (bid and p.get("id") == bid) or (not bid and "buyer" in (p.get("roles") or [])):
            party = p
            break
    address = (party or {}).get("address") or {}
    if not name and party:
        name = clean_text(party.get("name"))
    postcode = address.get("postalCode")
    region = address.get("region")
    return (
        name,
        str(bid) if bid else None,
        postcode.strip().upper() if isinstance(postcode, str) and postcode.strip() else None,
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
    s = _obj(tender.get("suitability"))
    x = _obj(tender.get("xClassifications"))
    sme = s.get("sme", x.get("isSuitableForSme"))
    vcse = s.get("vcse", x.get("isSuitableForVco"))
    return (sme if isinstance(sme, bool) else None, vcse if isinstance(vcse, bool) else None)


def normalise_release(source: str, release: Any) -> NoticeFields:
    """One OCDS release -> NoticeFields. Raises NormaliseError naming what is wrong."""
    if not isinstance(release, dict):
        raise NormaliseError(f"release is a {type(release).__name__}, not an object")
    rid = release.get("id")
    if not rid:
        raise NormaliseError("release has no id")
    ocid = release.get("ocid")
    if not ocid or not isinstance(ocid, str):
        raise NormaliseError(f"release {rid} has no ocid")
    tender = _obj(release.get("tender"))
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
        deadline=parse_datetime((tender.get("tenderPeriod") or {}).get("endDate")),
        published_at=parse_datetime(release.get("date")),
        stage=stage(release, ntype),
        notice_type=ntype,
        cpv_codes=cpv_codes(tender),
        regions=delivery_regions(tender),
        lots=_lots(tender),
        sme_suitable=sme,
        vcse_suitable=vcse,
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
