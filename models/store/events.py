"""Changes between two versions of an opportunity, as events a subscriber can be told about."""

from __future__ import annotations

from datetime import datetime
from typing import Any

EVENT_KINDS = ("new", "amended", "deadline_changed", "value_changed", "cancelled", "awarded")
VALUE_FIELDS = ("value_amount", "value_amount_gross", "value_min", "value_currency")
# Fields whose change is worth telling a bidder about; the rest (derived, bookkeeping) not.
AMEND_FIELDS = (
    "title", "description", "buyer_name", "cpv_codes", "regions", "lots", "sme_suitable",
    "vcse_suitable", "is_subcontract", "parent_reference", "notice_type",
)  # fmt: skip


def _json_value(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def diff_events(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """[(kind, {field: [before, after]})] for what changed from ``before`` to ``after``."""
    events: list[tuple[str, dict[str, Any]]] = []

    def changed(fields: tuple[str, ...]) -> dict[str, Any]:
        return {
            f: [_json_value(before.get(f)), _json_value(after.get(f))]
            for f in fields
            if before.get(f) != after.get(f)
        }

    if before.get("stage") != after.get("stage"):
        stage = {"stage": [before.get("stage"), after.get("stage")]}
        if after.get("stage") in ("cancelled", "terminated"):
            events.append(("cancelled", stage))
        elif after.get("stage") == "award":
            events.append(("awarded", stage))
        else:
            events.append(("amended", stage))
    if d := changed(("deadline",)):
        events.append(("deadline_changed", d))
    if d := changed(VALUE_FIELDS):
        events.append(("value_changed", d))
    if d := changed(AMEND_FIELDS):
        kinds = [k for k, _ in events]
        if "amended" in kinds:
            events[kinds.index("amended")][1].update(d)
        else:
            events.append(("amended", d))
    return events
