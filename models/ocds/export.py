"""Stored opportunities as an OCDS 1.1 release package, so others can use our data.

One release per canonical opportunity (``canonical_id`` is NULL): the OCDS fields from the
opportunity's merged columns, and Bidbell's classification in a documented extension
object ``bidbell`` (``models/ocds/extension/README.md``), with the other listings of the
same procurement. Lots follow the official Lots extension. Empty values (None, "", [],
{}) are left out, as OCDS asks. Validate the result with
``models.ocds.validate.validate_package``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bidbell.clock import UK
from models.ocds import LOTS_EXTENSION_URL, OCDS_VERSION, extension_url
from models.store.tables import Opportunity

# Our stage (models.normalise.stage, models.formats.*) -> OCDS releaseTag (closed codelist).
RELEASE_TAG = {
    "pipeline": "planning",
    "early_engagement": "planning",
    "planned": "planning",
    "tender": "tender",
    "award": "award",
    "cancelled": "tenderCancellation",
    "terminated": "contractTermination",
    "unknown": "tender",
}
# Our stage -> OCDS tenderStatus (closed codelist); no status for "unknown".
TENDER_STATUS = {
    "pipeline": "planning",
    "early_engagement": "planning",
    "planned": "planned",
    "tender": "active",
    "award": "complete",
    "cancelled": "cancelled",
    "terminated": "complete",
}
NOTICE_DOCUMENT = {
    "pipeline": "plannedProcurementNotice",
    "early_engagement": "plannedProcurementNotice",
    "planned": "plannedProcurementNotice",
    "award": "awardNotice",
}
# OCDS tenderStatus (closed codelist): a lot's status as published, when it is one of these.
LOT_STATUSES = {
    "planning",
    "planned",
    "active",
    "cancelled",
    "unsuccessful",
    "complete",
    "withdrawn",
}


def clean(value: Any) -> Any:
    """Drop None, "", [] and {} at every depth (False and 0 stay)."""
    if isinstance(value, dict):
        out = {k: clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [clean(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    return value


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 with the UK offset, to the second (as ``bidbell opportunities --json``)."""
    return dt.astimezone(UK).isoformat(timespec="seconds") if dt is not None else None


def _number(x: float | None) -> float | int | None:
    if x is None:
        return None
    return int(x) if float(x).is_integer() else x


def _value(amount: float | None, currency: str | None) -> dict[str, Any] | None:
    if amount is None:
        return None
    return {"amount": _number(amount), "currency": currency}


def _buyer(o: Opportunity) -> dict[str, Any] | None:
    name = (o.buyer_name or "").strip()
    if not name and not o.buyer_id:
        return None
    # A party id is local to the release; without a published one, derive it from the name.
    bid = o.buyer_id or "bidbell-buyer-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return {"id": bid, "name": name}


def _lot(lot: dict[str, Any], n: int) -> dict[str, Any]:
    status = lot.get("status")
    return {
        "id": str(lot.get("id") or "") or str(n),
        "title": lot.get("title"),
        "status": status if status in LOT_STATUSES else None,
        "value": _value(lot.get("value_amount"), lot.get("value_currency")),
    }


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _listing(o: Opportunity, reasons: bool = False) -> dict[str, Any]:
    return {
        "ocid": o.ocid,
        "sources": _unique(o.sources),
        "url": o.url,
        "duplicateReasons": o.duplicate_reasons if reasons else None,
    }


