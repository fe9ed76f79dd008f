"""Deadline reminders: every alert carries a signed "remind me" link (``/remind/<token>``,
purpose "remind", data {"org", "opp", "days"}); the page it opens calls ``set_reminder``.
When the day comes (``days`` before the deadline as it stands then: a moved deadline moves
the reminder) an alert of kind "reminder" goes into the outbox on the channels the
organisation was told on; none if the opportunity was cancelled or withdrawn, or closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from models.store.tables import Alert, Opportunity, Profile, Reminder
from models.store.upsert import insert_ignore_count

CLOSED_STAGES = ("cancelled", "terminated", "award")
MAX_DAYS = 60


def set_reminder(session: Session, org_id: int, opp_id: int, days: int, now: datetime) -> Reminder:
    """Ask for (or change) a reminder; ``days`` 1-60. The web page of a remind link calls
    this with the link's data."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a reminder is 1 to {MAX_DAYS} days before the deadline")
    opp = session.get(Opportunity, opp_id)
    if opp is None:
        raise ValueError(f"no opportunity {opp_id}")
    target = opp.canonical_id or opp_id
    r = session.exec(
        select(Reminder).where(
            Reminder.organisation_id == org_id, Reminder.opportunity_id == target
        )
    ).first()
    if r is None:
        r = Reminder(organisation_id=org_id, opportunity_id=target, created_at=now)
    r.days, r.status, r.queued_at = days, "pending", None
    session.add(r)
    session.flush()
    return r


def queue_due_reminders(session: Session, now: datetime) -> int:
    """Pending reminders whose day has come become "reminder" alerts; returns how many."""
    rows = session.exec(
        select(Reminder, Opportunity)
        .join(Opportunity, col(Opportunity.id) == Reminder.opportunity_id)
        .where(Reminder.status == "pending")
    ).all()
    out = []
    for r, opp in rows:
        if opp.canonical_id is not None:  # now another listing of one: follow it
            root = session.get(Opportunity, opp.canonical_id)
            opp = root or opp
        if opp.stage in CLOSED_STAGES or (opp.deadline is not None and opp.deadline <= now):
            r.status = "cancelled"
            session.add(r)
            continue
        if opp.deadline is None or now < opp.deadline - timedelta(days=r.days):
            continue
        told = session.exec(
            select(Alert.channel, Alert.profile_id).where(
                Alert.organisation_id == r.organisation_id,
                col(Alert.opportunity_id) == opp.id,
                col(Alert.channel).in_(("email", "sms")),
            )
        ).all()
        channels = dict(told) or {}
        if not channels:
            profile = session.exec(
                select(Profile.id).where(Profile.organisation_id == r.organisation_id)
            ).first()
            if profile is None:
                r.status = "cancelled"
                session.add(r)
                continue
            channels = {"email": profile}
        for channel, profile_id in channels.items():
            out.append(
                {
                    "organisation_id": r.organisation_id,
                    "profile_id": profile_id,
                    "opportunity_id": opp.id,
                    "kind": "reminder",
                    "channel": channel,
                    "status": "pending",
                    "route": "instant",
                    "reasons": [f"you asked to be reminded {r.days} days before it closes"],
                    "score": 0,
                    "attempts": 0,
                    "created_at": now,
                }
            )
        r.status, r.queued_at = "queued", now
        session.add(r)
    n = insert_ignore_count(
        session, Alert, out, ["organisation_id", "opportunity_id", "kind", "channel"]
    )
    session.flush()
    return n
