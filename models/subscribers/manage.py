"""Organisations and their profiles in the database: register or update, list, show,
remove, and CSV import and export (an infrastructure organisation's member list).

Every write goes through ``models.subscribers.criteria`` first, so that what is stored is
valid and normalised; a profile's ``version`` grows only when what it asks for changes, so
that re-registering or re-importing the same thing changes nothing (and the matcher sends no
second welcome).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.store.db import get_engine, session_scope
from models.store.tables import Alert, Delivery, Organisation, Profile
from models.subscribers.criteria import (
    Criteria,
    OrganisationForm,
    ProfileForm,
    SubscriberError,
    criteria_with_areas,
    explain_error,
)

__all__ = [
    "CSV_COLUMNS",
    "ImportReport",
    "SaveResult",
    "SubscriberError",
    "add_subscriber",
    "export_csv",
    "get_subscriber",
    "import_csv",
    "list_subscribers",
    "profile_criteria",
    "remove_subscriber",
    "save_subscriber",
]

# The CSV format of `bidbell subscribers import` and `export`. One row per profile (an
# organisation with two profiles has two rows with the same email); only name and email are
# required. Lists are separated by ";". ``areas`` holds Kent districts, NUTS/ITL codes and at
# most one "within N miles of POSTCODE".
CSV_COLUMNS = (
    "name", "email", "kind", "sub_kind", "mobile", "areas_served", "member_of",
    "profile", "sectors", "exclude_sectors", "cpv", "exclude_cpv", "keywords",
    "exclude_keywords", "min_value", "max_value", "value_not_stated", "areas", "stages",
    "suitable_for", "min_fit_score", "min_days_left", "channels", "frequency",
)  # fmt: skip
ORG_COLUMNS = ("name", "email", "kind", "sub_kind", "mobile", "areas_served", "member_of")
_CRITERIA_COLUMNS = {"cpv": "cpv_prefixes", "exclude_cpv": "exclude_cpv"}
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


@dataclass
class SaveResult:
    organisation: Organisation
    profiles: list[Profile]
    created: bool = False  # a new organisation
    changed: bool = False  # anything stored differs from before


def profile_criteria(profile: Profile) -> Criteria:
    """The stored criteria of a profile (validated again: the one definition)."""
    return Criteria.model_validate(profile.criteria or {})


def _dump(criteria: Criteria) -> dict[str, Any]:
    return criteria.model_dump(mode="json")


def _find_member_of(session: Session, email: str | None) -> int | None:
    if email is None:
        return None
    parent = session.exec(select(Organisation).where(Organisation.email == email)).first()
    if parent is None:
        raise SubscriberError(f"member_of: no organisation registered as {email}")
    if parent.kind != "infrastructure":
        raise SubscriberError(
            f"member_of: {email} is a {parent.kind} organisation, not an infrastructure one"
        )
    return parent.id


def _save(
    session: Session, org_form: OrganisationForm, profiles: list[ProfileForm], now: datetime
) -> SaveResult:
    if any("sms" in p.channels for p in profiles) and not org_form.mobile:
        raise SubscriberError("channels: sms needs the organisation's mobile number")
    member_of_id = _find_member_of(session, org_form.member_of)
    org = session.exec(select(Organisation).where(Organisation.email == org_form.email)).first()
    result = SaveResult(organisation=org or Organisation(name="", email=""), profiles=[])
    values: dict[str, Any] = {
        "name": org_form.name,
        "kind": org_form.kind,
        "sub_kind": org_form.sub_kind,
        "mobile": org_form.mobile,
        "areas": list(org_form.areas_served),
        "member_of_id": member_of_id,
    }
    if org is None:
        org = Organisation(email=org_form.email, created_at=now, updated_at=now, **values)
        session.add(org)
        session.flush()
        result.created = result.changed = True
    elif any(getattr(org, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(org, k, v)
        org.updated_at = now
        session.add(org)
        result.changed = True
    result.organisation = org
    existing = {
        p.name: p for p in session.exec(select(Profile).where(Profile.organisation_id == org.id))
    }
    for form in profiles:
        wanted: dict[str, Any] = {
            "criteria": _dump(form.criteria),
            "channels": list(form.channels),
            "frequency": form.frequency,
            "active": True,
        }
        row = existing.get(form.name)
        if row is None:
            row = Profile(
                organisation_id=org.id or 0,
                name=form.name,
                created_at=now,
                updated_at=now,
                version=1,
                **wanted,
            )
            result.changed = True
        elif any(getattr(row, k) != v for k, v in wanted.items()):
            for k, v in wanted.items():
                setattr(row, k, v)
            row.version += 1
            row.updated_at = now
            result.changed = True
        session.add(row)
        result.profiles.append(row)
    session.flush()
    return result


def save_subscriber(
    organisation: OrganisationForm,
    profiles: Iterable[ProfileForm] = (),
    *,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> SaveResult:
    """Register an organisation (by email) or update it; create or update the named
    profiles (others it has are kept). Raises SubscriberError naming the field."""
    now = now or datetime.now(UTC)
    with session_scope(engine) as s:
        result = _save(s, organisation, list(profiles), now)
        s.flush()
        s.refresh(result.organisation)
        for p in result.profiles:
            s.refresh(p)
        s.expunge_all()
    return result


def add_subscriber(
    *,
    name: str,
    email: str,
    kind: str = "sme",
    cpv_prefixes: list[str] | None = None,
    keywords: list[str] | None = None,
    regions: list[str] | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
    engine: Engine | None = None,
    profile: str = "default",
    channels: list[str] | None = None,
    frequency: str = "instant",
    mobile: str | None = None,
    sub_kind: str | None = None,
    areas_served: list[str] | None = None,
    member_of: str | None = None,
    **criteria: Any,
) -> tuple[Organisation, Profile, bool]:
    """Register an organisation with one profile from keyword arguments (the command line,
    the demo and tests): ``criteria`` takes any further Criteria field, and ``areas`` in
    words ("Swale", "within 10 miles of ME10"). Returns (organisation, profile, created)."""
    data: dict[str, Any] = {
        "cpv_prefixes": cpv_prefixes or [],
        "keywords": keywords or [],
        "regions": regions or [],
        "min_value": min_value,
        "max_value": max_value,
        **criteria,
    }
    try:
        areas = list(data.pop("areas", None) or [])
        org_form = OrganisationForm(
            name=name,
            email=email,
            kind=kind,  # type: ignore[arg-type]
            sub_kind=sub_kind,
            mobile=mobile,
            areas_served=areas_served or [],
            member_of=member_of,
        )
        form = ProfileForm(
            name=profile,
            criteria=Criteria.model_validate(criteria_with_areas(data, areas)),
            channels=channels or ["email"],  # type: ignore[arg-type]
            frequency=frequency,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        raise SubscriberError(explain_error(exc)) from None
    except ValueError as exc:
        raise SubscriberError(f"areas: {exc}") from None
    result = save_subscriber(org_form, [form], engine=engine)
    return result.organisation, result.profiles[0], result.created


def list_subscribers(engine: Engine | None = None) -> list[tuple[Organisation, list[Profile]]]:
    with session_scope(engine or get_engine()) as s:
        orgs = list(s.exec(select(Organisation).order_by(col(Organisation.id))))
        profiles: dict[int, list[Profile]] = {}
        for p in s.exec(select(Profile).order_by(col(Profile.id))):
            profiles.setdefault(p.organisation_id, []).append(p)
        s.expunge_all()
    return [(o, profiles.get(o.id or 0, [])) for o in orgs]


def get_subscriber(
    key: str, engine: Engine | None = None
) -> tuple[Organisation, list[Profile], list[Organisation], Organisation | None] | None:
    """(organisation, its profiles, its members, the organisation it is a member of) by
    email or id; None when there is none."""
    with session_scope(engine or get_engine()) as s:
        q = select(Organisation)
        q = (
            q.where(Organisation.id == int(key))
            if key.isdigit()
            else q.where(Organisation.email == key.strip().lower())
        )
        org = s.exec(q).first()
        if org is None:
            return None
        profiles = list(
            s.exec(
                select(Profile).where(Profile.organisation_id == org.id).order_by(col(Profile.id))
            )
        )
        members = list(
            s.exec(
                select(Organisation)
                .where(Organisation.member_of_id == org.id)
                .order_by(col(Organisation.id))
            )
        )
        parent = s.get(Organisation, org.member_of_id) if org.member_of_id else None
        s.expunge_all()
    return org, profiles, members, parent


def remove_subscriber(key: str, engine: Engine | None = None) -> Organisation | None:
    """Remove an organisation with its profiles, alerts and their delivery records (its
    members stay, no longer members of it). None when there is no such organisation."""
    with session_scope(engine or get_engine()) as s:
        q = select(Organisation)
        q = (
            q.where(Organisation.id == int(key))
            if key.isdigit()
            else q.where(Organisation.email == key.strip().lower())
        )
        org = s.exec(q).first()
        if org is None:
            return None
        alert_ids = select(Alert.id).where(Alert.organisation_id == org.id)
        s.execute(delete(Delivery).where(col(Delivery.alert_id).in_(alert_ids)))
        s.execute(delete(Alert).where(col(Alert.organisation_id) == org.id))
        s.execute(delete(Profile).where(col(Profile.organisation_id) == org.id))
        s.execute(
            update(Organisation)
            .where(col(Organisation.member_of_id) == org.id)
            .values(member_of_id=None)
        )
        s.delete(org)
        s.flush()
        s.expunge(org)
    return org


# --- CSV ---------------------------------------------------------------------------------
@dataclass
class ImportReport:
    rows: int = 0
    organisations_created: int = 0
    organisations_updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def _bool(text: str, column: str) -> bool:
    key = text.strip().lower()
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise SubscriberError(f"{column}: {text!r} is not yes or no")


def _number(text: str, column: str) -> float | None:
    t = text.strip().replace(",", "").replace("£", "")
    if not t:
        return None
    try:
        return float(t)
    except ValueError:
        raise SubscriberError(f"{column}: {text!r} is not a number") from None


def read_csv_row(row: dict[str, str]) -> tuple[OrganisationForm, ProfileForm]:
    """One CSV row -> (organisation, profile), or SubscriberError naming the column."""
    cell = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
    if not cell.get("email"):
        raise SubscriberError("email: missing")
    if not cell.get("name"):
        raise SubscriberError("name: missing")
    org_data: dict[str, Any] = {k: cell[k] for k in ORG_COLUMNS if cell.get(k)}
    crit: dict[str, Any] = {}
    for column in (
        "sectors", "exclude_sectors", "cpv", "exclude_cpv", "keywords", "exclude_keywords",
        "stages", "suitable_for",
    ):  # fmt: skip
        if cell.get(column):
            crit[_CRITERIA_COLUMNS.get(column, column)] = cell[column]
    for column in ("min_value", "max_value", "min_fit_score", "min_days_left"):
        if cell.get(column):
            crit[column] = _number(cell[column], column)
    if cell.get("value_not_stated"):
        crit["value_not_stated"] = _bool(cell["value_not_stated"], "value_not_stated")
    areas = [a.strip() for a in cell.get("areas", "").split(";") if a.strip()]
    try:
        crit = criteria_with_areas(crit, areas)
    except ValueError as exc:
        raise SubscriberError(f"areas: {exc}") from None
    try:
        org = OrganisationForm.model_validate(org_data)
        profile = ProfileForm.model_validate(
            {
                "name": cell.get("profile") or "default",
                "criteria": crit,
                **{k: cell[k] for k in ("channels", "frequency") if cell.get(k)},
            }
        )
    except ValidationError as exc:
        raise SubscriberError(explain_error(exc)) from None
    return org, profile


def import_csv(
    source: Path | TextIO, *, member_of: str | None = None, engine: Engine | None = None
) -> ImportReport:
    """Import organisations and profiles from a CSV (columns: CSV_COLUMNS; name and email
    required). A bad row is reported with its line number and reason and the rest are stored;
    a repeated row (same email and profile) is refused as a duplicate of the first; an
    import of the same file again changes nothing. ``member_of``: the email of the
    infrastructure organisation whose members these are (for rows that name none)."""
    member_of = member_of.strip().lower() if member_of else None
    text = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source.read()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    report = ImportReport()
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("name", "email") if c not in header]
    if missing:
        raise SubscriberError(f"the CSV has no {' or '.join(missing)} column (line 1)")
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if unknown:
        raise SubscriberError(
            f"unknown column(s) {', '.join(unknown)} (line 1); known: {', '.join(CSV_COLUMNS)}"
        )
    groups: dict[str, tuple[int, OrganisationForm, list[tuple[int, ProfileForm]]]] = {}
    seen: dict[tuple[str, str], int] = {}
    start = 2
    for row in reader:
        line = start
        start = reader.line_num + 1
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        report.rows += 1
        try:
            own = (row.get("email") or "").strip().lower()
            if member_of and not (row.get("member_of") or "").strip() and own != member_of:
                row = {**row, "member_of": member_of}
            org, profile = read_csv_row(row)
        except SubscriberError as exc:
            report.rejected.append((line, str(exc)))
            continue
        key = (org.email, profile.name)
        if key in seen:
            report.rejected.append(
                (line, f"duplicate of line {seen[key]} ({org.email}, profile {profile.name!r})")
            )
            continue
        seen[key] = line
        if org.email in groups:
            first_line, first_org, profiles = groups[org.email]
            if org != first_org:
                report.rejected.append(
                    (line, f"{org.email}: organisation details differ from line {first_line}")
                )
                continue
            profiles.append((line, profile))
        else:
            groups[org.email] = (line, org, [(line, profile)])
    now = datetime.now(UTC)
    # infrastructure organisations first: their members name them
    ordered = sorted(groups.values(), key=lambda g: (g[1].kind != "infrastructure", g[0]))
    with session_scope(engine or get_engine()) as s:
        for line, org, profiles in ordered:
            try:  # _save checks everything before it writes: a refusal leaves nothing
                result = _save(s, org, [p for _, p in profiles], now)
            except SubscriberError as exc:
                report.rejected.append((line, str(exc)))
                continue
            if result.created:
                report.organisations_created += 1
            elif result.changed:
                report.organisations_updated += 1
            else:
                report.unchanged += 1
    report.rejected.sort()
    return report


def _cell(values: Iterable[Any]) -> str:
    return "; ".join(str(v) for v in values)


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def export_csv(out: TextIO, engine: Engine | None = None) -> int:
    """Every organisation and profile in the import format (importing it back changes
    nothing). Returns the number of rows written."""
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    subscribers = list_subscribers(engine)
    emails = {o.id: o.email for o, _ in subscribers}
    n = 0
    for org, profiles in subscribers:
        base = {
            "name": org.name,
            "email": org.email,
            "kind": org.kind,
            "sub_kind": org.sub_kind or "",
            "mobile": org.mobile or "",
            "areas_served": _cell(org.areas),
            "member_of": emails.get(org.member_of_id, "") if org.member_of_id else "",
        }
        rows_for: list[Profile | None] = list(profiles) or [None]
        for p in rows_for:
            row: dict[str, Any] = dict(base)
            if p is not None:
                c = profile_criteria(p)
                row.update(
                    profile=p.name,
                    sectors=_cell(c.sectors),
                    exclude_sectors=_cell(c.exclude_sectors),
                    cpv=_cell(c.cpv_prefixes),
                    exclude_cpv=_cell(c.exclude_cpv),
                    keywords=_cell(c.keywords),
                    exclude_keywords=_cell(c.exclude_keywords),
                    min_value=_money(c.min_value),
                    max_value=_money(c.max_value),
                    value_not_stated="yes" if c.value_not_stated else "no",
                    areas=_cell(str(a) for a in c.areas()),
                    stages=_cell(c.stages),
                    suitable_for=_cell(c.suitable_for),
                    min_fit_score="" if c.min_fit_score is None else c.min_fit_score,
                    min_days_left="" if c.min_days_left is None else c.min_days_left,
                    channels=_cell(p.channels),
                    frequency=p.frequency,
                )
            writer.writerow(row)
            n += 1
    return n
