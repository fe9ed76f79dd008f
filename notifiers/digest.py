"""Digests: one message per organisation and channel instead of many.

- daily (07:00 UK) and weekly (Monday 07:00 UK): the alerts of its daily / weekly profiles
  (and its instant alerts beyond the day's cap) made before that hour, grouped by sector,
  closing soonest first, each with its reasons, then the changes to opportunities it was
  already told about;
- welcome: what a new or changed profile matched among the open opportunities, once, as
  soon as the matcher has found it (never a flood of instant alerts for the backlog);
- infrastructure (Monday 07:00 UK): for each council for voluntary service, chamber of
  commerce or federation, the week's opportunities in the areas it serves, grouped by
  sector and size band, with VCSE-suitable, low-value (under £30k) and early-engagement
  notices first, what closes in the next 14 days, and the week's changes and cancellations;
  a chart (counts by sector and size band, a PNG drawn with matplotlib, inline, with alt
  text) and a CSV of the same rows. No personal link in the body: it can be forwarded to
  members as it is (the unsubscribe link is in the List-Unsubscribe header only).

A digest is a ``digest`` row, unique per organisation, kind, channel and period (so a
period's digest is made once), claimed and sent under a lease like an alert; its alerts are
marked sent when it is. Message-ID from the digest row: a resend is the same message.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bidbell.clock import to_uk, uk_local
from models.classify import BAND_LABEL, EARLY_STAGES
from models.classify.kent_postcodes import DISTRICT_AREA
from models.store.tables import (
    Alert,
    Delivery,
    DeliveryTarget,
    Digest,
    Opportunity,
    OpportunityEvent,
    Organisation,
)
from models.subscribers import places
from models.subscribers.criteria import Area, parse_area
from notifiers import dispatch, sms
from notifiers.messages import Attachment, message_id
from notifiers.outbox import (
    CHANGE_KINDS,
    REJECTED,
    DeliveryReport,
    Sender,
    claim_rows,
    in_quiet_hours,
    mark_refused,
    retry_delay,
)
from notifiers.render import (
    EVENT_WORDS,
    area_name,
    change_lines,
    opportunity_value,
    plain_reason,
    render,
    squash,
    stage_words,
    uk_day,
    uk_time,
)
from notifiers.smtp import SENT, TEMPORARY, SendResult

log = logging.getLogger(__name__)

DIGEST_AT = time(7, 0)
KINDS = ("daily", "weekly", "welcome", "infrastructure")
SCHEDULED_KINDS = ("daily", "weekly", "infrastructure")  # made when due (welcome: on sign-up)
OPEN_STAGES = (*sorted(EARLY_STAGES), "tender")
LOW_VALUE = 30_000
CLOSING_DAYS = 14
KIND_WORDS = {
    "daily": "daily",
    "weekly": "weekly",
    "welcome": "welcome",
    "infrastructure": "weekly",
}


# --- when ---------------------------------------------------------------------------------
def period_end(kind: str, now: datetime) -> datetime:
    """The latest scheduled time at or before ``now``: 07:00 UK today or yesterday (daily),
    Monday 07:00 UK (weekly, infrastructure)."""
    day = to_uk(now).date()
    if kind == "daily":
        end = uk_local(day, DIGEST_AT)
        return end if end <= now else uk_local(day - timedelta(days=1), DIGEST_AT)
    monday = day - timedelta(days=day.weekday())
    end = uk_local(monday, DIGEST_AT)
    return end if end <= now else uk_local(monday - timedelta(days=7), DIGEST_AT)


# --- making digest rows --------------------------------------------------------------------
def assemble_digests(
    session: Session, kind: str, now: datetime, org_ids: list[int] | None = None
) -> list[int]:
    """Digest rows for the alerts waiting for a ``kind`` digest (daily, weekly, welcome);
    their alerts point at them. Returns the new digests' ids."""
    end = now if kind == "welcome" else period_end(kind, now)
    q = select(Alert.id, Alert.organisation_id, Alert.channel, Alert.kind).where(
        Alert.route == kind,
        Alert.status == "pending",
        col(Alert.digest_id).is_(None),
        col(Alert.created_at) <= end,
    )
    if org_ids is not None:
        q = q.where(col(Alert.organisation_id).in_(org_ids))
    groups: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    for alert_id, org_id, channel, alert_kind in session.execute(q):
        groups[(org_id, channel)].append((alert_id, alert_kind))
    made = []
    for (org_id, channel), items in sorted(groups.items()):
        exists = session.exec(
            select(Digest.id).where(
                Digest.organisation_id == org_id,
                Digest.kind == kind,
                Digest.channel == channel,
                Digest.period_end == end,
            )
        ).first()
        if exists is not None:
            continue  # this period's digest went already: these wait for the next one
        changes = sum(1 for _, k in items if k.startswith("change"))
        d = Digest(
            organisation_id=org_id,
            kind=kind,
            channel=channel,
            period_end=end,
            items=len(items) - changes,
            changes=changes,
            created_at=now,
        )
        session.add(d)
        session.flush()
        ids = [i for i, _ in items]
        for i in range(0, len(ids), 900):
            session.execute(
                update(Alert).where(col(Alert.id).in_(ids[i : i + 900])).values(digest_id=d.id)
            )
        made.append(d.id or 0)
    session.flush()
    return made


