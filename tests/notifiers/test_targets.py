"""Targets an organisation adds: only allowed schemes, never an internal address (unless
the test setting allows the local stand-in); a copy of each instant email alert reaches
the target as an outbox row of its own."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from models.store.tables import Alert, Organisation
from notifiers.dispatch import TargetRefused, check_target
from notifiers.targets import add_target
from tests.notifiers.conftest import NOW, match, register, run, store_captures

ALLOWED = ["json", "slack", "msteams"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("exec://run/rm", "not an allowed kind of target"),
        ("syslog://127.0.0.1", "not an allowed kind of target"),
        ("json://127.0.0.1:8080/hook", "loopback, private or link-local"),
        ("json://10.1.2.3/hook", "loopback, private or link-local"),
        ("json://169.254.169.254/latest/meta-data", "loopback, private or link-local"),
        ("json://[::1]:9000/x", "loopback, private or link-local"),
        ("json://localhost/hook", "an internal address is not allowed"),
        ("json://printer.local/hook", "an internal address is not allowed"),
    ],
)
def test_refused_targets(url: str, why: str) -> None:
    with pytest.raises(TargetRefused, match=why):
        check_target(url, ALLOWED)


def test_allowed_targets() -> None:
    assert check_target("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", ALLOWED)
    assert check_target("json://93.184.216.34/hook", ALLOWED)  # a public address
    # the tests' stand-in on 127.0.0.1, only through the explicit setting
    assert check_target("json://127.0.0.1:8080/hook", ALLOWED, allow_private=True)


def test_a_target_gets_a_copy_of_instant_alerts(engine, fts_files, gateway, delivery_env) -> None:
    settings = delivery_env(ALLOW_PRIVATE_TARGETS="true")
    store_captures(engine, fts_files)
    register(engine)
    with Session(engine) as s:
        org_id = s.exec(select(Organisation)).one().id or 0
        hook = f"json://127.0.0.1:{gateway.port}/teams-webhook"
        add_target(s, org_id, hook, settings, NOW, "our Teams channel")
        s.commit()
    match(engine)
    r = run(engine, settings)
    assert r.sent == 2  # the email and the copy
    (copy,) = gateway.received
    assert copy.payload["title"].startswith("New opportunity: Competitive Flexible Procedure")
    assert "closes Thu 5 Nov" in copy.text
    with Session(engine) as s:
        channels = sorted(a.channel for a in s.exec(select(Alert)))
    assert channels[0] == "email" and channels[1].startswith("target:")
    # without the test setting the same target is refused before it is sent to
    settings = delivery_env(ALLOW_PRIVATE_TARGETS="false")
    with Session(engine) as s, pytest.raises(TargetRefused):
        add_target(s, org_id, hook, settings, NOW)
