"""The canonical notice every record format reads into (``NoticeFields``), the typed
rejection of a record that cannot be one (``NormaliseError``), and small helpers for reading
JSON of unknown shape. Pure; no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


class NormaliseError(ValueError):
    """A record that cannot become a notice (names the reason)."""


@dataclass
class Lot:
    id: str
    title: str | None = None
    value_amount: float | None = None
    value_currency: str | None = None
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The lot as ``NoticeFields.lots`` holds it: what ``dataclasses.asdict`` gives (the
        fields in order; every value is immutable, so shared, not copied) without its
        deep copy of each value, which cost a quarter of reading a release."""
        return dict(vars(self))


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
    # "central" (a central government authority) or "sub_central", when the notice says.
    buyer_type: str | None = None
    value_amount: float | None = None
    value_amount_gross: float | None = None
    value_min: float | None = None
    value_currency: str | None = None
    deadline: datetime | None = None
    published_at: datetime | None = None
    stage: str = "unknown"
    notice_type: str | None = None
    # OCDS mainProcurementCategory: goods | services | works (None: not stated).
    main_category: str | None = None
    # The notice says the light-touch regime applies (social, health, education... services).
    light_touch: bool | None = None
    cpv_codes: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    lots: list[dict[str, Any]] = field(default_factory=list)
    sme_suitable: bool | None = None
    vcse_suitable: bool | None = None
    # Sub-contract work under a prime contractor, and the parent contract's reference.
    is_subcontract: bool | None = None
    parent_reference: str | None = None
    # Identifiers the source publishes besides source_id (a buyer's reference such as
    # ProContract's "DN820956"): models.dedupe compares them as published identifiers.
    references: list[str] = field(default_factory=list)
    url: str = ""
    # The buyer's own reference for the procurement (OCDS ``tender.id``), and the names of the
    # suppliers an award notice names (OCDS ``awards[].suppliers``): award notices of one
    # framework that agree on everything else are different contracts when these differ.
    tender_reference: str | None = None
    suppliers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def json_object(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one (sources omit or null parts)."""
    return value if isinstance(value, dict) else {}


def json_list(value: Any) -> list[Any]:
    """The value if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def json_objects(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON array (other members and non-arrays ignored)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def json_text(value: Any) -> str | None:
    """A JSON string or number as text (ids are published as either); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        text = str(value).strip()
        return text or None
    return None
