"""The web front's own email (sign-up confirmation, a preferences link): one function, through
the delivery's SMTP channel (notifiers.smtp, BIDBELL_EMAIL_URL) and message builder
(notifiers.messages: a text and an HTML part, Message-ID, Date, Auto-Submitted)."""

from __future__ import annotations

import logging
import uuid

from bidbell.clock import utcnow
from bidbell.settings import get_settings
from models.formats.text import html_to_text
from notifiers.messages import build_email, list_id
from notifiers.smtp import RelayURLError, parse_relay, smtp_pool

log = logging.getLogger("bidbell.web")


def send_email(to: str, subject: str, html: str) -> bool:
    """Send one email (its text part read from the HTML); True when the relay took it. A
    failure is logged (relay redacted, never the message, which carries a signed link) and
    not raised: the page the person sees says the same either way (no account enumeration)."""
    s = get_settings()
    try:
        relay = parse_relay(s.email_url)
    except RelayURLError as exc:
        log.warning("web email not sent: %s", exc)
        return False
    message = build_email(
        from_addr=relay.from_addr,
        from_name=relay.from_name,
        to=to,
        subject=subject,
        text=html_to_text(html),
        html=html,
        msg_id=f"<web.{uuid.uuid4().hex}@{relay.from_domain}>",
        date=utcnow(),
        unsubscribe_url=None,
        list_id=list_id(relay.from_domain, "account"),
    )
    with smtp_pool(s.email_url, size=1, timeout=30.0) as pool:
        result = pool.send(to, message)
    if not result.ok:
        log.warning("web email via %s failed: %s", relay.redacted(), result.error)
    return result.ok
