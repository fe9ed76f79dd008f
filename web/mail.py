"""The web front's own email (sign-up confirmation, a preferences link): one function, through
notifiers' email path (apprise, BIDBELL_EMAIL_URL), so that it can be pointed at the
delivery's SMTP channel in one place."""

from __future__ import annotations

import logging

from bidbell.settings import get_settings
from notifiers.dispatch import email_target, notify, redact

log = logging.getLogger("bidbell.web")


def send_email(to: str, subject: str, html: str) -> bool:
    """Send one HTML email; True when the relay took it. A failure is logged (target
    redacted, never the message, which carries a signed link) and not raised: the page the
    person sees says the same either way (no account enumeration)."""
    url = email_target(get_settings().email_url, to, {"Auto-Submitted": "auto-generated"})
    ok, error = notify(url, subject, html)
    if not ok:
        log.warning("web email to %s failed: %s", redact(url), error)
    return ok
