"""Format ``listing-row``: one row of a prime contractor's own "supply chain
opportunities" web page, as spiders.sources.listing reads it (texts as shown on the page).

Payload keys: ``id`` (stable id, see ``stable_id``), ``link`` (absolute URL of the
package), ``title``, ``description``, ``buyer``, ``value``, ``deadline``, ``published``,
``parent_reference`` (texts as published, any may be missing), and from the source's
configuration ``prime`` (the prime contractor: the buyer when the row names none),
``regions`` and ``cpv_codes`` (lists), ``page`` (the listing page).

OCID rule: these packages have no OCID, so ``bidbell-<source>-<stable id>``, where the
stable id comes from the package's link (``stable_id``): the value of the link's query
parameter ``id_param`` when the source names one (e.g. ``advertId``), otherwise the link's
last path segment (plus its query values, if it has a query), reduced to
``[A-Za-z0-9._-]``; a link that yields nothing usable, or more than 80 characters, gives the
first 20 hex digits of the SHA-256 of the whole link. The link is what a prime keeps when it
edits a package's title, value or deadline, so the record keeps its identity.

Every row is sub-contract work (``is_subcontract=True``) in the tender stage (the page
lists packages open to bids). Values and dates are read as a UK page writes them.
"""

from __future__ import annotations

from typing import Any

from bidbell.clock import deadline as read_deadline
from bidbell.clock import published as read_published
from bidbell.ids import bidbell_ocid, stable_id
from models.formats.fields import NormaliseError, NoticeFields, json_text
from models.formats.text import cpv_code, html_to_text, parse_money, squash


def _strings(value: Any) -> list[str]:
    """A list of texts from a comma-separated string or a JSON array of strings."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def normalise_listing_row(source: str, payload: Any) -> NoticeFields:
    if not isinstance(payload, dict):
        raise NormaliseError(f"listing row is a {type(payload).__name__}, not an object")
    link = payload.get("link")
    rid = json_text(payload.get("id")) or (
        stable_id(link) if isinstance(link, str) and link.strip() else None
    )
    if not rid:
        raise NormaliseError("listing row has neither an id nor a link")
    title = squash(payload.get("title"))
    if not title:
        raise NormaliseError(f"listing row {rid} has no title")
    amount, low, currency = parse_money(payload.get("value"))
    if amount == 0 and not low:
        amount = None  # "£0" is how listings say "not stated"; never a zero-value contract
    cpvs = [c for c in (cpv_code(x) for x in _strings(payload.get("cpv_codes"))) if c]
    return NoticeFields(
        ocid=bidbell_ocid(source, str(rid), hashed=False),
        source_id=str(rid),
        title=title,
        description=html_to_text(payload.get("description")),
        buyer_name=squash(payload.get("buyer")) or squash(payload.get("prime")),
        value_amount=amount,
        value_min=low,
        value_currency=currency,
        deadline=read_deadline(payload.get("deadline")),
        published_at=read_published(payload.get("published")),
        stage="tender",
        cpv_codes=list(dict.fromkeys(cpvs)),
        regions=[r.upper() for r in _strings(payload.get("regions")) if len(r) <= 16],
        # a prime's supply-chain page unless the source says otherwise (subcontract = false)
        is_subcontract=payload.get("subcontract") is not False,
        parent_reference=squash(payload.get("parent_reference")) or None,
        url=link if isinstance(link, str) else "",
    )
