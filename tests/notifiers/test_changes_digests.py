"""Change alerts (once per event, before -> after, following the canonical listing),
digests (daily, weekly, welcome, the cap on instant alerts), deadline reminders, and the
infrastructure organisations' weekly digest with its inline chart and CSV."""

from __future__ import annotations

import copy
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from models.store.store import store_records
from models.store.tables import Alert, Digest, Opportunity, OpportunityEvent
from models.subscribers.manage import add_subscriber
from notifiers.digest import period_end, send_due_digests
from notifiers.outbox import DeliveryReport, Sender
from notifiers.reminders import set_reminder
from spiders.files import read_file
from tests.notifiers.conftest import BEDS, MOBILE, NOW, match, register, run, store_captures

ALDBANKS = "ocds-h6vhtk-078219"
CF_CAPTURE = "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json"


def amend_deadline(engine, fts_files, when: datetime, new_deadline: str) -> None:
    """A second release of the Aldbanks tender moving its deadline. Constructed: the real
    release with a new id, date and tenderPeriod.endDate (no real amendment was captured)."""
    recs = [r for f in fts_files for r in read_file("find_a_tender", "find_a_tender", f)]
    real = next(r for r in recs if r.ocid == ALDBANKS).model_dump()
    rec = copy.deepcopy(real)
    rec["source_id"] = real["source_id"] + "-amended"
    rec["payload"]["id"] = rec["source_id"]
    rec["payload"]["date"] = when.isoformat()
    rec["payload"]["tender"]["tenderPeriod"]["endDate"] = new_deadline
    with Session(engine) as s:
        store_records(s, [rec], now=when)
        s.commit()


def digests(engine, settings, kind: str, now: datetime) -> DeliveryReport:
    report = DeliveryReport()
    sender = Sender(engine, settings, now)
    try:
        send_due_digests(sender, kind, report)
    finally:
        sender.close()
    return report


def test_a_moved_deadline_reaches_those_told_once(
    engine, fts_files, sink, gateway, delivery_env
) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    register(engine, mobile=MOBILE, channels=["email", "sms"])
    add_subscriber(name="Kent Digital", email="hi@kentdigital.example.com", cpv_prefixes=["72"],
                   regions=["UKJ4"], engine=engine)  # fmt: skip
    match(engine)
    assert run(engine, settings).sent == 2
    later = NOW + timedelta(hours=2)
    amend_deadline(engine, fts_files, later, "2026-11-12T12:00:00Z")
    match(engine, later)  # the matcher sees the change too: no second "new" alert
    r = run(engine, settings, later)
    assert (r.change_alerts, r.sent, r.failed) == (2, 2, 0)
    change = sink.messages()[-1]
    assert change["To"] == BEDS
    assert change["Subject"].startswith("Changed (deadline moved): Competitive Flexible")
    text = change.get_body(("plain",)).get_content()
    assert "Deadline: Thu 05 Nov 2026, 12:00 GMT  ->  now Thu 12 Nov 2026, 12:00 GMT" in text
    html = change.get_body(("html",)).get_content()
    assert "Thu 05 Nov 2026, 12:00 GMT" in html and "<strong>Thu 12 Nov 2026, 12:00 GMT" in html
    assert gateway.received[-1].text.startswith("Bidbell, deadline moved: ")
    assert "closes Thu 12 Nov" in gateway.received[-1].text
    # once per event: nothing more on the next run; nobody else was told
    assert run(engine, settings, later + timedelta(minutes=5)).change_alerts == 0
    assert {m["To"] for m in sink.messages()} == {BEDS}


def test_a_change_on_another_listing_reaches_those_told_of_the_canonical(
    engine, fts_files, sink, delivery_env
) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    register(engine)
    match(engine)
    run(engine, settings)
    with Session(engine) as s:
        root = s.exec(select(Opportunity).where(Opportunity.ocid == ALDBANKS)).one()
        other = Opportunity(ocid="constructed-other-listing", title=root.title,
                            canonical_id=root.id, url="https://example.org/other")  # fmt: skip
        s.add(other)
        s.flush()
        s.add(OpportunityEvent(opportunity_id=other.id or 0, kind="cancelled", version=2,
                               changes={"stage": ["tender", "cancelled"]}, at=NOW))  # fmt: skip
        s.commit()
    r = run(engine, settings, NOW + timedelta(hours=1))
    assert (r.change_alerts, r.sent) == (1, 1)
    msg = sink.messages()[-1]
    assert msg["Subject"].startswith("Changed (cancelled or withdrawn): ")
    assert (
        "Stage: tender (open for bids)  ->  now cancelled or withdrawn"
        in msg.get_body(("plain",)).get_content()
    )