def assemble_infrastructure(
    session: Session, now: datetime, org_ids: list[int] | None = None
) -> list[int]:
    """This week's infrastructure digest rows (one per infrastructure organisation)."""
    end = period_end("infrastructure", now)
    q = select(Organisation).where(Organisation.kind == "infrastructure")
    if org_ids is not None:
        q = q.where(col(Organisation.id).in_(org_ids))
    made = []
    for org in session.exec(q):
        exists = session.exec(
            select(Digest.id).where(
                Digest.organisation_id == org.id,
                Digest.kind == "infrastructure",
                Digest.period_end == end,
            )
        ).first()
        if exists is not None:
            continue
        d = Digest(
            organisation_id=org.id or 0,
            kind="infrastructure",
            channel="email",
            period_start=now - timedelta(days=7),
            period_end=end,
            created_at=now,
        )
        session.add(d)
        session.flush()
        made.append(d.id or 0)
    return made


# --- what a digest says -----------------------------------------------------------------
@dataclass
class Content:
    subject: str
    text: str
    html: str
    inline: list[Attachment] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    sms: str = ""
    unsubscribe: str | None = None


def _item(sender: Sender, org: Organisation, a: Alert, o: Opportunity) -> dict[str, Any]:
    return {
        "title": squash(o.title) or o.ocid,
        "url": o.url,
        "buyer": squash(o.buyer_name) or "buyer not stated",
        "value": opportunity_value(o),
        "closes": f"closes {uk_time(o.deadline)}" if o.deadline else "no deadline stated",
        "band": BAND_LABEL.get(o.value_band, o.value_band),
        "stage": stage_words(o.stage),
        "lot_title": a.lot_title,
        "reasons": [plain_reason(r) for r in a.reasons],
        "remind_url": (
            sender.links.remind(org.id or 0, o.id or 0, sender.settings.remind_days)
            if o.deadline is not None and o.deadline > sender.now
            else None
        ),
        "deadline": o.deadline,
    }


