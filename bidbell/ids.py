"""Identity helpers that the spiders (which name records) and the models (which read them)
both need: Bidbell's own OCIDs, stable ids from links and feed entries, OCDS release ids,
GUIDs and short digests. Pure functions; nothing here knows a database or a crawler.

OCID rules for records published without one (each format's module says which it uses):
- ``bidbell-<source>-<key>`` with the record's own stable key (a prime's package id);
- ``bidbell-<source>-<h>`` where ``h`` is the first 20 hex digits of the SHA-256 of the key,
  when the key is a URL or an opaque string of any length (feed guids).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

GUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(rf"^{GUID_PATTERN}$")
OCID_PATTERN = re.compile(r"^ocds-[a-z0-9]{6}-\S+$")
# Added to a release by a Bidbell spider, never published by the source: what the query
# that returned it said, e.g. {"noticeType": "54", "subcontract": true} (Sell2Wales notice
# types 54-56 are sub-contract notices; the release itself does not say so).
BIDBELL_KEY = "x_bidbell"


def guid(value: Any) -> str | None:
    """A GUID ('8691483F-2F3D-...' in any case, spaces around) -> lower case; else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text.lower() if _GUID.match(text) else None


def is_ocid(value: Any) -> bool:
    """An OCDS OCID as publishers register them (``ocds-<6 characters>-<id>``)."""
    return isinstance(value, str) and len(value) <= 256 and bool(OCID_PATTERN.match(value))


def short_hash(text: str, length: int = 20) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def bidbell_ocid(source: str, key: str, hashed: bool) -> str:
    """``bidbell-<source>-<key>`` for records with no OCID of their own (see the rules)."""
    return f"bidbell-{source}-{short_hash(key) if hashed else key}"


def row_hash(fields: dict[str, Any]) -> str:
    """A short, stable digest of what a listing row (or feed item) says."""
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return short_hash(blob)


def stable_id(link: str, id_param: str | None = None) -> str:
    """The stable id of a package from its link: the value of the link's query parameter
    ``id_param`` when given (e.g. ``advertId``), otherwise the link's last path segment (plus
    its query values, if it has a query), reduced to ``[A-Za-z0-9._-]``; a link that yields
    nothing usable, or more than 80 characters, gives the first 20 hex digits of the
    SHA-256 of the whole link. The link is what a publisher keeps when it edits a package's
    title, value or deadline, so the record keeps its identity."""
    parts = urlsplit(link.strip())
    query = parse_qsl(parts.query, keep_blank_values=False)
    raw = ""
    if id_param:
        raw = next((v for k, v in query if k.lower() == id_param.lower()), "")
    if not raw:
        segments = [s for s in parts.path.split("/") if s]
        raw = "-".join([segments[-1] if segments else "", *(v for _k, v in sorted(query))])
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]", "-", raw)).strip("-.")
    if not cleaned or len(cleaned) > 80:
        return short_hash(parts._replace(fragment="").geturl())
    return cleaned


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def short_code(n: int) -> str:
    """A row id in base 36, for links that must be short (an SMS): 123456 -> '2n9c'."""
    if n < 0:
        raise ValueError("a short code is for ids of 0 or more")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def from_short_code(code: str) -> int | None:
    """The id a short code stands for; None when it is not one (at most 12 characters)."""
    text = code.strip().lower()
    if not 0 < len(text) <= 12 or any(c not in _B36 for c in text):
        return None
    return int(text, 36)


def entry_key(payload: dict[str, Any]) -> str | None:
    """What identifies a feed entry: its guid, else its link."""
    for k in ("id", "link"):
        v = payload.get(k)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def feed_ocid(source: str, key: str) -> str:
    return bidbell_ocid(source, key, hashed=True)


def entry_source_id(key: str) -> str:
    """The record id: the guid itself, or its hash when too long to be a column value."""
    return key if len(key) <= 200 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


# --- OCDS releases ---------------------------------------------------------------------------
def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def notice_document(release: dict[str, Any]) -> dict[str, Any] | None:
    """The document that is the notice itself (documentType contractNotice, awardNotice...),
    which PCS and Sell2Wales publish with the notice's own id and web page."""
    found: Any = _object(release.get("tender")).get("documents")
    docs: list[Any] = list(found) if isinstance(found, list) else []
    for part in ("awards", "contracts"):
        objs = release.get(part)
        for obj in objs if isinstance(objs, list) else []:
            found = _object(obj).get("documents")
            docs.extend(found if isinstance(found, list) else [])
    for d in docs:
        if isinstance(d, dict) and d.get("id") and str(d.get("documentType")).endswith("Notice"):
            return d
    return None


def release_id(release: dict[str, Any]) -> str | None:
    """The release's id; where a publisher leaves it out (Public Contracts Scotland does),
    ``<ocid>-<id of its notice document>``, e.g. ``ocds-r6ebe6-0000581860-APR352786``.
    None when there is no usable id (not text or a number, or longer than 256 characters)."""
    rid = release.get("id")
    if isinstance(rid, bool) or rid in (None, ""):
        rid = None
    elif isinstance(rid, int | str):
        text = str(rid).strip()
        return text if 0 < len(text) <= 256 else None
    else:
        return None
    doc, ocid = notice_document(release), release.get("ocid")
    if doc and isinstance(ocid, str) and ocid and isinstance(doc["id"], str | int):
        text = f"{ocid}-{doc['id']}"
        return text if len(text) <= 256 else None
    return None
