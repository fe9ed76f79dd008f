"""Server-rendered pages: one Jinja environment (autoescaped) with the filters every page
uses. Times are shown in UK local time; money in the words an alert uses."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bidbell.clock import to_uk, utcnow
from models.classify import BAND_LABEL, BANDS, SECTORS, band_text, value_words
from models.classify.areas import NUTS1, area_labels
from models.store.queries import AREA_CHOICES, SORTS
from models.subscribers.criteria import KIND_LABEL, KINDS, STAGE_LABEL, STAGES
from notifiers.render import source_label
from web.sanitise import sanitise_html
from web.security import CSRF_FIELD, csrf_token

TEMPLATES = Path(__file__).resolve().parent / "templates"
STAGE_WORDS = {
    **STAGE_LABEL,
    "pipeline": "pipeline notice",
    "early_engagement": "early market engagement",
    "planned": "planned procurement",
    "tender": "tender",
    "award": "award",
    "cancelled": "cancelled",
    "terminated": "terminated",
    "unknown": "stage not stated",
}
AREA_LABEL = dict(AREA_CHOICES)
FIELD_LABEL = {
    "title": "title", "description": "description", "buyer_name": "buyer", "cpv_codes": "CPV codes",
    "regions": "where", "lots": "lots", "sme_suitable": "suitable for SMEs",
    "vcse_suitable": "suitable for VCSEs", "is_subcontract": "subcontract",
    "parent_reference": "parent contract", "notice_type": "notice type", "stage": "stage",
    "deadline": "deadline", "value_amount": "value", "value_amount_gross": "value with VAT",
    "value_min": "lowest value", "value_currency": "currency",
}  # fmt: skip
EVENT_LABEL = {
    "new": "First published",
    "amended": "Amended",
    "deadline_changed": "Deadline changed",
    "value_changed": "Value changed",
    "cancelled": "Cancelled",
    "awarded": "Awarded",
}


def uk_date(value: datetime | None) -> str:
    return to_uk(value).strftime("%a %-d %b %Y") if value is not None else "not stated"


def uk_datetime(value: datetime | None) -> str:
    if value is None:
        return "not stated"
    local = to_uk(value)
    return local.strftime("%a %-d %b %Y, %H:%M ") + (local.tzname() or "")


def days_left(value: datetime | None, now: datetime | None = None) -> str:
    """ "12 days left", "closes today", "closed 3 days ago"."""
    if value is None:
        return "no deadline stated"
    seconds = (value - (now or utcnow())).total_seconds()
    if seconds < 0:
        days = math.floor(-seconds / 86400)
        return "closed today" if days == 0 else f"closed {days} day{'s' * (days != 1)} ago"
    days = math.floor(seconds / 86400)
    if days == 0:
        return "closes today"
    return f"{days} day{'s' * (days != 1)} left"


def change_text(field: str, value: Any) -> str:
    """A before or after value of a change, as a person reads it."""
    if value is None or value == [] or value == "":
        return "not stated"
    if field == "deadline" and isinstance(value, str):
        try:
            return uk_datetime(datetime.fromisoformat(value))
        except ValueError:
            return value
    if field == "regions" and isinstance(value, list):
        return ", ".join(area_labels(value)) or ", ".join(map(str, value))
    if field.startswith("value_") and isinstance(value, int | float):
        return f"{value:,.0f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field == "stage":
        return STAGE_WORDS.get(str(value), str(value))
    if isinstance(value, list):
        return ", ".join(
            str(v.get("title") or v.get("id")) if isinstance(v, dict) else str(v) for v in value
        )
    text = str(value)
    return text if len(text) <= 300 else text[:297] + "..."


def opportunity_value(o: Any) -> str:
    return value_words(
        o.value_amount, o.value_currency, gross=o.value_amount_gross, minimum=o.value_min
    )


templates = Jinja2Templates(directory=str(TEMPLATES))
env = templates.env
env.filters.update(
    uk_date=uk_date,
    uk_datetime=uk_datetime,
    days_left=days_left,
    change_text=change_text,
    source_label=source_label,
    sanitise=sanitise_html,
    value_text=opportunity_value,
    area_labels=area_labels,
)
env.filters.update(
    dict=lambda pairs: dict(pairs or []),
    source_pair=lambda item: (item[0], source_label(item[0])),
    area_pair=lambda code: (code, AREA_LABEL.get(code, code)),
)
env.globals.update(
    SECTOR_CHOICES=[(s, s) for s in SECTORS],
    BAND_CHOICES=list(BANDS),
    STAGE_CHOICES=[(s, STAGE_LABEL[s].capitalize()) for s in STAGES],
    SUITABLE_CHOICES=[
        ("sme", "Small and medium-sized enterprises"),
        ("vcse", "Voluntary, community and social enterprises"),
    ],
    CHANNEL_CHOICES=[
        ("email", "Email"),
        ("sms", "Text message"),
        ("feed", "Private feed (RSS/Atom)"),
    ],
    FREQUENCY_CHOICES=[
        ("instant", "As they come"),
        ("daily", "Once a day"),
        ("weekly", "Once a week"),
    ],
    BAND_LABEL=BAND_LABEL,
    band_text=band_text,
    STAGE_WORDS=STAGE_WORDS,
    AREA_LABEL=AREA_LABEL,
    AREA_CHOICES=AREA_CHOICES,
    NUTS1=NUTS1,
    SORTS=SORTS,
    KINDS=KINDS,
    KIND_LABEL=KIND_LABEL,
    FIELD_LABEL=FIELD_LABEL,
    EVENT_LABEL=EVENT_LABEL,
    CSRF_FIELD=CSRF_FIELD,
)


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page, with the CSRF field its forms need (``csrf_field``)."""
    token = csrf_token(request)
    context.setdefault("title", "")
    context["csrf_field"] = Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, token
    )
    return templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=headers
    )
