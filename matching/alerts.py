"""From stored opportunities and profiles to outbox rows (one transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from matching.engine import OPEN_STAGES, OpportunityView, ProfileIndex, ProfileSpec, match
from models.store.tables import Alert, Opportunity, Organisation, Profile
from models.store.upsert import insert_ignore_count


@dataclass
class AlertResult:
    profiles: int
    opportunities: int
    matches: int
    alerts_created: int


def load_index(session: Session) -> ProfileIndex:
    rows = session.exec(select(Profile).where(col(Profile.active).is_(True)))
    return ProfileIndex(
        ProfileSpec(
            profile_id=p.id or 0,
            organisation_id=p.organisation_id,
            cpv_prefixes=p.cpv_prefixes,
            keywords=p.keywords,
            regions=p.regions,
            min_value=p.min_value,
            max_value=p.max_value,
        )
        for p in rows
    )


def view(o: Opportunity) -> OpportunityView:
    return OpportunityView(
        id=o.id or 0,
        title=o.title,
        description=o.description,
        cpv_codes=o.cpv_codes,
        regions=o.regions,
        buyer_region=o.buyer_region,
        value_amount=(o.value_amount if o.value_amount is not None else o.value_amount_gross),
        value_currency=o.value_currency,
        lot_values=[
            lot["value_amount"]
            for lot in o.lots
            if lot.get("value_amount") is not None
            and lot.get("value_currency") in (None, o.value_currency)
        ],
        stage=o.stage,
        deadline=o.deadline,
    )


def create_alerts(session: Session, now: datetime) -> AlertResult:
    """Match every open opportunity against every active profile; add missing alerts.

    The outbox's unique key (organisation x opportunity x kind x channel) makes this
    idempotent: running it again adds nothing already there.
    """
    index = load_index(session)
    open_opps = session.exec(
        select(Opportunity).where(
            col(Opportunity.stage).in_(sorted(OPEN_STAGES)),
            col(Opportunity.canonical_id).is_(None),  # one alert per procurement, not listing
            (col(Opportunity.deadline).is_(None)) | (col(Opportunity.deadline) > now),
        )
    ).all()
    matches = match((view(o) for o in open_opps), index, now)
    channels = {p.id: p.channels for p in session.exec(select(Profile))}
    emails = dict(session.exec(select(Organisation.id, Organisation.email)).all())
    rows = []
    for m in matches:
        for channel in channels.get(m.profile_id) or ["email"]:
            if channel == "email" and not emails.get(m.organisation_id):
                continue
            rows.append(
                {
                    "organisation_id": m.organisation_id,
                    "profile_id": m.profile_id,
                    "opportunity_id": m.opportunity_id,
                    "kind": "new",
                    "channel": channel,
                    "status": "pending",
                    "reasons": m.reasons,
                    "attempts": 0,
                    "created_at": now,
                }
            )
    created = insert_ignore_count(
        session, Alert, rows, keys=["organisation_id", "opportunity_id", "kind", "channel"]
    )
    return AlertResult(len(index), len(open_opps), len(matches), created)