def alert_digest_content(sender: Sender, session: Session, d: Digest, org: Organisation) -> Content:
    rows = session.exec(
        select(Alert, Opportunity)
        .join(Opportunity, col(Opportunity.id) == Alert.opportunity_id)
        .where(Alert.digest_id == d.id)
        .order_by(col(Alert.id))
    ).all()
    ev_ids = [a.event_id for a, _ in rows if a.event_id]
    events = {
        e.id: e
        for e in session.exec(
            select(OpportunityEvent).where(col(OpportunityEvent.id).in_(ev_ids or [-1]))
        )
    }
    sectors: dict[str, list[dict[str, Any]]] = defaultdict(list)
    changes = []
    for a, o in rows:
        if a.kind.startswith("change"):
            e = events.get(a.event_id)
            changes.append(
                {
                    "title": squash(o.title) or o.ocid,
                    "url": o.url,
                    "what": EVENT_WORDS.get(e.kind, "amended") if e else "amended",
                    "lines": change_lines(e.changes) if e else [],
                }
            )
        else:
            sector = (o.sectors or ["Other"])[0]
            sectors[sector].append(_item(sender, org, a, o))
    far = datetime.max.replace(tzinfo=sender.now.tzinfo)
    groups = []
    for sector, items in sectors.items():
        items.sort(key=lambda i: (i["deadline"] or far, i["title"]))
        groups.append((sector, items))
    groups.sort(key=lambda g: (g[1][0]["deadline"] or far, g[0]))
    n = sum(len(items) for _, items in groups)
    what = KIND_WORDS[d.kind]
    if d.kind == "welcome":
        subject = f"Welcome to Bidbell: {n} open opportunit{'y' if n == 1 else 'ies'} for you"
    else:
        parts = [f"{n} opportunit{'y' if n == 1 else 'ies'}"]
        if changes:
            parts.append(f"{len(changes)} change{'s' if len(changes) != 1 else ''}")
        subject = f"Your {what} Bidbell digest: {', '.join(parts)}"
    unsubscribe = sender.links.unsubscribe(org.id or 0)
    ctx = {
        "organisation": org,
        "kind": d.kind,
        "what": what,
        "subject": subject,
        "groups": groups,
        "count": n,
        "changes": changes,
        "prefs_url": sender.links.prefs(org.id or 0),
        "unsubscribe_url": unsubscribe,
        "remind_days": sender.settings.remind_days,
        "reference": f"D{d.id}",
        "date": uk_day(sender.now),
    }
    first = min(
        (i for _, items in groups for i in items),
        key=lambda i: i["deadline"] or far,
        default=None,
    )
    lead = f"Bidbell {what}"
    summary = f"{n} new match{'es' if n != 1 else ''}" + (
        f", {len(changes)} change{'s' if len(changes) != 1 else ''}" if changes else ""
    )
    sms_text = (
        sms.compose_sms(
            f"{lead}: {summary}; first to close",
            first["title"],
            [sms.closes(first["deadline"]) or ""],
            None,
        )
        if first
        else sms.compose_sms(lead, summary, [], None)
    )
    return Content(
        subject=subject,
        text=render("digest_email.txt.j2", **ctx),
        html=render("digest_email.html.j2", **ctx),
        sms=sms_text,
        unsubscribe=unsubscribe,
    )


# --- the infrastructure organisations' weekly digest ------------------------------------
def _areas(org: Organisation) -> list[Area]:
    out = []
    for text in org.areas or []:
        try:
            out.append(parse_area(text))
        except ValueError:
            log.warning("organisation %s: area %r not understood", org.id, text)
    return out


def in_areas(o: Opportunity, areas: list[Area]) -> bool:
    """Whether the work or the buyer is in one of the areas an organisation serves (no
    areas: everywhere)."""
    if not areas:
        return True
    regions = [r.upper().replace("TL", "UK", 1) for r in o.regions or []]
    for a in areas:
        if a.district:
            code = DISTRICT_AREA.get(a.district, "")
            if o.buyer_area == a.district or any(
                (code.startswith(r) and len(r) >= 5) or r == code for r in regions
            ):
                return True
        elif a.region:
            if any(r.startswith(a.region) for r in regions):
                return True
            if o.buyer_region and o.buyer_region.upper().startswith(a.region):
                return True
        elif a.postcode and a.radius_miles:
            here = places.outcode_index(o.buyer_postcode)
            centre = places.outcode_index(a.postcode)
            if (
                here is not None
                and centre is not None
                and places.distance_miles(here, centre) <= a.radius_miles
            ):
                return True
    return False


def _worth(o: Opportunity) -> float | None:
    for v in (o.value_amount, o.value_amount_gross, o.value_min):
        if v is not None:
            return float(v)
    return None


