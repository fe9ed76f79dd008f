"""Sandboxed templates: what a subscriber reads. Times shown in UK local time; codes
(NUTS/ITL areas, notice stages, field names) turned into the words a person uses."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from bidbell.clock import UK
from models.classify import KENT_AREAS, NUTS1, value_words

TEMPLATES = Path(__file__).resolve().parent / "templates"

# NUTS 2016 level 2 (= ITL 2) names, for areas below a region and above a county.
NUTS2 = {
    "UKC1": "Tees Valley and Durham", "UKC2": "Northumberland and Tyne and Wear",
    "UKD1": "Cumbria", "UKD3": "Greater Manchester", "UKD4": "Lancashire",
    "UKD6": "Cheshire", "UKD7": "Merseyside",
    "UKE1": "East Yorkshire and Northern Lincolnshire", "UKE2": "North Yorkshire",
    "UKE3": "South Yorkshire", "UKE4": "West Yorkshire",
    "UKF1": "Derbyshire and Nottinghamshire",
    "UKF2": "Leicestershire, Rutland and Northamptonshire", "UKF3": "Lincolnshire",
    "UKG1": "Herefordshire, Worcestershire and Warwickshire",
    "UKG2": "Shropshire and Staffordshire", "UKG3": "the West Midlands",
    "UKH1": "East Anglia", "UKH2": "Bedfordshire and Hertfordshire", "UKH3": "Essex",
    "UKI3": "Inner London (West)", "UKI4": "Inner London (East)",
    "UKI5": "Outer London (East and North East)", "UKI6": "Outer London (South)",
    "UKI7": "Outer London (West and North West)",
    "UKJ1": "Berkshire, Buckinghamshire and Oxfordshire",
    "UKJ2": "Surrey, East and West Sussex", "UKJ3": "Hampshire and the Isle of Wight",
    "UKJ4": "Kent and Medway",
    "UKK1": "Gloucestershire, Wiltshire and Bristol", "UKK2": "Dorset and Somerset",
    "UKK3": "Cornwall and the Isles of Scilly", "UKK4": "Devon",
    "UKL1": "West Wales and the Valleys", "UKL2": "East Wales",
    "UKM5": "North Eastern Scotland", "UKM6": "the Highlands and Islands",
    "UKM7": "Eastern Scotland", "UKM8": "West Central Scotland", "UKM9": "Southern Scotland",
    "UKN0": "Northern Ireland",
}  # fmt: skip
STAGE_WORDS = {
    "pipeline": "pipeline notice (a procurement being planned)",
    "early_engagement": "early market engagement",
    "planned": "planned procurement",
    "tender": "tender (open for bids)",
    "award": "contract awarded",
    "cancelled": "cancelled or withdrawn",
    "terminated": "contract ended early",
    "unknown": "stage not stated",
}
FIELD_WORDS = {
    "deadline": "deadline",
    "value_amount": "value",
    "value_amount_gross": "value including VAT",
    "value_min": "lowest value",
    "value_currency": "currency",
    "title": "title",
    "description": "description",
    "buyer_name": "buyer",
    "cpv_codes": "CPV codes",
    "regions": "where the work is",
    "lots": "lots",
    "sme_suitable": "suitable for SMEs",
    "vcse_suitable": "suitable for VCSEs",
    "is_subcontract": "subcontract",
    "parent_reference": "parent contract",
    "notice_type": "notice type",
    "stage": "stage",
}
EVENT_WORDS = {
    "amended": "amended",
    "deadline_changed": "deadline moved",
    "value_changed": "value changed",
    "cancelled": "cancelled or withdrawn",
    "awarded": "awarded",
}
_CODE = re.compile(r"\b(?:UK|TL)[C-N](?:[0-9A-Z]{1,3})?\b")


def squash(text: object) -> str:
    """Whitespace collapsed: source titles carry line breaks and runs of spaces."""
    return " ".join(str(text or "").split())


def area_name(code: str) -> str:
    """'UKJ44' -> 'East Kent (Canterbury, Dover, ...)'; 'UKH2' -> 'Bedfordshire and
    Hertfordshire'; a code below a known level: 'part of <the level above>'."""
    c = "UK" + code[2:] if code.startswith("TL") else code
    if c in KENT_AREAS:
        name, districts = KENT_AREAS[c]
        return f"{name} ({', '.join(districts)})"
    if c in NUTS2:
        return NUTS2[c]
    if c[:3] in NUTS1 and len(c) == 3:
        return NUTS1[c]
    if c[:4] in NUTS2:
        return f"part of {NUTS2[c[:4]]}"
    if c[:3] in NUTS1:
        return f"part of {NUTS1[c[:3]]}"
    return "the United Kingdom" if c == "UK" else code


