"""``bidbell demo``: the whole pipeline, offline, on the captured sources.

Serves every source from 127.0.0.1 (real captures of the national feeds; fixtures built from
the documented layout where no capture exists, said as such), runs a real SMTP server and an
SMS gateway stand-in on 127.0.0.1, registers sample subscribers (one with a mobile number,
one infrastructure organisation), runs the Prefect flow, then replays Find a Tender a
second time with one tender's deadline moved (a constructed later release) and runs it
again, and reports what was delivered: an instant alert, the change alert, the SMS and the
infrastructure organisations' weekly digest (saved as .eml files).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from bidbell.clock import parse_iso
from bidbell.settings import get_settings, reset_settings
from demo.mailsink import MailSink
from demo.replay import CONSTRUCTED_SOURCES, FixturesMissing, replay_all
from demo.replay.fts import load_fts_captures, moved_deadline
from demo.smsgateway import SmsGateway

# (name, email, kind, cpv prefixes, keywords, regions, min value, max value)
SAMPLE_SUBSCRIBERS: list[tuple[str, str, str, list[str], list[str], list[str], Any, Any]] = [
    ("Bedfordshire Care Collective", "bids@bedscare.example.org", "vcse",
     ["85"], ["supported living"], ["UKH2"], None, 5_000_000),
    ("Kent Community Care CIC", "tenders@kentcommunitycare.example.org", "vcse",
     ["853", "981"], ["volunteer"], ["UKJ4"], None, 100_000),
    ("Swale Grounds and Gardens Ltd", "office@swalegrounds.example.co.uk", "sme",
     ["773"], ["grounds maintenance"], ["UKJ4"], 5_000, 250_000),
    ("Medway Digital Ltd", "hello@medwaydigital.example.com", "sme",
     ["72"], ["software"], ["UKJ4"], 5_000, 250_000),
]  # fmt: skip

# The sample subscriber told by SMS too (a mobile number of the form Ofcom leaves for
# examples would fail validation; this one is valid and fictional).
SMS_SUBSCRIBER = ("bids@bedscare.example.org", "+447911123456")
# An infrastructure organisation: its weekly digest (chart, CSV) goes out when due.
INFRASTRUCTURE = {
    "name": "Kent and East of England Voluntary Action",
    "email": "digest@kentvoluntaryaction.example.org",
    "sub_kind": "cvs",
    "areas_served": ["UKJ", "UKH"],
}
# The second replay: this tender's deadline moves a week later (demo.replay.fts.moved_deadline).
MOVED_OCID = "ocds-h6vhtk-078219"
MOVED_DAYS = 7

# Per-source arguments for the replay: wide windows over years of old captures (live runs
# use hours), and no politeness delay against our own local server.
DEMO_PARAMS: dict[str, dict[str, Any]] = {
    "find_a_tender": {"window_hours": 24},
    "contracts_finder": {"window_hours": 24 * 30},
    "kent_business_portal": {"download_delay": 0},
    "prime_example": {"download_delay": 0},
}


def _say(msg: str = "") -> None:
    typer.echo(msg)


def _earliest(site: Any) -> datetime | None:
    releases = getattr(site, "releases", None)
    if releases is None:
        releases = [r for rs in getattr(site, "by_type", {}).values() for r in rs]
    dates = []
    for r in releases or []:
        try:
            dates.append(parse_iso(str(r["date"])))
        except (KeyError, ValueError):
            continue
    return min(dates) if dates else None


def run_demo(keep: bool = False) -> int:
    base = get_settings()
    fixtures = base.fixtures_dir
    try:
        _envelope, fts_releases = load_fts_captures(fixtures)
        server, urls = replay_all(fixtures, page_size=2, port=base.demo_port)
    except FixturesMissing as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 2
    # Replay as of just after the newest Find a Tender capture: a real past day, on which
    # its open tenders were still open.
    newest = max(parse_iso(r["date"]) for r in fts_releases)
    as_of = (newest + timedelta(minutes=30)).astimezone(UTC)

    var = base.var_dir / "demo"
    if var.exists() and not keep:
        shutil.rmtree(var)
    with server, MailSink(var / "mail") as smtp, SmsGateway(var / "sms") as sms:
        os.environ.update(
            {
                "BIDBELL_VAR_DIR": str(var),
                "BIDBELL_DATABASE_URL": f"sqlite:///{var / 'bidbell.db'}",
                "BIDBELL_SOURCE_URLS": json.dumps(urls),
                "BIDBELL_SOURCE_PARAMS": json.dumps(DEMO_PARAMS),
                "BIDBELL_EMAIL_URL": smtp.url,
                "BIDBELL_SMS_URL": sms.url,
                "BIDBELL_AS_OF": as_of.isoformat(),
                "BIDBELL_PUBLIC_URL": "http://localhost:8000",
            }
        )
        reset_settings()
        s = get_settings()
        from models.store.checkpoint import get_state
        from models.store.db import get_engine, migrate, session_scope
        from models.subscribers.manage import add_subscriber

        _say("Bidbell demo: every source replayed from 127.0.0.1")
        _say(f"  fixtures:    {fixtures}")
        _say(f"  as of:       {as_of.isoformat()} (just after the newest Find a Tender capture)")
        _say(f"  SMTP server: 127.0.0.1:{smtp.port} (local, keeps every message)")
        _say(f"  SMS gateway: 127.0.0.1:{sms.port} (a local stand-in, keeps every message)")
        migrate(s.effective_database_url)
        with session_scope(get_engine()) as session:
            for name, url in urls.items():
                site = server.sites[url[len(server.url) :]]
                start = _earliest(site)
                state = get_state(session, name)
                if start is not None and state.checkpoint is None:
                    # A first run reaches back to the start of the captures (a backfill).
                    state.checkpoint = (start - timedelta(days=1)).astimezone(UTC)
                    session.add(state)
                kind = "constructed" if name in CONSTRUCTED_SOURCES else "real capture"
                _say(f"  source:      {name:26} {url} ({kind})")
        for name, email, kind, cpv, kw, regions, lo, hi in SAMPLE_SUBSCRIBERS:
            mobile = SMS_SUBSCRIBER[1] if email == SMS_SUBSCRIBER[0] else None
            add_subscriber(
                name=name,
                email=email,
                kind=kind,
                cpv_prefixes=cpv,
                keywords=kw,
                regions=regions,
                min_value=lo,
                max_value=hi,
                mobile=mobile,
                channels=["email", "sms"] if mobile else ["email"],
            )
            by = f" and SMS to {mobile}" if mobile else ""
            _say(
                f"  subscriber:  {name} <{email}> cpv={','.join(cpv)} "
                f"regions={','.join(regions)}{by}"
            )
        infra = INFRASTRUCTURE
        add_subscriber(
            name=str(infra["name"]),
            email=str(infra["email"]),
            kind="infrastructure",
            sub_kind=str(infra["sub_kind"]),
            areas_served=list(infra["areas_served"]),
            frequency="weekly",  # its own matches in a weekly digest, not one by one
        )
        _say(
            f"  subscriber:  {infra['name']} <{infra['email']}> (council for voluntary "
            f"service: weekly digest for {', '.join(infra['areas_served'])})"
        )
        _say("")

        from flows.runner import exit_status, run_pipeline_once

        summary = run_pipeline_once(sorted(urls))
        _say("")
        if summary is None:
            return 1
        # The second replay: Find a Tender publishes a later release of one tender with its
        # deadline moved; the pipeline runs again an hour on (before the SMS quiet hours).
        fts_site: Any = server.sites[urls["find_a_tender"][len(server.url) :]]
        moved = next((r for r in fts_releases if r.get("ocid") == MOVED_OCID), None)
        second = None
        if moved is not None and not any(
            r["id"].endswith("-deadline-moved") for r in fts_site.releases
        ):
            published = (as_of + timedelta(minutes=30)).isoformat()
            fts_site.releases = [*fts_site.releases, moved_deadline(moved, published, MOVED_DAYS)]
            os.environ["BIDBELL_AS_OF"] = (as_of + timedelta(hours=1)).isoformat()
            reset_settings()
            _say(
                f"Second replay: Find a Tender publishes {MOVED_OCID} again with its deadline "
                f"moved {MOVED_DAYS} days later [constructed release]"
            )
            second = run_pipeline_once(["find_a_tender"])
            _say("")
            if second is None:
                return 1
        _report(summary, smtp, s.effective_database_url, second, sms)
    _say_what_next(var, as_of)
    status = exit_status(summary)
    return status if status or second is None else exit_status(second)


def _say_what_next(var: Path, as_of: datetime) -> None:
    """How to open the site and query the command line on the demo's database (its own var
    folder: the database, and the key that signs its links), as of the demo's "now"."""
    import shlex

    env = f"BIDBELL_VAR_DIR={shlex.quote(str(var.resolve()))} BIDBELL_AS_OF={as_of.isoformat()}"
    bidbell = ".venv/bin/bidbell"
    _say("")
    _say("Next: the demo's database")
    _say(f"  open the site:  {env} {bidbell} web --port 8000")
    _say("                  then http://127.0.0.1:8000/ in a browser")
    _say(
        f"  search it:      {env} {bidbell} opportunities --open --sector 'Social care and health'"
    )
    _say(f"                  {env} {bidbell} opportunities --q 'grounds maintenance' --json")


