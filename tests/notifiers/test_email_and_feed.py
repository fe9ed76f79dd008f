"""Alerts through the outbox to a real SMTP server started by the test; the RSS feed."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree as ET

import feedparser
from sqlmodel import Session, select

from demo.mailsink import MailSink, free_port
from matching.alerts import create_alerts
from models.store.store import store_records
from models.store.tables import Alert, Delivery, Opportunity
from models.subscribers.manage import add_subscriber
from notifiers.dispatch import email_target, redact, send_pending_alerts
from notifiers.rss import render_rss
from spiders.files import read_file

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)


def seed(engine, fts_files) -> None:
    with Session(engine) as s:
        recs = [
            r.model_dump()
            for f in fts_files
            for r in read_file("find_a_tender", "find_a_tender", f)
        ]
        store_records(s, recs, now=NOW)
        s.commit()
    add_subscriber(
        name="Beds Care",
        email="bids@bedscare.example.org",
        kind="vcse",
        cpv_prefixes=["85"],
        keywords=[],
        regions=["UKH2"],
        min_value=None,
        max_value=5_000_000,
        engine=engine,
    )
    add_subscriber(
        name="Kent Digital",
        email="hi@kentdigital.example.com",
        cpv_prefixes=["72"],
        keywords=[],
        regions=["UKJ4"],
        min_value=None,
        max_value=None,
        engine=engine,
    )


def send(engine, url: str):
    with Session(engine) as s:
        return send_pending_alerts(
            s, email_url=url, extra_urls=[], public_url="http://localhost:8000", now=NOW
        )


def test_alert_email_arrives_once(engine, fts_files, mailsink: MailSink) -> None:
    seed(engine, fts_files)
    with Session(engine) as s:
        r = create_alerts(s, NOW)
        s.commit()
    assert (r.profiles, r.opportunities, r.matches, r.alerts_created) == (2, 1, 1, 1)
    result = send(engine, mailsink.url)
    assert (result.sent, result.failed) == (1, 0)
    assert len(mailsink.received) == 1
    mail = mailsink.received[0]
    assert mail.rcpt_tos == ["bids@bedscare.example.org"]
    msg = mail.message
    assert msg["Subject"].startswith("New opportunity: Competitive Flexible Procedure")
    assert msg["List-Unsubscribe"].startswith("<http://localhost:8000/unsubscribe/")
    assert msg["X-Bidbell-Alert"]
    html = msg.get_body(("html",)).get_content()
    assert "Central Bedfordshire Council" in html and "£2.77m" in html
    assert "Thu 05 Nov 2026, 12:00 GMT" in html  # deadline in UK local time
    assert "CPV 85311000 is within your code 85" in html
    # the size says which threshold applied: a light-touch notice (specialRegime)
    assert "at or above the light-touch services threshold £663,540" in html
    assert "Social care and health" in html
    assert "Fit for a small bidder:" in html
    assert "https://www.find-tender.service.gov.uk/Notice/094476-2026" in html
    # again: no new alert, nothing sent twice
    with Session(engine) as s:
        assert create_alerts(s, NOW).alerts_created == 0
        s.commit()
    assert send(engine, mailsink.url).sent == 0
    assert len(mailsink.received) == 1
    with Session(engine) as s:
        deliveries = s.exec(select(Delivery)).all()
        assert len(deliveries) == 1 and deliveries[0].ok
        assert (
            deliveries[0].target
            == f"mailto://127.0.0.1:{mailsink.port} to bids@bedscare.example.org"
        )


def test_failed_send_is_recorded_and_retried_next_run(engine, fts_files, mailsink) -> None:
    seed(engine, fts_files)
    with Session(engine) as s:
        create_alerts(s, NOW)
        s.commit()
    dead = f"mailto://127.0.0.1:{free_port()}?from=alerts@bidbell.localhost"  # nobody listens
    result = send(engine, dead)
    assert (result.sent, result.failed) == (0, 1)
    with Session(engine) as s:
        alert = s.exec(select(Alert)).one()
        assert (alert.status, alert.attempts) == ("pending", 1)
        d = s.exec(select(Delivery)).one()
        assert not d.ok and d.error
    assert send(engine, mailsink.url).sent == 1
    assert len(mailsink.received) == 1
    with Session(engine) as s:
        assert s.exec(select(Alert)).one().status == "sent"
        assert [d.ok for d in s.exec(select(Delivery).order_by(Delivery.id))] == [False, True]


def test_email_target_and_redaction() -> None:
    url = email_target(
        "mailtos://user:secret@smtp.example.org:587?from=a@b.org&to=old@x.org",
        "new@y.org",
        {"List-Unsubscribe": "<http://u/1>"},
    )
    query = parse_qsl(urlsplit(url).query)
    assert ("to", "new@y.org") in query and ("+List-Unsubscribe", "<http://u/1>") in query
    assert "old@x.org" not in url
    assert redact(url) == "mailtos://smtp.example.org:587 to new@y.org"
    assert "secret" not in redact(url)


def test_rss_is_valid_rss_2(engine, fts_files) -> None:
    seed(engine, fts_files)
    with Session(engine) as s:
        opps = s.exec(select(Opportunity)).all()
        data = render_rss(
            opps,
            title="Bidbell",
            link="http://localhost:8000",
            self_url="http://localhost:8000/feeds/opportunities.rss",
            now=NOW,
        )
    root = ET.fromstring(data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    items = root.findall("./channel/item")
    assert len(items) == 5
    feed = feedparser.parse(data)
    assert not feed.bozo and feed.version == "rss20"
    titles = {e.title for e in feed.entries}
    assert "HARROGATE TOWN DISTRICT HEATING PROJECT - Feasibility Study" in titles
    aldbanks = next(e for e in feed.entries if "Aldbanks" in e.title)
    assert aldbanks.id == "ocds-h6vhtk-078219#v1"
    assert aldbanks.link == "https://www.find-tender.service.gov.uk/Notice/094476-2026"
    assert [t.term for t in aldbanks.tags] == ["85311000"]
