"""The sign-up and preferences forms: read what was posted into the one definition of an
organisation and a profile (models.subscribers.criteria), with a message per field, and
write a profile back into form values."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from models.classify.kent_postcodes import DISTRICT_AREA
from models.subscribers.criteria import (
    DEFAULT_STAGES,
    Criteria,
    OrganisationForm,
    ProfileForm,
)
from web.deps import field_errors

# Form input names that differ from the field a message is about.
_PROFILE_INPUT = {"name": "profile_name", "districts": "areas", "regions": "areas"}
_ORG_INPUT = {"name": "org_name"}
_CRITERIA_HINTS = (("min_value", "min_value"), ("postcode", "postcode"), ("stages", "stages"),
                   ("sectors", "sectors"), ("radius", "radius_miles"))  # fmt: skip


def _list(form: FormData, name: str) -> list[str]:
    return [str(v).strip() for v in form.getlist(name) if str(v).strip()]


def _phrases(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[;\n\r,]+", text) if p.strip()]


def _money(text: str, name: str, errors: dict[str, str]) -> float | None:
    t = text.strip().replace(",", "").replace("£", "")
    if not t:
        return None
    try:
        return float(t)
    except ValueError:
        errors[name] = f"{text!r} is not an amount in pounds (for example 25000)"
        return None


def read_profile_form(form: FormData) -> tuple[ProfileForm | None, dict[str, str], dict[str, Any]]:
    """(the profile, {input: message}, the values to show the form again with)."""
    errors: dict[str, str] = {}
    areas = _list(form, "areas")
    values: dict[str, Any] = {
        "profile_name": str(form.get("profile_name") or "").strip(),
        "keywords": str(form.get("keywords") or ""),
        "exclude_keywords": str(form.get("exclude_keywords") or ""),
        "sectors": _list(form, "sectors"),
        "areas": areas,
        "postcode": str(form.get("postcode") or "").strip(),
        "radius_miles": str(form.get("radius_miles") or "").strip(),
        "min_value": str(form.get("min_value") or "").strip(),
        "max_value": str(form.get("max_value") or "").strip(),
        "value_not_stated": form.get("value_not_stated") is not None,
        "stages": _list(form, "stages"),
        "suitable_for": _list(form, "suitable_for"),
        "channels": _list(form, "channels"),
        "frequency": str(form.get("frequency") or "instant"),
        "active": form.get("active") is not None,
    }
    criteria: dict[str, Any] = {
        "keywords": _phrases(values["keywords"]),
        "exclude_keywords": _phrases(values["exclude_keywords"]),
        "sectors": values["sectors"],
        "districts": [a for a in areas if a in DISTRICT_AREA],
        "regions": [a for a in areas if a not in DISTRICT_AREA],
        "min_value": _money(values["min_value"], "min_value", errors),
        "max_value": _money(values["max_value"], "max_value", errors),
        "value_not_stated": values["value_not_stated"],
        "stages": values["stages"],
        "suitable_for": values["suitable_for"],
    }
    if values["postcode"] or values["radius_miles"]:
        criteria["postcode"] = values["postcode"] or None
        try:
            criteria["radius_miles"] = (
                float(values["radius_miles"]) if values["radius_miles"] else None
            )
        except ValueError:
            errors["radius_miles"] = f"{values['radius_miles']!r} is not a number of miles"
    if not values["stages"]:
        errors["stages"] = "choose at least one stage"
    try:
        profile = ProfileForm.model_validate(
            {
                "name": values["profile_name"] or "My alerts",
                "criteria": criteria,
                "channels": values["channels"],
                "frequency": values["frequency"],
            }
        )
    except ValidationError as exc:
        for name, message in field_errors(exc).items():
            if name == "criteria":
                name = next((inp for hint, inp in _CRITERIA_HINTS if hint in message), "keywords")
            errors.setdefault(_PROFILE_INPUT.get(name, name), message)
        return None, errors, values
    return (None if errors else profile), errors, values


def read_organisation_form(
    form: FormData, email: str | None = None
) -> tuple[OrganisationForm | None, dict[str, str], dict[str, Any]]:
    values: dict[str, Any] = {
        "org_name": str(form.get("org_name") or ""),
        "email": email if email is not None else str(form.get("email") or "").strip(),
        "kind": str(form.get("kind") or ""),
        "sub_kind": str(form.get("sub_kind") or ""),
        "mobile": str(form.get("mobile") or "").strip(),
        "areas_served": str(form.get("areas_served") or ""),
    }
    errors: dict[str, str] = {}
    if not values["kind"]:
        errors["kind"] = "choose what kind of organisation you are"
    try:
        org = OrganisationForm.model_validate(
            {
                "name": values["org_name"],
                "email": values["email"],
                "kind": values["kind"] or "sme",
                "sub_kind": values["sub_kind"] or None,
                "mobile": values["mobile"] or None,
                "areas_served": _phrases(values["areas_served"]),
            }
        )
    except ValidationError as exc:
        for name, message in field_errors(exc).items():
            if name == "OrganisationForm" or name == "form":
                name = "sub_kind"
            errors.setdefault(_ORG_INPUT.get(name, name), message)
        if not values["email"].strip():
            errors["email"] = "enter your email address"
        return None, errors, values
    return (None if errors else org), errors, values


def profile_values(
    criteria: Criteria,
    *,
    name: str = "My alerts",
    channels: list[str] | None = None,
    frequency: str = "instant",
    active: bool = True,
) -> dict[str, Any]:
    """Form values of a saved profile (or of a search about to become one)."""
    return {
        "profile_name": name,
        "keywords": "\n".join(criteria.keywords),
        "exclude_keywords": "; ".join(criteria.exclude_keywords),
        "sectors": list(criteria.sectors),
        "areas": [*criteria.districts, *criteria.regions],
        "postcode": criteria.postcode or "",
        "radius_miles": f"{criteria.radius_miles:g}" if criteria.radius_miles else "",
        "min_value": f"{criteria.min_value:.0f}" if criteria.min_value is not None else "",
        "max_value": f"{criteria.max_value:.0f}" if criteria.max_value is not None else "",
        "value_not_stated": criteria.value_not_stated,
        "stages": list(criteria.stages),
        "suitable_for": list(criteria.suitable_for),
        "channels": channels or ["email"],
        "frequency": frequency,
        "active": active,
    }


def empty_profile_values() -> dict[str, Any]:
    values = profile_values(Criteria.model_validate({}))
    values["stages"] = list(DEFAULT_STAGES)
    return values
