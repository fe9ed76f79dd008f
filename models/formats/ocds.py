"""Format ``ocds-release`` (and its publisher dialects): one OCDS release -> NoticeFields.

Find a Tender, Contracts Finder, Public Contracts Scotland and Sell2Wales all publish OCDS;
each publisher's quirks are a dialect (``OcdsDialect``) named by the record format its spider
writes, not guessed from the OCID:

- ``ocds-release``: OCDS as the standard says (Find a Tender, Contracts Finder). Contracts
  Finder's old 2016-17 API (``tender.xClassifications``) is recognised by that shape.
- ``ocds-proactis``: the Proactis-run national portals (PCS, Sell2Wales). Their timestamps
  end in "Z" but are UK local wall-clock time: in the captures deadlines are "12:00:00Z" as
  often in British Summer Time (PCS, Apr-Jun 2019: 40 of 45) as in winter (Sell2Wales, Feb
  2025: 33 of 45), i.e. the usual noon deadline, not 13:00 BST. Reading them as local can
  only make a summer deadline look an hour earlier, never later. They also publish a token
  value (0.01) where no value is stated, and PCS leaves out the release id (the notice
  document's id stands in: bidbell.ids.release_id).

Every part of a release is read for its type: a publisher (or a broken page) may put a
string where an object belongs, and one such release is rejected with its reason, never an
exception that costs the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bidbell.clock import deadline as read_deadline
from bidbell.clock import published as read_published
from bidbell.ids import BIDBELL_KEY, release_id
from models.classify.uk_regions import codes_for_name
from models.formats.fields import (
    Lot,
    NormaliseError,
    NoticeFields,
    json_object,
    json_objects,
    json_text,
)
from models.formats.text import clean_text, cpv_code, number, uk_postcode

_NOTICE_TYPE = re.compile(r"^UK\d{1,2}$")
MAX_ID = 256


@dataclass(frozen=True)
class OcdsDialect:
    """How one publisher departs from the standard."""

    name: str
    # Timestamps written with "Z" are really UK wall-clock time.
    z_means_uk_local: bool = False
    # A value at or below this (with no gross figure) is a placeholder, not a value.
    token_value_max: float | None = None


STANDARD = OcdsDialect("ocds-release")
PROACTIS = OcdsDialect("ocds-proactis", z_means_uk_local=True, token_value_max=1.0)


def _classifications(obj: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    if isinstance(obj.get("classification"), dict):
        out.append(obj["classification"])
    out.extend(json_objects(obj.get("additionalClassifications")))
    return out


def cpv_codes(tender: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    # Items repeat their codes (a release of 83 lots names 249): each id is read once.
    read: set[str] = set()
    for obj in [tender, *json_objects(tender.get("items"))]:
        for c in _classifications(obj):
            scheme = c.get("scheme", "")  # "CPV" as published, most often: no need to upper it
            if scheme != "CPV" and str(scheme).upper() != "CPV":
                continue
            raw = c.get("id")
            if isinstance(raw, str):
                if raw in read:
                    continue
                read.add(raw)
            if code := cpv_code(raw):
                seen.setdefault(code, None)
    return list(seen)


def delivery_regions(tender: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    addresses = json_objects(tender.get("deliveryAddresses"))
    for item in json_objects(tender.get("items")):
        addresses.extend(json_objects(item.get("deliveryAddresses")))
    read: set[str] = set()  # items repeat their regions: each is read once
    for a in addresses:
        region = a.get("region")
        if isinstance(region, str) and region.strip() and len(region) <= 200:
            if region in read:
                continue
            read.add(region)
            # Contracts Finder names regions in words ("South East"): NUTS codes instead.
            codes = codes_for_name(region)
            for code in codes if codes is not None else [region.strip().upper()[:16]]:
                seen.setdefault(code, None)
    return list(seen)


def _documents(release: dict[str, Any]) -> list[dict[str, Any]]:
    docs = json_objects(json_object(release.get("tender")).get("documents"))
    for part in ("awards", "contracts"):
        for obj in json_objects(release.get(part)):
            docs.extend(json_objects(obj.get("documents")))
    docs.extend(json_objects(json_object(release.get("planning")).get("documents")))
    return docs


def notice_type(release: dict[str, Any]) -> str | None:
    """Procurement Act notice type (UK1..UK17) from the release's documents, if any."""
    types = [
        d["noticeType"]
        for d in _documents(release)
        if isinstance(d.get("noticeType"), str) and _NOTICE_TYPE.match(d["noticeType"])
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
    tag = release.get("tag")
    tags = {t for t in tag if isinstance(t, str)} if isinstance(tag, list) else set()
    tender_status = json_object(release.get("tender")).get("status")
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


def _region_code(region: Any) -> str | None:
    if not isinstance(region, str) or not region.strip() or len(region) > 200:
        return None
    codes = codes_for_name(region)  # a region in words ("South East") -> its NUTS code
    text = codes[0] if codes and len(codes) == 1 else region
    return text.strip().upper()[:16]


def _buyer(release: dict[str, Any]) -> tuple[str, str | None, str | None, str | None, str | None]:
    """(name, id, postcode, region, type) of the buying organisation."""
    buyer = json_object(release.get("buyer"))
    name, bid = clean_text(buyer.get("name")), json_text(buyer.get("id"))
    party: dict[str, Any] = {}
    for p in json_objects(release.get("parties")):
        roles: list[Any] = p["roles"] if isinstance(p.get("roles"), list) else []
        if (bid and json_text(p.get("id")) == bid) or (not bid and "buyer" in roles):
            party = p
            break
    # The old (2016) Contracts Finder format has no parties: the address is on the buyer.
    address = json_object(party.get("address")) or json_object(buyer.get("address"))
    if not name and party:
        name = clean_text(party.get("name"))
    return (
        name[:512],
        bid[:MAX_ID] if bid else None,
        uk_postcode(address.get("postalCode")),
        _region_code(address.get("region")),
        buyer_type(party),
    )


# Buyer types as the notices classify them -> "central" (central government authorities,
# whose threshold for goods and services is lower) or "sub_central" (everyone else that
# the Act's sub-central threshold covers: councils, NHS bodies, schools, police...).
# Find a Tender: scheme UK_CA_TYPE; PCS and Sell2Wales: TED_CA_TYPE (TED's words).
_CENTRAL_TYPES = {
    "publicauthoritycentralgovernment": "central",
    "ministry or any other national or federal authority, including their regional or local "
    "subdivisions": "central",
    "national or federal agency/office": "central",
}


def buyer_type(party: dict[str, Any]) -> str | None:
    """'central' / 'sub_central' when the notice classifies its buyer; else None."""
    for c in json_objects(json_object(party.get("details")).get("classifications")):
        if str(c.get("scheme", "")).upper() not in ("UK_CA_TYPE", "TED_CA_TYPE"):
            continue
        for key in ("id", "description"):
            text = c.get(key)
            if isinstance(text, str) and text.strip():
                return _CENTRAL_TYPES.get(" ".join(text.lower().split()), "sub_central")
    return None


def _describe(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return f"a {type(value).__name__}"


def _amount(obj: dict[str, Any], key: str, where: str) -> float | None:
    """A money figure: None when not stated; NormaliseError when stated but not a finite
    number a value could be (OCDS amounts are numbers; text such as '50,000' is read)."""
    raw = obj.get(key)
    if raw is None or raw == "":
        return None
    value = number(raw)
    if value is None:
        raise NormaliseError(f"{where}.{key} is not a number we can read ({_describe(raw)})")
    return value


def _value(v: Any, where: str) -> tuple[float | None, float | None, str | None]:
    if not isinstance(v, dict):
        return None, None, None
    cur = v.get("currency")
    currency = cur.strip().upper()[:3] if isinstance(cur, str) and cur.strip() else None
    return _amount(v, "amount", where), _amount(v, "amountGross", where), currency


def _lots(tender: dict[str, Any]) -> list[dict[str, Any]]:
    lots = []
    for lot in json_objects(tender.get("lots")):
        amount, gross, cur = _value(lot.get("value"), "lot.value")
        status = lot.get("status")
        lots.append(
            Lot(
                id=(json_text(lot.get("id")) or "")[:MAX_ID],
                title=clean_text(lot.get("title")) or None,
                value_amount=amount if amount is not None else gross,
                value_currency=cur,
                status=status if isinstance(status, str) else None,
            ).as_dict()
        )
    return lots


def _tender_reference(tender: dict[str, Any], ocid: str) -> str | None:
    """The buyer's reference (``tender.id``); Find a Tender often repeats the OCID there,
    which is no reference of the buyer's."""
    ref = json_text(tender.get("id"))
    return ref[:MAX_ID] if ref and ref != ocid else None


def _suppliers(release: dict[str, Any]) -> list[str]:
    """Supplier names of the release's awards (in order, each once), from the awards'
    ``suppliers`` or, where those give only an id, the party of that id."""
    names = {
        json_text(p.get("id")): clean_text(p.get("name"))
        for p in json_objects(release.get("parties"))
    }
    out: dict[str, None] = {}
    for award in json_objects(release.get("awards")):
        for s in json_objects(award.get("suppliers")):
            name = clean_text(s.get("name")) or names.get(json_text(s.get("id"))) or ""
            if name:
                out.setdefault(name[:MAX_ID], None)
    return list(out)


def _suitability(tender: dict[str, Any]) -> tuple[bool | None, bool | None]:
    s = json_object(tender.get("suitability"))
    x = json_object(tender.get("xClassifications"))
    sme = s.get("sme", x.get("isSuitableForSme"))
    vcse = s.get("vcse", x.get("isSuitableForVco"))
    return (sme if isinstance(sme, bool) else None, vcse if isinstance(vcse, bool) else None)


def _local_z(value: Any) -> Any:
    """A Proactis timestamp ("...Z", really UK local time) without its misleading Z."""
    if isinstance(value, str) and value.strip().endswith("Z"):
        return value.strip()[:-1]
    return value


def read_release(source: str, release: Any, dialect: OcdsDialect = STANDARD) -> NoticeFields:
    """One OCDS release -> NoticeFields. Raises NormaliseError naming what is wrong."""
    if not isinstance(release, dict):
        raise NormaliseError(f"release is a {type(release).__name__}, not an object")
    rid = release_id(release)
    if not rid:
        raise NormaliseError("release has no usable id")
    ocid = release.get("ocid")
    if not isinstance(ocid, str) or not ocid.strip():
        raise NormaliseError(f"release {rid} has no ocid")
    if len(ocid) > MAX_ID:
        raise NormaliseError(f"release {rid}: ocid longer than {MAX_ID} characters")
    raw_tender = release.get("tender")
    if raw_tender is not None and not isinstance(raw_tender, dict):
        raise NormaliseError(
            f"release {rid}: tender is a {type(raw_tender).__name__}, not an object"
        )
    tender = json_object(raw_tender)
    ntype = notice_type(release)
    amount, gross, currency = _value(tender.get("value"), "tender.value")
    min_value = _amount(json_object(tender.get("minValue")), "amount", "tender.minValue")
    if amount is None and gross is None:
        # An award notice states the awarded value rather than the estimate.
        for award in json_objects(release.get("awards")):
            a_amount, a_gross, a_cur = _value(award.get("value"), "award.value")
            if a_amount is not None or a_gross is not None:
                amount, gross, currency = a_amount, a_gross, a_cur
                break
    if amount is None and gross is None and min_value is not None:
        currency = json_object(tender.get("minValue")).get("currency") or currency
        currency = currency if isinstance(currency, str) else None
    name, bid, postcode, region, btype = _buyer(release)
    sme, vcse = _suitability(tender)
    # The old (2016-17) Contracts Finder OCDS (tender.xClassifications) put the notice's
    # anticipated contract dates in tenderPeriod (2015-04-01..2017-03-31 on a notice of
    # 2014-12-17; a DPS "open until 28/10/2015" with endDate 2016-04-01, its contract
    # start): not a closing date, so the deadline is unknown rather than wrong.
    legacy_cf = isinstance(tender.get("xClassifications"), dict)
    fix = _local_z if dialect.z_means_uk_local else (lambda v: v)
    if (
        dialect.token_value_max is not None
        and gross is None
        and amount is not None
        and amount <= dialect.token_value_max
    ):
        amount, currency = None, None  # a token, not a value
    ours = json_object(release.get(BIDBELL_KEY))
    subcontract = True if ours.get("subcontract") is True else None
    parent = None
    if subcontract:
        for rp in json_objects(release.get("relatedProcesses")):
            relationship = rp.get("relationship")
            if isinstance(relationship, list) and "parent" in relationship:
                parent = json_text(rp.get("identifier"))
                if parent:
                    parent = parent[:MAX_ID]
                    break
    category = tender.get("mainProcurementCategory")
    regime = tender.get("specialRegime")
    return NoticeFields(
        ocid=ocid.strip(),
        source_id=rid,
        title=clean_text(tender.get("title")) or clean_text(release.get("title")),
        description=clean_text(tender.get("description")),
        buyer_name=name,
        buyer_id=bid,
        buyer_postcode=postcode,
        buyer_region=region,
        buyer_type=btype,
        value_amount=amount,
        value_amount_gross=gross,
        value_min=min_value,
        value_currency=currency,
        deadline=None
        if legacy_cf
        else read_deadline(fix(json_object(tender.get("tenderPeriod")).get("endDate"))),
        published_at=read_published(fix(release.get("date"))),
        stage=stage(release, ntype),
        notice_type=ntype,
        main_category=category if category in ("goods", "services", "works") else None,
        light_touch=True
        if isinstance(regime, list) and "lightTouch" in regime
        else (True if regime == "lightTouch" else None),
        cpv_codes=cpv_codes(tender),
        regions=delivery_regions(tender),
        lots=_lots(tender),
        sme_suitable=sme,
        vcse_suitable=vcse,
        is_subcontract=subcontract,
        parent_reference=parent,
        url="",
        tender_reference=_tender_reference(tender, ocid.strip()),
        suppliers=_suppliers(release),
    )


def normalise_release(source: str, release: Any) -> NoticeFields:
    """Format ``ocds-release``: OCDS as published by Find a Tender and Contracts Finder."""
    return read_release(source, release, STANDARD)


def normalise_proactis_release(source: str, release: Any) -> NoticeFields:
    """Format ``ocds-proactis``: PCS and Sell2Wales (see the module docstring)."""
    return read_release(source, release, PROACTIS)