def test_daily_digest_at_seven_with_changes(engine, fts_files, sink, delivery_env) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    register(engine, frequency="daily")
    match(engine)
    assert run(engine, settings).sent == 0  # waits for the digest
    with Session(engine) as s:
        assert s.exec(select(Alert)).one().route == "daily"
    assert period_end("daily", NOW) == datetime(2026, 10, 6, 6, 0, tzinfo=UTC)  # 07:00 BST
    assert digests(engine, settings, "daily", NOW).digests_sent == 0  # made after 07:00
    morning = datetime(2026, 10, 7, 6, 5, tzinfo=UTC)
    r = digests(engine, settings, "daily", morning)
    assert r.digests_sent == 1
    (msg,) = sink.messages()
    assert msg["Subject"] == "Your daily Bidbell digest: 1 opportunity"
    assert re.fullmatch(r"<digest\.\d+\.[0-9a-f]{12}@bidbell\.localhost>", msg["Message-ID"])
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = msg.get_body(("plain",)).get_content()
    assert "== Social care and health ==" in text and "CPV 85311000 is within your code 85" in text
    for link in re.findall(r'href="([^"]+)"', msg.get_body(("html",)).get_content()):
        assert link in text
    with Session(engine) as s:
        assert s.exec(select(Alert)).one().status == "sent"
    assert digests(engine, settings, "daily", morning + timedelta(hours=1)).digests_sent == 0
    # a change during the day goes into the next morning's digest
    amend_deadline(engine, fts_files, morning + timedelta(hours=3), "2026-11-12T12:00:00Z")
    assert run(engine, settings, morning + timedelta(hours=3)).change_alerts == 1
    r = digests(engine, settings, "daily", morning + timedelta(days=1))
    assert r.digests_sent == 1
    msg = sink.messages()[-1]
    assert msg["Subject"] == "Your daily Bidbell digest: 0 opportunities, 1 change"
    assert "deadline moved" in msg.get_body(("plain",)).get_content()


def test_weekly_digest_on_monday(engine, fts_files, sink, delivery_env) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    register(engine, frequency="weekly")
    match(engine)
    run(engine, settings)
    assert digests(engine, settings, "weekly", NOW + timedelta(days=1)).digests_sent == 0
    monday = datetime(2026, 10, 12, 6, 0, tzinfo=UTC)  # Monday 07:00 BST
    assert period_end("weekly", monday) == monday
    assert digests(engine, settings, "weekly", monday).digests_sent == 1
    assert sink.messages()[0]["Subject"] == "Your weekly Bidbell digest: 1 opportunity"


def test_a_new_profile_gets_one_welcome_digest(engine, fts_files, sink, delivery_env) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    match(engine)  # the store's events are matched before anyone registered
    register(engine)
    r = match(engine)
    assert (r.alerts_created, r.welcome_alerts) == (0, 1)
    rep = run(engine, settings)
    assert (rep.sent, rep.digests_sent) == (0, 1)  # never an instant alert for the backlog
    (msg,) = sink.messages()
    assert msg["Subject"] == "Welcome to Bidbell: 1 open opportunity for you"
    assert "Aldbanks" in msg.get_body(("plain",)).get_content()
    assert run(engine, settings, NOW + timedelta(hours=1)).digests_sent == 0


def test_instant_alerts_beyond_the_cap_fold_into_the_daily_digest(
    engine, fts_files, sink, delivery_env
) -> None:
    settings = delivery_env(INSTANT_CAP_PER_DAY="0")
    store_captures(engine, fts_files)
    register(engine)
    match(engine)
    r = run(engine, settings)
    assert (r.sent, r.folded_into_digest) == (0, 1)
    r = digests(engine, settings, "daily", datetime(2026, 10, 7, 6, 5, tzinfo=UTC))
    assert r.digests_sent == 1 and len(sink.messages()) == 1


