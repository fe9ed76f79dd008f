"""Deliver pending alerts through apprise; record every attempt as a delivery row.

apprise's ``notify()`` answers True, False or None; None means "no target", which is not
a success. Its log is captured per attempt so a failure names its reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from sqlmodel import Session, col, select

from models.classify import band_text
from models.store.tables import Alert, Delivery, Opportunity, Organisation
from notifiers.render import alert_subject, render

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    recipients: list[str] = field(default_factory=list)


def email_target(base_url: str, to: str, headers: dict[str, str]) -> str:
    """The apprise URL for one recipient: the relay URL plus to= and +Header=value."""
    parts = urlsplit(base_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "to"]
    query.append(("to", to))
    query.extend((f"+{k}", v) for k, v in headers.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def redact(url: str) -> str:
    """A target as it may be stored: scheme, host and recipient, no credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    to = dict(parse_qsl(parts.query)).get("to", "")
    return f"{parts.scheme}://{host}" + (f" to {to}" if to else "")


def notify(url: str, title: str, body: str) -> tuple[bool, str | None]:
    """Send one message to one apprise URL. Returns (ok, error)."""
    app = apprise.Apprise()
    if not app.add(url):
        return False, f"not a usable apprise URL: {redact(url)}"
    with apprise.LogCapture(level=apprise.logging.WARNING) as logs:
        outcome = app.notify(title=title, body=body, body_format=apprise.NotifyFormat.HTML)
        captured = logs.getvalue().strip()
    if outcome is None:
        return False, "no target"
    if not outcome:
        return False, captured.splitlines()[-1] if captured else "apprise reported failure"
    return True, None


def send_pending_alerts(
    session: Session,
    *,
    email_url: str,
    extra_urls: list[str],
    public_url: str,
    now: datetime,
) -> DispatchResult:
    """Send every pending alert once; commit after each so a crash never re-sends one."""
    result = DispatchResult()
    pending = session.exec(
        select(Alert, Opportunity, Organisation)
        .join(Opportunity, col(Opportunity.id) == Alert.opportunity_id)
        .join(Organisation, col(Organisation.id) == Alert.organisation_id)
        .where(Alert.status == "pending", Alert.attempts < MAX_ATTEMPTS)
        .order_by(col(Alert.id))
    ).all()
    for alert, opp, org in pending:
        unsubscribe = f"{public_url.rstrip('/')}/unsubscribe/{org.id}"
        body = render(
            "alert_email.html.j2",
            organisation=org,
            opportunity=opp,
            reasons=alert.reasons,
            alert_id=alert.id,
            unsubscribe_url=unsubscribe,
            band_label=band_text(opp.value_band, opp.band_basis),
        )
        subject = alert_subject(opp)
        if alert.channel != "email":
            error: str | None = f"channel {alert.channel!r} is not deliverable yet"
            ok, target = False, alert.channel
        else:
            url = email_target(
                email_url,
                org.email,
                {"List-Unsubscribe": f"<{unsubscribe}>", "X-Bidbell-Alert": str(alert.id)},
            )
            target = redact(url)
            ok, error = notify(url, subject, body)
        session.add(
            Delivery(
                alert_id=alert.id or 0,
                channel=alert.channel,
                target=target,
                ok=ok,
                error=error,
                attempted_at=now,
            )
        )
        alert.attempts += 1
        if ok:
            alert.status, alert.sent_at = "sent", now
            result.sent += 1
            result.recipients.append(org.email)
        else:
            log.warning("alert %s to %s failed: %s", alert.id, target, error)
            if alert.attempts >= MAX_ATTEMPTS:
                alert.status = "failed"
            result.failed += 1
        session.add(alert)
        session.commit()
        for extra in extra_urls:  # an ops copy; its failure does not fail the alert
            extra_ok, extra_error = notify(extra, subject, body)
            session.add(
                Delivery(
                    alert_id=alert.id or 0,
                    channel="extra",
                    target=redact(extra),
                    ok=extra_ok,
                    error=extra_error,
                    attempted_at=now,
                )
            )
            session.commit()
    return result
