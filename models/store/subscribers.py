"""Organisations and their profiles."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from models.store.db import get_engine, session_scope
from models.store.tables import Organisation, Profile

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REGION = re.compile(r"^(UK|TL)[A-Z0-9]{0,3}$")
KINDS = ("sme", "vcse", "infrastructure")


class SubscriberError(ValueError):
    pass


def add_subscriber(
    *,
    name: str,
    email: str,
    kind: str = "sme",
    cpv_prefixes: list[str],
    keywords: list[str],
    regions: list[str],
    min_value: float | None,
    max_value: float | None,
    engine: Engine | None = None,
) -> tuple[Organisation, Profile, bool]:
    email = email.strip().lower()
    if not name.strip():
        raise SubscriberError("the organisation needs a name")
    if not _EMAIL.match(email):
        raise SubscriberError(f"{email!r} is not an email address")
    if kind not in KINDS:
        raise SubscriberError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    cpv = [c.strip() for c in cpv_prefixes if c.strip()]
    bad = [c for c in cpv if not (c.isdigit() and 1 <= len(c) <= 8)]
    if bad:
        raise SubscriberError(f"CPV prefixes are 1 to 8 digits: {', '.join(bad)}")
    regs = [r.strip().upper() for r in regions if r.strip()]
    # ITL codes mirror NUTS with TL for UK (TLJ4 = UKJ4); the sources publish NUTS.
    regs = ["UK" + r[2:] if r.startswith("TL") else r for r in regs]
    bad = [r for r in regs if not _REGION.match(r)]
    if bad:
        raise SubscriberError(f"regions are NUTS/ITL codes such as UKJ4: {', '.join(bad)}")
    if min_value is not None and max_value is not None and min_value > max_value:
        raise SubscriberError(f"min value {min_value:,.0f} is above max value {max_value:,.0f}")
    if any(v is not None and v < 0 for v in (min_value, max_value)):
        raise SubscriberError("values cannot be negative")
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        org = s.exec(select(Organisation).where(Organisation.email == email)).first()
        created = org is None
        if org is None:
            org = Organisation(name=name.strip(), email=email, kind=kind, created_at=now)
            s.add(org)
            s.flush()
        else:
            org.name, org.kind = name.strip(), kind
        profile = s.exec(
            select(Profile).where(Profile.organisation_id == org.id).order_by(col(Profile.id))
        ).first()
        if profile is None:
            profile = Profile(organisation_id=org.id or 0, created_at=now)
        profile.cpv_prefixes, profile.keywords, profile.regions = cpv, keywords, regs
        profile.min_value, profile.max_value = min_value, max_value
        s.add(profile)
        s.flush()
        s.refresh(org)
        s.refresh(profile)
    return org, profile, created


def list_subscribers() -> list[tuple[Organisation, Profile]]:
    with session_scope(get_engine()) as s:
        return list(
            s.exec(
                select(Organisation, Profile)
                .join(Profile, col(Profile.organisation_id) == Organisation.id)
                .order_by(col(Organisation.id))
            ).all()
        )
