"""Messages to the people who run Bidbell (not its subscribers): a source has broken or
fallen silent, or has come back. Through apprise, to the operator URL(s) in the settings
(BIDBELL_OPERATOR_URLS): e-mail, Slack, Teams, a webhook — an apprise URL, not code."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from notifiers.dispatch import NotifyResult, notify, redact

log = logging.getLogger("bidbell.operator")


@dataclass
class OperatorOutcome:
    sent: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()

    @property
    def delivered(self) -> bool:
        """Told at least one operator target (or none is configured: the log is all)."""
        return self.sent > 0 or (self.failed == 0)


def tell_operator(urls: list[str], title: str, body: str) -> OperatorOutcome:
    """Send one message to every operator URL. With none configured the message is logged
    (a warning) and counts as delivered, so it is not repeated every run."""
    if not urls:
        log.warning("%s (no operator URL set: BIDBELL_OPERATOR_URLS)\n%s", title, body)
        return OperatorOutcome()
    sent, errors = 0, []
    for url in urls:
        result: NotifyResult = notify(url, title, body)
        if result.ok:
            sent += 1
        else:
            errors.append(f"{redact(url)}: {result.error}")
            log.warning("operator message to %s failed: %s", redact(url), result.error)
    return OperatorOutcome(sent=sent, failed=len(errors), errors=tuple(errors))