def _flags(o: Opportunity) -> list[str]:
    flags = []
    if o.vcse_suitable:
        flags.append("suitable for VCSEs")
    worth = _worth(o)
    if worth is not None and worth < LOW_VALUE:
        flags.append("under £30k")
    if o.stage in EARLY_STAGES:
        flags.append("early engagement")
    return flags


def _row(o: Opportunity) -> dict[str, Any]:
    return {
        "title": squash(o.title) or o.ocid,
        "url": o.url,
        "buyer": squash(o.buyer_name) or "buyer not stated",
        "value": opportunity_value(o),
        "closes": f"closes {uk_time(o.deadline)}" if o.deadline else "no deadline stated",
        "deadline": o.deadline,
        "sector": (o.sectors or ["Other"])[0],
        "band": BAND_LABEL.get(o.value_band, o.value_band),
        "stage": stage_words(o.stage),
        "flags": _flags(o),
        "areas": "; ".join(area_name(r) for r in (o.regions or [])[:3]) or "not stated",
        "opp": o,
    }


def chart_png(rows: list[dict[str, Any]]) -> tuple[bytes, str]:
    """Counts by sector and size band as a horizontal stacked bar chart (PNG), and the
    alt text that says the same in words."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts: Counter[tuple[str, str]] = Counter((r["sector"], r["band"]) for r in rows)
    by_sector = Counter(r["sector"] for r in rows)
    sectors = [s for s, _ in by_sector.most_common(10)][::-1]
    bands = [label for _, label in _band_order() if any(b == label for _, b in counts)]
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.45 * len(sectors) + 1.2)), dpi=100)
    left = [0] * len(sectors)
    palette = ["#1b9e77", "#66a61e", "#e6ab02", "#d95f02", "#7570b3"]
    for i, band in enumerate(bands):
        widths = [counts.get((s, band), 0) for s in sectors]
        ax.barh(sectors, widths, left=left, label=band, color=palette[i % len(palette)])
        left = [x + w for x, w in zip(left, widths, strict=True)]
    ax.set_xlabel("opportunities")
    ax.set_title("This week's opportunities by sector and size")
    if bands:
        ax.legend(fontsize=7, loc="lower right")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    top = ", ".join(f"{s} {n}" for s, n in by_sector.most_common(3))
    alt = (
        f"Bar chart of this week's {len(rows)} opportunities by sector and size band"
        + (f"; most in {top}" if top else "; none this week")
        + ". The same counts are in the table below and in the attached CSV."
    )
    return buf.getvalue(), alt


def _band_order() -> list[tuple[str, str]]:
    from models.classify import BANDS

    return list(BANDS)


CSV_COLUMNS = (
    "ocid", "title", "buyer", "sector", "size_band", "value", "closes_uk", "stage",
    "suitable_for_vcse", "suitable_for_sme", "under_30k", "early_engagement", "areas", "url",
)  # fmt: skip


def rows_csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        o = r["opp"]
        worth = _worth(o)
        w.writerow(
            [
                o.ocid, r["title"], r["buyer"], r["sector"], r["band"], r["value"],
                to_uk(o.deadline).strftime("%Y-%m-%d %H:%M") if o.deadline else "",
                r["stage"], "yes" if o.vcse_suitable else "", "yes" if o.sme_suitable else "",
                "yes" if worth is not None and worth < LOW_VALUE else "",
                "yes" if o.stage in EARLY_STAGES else "", r["areas"], o.url,
            ]
        )  # fmt: skip
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel reads it as UTF-8


def infrastructure_content(
    sender: Sender, session: Session, d: Digest, org: Organisation
) -> Content:
    """The weekly digest of an infrastructure organisation (see the module doc); also what
    a web page of it would show (``render`` the same templates)."""
    start = d.period_start or (d.created_at or sender.now) - timedelta(days=7)
    until = d.created_at or sender.now
    areas = _areas(org)
    base = select(Opportunity).where(col(Opportunity.canonical_id).is_(None))
    week = [
        o
        for o in session.exec(
            base.where(
                col(Opportunity.stage).in_(OPEN_STAGES),
                col(Opportunity.first_seen_at) > start,
                col(Opportunity.first_seen_at) <= until,
            )
        )
        if in_areas(o, areas) and (o.deadline is None or o.deadline > until)
    ]
    rows = [_row(o) for o in week]
    far = datetime.max.replace(tzinfo=sender.now.tzinfo)
    rows.sort(key=lambda r: (r["deadline"] or far, r["title"]))
    first = [r for r in rows if r["flags"]]
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        grouped[r["sector"]][r["band"]].append(r)
    order = {label: i for i, (_, label) in enumerate(_band_order())}
    by_size = sorted(grouped.items(), key=lambda g: (-sum(map(len, g[1].values())), g[0]))
    sections = [
        (sector, sorted(bands.items(), key=lambda b: order.get(b[0], 99)))
        for sector, bands in by_size
    ]
    closing = [
        _row(o)
        for o in session.exec(
            base.where(
                col(Opportunity.stage).in_(OPEN_STAGES),
                col(Opportunity.deadline) > until,
                col(Opportunity.deadline) <= until + timedelta(days=CLOSING_DAYS),
            ).order_by(col(Opportunity.deadline))
        )
        if in_areas(o, areas)
    ]
    changes = []
    for e, o in session.exec(
        select(OpportunityEvent, Opportunity)
        .join(Opportunity, col(Opportunity.id) == OpportunityEvent.opportunity_id)
        .where(
            col(OpportunityEvent.kind).in_(CHANGE_KINDS),
            col(OpportunityEvent.at) > start,
            col(OpportunityEvent.at) <= until,
        )
        .order_by(col(OpportunityEvent.id))
    ):
        if in_areas(o, areas):
            changes.append(
                {
                    "title": squash(o.title) or o.ocid,
                    "url": o.url,
                    "what": EVENT_WORDS.get(e.kind, "amended"),
                    "lines": change_lines(e.changes),
                }
            )
    png, alt = chart_png(rows)
    counts = Counter((r["sector"], r["band"]) for r in rows)
    table = sorted(counts.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99)))
    where = ", ".join(area_name(a.region) if a.region else str(a) for a in areas) or "every area"
    week_to = uk_day(until)
    subject = f"Bidbell weekly for {org.name}: {len(rows)} opportunities in {where} (to {week_to})"
    ctx = {
        "organisation": org,
        "subject": subject,
        "where": where,
        "week_from": uk_day(start),
        "week_to": week_to,
        "rows": rows,
        "first": first,
        "sections": sections,
        "closing": closing,
        "changes": changes,
        "chart_cid": f"chart.{d.id}@bidbell",
        "chart_alt": alt,
        "table": table,
        "csv_name": f"bidbell-weekly-{to_uk(until):%Y-%m-%d}.csv",
        "closing_days": CLOSING_DAYS,
    }
    return Content(
        subject=subject,
        text=render("infrastructure_digest.txt.j2", **ctx),
        html=render("infrastructure_digest.html.j2", **ctx),
        inline=[Attachment(png, "image", "png", "chart.png", str(ctx["chart_cid"]))],
        attachments=[Attachment(rows_csv(rows), "text", "csv", str(ctx["csv_name"]))],
        unsubscribe=sender.links.unsubscribe(org.id or 0),
    )


def digest_content(sender: Sender, session: Session, d: Digest, org: Organisation) -> Content:
    if d.kind == "infrastructure":
        return infrastructure_content(sender, session, d, org)
    return alert_digest_content(sender, session, d, org)


def digest_email(sender: Sender, d: Digest, org: Organisation, c: Content) -> tuple[bytes, str]:
    msg_id = d.message_id or message_id(
        "digest", d.id or 0, f"{org.id}:{d.kind}:{d.channel}:{d.period_end}",
        sender.relay.from_domain,
    )  # fmt: skip
    data = sender.email(
        org.email,
        c.subject,
        c.text,
        c.html,
        msg_id,
        c.unsubscribe,
        what="digests",
        inline=c.inline,
        attachments=c.attachments,
        extra={"X-Bidbell-Digest": str(d.id)},
    )
    return data, msg_id


# --- sending -----------------------------------------------------------------------------
def send_digest(sender: Sender, digest_id: int, report: DeliveryReport) -> bool:
    """Send one claimed digest and record the attempt."""
    s = sender.settings
    with Session(sender.engine, expire_on_commit=False) as session:
        d = session.get(Digest, digest_id)
        if d is None:
            return False
        org = session.get(Organisation, d.organisation_id)
        if org is None:
            return False
        msg_id: str | None = None
        try:
            content = digest_content(sender, session, d, org)
        except Exception as exc:  # a data or template problem: this digest only
            log.exception("digest %s could not be rendered", d.id)
            result, shown, address = SendResult(TEMPORARY, f"could not render: {exc}"), "", ""
        else:
            if d.channel == "sms":
                address = org.mobile or ""
                shown = f"sms to {address}"
                if not s.sms_url or not address:
                    result = SendResult(TEMPORARY, "no SMS gateway or number")
                else:
                    n = dispatch.notify(dispatch.fill_target(s.sms_url, address), "", content.sms)
                    result = SendResult(
                        SENT if n.ok else (REJECTED if n.permanent else TEMPORARY), n.error
                    )
            else:
                address = org.email
                shown = f"{sender.relay.redacted()} to {address}"
                data, msg_id = digest_email(sender, d, org, content)
                result = sender.pool.send(address, data)
        d.attempts += 1
        d.message_id = msg_id or d.message_id
        outcome = "sent"
        if result.ok:
            d.status, d.sent_at, d.last_error = "sent", sender.now, None
            d.lease_owner, d.lease_until = None, None
            session.execute(
                update(Alert)
                .where(col(Alert.digest_id) == d.id, col(Alert.status) != "sent")
                .values(status="sent", sent_at=sender.now, lease_owner=None, lease_until=None)
            )
            report.digests_sent += 1
            if d.channel == "email":
                report.recipients.append(address)
        else:
            report.digests_failed += 1
            report.failed += 1  # its alerts could not be sent either (`bidbell run` exits 4)
            d.last_error = result.error
            d.lease_owner, d.lease_until = sender.owner, None
            if result.outcome == REJECTED:
                d.status, outcome = "failed", "rejected"
                mark_refused(session, org.id or 0, d.channel, address, result.error, sender.now)
            elif d.attempts >= s.send_max_attempts:
                d.status, outcome = "failed", "failed"
            else:
                d.status, outcome = "pending", "retry"
                d.next_attempt_at = sender.now + timedelta(
                    seconds=retry_delay(d.attempts, s, sender.rng)
                )
            log.warning("digest %s to %s: %s (%s)", d.id, shown, result.error, outcome)
        session.add(d)
        session.add(
            Delivery(
                digest_id=d.id,
                channel=d.channel,
                target=shown[:512],
                ok=result.ok,
                outcome=outcome,
                message_id=msg_id,
                error=result.error,
                attempted_at=sender.now,
            )
        )
        session.commit()
        return result.ok


def send_pending_digests(
    sender: Sender, report: DeliveryReport, kinds: tuple[str, ...] = KINDS
) -> None:
    """Claim and send every due digest of these kinds (new ones and retries)."""
    s = sender.settings
    names = ", ".join(f":k{i}" for i in range(len(kinds)))
    where = f"kind IN ({names})"
    params: dict[str, Any] = {f"k{i}": k for i, k in enumerate(kinds)}
    if not s.sms_url or in_quiet_hours(sender.now):
        where += " AND channel <> 'sms'"
    while True:
        ids = claim_rows(
            sender.engine, "digest", sender.owner, sender.now, s.send_lease_s, 20, where, params
        )
        if not ids:
            return
        for digest_id in ids:
            send_digest(sender, digest_id, report)


def send_welcome_digests(sender: Sender, report: DeliveryReport) -> None:
    with Session(sender.engine) as session:
        assemble_digests(session, "welcome", sender.now)
        session.commit()
    send_pending_digests(sender, report, ("welcome",))


def send_due_digests(
    sender: Sender, kind: str, report: DeliveryReport, org_ids: list[int] | None = None
) -> list[int]:
    """Make the digests of ``kind`` due now and send them (and any waiting to be tried
    again). Returns the ids of the digests made."""
    with Session(sender.engine) as session:
        if kind == "infrastructure":
            made = assemble_infrastructure(session, sender.now, org_ids)
        else:
            made = assemble_digests(session, kind, sender.now, org_ids)
        session.commit()
    send_pending_digests(sender, report, (kind,))
    return made


def write_digests(
    sender: Sender, kind: str, folder: Path, org_ids: list[int] | None = None
) -> list[Path]:
    """``bidbell digest --dry-run``: the digests due now written as .eml files; nothing is
    sent and nothing recorded (the rows made to render them are rolled back)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with Session(sender.engine, expire_on_commit=False) as session:
        if kind == "infrastructure":
            made = assemble_infrastructure(session, sender.now, org_ids)
        else:
            made = assemble_digests(session, kind, sender.now, org_ids)
        for digest_id in made:
            d = session.get(Digest, digest_id)
            org = session.get(Organisation, d.organisation_id) if d else None
            if d is None or org is None:
                continue
            content = digest_content(sender, session, d, org)
            name = f"{kind}-{org.id}-{d.channel}"
            if d.channel == "sms":
                path = folder / f"{name}.txt"
                path.write_text(content.sms + "\n", encoding="utf-8")
            else:
                data, _ = digest_email(sender, d, org, content)
                path = folder / f"{name}.eml"
                path.write_bytes(data)
            paths.append(path)
        session.rollback()
    return paths