def _report(
    summary: dict[str, Any],
    smtp: MailSink,
    db_url: str,
    second: dict[str, Any] | None = None,
    sms: SmsGateway | None = None,
) -> None:
    import feedparser

    from models.store.queries import count_listings_stored, list_opportunities

    _say("Summary")
    for c in summary["collected"]:
        st = c["stored"]
        tag = " [constructed]" if c["source"] in CONSTRUCTED_SOURCES else ""
        if c["windows"] == 0 and not c["notices"] and not c["error"] and not st:
            _say(f"  {c['source']}: nothing new; already collected up to {c['window'][0]}")
            continue
        line = (
            f"  {c['source']}{tag}: {c['notices']} notices "
            f"({st.get('inserted', 0)} new, {st.get('updated', 0)} updated, "
            f"{st.get('unchanged', 0)} unchanged, {c['errors']} errors)"
        )
        _say(line + (f"; {c['error']}" if c["error"] else ""))
    opps = list_opportunities(100_000)
    by_stage: dict[str, int] = {}
    for o in opps:
        by_stage[o.stage] = by_stage.get(o.stage, 0) + 1
    stages = ", ".join(f"{n} {k}" for k, n in sorted(by_stage.items()))
    rows, dups = count_listings_stored()
    _say(f"  opportunities: {len(opps)} ({stages}) in {db_url}")
    if dups:
        _say(
            f"    of {rows} stored, {dups} are another listing of one already there (deduplicated)"
        )
    sec = summary.get("sectors") or {}
    if sec.get("error"):
        _say("  sectors from text: failed (see the log); opportunities keep their CPV sectors")
    else:
        what = "trained" if sec.get("trained") else "model in use was trained"
        _say(
            f"  sectors from text: {what} on {sec.get('n_train', 0)} stored notices with CPV; "
            f"{sec.get('labelled', 0)} opportunity(ies) without CPV given a sector"
        )
    for stage, message in (summary.get("errors") or {}).items():
        _say(f"  {stage} FAILED: {message}")
    a = summary.get("alerts")
    if a:
        _say(
            f"  matching: {a['opportunities']} open opportunities x {a['profiles']} profiles "
            f"-> {a['matches']} matches, {a['alerts_created']} new alerts"
        )
    runs = [x for x in (summary, second) if x]
    sent = [x["sent"] for x in runs if x.get("sent")]
    if sent:
        _say(
            f"  alerts sent: {sum(x['sent'] for x in sent)} "
            f"(failed {sum(x['failed'] for x in sent)}); "
            f"digests sent: {sum(x['digests_sent'] for x in sent)}; "
            f"change alerts: {sum(x['change_alerts'] for x in sent)}"
        )
        held = sent[-1].get("held_quiet_hours") or 0
        if held:
            _say(
                f"  SMS held for quiet hours (21:00-08:00 UK): {held}; they go at 08:00 "
                "(bidbell outbox shows them)"
            )
    _delivery(smtp, sms)
    _say(f"  emails received by the local SMTP server: {len(smtp.received)}")
    for r in smtp.received:
        _say(f"    to {', '.join(r.rcpt_tos)}: {r.message['Subject']}  [{r.path}]")
    if not summary.get("feed"):
        return
    feed_path = Path(summary["feed"])
    feed = feedparser.parse(feed_path.read_bytes())
    ok = "valid" if not feed.bozo else f"INVALID ({feed.bozo_exception})"
    _say(f"  RSS 2.0 feed: {feed_path} ({len(feed.entries)} items, {ok})")
    _say(f"  {_export_ocds(feed_path.parent.parent / 'ocds-release-package.json')}")


