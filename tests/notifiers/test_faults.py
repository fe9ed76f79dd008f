"""The relay down, slow, answering 4xx or 5xx; the SMS gateway answering 500, slow or
refusing a number: the outbox waits and tries again, nothing is marked sent that was not,
a permanent refusal marks the address and the organisation is told on its other channel."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from demo.mailsink import free_port
from demo.smsgateway import GatewayFault
from models.store.tables import Alert, Delivery, DeliveryTarget
from notifiers.outbox import in_quiet_hours, quiet_hours_end, retry_delay
from tests.notifiers.conftest import BEDS, MOBILE, NOW, match, register, run, store_captures


def _alerts(engine) -> list[Alert]:
    with Session(engine) as s:
        return list(s.exec(select(Alert).order_by(Alert.id)))


def _deliveries(engine) -> list[Delivery]:
    with Session(engine) as s:
        return list(s.exec(select(Delivery).order_by(Delivery.id)))


def _seed(engine, fts_files, **kw) -> None:
    store_captures(engine, fts_files)
    register(engine, **kw)
    match(engine)


def test_relay_down_then_back(engine, fts_files, sink, delivery_env) -> None:
    settings = delivery_env(EMAIL_URL=f"mailto://127.0.0.1:{free_port()}?from=a@b.example")
    _seed(engine, fts_files)
    r = run(engine, settings)
    assert (r.sent, r.failed) == (0, 1)
    (a,) = _alerts(engine)
    assert (a.status, a.attempts, a.sent_at) == ("pending", 1, None)
    assert "cannot reach the SMTP server" in (a.last_error or "")
    # still down: tried again on the next run, then after a backoff
    r = run(engine, settings, NOW + timedelta(minutes=15))
    (a,) = _alerts(engine)
    assert (r.failed, a.attempts, a.status) == (1, 2, "pending")
    assert a.next_attempt_at is not None and a.next_attempt_at > NOW + timedelta(minutes=15)
    assert run(engine, settings, NOW + timedelta(minutes=15, seconds=1)).failed == 0  # waiting
    settings = delivery_env()  # the relay is back
    later = a.next_attempt_at + timedelta(seconds=1)
    assert run(engine, settings, later).sent == 1
    (a,) = _alerts(engine)
    assert (a.status, a.attempts) == ("sent", 3)
    assert [d.outcome for d in _deliveries(engine)] == ["retry", "retry", "sent"]
    assert len(sink.received) == 1


def test_relay_slow_4xx_and_5xx_at_data(engine, fts_files, sink, delivery_env) -> None:
    settings = delivery_env(SMTP_TIMEOUT_S="1")
    _seed(engine, fts_files)
    sink.stall = 3  # longer than the client waits
    r = run(engine, settings)
    assert (r.sent, r.failed) == (0, 1)
    assert "did not answer in time" in (_alerts(engine)[0].last_error or "")
    sink.stall = 0
    sink.data = ["451 4.3.0 Try again later"]
    r = run(engine, settings, NOW + timedelta(minutes=1))
    assert (r.sent, r.failed) == (0, 1)
    assert "451" in (_alerts(engine)[0].last_error or "")
    sink.data = ["554 5.6.0 Message refused"]  # about the message, not the address
    a = _alerts(engine)[0]
    r = run(engine, settings, a.next_attempt_at)
    assert (r.sent, r.failed, r.rejected) == (0, 1, 0)
    a = _alerts(engine)[0]
    assert a.status == "pending" and "554" in (a.last_error or "")
    r = run(engine, settings, a.next_attempt_at)
    assert r.sent == 1
    # the relay never accepted one before: exactly one message kept, marked sent once
    assert len(sink.received) == 1
    assert [d.ok for d in _deliveries(engine)] == [False, False, False, True]
    assert _alerts(engine)[0].attempts == 4


def test_out_of_attempts_is_failed_for_good(engine, fts_files, sink, delivery_env) -> None:
    settings = delivery_env(SEND_MAX_ATTEMPTS="2")
    _seed(engine, fts_files)
    sink.data = ["451 busy", "451 busy"]
    run(engine, settings)
    r = run(engine, settings, NOW + timedelta(hours=1))
    assert (r.failed, r.given_up) == (1, 1)
    assert _alerts(engine)[0].status == "failed"
    assert run(engine, settings, NOW + timedelta(days=1)).sent == 0
    assert len(sink.received) == 0


def test_5xx_to_rcpt_marks_the_address_and_tells_by_sms(
    engine, fts_files, sink, gateway, delivery_env
) -> None:
    settings = delivery_env()
    sink.rcpt[BEDS] = "550 5.1.1 No such mailbox"
    _seed(engine, fts_files, mobile=MOBILE, channels=["email"])
    r = run(engine, settings)
    assert (r.sent, r.failed, r.rejected, r.told_of_refusal) == (0, 1, 1, 1)
    (a,) = _alerts(engine)
    assert a.status == "failed" and "550" in (a.last_error or "")
    with Session(engine) as s:
        t = s.exec(select(DeliveryTarget)).one()
    assert (t.channel, t.address, t.status) == ("email", BEDS, "rejected")
    assert t.told_at == NOW
    (sms,) = gateway.received
    assert sms.to == MOBILE and f"emails to {BEDS} are refused" in sms.text
    # told once; and the next alert to that address fails at once, without a connection
    assert run(engine, settings, NOW + timedelta(hours=1)).told_of_refusal == 0
    assert len(gateway.received) == 1


def test_sms_gateway_500_timeout_then_sent(engine, fts_files, gateway, delivery_env) -> None:
    settings = delivery_env()
    _seed(engine, fts_files, mobile=MOBILE, channels=["sms"])
    gateway.fail(GatewayFault(status=500))
    r = run(engine, settings)
    assert (r.sent, r.failed) == (0, 1)
    (a,) = _alerts(engine)
    assert a.channel == "sms" and a.status == "pending" and "error=500" in (a.last_error or "")
    # slower than apprise waits for an answer (4 s): a timeout, tried again
    gateway.fail(GatewayFault(status=200, delay=6))
    r = run(engine, settings, NOW + timedelta(minutes=10))
    assert (r.sent, r.failed) == (0, 1)
    (a,) = _alerts(engine)
    assert a.status == "pending"
    r = run(engine, settings, a.next_attempt_at)
    assert r.sent == 1
    assert [s.to for s in gateway.received] == [MOBILE]
    assert [d.outcome for d in _deliveries(engine)] == ["retry", "retry", "sent"]


def test_sms_number_refused_is_told_by_email(
    engine, fts_files, sink, gateway, delivery_env
) -> None:
    settings = delivery_env()
    _seed(engine, fts_files, mobile=MOBILE, channels=["sms"])
    gateway.fail(GatewayFault(status=400, times=None))
    r = run(engine, settings)
    assert (r.failed, r.rejected, r.told_of_refusal) == (1, 1, 1)
    assert _alerts(engine)[0].status == "failed"
    (msg,) = sink.messages()
    assert msg["To"] == BEDS and f"text messages to {MOBILE} are refused" in msg["Subject"]


def test_no_sms_in_quiet_hours(engine, fts_files, gateway, delivery_env) -> None:
    settings = delivery_env()
    night = NOW.replace(hour=21, minute=30)  # 22:30 in the UK (summer time)
    assert in_quiet_hours(night) and not in_quiet_hours(NOW)
    morning = quiet_hours_end(night)
    assert morning == NOW.replace(hour=7, minute=0) + timedelta(days=1)  # 08:00 UK
    _seed(engine, fts_files, mobile=MOBILE, channels=["sms"])
    r = run(engine, settings, night)
    assert (r.sent, r.held_quiet_hours) == (0, 1) and gateway.requests == 0
    assert run(engine, settings, morning - timedelta(minutes=1)).sent == 0
    assert run(engine, settings, morning).sent == 1
    assert len(gateway.received) == 1


def test_backoff_doubles_with_jitter(delivery_env, engine) -> None:
    import random

    settings = delivery_env(SEND_BACKOFF_BASE_S="60", SEND_BACKOFF_MAX_S="3600")
    rng = random.Random(1)
    assert retry_delay(1, settings, rng) == 0  # the next run
    for n, base in ((2, 60), (3, 120), (4, 240), (8, 3600)):
        d = retry_delay(n, settings, rng)
        assert min(base * 0.5, 3600) <= d <= min(base * 1.5, 3600)
