"""The database side of the pages an organisation uses: sign-up with double opt-in,
confirmation, preferences, unsubscribe, reminders, its data and its deletion.

A web sign-up is stored at once but ``pending``: its profiles are inactive, so the matcher
gives it nothing and nothing is sent to it until the address is confirmed (an unconfirmed
sign-up is deleted after ``CONFIRM_TTL``). Every change to a profile, including switching
it on or off, grows its ``version``, so the matcher sees it (a profile switched on gets its
welcome digest of what is open)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bidbell.signing import CONFIRM_TTL
from models.store.tables import Alert, Delivery, Opportunity, Organisation, Profile, Reminder
from models.subscribers.criteria import OrganisationForm, ProfileForm, SubscriberError
from models.subscribers.manage import _save as save_in_session
from notifiers.reminders import set_reminder

PENDING = "pending"
ACTIVE = "active"
SignupOutcome = Literal["new", "pending_again", "already_registered"]


@dataclass
class Signup:
    outcome: SignupOutcome
    organisation_id: int
    email: str


def purge_unconfirmed(session: Session, now: datetime) -> int:
    """Delete sign-ups never confirmed within CONFIRM_TTL (and a day's grace)."""
    cutoff = now - CONFIRM_TTL - timedelta(days=1)
    stale = [
        o.id
        for o in session.exec(
            select(Organisation).where(
                Organisation.status == PENDING, col(Organisation.created_at) < cutoff
            )
        )
        if o.id is not None
    ]
    for org_id in stale:
        delete_organisation(session, org_id)
    return len(stale)


def register_signup(
    session: Session, org: OrganisationForm, profile: ProfileForm, now: datetime
) -> Signup:
    """Store a sign-up awaiting confirmation. An address already registered and confirmed
    is left exactly as it is (its owner is told so by email, not the visitor); a sign-up
    still pending is replaced by this one."""
    purge_unconfirmed(session, now)
    existing = session.exec(select(Organisation).where(Organisation.email == org.email)).first()
    if existing is not None and existing.status != PENDING:
        return Signup("already_registered", existing.id or 0, existing.email)
    if existing is not None:  # a new sign-up replaces the unconfirmed one and its profiles
        session.execute(delete(Profile).where(col(Profile.organisation_id) == existing.id))
        session.flush()
    result = save_in_session(session, org, [profile], now)
    result.organisation.status = PENDING
    result.organisation.created_at = now
    session.add(result.organisation)
    for p in result.profiles:
        p.active = False
        session.add(p)
    session.flush()
    outcome: SignupOutcome = "new" if existing is None else "pending_again"
    return Signup(outcome, result.organisation.id or 0, result.organisation.email)


def confirm_organisation(session: Session, org_id: int, now: datetime) -> Organisation | None:
    """Confirm a sign-up: the organisation becomes active and its profiles are switched on
    (a new version each: the matcher's welcome digest). None: no such organisation."""
    org = session.get(Organisation, org_id)
    if org is None:
        return None
    if org.status == PENDING:
        org.status, org.confirmed_at, org.updated_at = ACTIVE, now, now
        session.add(org)
        for p in session.exec(select(Profile).where(Profile.organisation_id == org_id)):
            set_active(session, p, True, now)
        session.flush()
    return org


def set_active(session: Session, profile: Profile, active: bool, now: datetime) -> bool:
    """Switch a profile's alerts on or off; True when that changed something."""
    if profile.active == active:
        return False
    profile.active = active
    profile.version += 1
    profile.updated_at = now
    session.add(profile)
    return True


def unsubscribe(
    session: Session, org_id: int, profile_id: int | None, now: datetime
) -> list[Profile] | None:
    """Stop alerts: every profile of the organisation, or the one named. Alerts of theirs
    still waiting in the outbox are cancelled (never sent). None: nothing to unsubscribe."""
    org = session.get(Organisation, org_id)
    if org is None:
        return None
    q = select(Profile).where(Profile.organisation_id == org_id)
    if profile_id is not None:
        q = q.where(Profile.id == profile_id)
    profiles = list(session.exec(q.order_by(col(Profile.id))))
    if not profiles:
        return None
    for p in profiles:
        set_active(session, p, False, now)
    pending = update(Alert).where(
        col(Alert.organisation_id) == org_id, col(Alert.status) == "pending"
    )
    if profile_id is not None:
        pending = pending.where(col(Alert.profile_id) == profile_id)
    session.execute(pending.values(status="cancelled"))
    session.flush()
    return profiles


def update_organisation(
    session: Session, org: Organisation, form: OrganisationForm, now: datetime
) -> bool:
    values: dict[str, Any] = {
        "name": form.name,
        "kind": form.kind,
        "sub_kind": form.sub_kind,
        "mobile": form.mobile,
        "areas": list(form.areas_served),
    }
    if not form.mobile and any(
        "sms" in p.channels
        for p in session.exec(select(Profile).where(Profile.organisation_id == org.id))
    ):
        raise SubscriberError("mobile: a profile sends SMS alerts; remove that channel first")
    changed = any(getattr(org, k) != v for k, v in values.items())
    if changed:
        for k, v in values.items():
            setattr(org, k, v)
        org.updated_at = now
        session.add(org)
        session.flush()
    return changed


def save_profile(
    session: Session,
    org: Organisation,
    profile_id: int | None,
    form: ProfileForm,
    active: bool,
    now: datetime,
) -> Profile:
    """Create a profile (``profile_id`` None) or change one of the organisation's; its
    version grows when what it asks for, or whether it is on, changed."""
    if "sms" in form.channels and not org.mobile:
        raise SubscriberError("channels: SMS needs the organisation's mobile number")
    clash = session.exec(
        select(Profile).where(Profile.organisation_id == org.id, Profile.name == form.name)
    ).first()
    if clash is not None and clash.id != profile_id:
        raise SubscriberError(f"name: you already have a profile called {form.name!r}")
    wanted: dict[str, Any] = {
        "name": form.name,
        "criteria": form.criteria.model_dump(mode="json"),
        "channels": list(form.channels),
        "frequency": form.frequency,
        "active": active,
    }
    if profile_id is None:
        row = Profile(
            organisation_id=org.id or 0, created_at=now, updated_at=now, version=1, **wanted
        )
    else:
        found = session.get(Profile, profile_id)
        if found is None or found.organisation_id != org.id:
            raise SubscriberError("profile: not one of yours")
        row = found
        if any(getattr(row, k) != v for k, v in wanted.items()):
            for k, v in wanted.items():
                setattr(row, k, v)
            row.version += 1
            row.updated_at = now
    session.add(row)
    session.flush()
    return row


def delete_profile(session: Session, org: Organisation, profile_id: int) -> bool:
    row = session.get(Profile, profile_id)
    if row is None or row.organisation_id != org.id:
        return False
    alert_ids = select(Alert.id).where(Alert.profile_id == profile_id)
    session.execute(delete(Delivery).where(col(Delivery.alert_id).in_(alert_ids)))
    session.execute(delete(Alert).where(col(Alert.profile_id) == profile_id))
    session.delete(row)
    session.flush()
    return True


def remind(
    session: Session, org_id: int, opportunity_id: int, days_before: int, now: datetime
) -> datetime | None:
    """Keep (or change) a reminder ``days_before`` the deadline (delivery sends it:
    notifiers.reminders); the day it is due, or None when the organisation or the
    opportunity is gone, or there is no deadline ahead to remind of."""
    org = session.get(Organisation, org_id)
    opp = session.get(Opportunity, opportunity_id)
    if org is None or opp is None or opp.deadline is None or opp.deadline <= now:
        return None
    set_reminder(session, org_id, opportunity_id, days_before, now)
    return max(now, opp.deadline - timedelta(days=days_before))


def export_data(session: Session, org: Organisation) -> dict[str, Any]:
    """Everything Bidbell keeps about an organisation ("download my data")."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    profiles = list(
        session.exec(
            select(Profile).where(Profile.organisation_id == org.id).order_by(col(Profile.id))
        )
    )
    alerts = list(
        session.exec(
            select(Alert, Opportunity)
            .join(Opportunity, col(Opportunity.id) == Alert.opportunity_id)
            .where(Alert.organisation_id == org.id)
            .order_by(col(Alert.id))
        )
    )
    alert_ids = [a.id for a, _ in alerts]
    deliveries = (
        list(
            session.exec(
                select(Delivery)
                .where(col(Delivery.alert_id).in_(alert_ids))
                .order_by(col(Delivery.id))
            )
        )
        if alert_ids
        else []
    )
    reminders = list(
        session.exec(
            select(Reminder, Opportunity)
            .join(Opportunity, col(Opportunity.id) == Reminder.opportunity_id)
            .where(Reminder.organisation_id == org.id)
        )
    )
    member_of = session.get(Organisation, org.member_of_id) if org.member_of_id else None
    members = list(session.exec(select(Organisation).where(Organisation.member_of_id == org.id)))
    return {
        "organisation": {
            "id": org.id,
            "name": org.name,
            "email": org.email,
            "kind": org.kind,
            "sub_kind": org.sub_kind,
            "mobile": org.mobile,
            "areas_served": org.areas,
            "status": org.status,
            "member_of": member_of.name if member_of else None,
            "members": [m.name for m in members],
            "created_at": iso(org.created_at),
            "confirmed_at": iso(org.confirmed_at),
            "updated_at": iso(org.updated_at),
        },
        "profiles": [
            {
                "id": p.id,
                "name": p.name,
                "criteria": p.criteria,
                "channels": p.channels,
                "frequency": p.frequency,
                "active": p.active,
                "version": p.version,
                "created_at": iso(p.created_at),
                "updated_at": iso(p.updated_at),
            }
            for p in profiles
        ],
        "alerts": [
            {
                "id": a.id,
                "profile_id": a.profile_id,
                "opportunity": {"ocid": o.ocid, "title": o.title},
                "kind": a.kind,
                "channel": a.channel,
                "status": a.status,
                "reasons": a.reasons,
                "created_at": iso(a.created_at),
                "sent_at": iso(a.sent_at),
            }
            for a, o in alerts
        ],
        "deliveries": [
            {
                "alert_id": d.alert_id,
                "channel": d.channel,
                "target": d.target,
                "ok": d.ok,
                "error": d.error,
                "attempted_at": iso(d.attempted_at),
            }
            for d in deliveries
        ],
        "reminders": [
            {
                "opportunity": {"ocid": o.ocid, "title": o.title},
                "days_before": r.days,
                "status": r.status,
                "queued_at": iso(r.queued_at),
            }
            for r, o in reminders
        ],
    }


def delete_organisation(session: Session, org_id: int) -> bool:
    """Everything about an organisation gone: reminders, alerts and their deliveries,
    profiles, the organisation (its members stay, members of nothing). What
    models.subscribers.manage.remove_subscriber does, plus reminders, in the caller's
    transaction (a second connection would wait on this one's lock on SQLite)."""
    org = session.get(Organisation, org_id)
    if org is None:
        return False
    alert_ids = select(Alert.id).where(Alert.organisation_id == org_id)
    session.execute(delete(Reminder).where(col(Reminder.organisation_id) == org_id))
    session.execute(delete(Delivery).where(col(Delivery.alert_id).in_(alert_ids)))
    session.execute(delete(Alert).where(col(Alert.organisation_id) == org_id))
    session.execute(delete(Profile).where(col(Profile.organisation_id) == org_id))
    session.execute(
        update(Organisation)
        .where(col(Organisation.member_of_id) == org_id)
        .values(member_of_id=None)
    )
    session.delete(org)
    session.flush()
    return True
