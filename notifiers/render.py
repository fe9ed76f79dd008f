"""Sandboxed templates: what a subscriber reads. Times shown in UK local time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from models.classify import value_words

UK = ZoneInfo("Europe/London")
TEMPLATES = Path(__file__).resolve().parent / "templates"


def uk_time(value: datetime | None) -> str:
    if value is None:
        return "not stated"
    return value.astimezone(UK).strftime("%a %d %b %Y, %H:%M %Z")


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


def make_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["uk_time"] = uk_time
    env.filters["value_text"] = value_text
    return env


_ENV = make_env()


def render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)


def alert_subject(opportunity: Any) -> str:
    title = " ".join(str(opportunity.title).split())
    if len(title) > 90:
        title = title[:87] + "..."
    return f"New opportunity: {title}"