def plain_reason(reason: str) -> str:
    """A matcher's reason in a person's words: area codes named."""
    return _CODE.sub(lambda m: area_name(m.group(0)), squash(reason))


# Where an opportunity is published, in words (sources.toml names -> what a bidder knows).
SOURCE_LABEL = {
    "find_a_tender": "Find a Tender",
    "contracts_finder": "Contracts Finder",
    "contracts_finder_csv": "Contracts Finder",
    "contracts_finder_web": "Contracts Finder",
    "public_contracts_scotland": "Public Contracts Scotland",
    "sell2wales": "Sell2Wales",
    "kent_business_portal": "Kent Business Portal",
    "prime_example": "a prime contractor's supply-chain page",
    "feed_example": "a partner's feed",
}


def source_label(name: str) -> str:
    return SOURCE_LABEL.get(name, name.replace("_", " "))


def stage_label(stage: str | None) -> str:
    """A stage in a few words (feeds, lists): "tender", "early market engagement"."""
    return _SHORT_STAGE.get(stage or "unknown", (stage or "unknown").replace("_", " "))


_SHORT_STAGE = {
    "pipeline": "pipeline notice",
    "early_engagement": "early market engagement",
    "planned": "planned procurement",
    "tender": "tender",
    "award": "award",
    "cancelled": "cancelled",
    "terminated": "terminated",
    "unknown": "stage not stated",
}


def stage_words(stage: str | None) -> str:
    return STAGE_WORDS.get(stage or "unknown", (stage or "unknown").replace("_", " "))


def uk_time(value: datetime | None) -> str:
    if value is None:
        return "not stated"
    return value.astimezone(UK).strftime("%a %d %b %Y, %H:%M %Z")


def uk_day(value: datetime | None) -> str:
    if value is None:
        return "no deadline stated"
    d = value.astimezone(UK)
    return f"{d:%a} {d.day} {d:%b %Y}"


def value_text(
    amount: float | None,
    currency: str | None,
    *,
    gross: float | None = None,
    minimum: float | None = None,
) -> str:
    """What a subscriber reads: "£2.77m"; "from £40,676" when only a minimum was published
    (Contracts Finder's 2016-17 notices); "£60,000 to £100,000" for a range; the figure
    including VAT when it is the only one; else "value not stated"."""
    return value_words(amount, currency, gross=gross, minimum=minimum)


def opportunity_value(o: Any) -> str:
    return value_text(
        o.value_amount, o.value_currency, gross=o.value_amount_gross, minimum=o.value_min
    )


def change_value(field: str, value: Any) -> str:
    """One side of a change, as a person reads it."""
    if value is None or value == "" or value == []:
        return "not stated"
    if field == "deadline":
        try:
            return uk_time(datetime.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if field in ("value_amount", "value_amount_gross", "value_min"):
        try:
            return value_text(float(value), "GBP")
        except (TypeError, ValueError):
            return str(value)
    if field == "stage":
        return stage_words(str(value))
    if field == "regions" and isinstance(value, list):
        return "; ".join(area_name(str(v)) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) if not isinstance(v, dict) else str(v.get("title") or v.get("id"))
                         for v in value)  # fmt: skip
    text = squash(value)
    return text if len(text) <= 200 else text[:197] + "..."


def change_lines(changes: dict[str, Any]) -> list[tuple[str, str, str]]:
    """[(what, before, after)] of an event's changes, in words."""
    out = []
    for field, pair in changes.items():
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        out.append(
            (
                FIELD_WORDS.get(field, field),
                change_value(field, pair[0]),
                change_value(field, pair[1]),
            )
        )
    return out


def make_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml", "html.j2"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["uk_time"] = uk_time
    env.filters["uk_day"] = uk_day
    env.filters["value_text"] = value_text
    env.filters["squash"] = squash
    env.filters["plain_reason"] = plain_reason
    env.filters["stage_words"] = stage_words
    env.filters["area_name"] = area_name
    env.filters["opportunity_value"] = opportunity_value
    return env


_ENV = make_env()


def render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)


def alert_subject(opportunity: Any, kind: str = "new", event_kind: str | None = None) -> str:
    title = squash(opportunity.title) or "an opportunity"
    if len(title) > 90:
        title = title[:87] + "..."
    if kind.startswith("change"):
        return f"Changed ({EVENT_WORDS.get(event_kind or '', 'amended')}): {title}"
    if kind == "reminder":
        return f"Reminder, closes {uk_day(opportunity.deadline)}: {title}"
    return f"New opportunity: {title}"
