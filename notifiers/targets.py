"""Targets an organisation's administrator adds besides its email and mobile (Teams, Slack,
a webhook...): apprise URLs of an allowed scheme that point at no internal address
(notifiers.dispatch.check_target, again before every send). Each gets a copy of the
organisation's instant email alerts, as an outbox row of its own (channel
``target:<id>``), so each is retried and recorded on its own."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bidbell.settings import Settings
from models.store.tables import DeliveryTarget, Organisation
from notifiers.dispatch import TargetRefused, check_target, redact

__all__ = ["TargetRefused", "add_target", "list_targets", "remove_target"]


def add_target(
    session: Session, org_id: int, url: str, settings: Settings, now: datetime, label: str = ""
) -> DeliveryTarget:
    """Store a target (again: active again); TargetRefused saying why it may not be."""
    if session.get(Organisation, org_id) is None:
        raise ValueError(f"no organisation {org_id}")
    url = check_target(url, settings.target_schemes, settings.allow_private_targets)
    t = session.exec(
        select(DeliveryTarget).where(
            DeliveryTarget.organisation_id == org_id,
            DeliveryTarget.channel == "apprise",
            DeliveryTarget.address == url,
        )
    ).first()
    if t is None:
        t = DeliveryTarget(organisation_id=org_id, channel="apprise", address=url, created_at=now)
    t.status, t.reason, t.label = "active", None, label[:128] or redact(url)
    session.add(t)
    session.flush()
    return t


def remove_target(session: Session, target_id: int) -> bool:
    t = session.get(DeliveryTarget, target_id)
    if t is None or t.channel != "apprise":
        return False
    t.status, t.reason = "removed", "removed by the organisation"
    session.add(t)
    session.flush()
    return True


def list_targets(session: Session, org_id: int) -> list[DeliveryTarget]:
    return list(
        session.exec(
            select(DeliveryTarget).where(
                DeliveryTarget.organisation_id == org_id, DeliveryTarget.channel == "apprise"
            )
        )
    )