def release_for(
    o: Opportunity,
    now: datetime,
    others: Sequence[Opportunity] = (),
    canonical: Opportunity | None = None,
) -> dict[str, Any]:
    """One OCDS release for an opportunity. ``others``: the other listings of it;
    ``canonical``: set when ``o`` is itself another listing (an export of every listing)."""
    buyer = _buyer(o)
    amount = o.value_amount if o.value_amount is not None else o.value_amount_gross
    release: dict[str, Any] = {
        "ocid": o.ocid,
        "id": f"{o.ocid}-bidbell-{o.version}",
        "date": iso(o.updated_at or o.published_at or now),
        "language": "en",
        "tag": [RELEASE_TAG.get(o.stage, "tender")],
        "initiationType": "tender",
        "parties": [{**buyer, "roles": ["buyer"], "address": {"postalCode": o.buyer_postcode}}]
        if buyer
        else None,
        "buyer": buyer,
        "tender": {
            "id": o.ocid,
            "title": o.title,
            "description": o.description,
            "status": TENDER_STATUS.get(o.stage),
            "mainProcurementCategory": o.main_category,
            "value": _value(amount, o.value_currency),
            "minValue": _value(o.value_min, o.value_currency),
            "tenderPeriod": {"endDate": iso(o.deadline)},
            "items": [
                {"id": str(n), "classification": {"scheme": "CPV", "id": code}}
                for n, code in enumerate(_unique(o.cpv_codes), 1)
            ],
            "lots": [_lot(lot, n) for n, lot in enumerate(o.lots, 1) if isinstance(lot, dict)],
            "documents": [
                {
                    "id": "notice",
                    "documentType": NOTICE_DOCUMENT.get(o.stage, "tenderNotice"),
                    "title": "Notice",
                    "url": o.url,
                }
            ]
            if o.url
            else None,
        },
        "bidbell": {
            "stage": o.stage,
            "noticeType": o.notice_type,
            "firstPublishedDate": iso(o.published_at),
            "valueGross": _number(o.value_amount_gross),
            "valueBand": o.value_band,
            "lotBand": o.lot_band,
            "bandBasis": o.band_basis,
            "sectors": _unique(o.sectors),
            "sectorBasis": o.sector_basis,
            "deliveryRegions": _unique(o.regions),
            "areas": _unique(o.areas),
            "workInKent": o.work_in_kent,
            "buyerInKent": o.buyer_in_kent,
            "buyerArea": o.buyer_area,
            "smeSuitable": o.sme_suitable,
            "vcseSuitable": o.vcse_suitable,
            "isSubcontract": o.is_subcontract,
            "parentReference": o.parent_reference,
            "fitScore": o.fit_score,
            "fitReasons": o.fit_reasons,
            "sources": _unique(o.sources),
            "listings": [_listing(o), *(_listing(d, reasons=True) for d in others)],
            "canonicalOcid": canonical.ocid if canonical is not None else None,
            "duplicateReasons": o.duplicate_reasons if canonical is not None else None,
        },
    }
    result: dict[str, Any] = clean(release)
    return result


def export_release_package(
    session: Session, now: datetime, public_url: str, include_duplicates: bool = False
) -> dict[str, Any]:
    """An OCDS 1.1 release package of the stored opportunities: one release per canonical
    opportunity (with ``include_duplicates``, one per stored opportunity), ordered by OCID.
    An empty store gives ``releases: []``, which OCDS does not allow (at least one)."""
    rows = list(session.exec(select(Opportunity).order_by(col(Opportunity.ocid))).all())
    by_id = {o.id: o for o in rows if o.id is not None}
    # A listing points straight at its canonical row (models.store.listings keeps it so).
    listings: dict[int | None, list[Opportunity]] = defaultdict(list)
    for o in sorted(rows, key=lambda r: r.id or 0):
        if o.canonical_id is not None:
            listings[o.canonical_id].append(o)
    releases = []
    for o in rows:
        if o.canonical_id is None:
            releases.append(release_for(o, now, listings.get(o.id, [])))
        elif include_duplicates:
            releases.append(release_for(o, now, canonical=by_id.get(o.canonical_id)))
    base = public_url.rstrip("/")
    return {
        "uri": f"{base}/ocds/release-package.json",
        "version": OCDS_VERSION,
        "extensions": [LOTS_EXTENSION_URL, extension_url(base)],
        "publishedDate": iso(now),
        "publisher": {"name": "Bidbell", "uri": base},
        "releases": releases,
    }
