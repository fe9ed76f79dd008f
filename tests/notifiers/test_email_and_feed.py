"""Alerts through the outbox to a real SMTP server started by the test, as received:
headers (RFC 8058 pair, stable Message-ID), both parts with every link, reasons in words;
the RSS feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree as ET

import feedparser
from sqlalchemy import update
from sqlmodel import Session, select

from bidbell import signing
from models.store.tables import Alert, Delivery, Opportunity
from notifiers.dispatch import email_target, redact
from tests.notifiers.conftest import BEDS, NOW, match, register, run, store_captures

HREF = re.compile(r'href="([^"]+)"')


def test_alert_email_as_received(engine, fts_files, sink, delivery_env) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    register(engine)
    r = match(engine)
    assert (r.profiles, r.opportunities, r.matches, r.alerts_created) == (1, 1, 1, 1)
    report = run(engine, settings)
    assert (report.sent, report.failed) == (1, 0)
    assert len(sink.received) == 1 and sink.received[0].rcpt_tos == [BEDS]
    msg = sink.messages()[0]
    assert msg["Subject"] == (
        "New opportunity: Competitive Flexible Procedure (CFP) Aldbanks Supported Living "
        "CBC-2074-CFP-SK"
    )
    assert msg["From"] == "Bidbell <alerts@bidbell.localhost>"
    assert msg["To"] == BEDS
    assert msg["Date"] == "Tue, 06 Oct 2026 17:00:00 +0000"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Id"] == "Bidbell alerts <alerts.bidbell.localhost>"
    # RFC 8058: a one-click unsubscribe URL (https, signed) and the POST marker
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsub = msg["List-Unsubscribe"].strip("<>")
    assert unsub.startswith("https://bidbell.example.org/u/")
    with Session(engine) as s:
        alert = s.exec(select(Alert)).one()
    data = signing.verify("unsubscribe", unsub.rsplit("/", 1)[1])
    assert data == {"org": alert.organisation_id, "profile": alert.profile_id}
    assert f"/{alert.organisation_id}" not in unsub  # no guessable id in the path
    assert re.fullmatch(r"<alert\.\d+\.[0-9a-f]{12}@bidbell\.localhost>", msg["Message-ID"])
    assert alert.message_id == msg["Message-ID"] and alert.status == "sent"
    # both parts; the text part written for reading and carrying every link of the HTML
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    links = set(HREF.findall(html))
    assert len(links) == 4  # the notice, remind me, preferences, unsubscribe
    for link in links:
        assert link in text, link
    assert "https://www.find-tender.service.gov.uk/Notice/094476-2026" in links
    assert unsub in links
    remind = next(x for x in links if "/remind/" in x)
    assert signing.verify("remind", remind.rsplit("/", 1)[1]) == {
        "org": alert.organisation_id,
        "opp": alert.opportunity_id,
        "days": 3,
    }
    assert "<" not in text and "Read the full notice:" in text
    for part in (text, html):
        assert "Central Bedfordshire Council" in part and "£2.77m" in part
        assert "Thu 05 Nov 2026, 12:00 GMT" in part  # the deadline in UK local time
        assert "CPV 85311000 is within your code 85" in part
        assert "tender (open for bids)" in part  # the stage spelled out
        assert "Bedfordshire and Hertfordshire" in part  # area names...
        assert not re.search(r"\bUK[C-N]\d", part)  # ...not NUTS codes
        assert "at or above the light-touch services threshold £663,540" in part
    with Session(engine) as s:
        d = s.exec(select(Delivery)).one()
        assert d.ok and d.outcome == "sent" and d.message_id == msg["Message-ID"]
        assert d.target == f"mailto://127.0.0.1:{sink.port} to {BEDS}"
    # again: no new alert, nothing sent twice
    assert match(engine).alerts_created == 0
    assert run(engine, settings).sent == 0
    assert len(sink.received) == 1


def test_a_resend_is_the_same_message(engine, fts_files, sink, delivery_env) -> None:
    """The Message-ID comes from the alert: sent again (as after a crash between the
    relay's answer and the commit), it is the same message."""
    settings = delivery_env()
    store_captures(engine, fts_files)
    register(engine)
    match(engine)
    run(engine, settings)
    with Session(engine) as s:  # as if the sender died before recording the send
        s.execute(update(Alert).values(status="sending", lease_until=NOW, lease_owner="dead"))
        s.commit()
    later = NOW.replace(minute=30)
    assert run(engine, settings, later).sent == 1
    first, second = sink.messages()
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Subject"] == second["Subject"]
    assert first["List-Unsubscribe"] == second["List-Unsubscribe"]


def test_titles_with_runs_of_whitespace_are_collapsed(
    engine, fts_files, sink, delivery_env
) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    register(engine)
    with Session(engine) as s:
        opp = s.exec(select(Opportunity).where(Opportunity.title.contains("Aldbanks"))).one()
        opp.title = "  Aldbanks\n   Supported \t Living  "
        s.add(opp)
        s.commit()
    match(engine)
    run(engine, settings)
    msg = sink.messages()[0]
    assert msg["Subject"] == "New opportunity: Aldbanks Supported Living"
    assert "\r\nAldbanks Supported Living\r\n" in msg.get_body(("plain",)).get_content()


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
    assert redact("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ") == "slack://…"


def test_the_pipeline_feed_is_the_webs_default_feed(engine, fts_files, monkeypatch) -> None:
    """publish_feed writes RSS 2.0 and Atom files of the open opportunities, newest first,
    each item dated at its first publication (not the run), linking to its page."""
    from bidbell.settings import get_settings
    from flows.steps import publish_feed

    store_captures(engine, fts_files)
    settings = get_settings()
    now = datetime(2026, 4, 20, tzinfo=UTC)  # Harrogate's tender and Aldbanks' both open
    path = publish_feed(settings, now)
    assert path.name == "opportunities.rss" and path.with_suffix(".atom").is_file()
    data = path.read_bytes()
    root = ET.fromstring(data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    feed = feedparser.parse(data)
    assert not feed.bozo and feed.version == "rss20"
    with Session(engine) as s:
        open_ = [
            o
            for o in s.exec(select(Opportunity)).all()
            if o.stage in ("pipeline", "early_engagement", "planned", "tender")
            and (o.deadline is None or o.deadline > now)
        ]
    assert len(feed.entries) == len(open_) >= 2
    dates = [e.published_parsed for e in feed.entries]
    assert dates == sorted(dates, reverse=True)  # newest first, at first publication
    assert len(set(dates)) == len(dates)  # not all stamped with the run's time
    aldbanks = next(e for e in feed.entries if "Aldbanks" in e.title)
    assert aldbanks.link.startswith(settings.public_url.rstrip("/") + "/opportunities/")
    assert aldbanks.id == aldbanks.link  # a stable GUID
    atom = feedparser.parse(path.with_suffix(".atom").read_bytes())
    assert not atom.bozo and atom.version == "atom10" and len(atom.entries) == len(open_)