def test_reminder_days_before_the_deadline_and_none_once_cancelled(
    engine, fts_files, sink, delivery_env
) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    register(engine)
    match(engine)
    run(engine, settings)
    with Session(engine) as s:
        a = s.exec(select(Alert)).one()
        org_id, opp_id = a.organisation_id, a.opportunity_id
        deadline = s.get(Opportunity, opp_id).deadline
        set_reminder(s, org_id, opp_id, 3, NOW)
        s.commit()
    assert run(engine, settings, deadline - timedelta(days=3, minutes=1)).reminders == 0
    r = run(engine, settings, deadline - timedelta(days=3) + timedelta(minutes=1))
    assert (r.reminders, r.sent) == (1, 1)
    msg = sink.messages()[-1]
    assert msg["Subject"].startswith("Reminder, closes Thu 5 Nov 2026: Competitive Flexible")
    assert "You asked us to remind you" in msg.get_body(("plain",)).get_content()
    # a reminder for a cancelled opportunity never goes
    with Session(engine) as s:
        opp = s.get(Opportunity, opp_id)
        opp.stage = "cancelled"
        s.add(opp)
        r2 = set_reminder(s, org_id, opp_id, 2, NOW)
        s.commit()
        rid = r2.id
    assert run(engine, settings, deadline - timedelta(days=1)).reminders == 0
    with Session(engine) as s:
        from models.store.tables import Reminder

        assert s.get(Reminder, rid).status == "cancelled"


def test_infrastructure_digest_with_chart_and_csv(
    engine, fixtures_dir: Path, sink, delivery_env
) -> None:
    """Real Contracts Finder notices of 21-22 October 2022, as of the Monday after."""
    published = datetime(2022, 10, 22, 12, tzinfo=UTC)
    settings = delivery_env()
    with Session(engine) as s:
        recs = [
            r.model_dump()
            for r in read_file("contracts_finder", "contracts_finder", fixtures_dir / CF_CAPTURE)
        ]
        store_records(s, recs, now=published)
        s.commit()
    add_subscriber(name="Yorkshire and London Federation", email="news@federation.example.org",
                   kind="infrastructure", sub_kind="federation", areas_served=["UKE", "UKI"],
                   engine=engine)  # fmt: skip
    monday = datetime(2022, 10, 24, 6, 30, tzinfo=UTC)  # Monday 07:30 BST
    r = digests(engine, settings, "infrastructure", monday)
    assert r.digests_sent == 1
    (msg,) = sink.messages()
    assert msg["To"] == "news@federation.example.org"
    assert msg["Subject"].startswith("Bidbell weekly for Yorkshire and London Federation: ")
    assert msg["List-Unsubscribe"] and msg["List-Unsubscribe-Post"]
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    # the chart: a PNG inline, referenced by its Content-ID, with alt text
    (png,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert png.get_content().startswith(b"\x89PNG\r\n\x1a\n")
    assert png["Content-Disposition"].startswith("inline")
    cid = png["Content-ID"].strip("<>")
    m = re.search(rf'<img src="cid:{re.escape(cid)}" alt="([^"]+)"', html)
    assert m and m.group(1).startswith("Bar chart of this week&#39;s")
    # the CSV: the same rows as the digest lists
    (att,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/csv"]
    assert att.get_filename() == "bidbell-weekly-2022-10-24.csv"
    rows = list(csv.DictReader(io.StringIO(att.get_content().lstrip("\ufeff"))))
    n = int(re.search(r"(\d+) new opportunit", text).group(1))
    assert len(rows) == n > 5
    for codes in _regions(engine, rows):  # each in an area it serves
        assert any(re.match(r"UK[EI]", code) for code in codes), codes
    for row in rows:
        assert row["title"] in text
    # VCSE-suitable, under £30k and early-engagement notices first
    first = text.split("== First:")[1].split("== All this week")[0]
    flagged = [r for r in rows if r["suitable_for_vcse"] or r["under_30k"] or r["early_engagement"]]
    assert flagged and all(r["title"] in first for r in flagged)
    assert "== Closing in the next 14 days ==" in text
    # forwardable: no personal link in the body
    for part in (html, text):
        assert "/u/" not in part and "/prefs/" not in part and "/remind/" not in part
    with Session(engine) as s:
        d = s.exec(select(Digest)).one()
        assert (d.kind, d.status) == ("infrastructure", "sent")
    assert digests(engine, settings, "infrastructure", monday + timedelta(days=1)).digests_sent == 0


def _regions(engine, rows) -> list[list[str]]:
    with Session(engine) as s:
        out = []
        for r in rows:
            o = s.exec(select(Opportunity).where(Opportunity.ocid == r["ocid"])).one()
            out.append([*o.regions, o.buyer_region or ""])
        return out