def _delivery(smtp: MailSink, sms: SmsGateway | None) -> None:
    """What people received, one of each kind: an instant alert, a change alert, an SMS,
    the infrastructure digest (with its chart and CSV)."""
    from notifiers.sms import is_gsm7, septets

    def first(prefix: str) -> Any:
        return next(
            (r for r in smtp.received if str(r.message["Subject"]).startswith(prefix)), None
        )

    shown = [
        ("instant alert", first("New opportunity: ")),
        ("change alert", first("Changed (")),
        ("infrastructure digest", first("Bidbell weekly for ")),
    ]
    for label, r in shown:
        if r is None:
            _say(f"  {label}: none")
            continue
        extra = ""
        if label == "infrastructure digest":
            m = r.message
            png = [p for p in m.walk() if p.get_content_type() == "image/png"]
            csvs = [p for p in m.iter_attachments() if p.get_content_type() == "text/csv"]
            rows = len(csvs[0].get_content().splitlines()) - 1 if csvs else 0
            extra = (
                f" (chart inline: {len(png)} PNG; CSV attached: {rows} rows, "
                f"{csvs[0].get_filename() if csvs else '-'})"
            )
        _say(f"  {label}: to {', '.join(r.rcpt_tos)}: {r.message['Subject']}{extra}")
        _say(f"    saved as {r.path}")
    if sms is not None:
        for m in sms.received:
            enc = "GSM-7" if is_gsm7(m.text) else "not GSM-7"
            n = septets(m.text) if is_gsm7(m.text) else len(m.text)
            _say(f"  SMS to {m.to} (local gateway stand-in, {n} characters, {enc}): {m.text}")
        if not sms.received:
            _say("  SMS: none")


def _export_ocds(path: Path) -> str:
    """The stored opportunities as an OCDS release package, validated (bidbell export)."""
    from bidbell.clock import utcnow
    from models.ocds.export import export_release_package
    from models.ocds.validate import validate_package
    from models.store.db import get_engine, session_scope

    with session_scope(get_engine()) as session:
        package = export_release_package(session, utcnow(), get_settings().public_url)
    errors = validate_package(package)
    path.write_text(json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    state = "valid against OCDS 1.1" if not errors else f"INVALID: {errors[0]}"
    return f"OCDS export: {path} ({len(package['releases'])} releases, {state})"