# --- telling an organisation its address was refused --------------------------------------
def tell_refusals(sender: Sender, report: DeliveryReport) -> None:
    """An address refused for good (a 5xx to RCPT, a number the gateway refuses, a target
    gone): tell the organisation once on its other channel, if it has one."""
    s = sender.settings
    with Session(sender.engine) as session:
        rows = session.exec(
            select(DeliveryTarget, Organisation)
            .join(Organisation, col(Organisation.id) == DeliveryTarget.organisation_id)
            .where(DeliveryTarget.status == "rejected", col(DeliveryTarget.told_at).is_(None))
        ).all()
        for t, org in rows:
            refused = {
                (c, a)
                for c, a in session.execute(
                    select(DeliveryTarget.channel, DeliveryTarget.address).where(
                        DeliveryTarget.organisation_id == org.id,
                        DeliveryTarget.status == "rejected",
                    )
                )
            }
            shown = t.address if t.channel in ("email", "sms") else dispatch.redact(t.address)
            what = {"email": "emails to", "sms": "text messages to"}.get(
                t.channel, "messages to your target"
            )
            text_body = (
                f"Bidbell: {what} {shown} are being refused ({t.reason or 'refused'}), so we "
                "have stopped sending them. Please give us a working address."
            )
            ok = False
            if t.channel != "email" and ("email", org.email) not in refused:
                data = sender.email(
                    org.email,
                    f"Bidbell could not reach you: {what} {shown} are refused",
                    text_body + f"\n\nChange your details: {sender.links.prefs(org.id or 0)}\n",
                    f"<p>{_esc(text_body)}</p><p><a href=\"{sender.links.prefs(org.id or 0)}\">"
                    "Change your details</a></p>",
                    message_id(
                        "refused", t.id or 0, f"{org.id}:{t.channel}", sender.relay.from_domain
                    ),
                    None,
                )  # fmt: skip
                ok = sender.pool.send(org.email, data).ok
            elif (
                t.channel == "email" and org.mobile and s.sms_url and not in_quiet_hours(sender.now)
            ) and ("sms", org.mobile) not in refused:
                body = sms.compose_sms(
                    "Bidbell", f"emails to {shown} are refused; please update your address",
                    [], None,
                )  # fmt: skip
                ok = dispatch.notify(dispatch.fill_target(s.sms_url, org.mobile), "", body).ok
            if ok:
                t.told_at = sender.now
                session.add(t)
                report.told_of_refusal += 1
        session.commit()


def _esc(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
