"""The outbox sender: alerts leave the ``alert`` table in batches, under a lease, and every
attempt is recorded.

One run (``deliver``):
1. change alerts: each event (amended, deadline or value changed, cancelled, awarded) after
   the sender's place in the event stream becomes an alert of kind ``change:<event id>`` for
   every organisation already told about that procurement (through any of its listings:
   ``canonical_id`` is followed), on the channel and profile it was told on;
2. reminders that are due become alerts of kind ``reminder`` (notifiers.reminders);
3. routing: each new alert is marked instant, daily, weekly, welcome (the welcome digest)
   or feed (a private feed: published, nothing to send), by its profile's frequency;
4. copies of instant email alerts for the targets an organisation added (Teams, Slack...);
5. claim, send, record, until nothing is due: a claim takes up to ``send_batch`` due
   alerts and marks them ``sending`` with this run's owner and a lease; SQLite takes the
   write lock first (BEGIN IMMEDIATE), PostgreSQL skips rows another sender holds
   (FOR UPDATE SKIP LOCKED): two senders never hold the same row. A sender killed
   mid-batch leaves its rows ``sending``; when the lease runs out they are due again and
   are sent again with the same Message-ID. Nothing is marked sent before the relay took it.
6. the welcome digests, and telling organisations whose address was refused.

Outcomes: sent; a temporary failure (relay down or slow, a 4xx, an SMS gateway 5xx or
timeout) is tried again, on the next run first, then after base x 2^n seconds with jitter,
until ``send_max_attempts``; a permanent refusal (a 5xx to RCPT, a number the gateway
refuses) fails the alert, marks the target refused and tells the organisation on its other
channel. SMS waits in quiet hours (21:00-08:00 UK) until 08:00. An organisation's instant
alerts beyond its cap for the day fold into its next daily digest.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import and_, bindparam, insert, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from bidbell.clock import to_uk, uk_local
from bidbell.settings import Settings
from models.classify import band_text
from models.store.checkpoint import get_state
from models.store.db import session_scope
from models.store.tables import (
    Alert,
    Delivery,
    DeliveryPreference,
    DeliveryTarget,
    Digest,
    Opportunity,
    OpportunityEvent,
    Organisation,
    Profile,
)
from models.store.types import UTCDateTime
from models.store.upsert import insert_ignore_count
from notifiers import dispatch, sms
from notifiers.messages import Links, build_email, list_id, message_id
from notifiers.render import (
    EVENT_WORDS,
    alert_subject,
    area_name,
    change_lines,
    opportunity_value,
    plain_reason,
    render,
    squash,
)
from notifiers.smtp import FAILED, REJECTED, SENT, TEMPORARY, SendResult, SmtpPool, parse_relay

log = logging.getLogger(__name__)

DELIVERY_STATE = "delivery"  # SourceState row: the sender's place in the event stream
CHANGE_KINDS = ("amended", "deadline_changed", "value_changed", "cancelled", "awarded")
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
# Outcomes are recorded (one commit) every FLUSH_EVERY messages or FLUSH_S seconds: what a
# killed sender had sent but not recorded is sent again (same Message-ID), so not much.
FLUSH_EVERY = 100
FLUSH_S = 0.2
CHUNK = 900


@dataclass
class DeliveryReport:
    """What one run did. ``failed`` counts alerts that could not be sent this run (tried
    again later, or failed for good); `bidbell run` exits 4 when it is not zero."""

    sent: int = 0
    failed: int = 0
    rejected: int = 0  # of failed: refused for good by the target
    given_up: int = 0  # of failed: out of attempts
    held_quiet_hours: int = 0
    waiting_no_gateway: int = 0
    folded_into_digest: int = 0
    change_alerts: int = 0
    reminders: int = 0
    published_in_feeds: int = 0
    digests_sent: int = 0
    digests_failed: int = 0
    told_of_refusal: int = 0
    recipients: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- time --------------------------------------------------------------------------------
def in_quiet_hours(now: datetime) -> bool:
    t = to_uk(now).time()
    return t >= QUIET_FROM or t < QUIET_UNTIL


def quiet_hours_end(now: datetime) -> datetime:
    """The next 08:00 UK at or after ``now``."""
    day = to_uk(now).date()
    end = uk_local(day, QUIET_UNTIL)
    return end if end >= now else uk_local(day + timedelta(days=1), QUIET_UNTIL)


def uk_midnight(now: datetime) -> datetime:
    return uk_local(to_uk(now).date(), time(0, 0))


def retry_delay(attempts: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` failed ones: the next run first, then
    base x 2^(n-2) with +-50% jitter (so a relay coming back is not hit by all at once)."""
    if attempts <= 1:
        return 0.0
    base = min(settings.send_backoff_max_s, settings.send_backoff_base_s * 2 ** (attempts - 2))
    return min(settings.send_backoff_max_s, base * (rng or random).uniform(0.5, 1.5))


def _chunks(items: Sequence[Any], n: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


# --- 1. change alerts --------------------------------------------------------------------
def create_change_alerts(session: Session, now: datetime) -> int:
    """Alerts for the changes since the last run to procurements organisations were told
    about (see the module doc). Idempotent: the outbox's unique key holds one per event,
    organisation and channel."""
    state = get_state(session, DELIVERY_STATE)
    memory = dict(state.state or {})
    last = int(memory.get("event_id", 0))
    top = session.scalar(select(func.max(OpportunityEvent.id))) or 0
    if top <= last:
        return 0
    events = session.exec(
        select(OpportunityEvent)
        .where(
            col(OpportunityEvent.id) > last,
            col(OpportunityEvent.id) <= top,
            col(OpportunityEvent.kind).in_(CHANGE_KINDS),
        )
        .order_by(col(OpportunityEvent.id))
    ).all()
    created = 0
    if events:
        opp_ids = sorted({e.opportunity_id for e in events})
        canonical: dict[int, int] = {}
        for part in _chunks(opp_ids):
            for oid, cid in session.execute(
                select(Opportunity.id, Opportunity.canonical_id).where(
                    col(Opportunity.id).in_(part)
                )
            ):
                canonical[oid] = cid or oid
        roots = sorted(set(canonical.values()))
        members: dict[int, set[int]] = {r: {r} for r in roots}
        for part in _chunks(roots):
            for oid, cid in session.execute(
                select(Opportunity.id, Opportunity.canonical_id).where(
                    col(Opportunity.canonical_id).in_(part)
                )
            ):
                members[cid].add(oid)
        listing_root = {m: r for r, ms in members.items() for m in ms}
        told: dict[int, dict[tuple[int, str], tuple[int, int]]] = defaultdict(dict)
        all_listings = sorted(listing_root)
        for part in _chunks(all_listings):
            rows = session.execute(
                sa_select(
                    col(Alert.opportunity_id),
                    col(Alert.organisation_id),
                    col(Alert.channel),
                    col(Alert.profile_id),
                    col(Alert.score),
                ).where(
                    col(Alert.opportunity_id).in_(part),
                    col(Alert.kind).in_(("new", "welcome")),
                    col(Alert.status) == "sent",
                    ~col(Alert.channel).startswith("target:"),
                )
            )
            for opp_id, org_id, channel, profile_id, score in rows:
                told[listing_root[opp_id]].setdefault((org_id, channel), (profile_id, score))
        rows_out = []
        for e in events:
            root = canonical.get(e.opportunity_id, e.opportunity_id)
            for (org_id, channel), (profile_id, score) in told.get(root, {}).items():
                rows_out.append(
                    {
                        "organisation_id": org_id,
                        "profile_id": profile_id,
                        "opportunity_id": root,
                        "kind": f"change:{e.id}",
                        "channel": channel,
                        "status": "pending",
                        "reasons": [],
                        "score": score,
                        "attempts": 0,
                        "created_at": now,
                        "event_id": e.id,
                    }
                )
        created = insert_ignore_count(
            session, Alert, rows_out, ["organisation_id", "opportunity_id", "kind", "channel"]
        )
    state.state = {**memory, "event_id": top}
    session.add(state)
    session.flush()
    return created


# --- 3. routing --------------------------------------------------------------------------
def route_alerts(session: Session, now: datetime) -> int:
    """Decide how each new alert goes (see the module doc). Returns how many were
    published in private feeds (nothing to send for those)."""
    unrouted = and_(col(Alert.route).is_(None), col(Alert.status) == "pending")
    session.execute(
        update(Alert).where(unrouted, col(Alert.kind) == "welcome").values(route="welcome")
    )
    feed = session.execute(
        update(Alert)
        .where(unrouted, col(Alert.channel) == "feed")
        .values(route="feed", status="sent", sent_at=now)
    )
    session.execute(
        update(Alert).where(unrouted, col(Alert.kind) == "reminder").values(route="instant")
    )
    for frequency in ("daily", "weekly"):
        wanted = select(Profile.id).where(Profile.frequency == frequency)
        session.execute(
            update(Alert).where(unrouted, col(Alert.profile_id).in_(wanted)).values(route=frequency)
        )
    session.execute(update(Alert).where(unrouted).values(route="instant"))
    session.flush()
    return int(getattr(feed, "rowcount", 0) or 0)


# --- 4. copies for the targets organisations added -----------------------------------------
def fan_out_targets(session: Session, now: datetime) -> int:
    targets = session.exec(
        select(DeliveryTarget).where(
            DeliveryTarget.channel == "apprise", DeliveryTarget.status == "active"
        )
    ).all()
    if not targets:
        return 0
    by_org: dict[int, list[DeliveryTarget]] = defaultdict(list)
    for t in targets:
        by_org[t.organisation_id].append(t)
    rows = []
    for part in _chunks(sorted(by_org)):
        for a in session.exec(
            select(Alert).where(
                col(Alert.organisation_id).in_(part),
                Alert.route == "instant",
                Alert.channel == "email",
                col(Alert.status).in_(("pending", "sending", "sent")),
                col(Alert.created_at) >= now - timedelta(days=2),
            )
        ):
            for t in by_org[a.organisation_id]:
                rows.append(
                    {
                        "organisation_id": a.organisation_id,
                        "profile_id": a.profile_id,
                        "opportunity_id": a.opportunity_id,
                        "kind": a.kind,
                        "channel": f"target:{t.id}",
                        "status": "pending",
                        "route": "instant",
                        "reasons": a.reasons,
                        "score": a.score,
                        "lot_id": a.lot_id,
                        "lot_title": a.lot_title,
                        "attempts": 0,
                        "created_at": now,
                        "event_id": a.event_id,
                    }
                )
    return insert_ignore_count(
        session, Alert, rows, ["organisation_id", "opportunity_id", "kind", "channel"]
    )


# --- 5. claiming -------------------------------------------------------------------------
_DUE = (
    "((status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= :now)"
    " AND (lease_owner IS NULL OR lease_owner <> :owner))"
    " OR (status = 'sending' AND lease_until < :now))"
)


def claim_rows(
    engine: Engine,
    table: str,
    owner: str,
    now: datetime,
    lease_s: float,
    limit: int,
    where: str = "1 = 1",
    params: dict[str, Any] | None = None,
) -> list[int]:
    """Claim up to ``limit`` due rows of ``table`` (alert or digest) matching ``where`` for
    ``owner`` until ``now + lease_s``; their ids. Two senders never get the same row: SQLite
    takes the write lock before it reads (BEGIN IMMEDIATE), PostgreSQL skips rows another
    transaction holds (FOR UPDATE SKIP LOCKED) and checks the row again as it updates it."""
    values = {
        "owner": owner,
        "now": now,
        "until": now + timedelta(seconds=lease_s),
        "limit": limit,
        **(params or {}),
    }
    cond = f"{where} AND {_DUE}"
    claim = f"UPDATE {table} SET status = 'sending', lease_owner = :owner, lease_until = :until "
    if engine.dialect.name == "postgresql":
        # The rows to take are chosen once, in a materialised CTE: a plain "IN (SELECT ...
        # FOR UPDATE SKIP LOCKED)" may be evaluated again by the planner, lock rows it then
        # does not update, and leave them unclaimed while the other senders skip them.
        sql = (
            f"WITH picked AS MATERIALIZED (SELECT id FROM {table} WHERE {cond} ORDER BY id "
            f"LIMIT :limit FOR UPDATE SKIP LOCKED) "
            f"{claim}FROM picked WHERE {table}.id = picked.id RETURNING {table}.id"
        )
        with engine.begin() as conn:
            return sorted(r[0] for r in conn.execute(_typed(sql), values))
    sql = (
        f"{claim}WHERE id IN (SELECT id FROM {table} WHERE {cond} ORDER BY id LIMIT :limit) "
        "RETURNING id"
    )
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock first: no stale snapshot
        try:
            ids = sorted(r[0] for r in conn.execute(_typed(sql), values))
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
    return ids


def claim_alerts(
    engine: Engine,
    owner: str,
    now: datetime,
    lease_s: float,
    limit: int,
    channels_off: Sequence[str] = (),
    route: str = "instant",
) -> list[int]:
    """Claim due alerts of ``route`` (see claim_rows). ``channels_off``: channels not to
    take now (SMS in quiet hours or without a gateway)."""
    off = "".join(f" AND channel <> :off{i}" for i in range(len(channels_off)))
    params = {"route": route, **{f"off{i}": c for i, c in enumerate(channels_off)}}
    return claim_rows(engine, "alert", owner, now, lease_s, limit, f"route = :route{off}", params)


def _typed(sql: str) -> Any:
    """The statement with its times bound as the columns store them (UTCDateTime)."""
    return text(sql).bindparams(
        bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime())
    )


# --- 5. sending --------------------------------------------------------------------------
@dataclass
class Outgoing:
    alert: Alert
    organisation: Organisation
    opportunity: Opportunity
    event: OpportunityEvent | None
    target: str  # the address or URL
    shown: str  # the target as recorded (redacted)


@dataclass
class Outcome:
    alert_id: int
    channel: str
    shown: str
    result: SendResult
    message_id: str | None = None
    recipient: str | None = None
    org_id: int = 0
    address: str = ""


class Sender:
    """One delivery run's machinery: the SMTP pool (opened on first use), signed links,
    settings. Used by ``deliver`` and by the digests."""

    def __init__(self, engine: Engine, settings: Settings, now: datetime) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now
        self.owner = f"{uuid.uuid4().hex[:12]}"
        self.relay = parse_relay(settings.email_url)
        self.links = Links.from_settings(now)
        self._pool: SmtpPool | None = None
        self.rng = random.Random()

    @property
    def pool(self) -> SmtpPool:
        if self._pool is None:
            self._pool = SmtpPool(
                self.relay,
                size=self.settings.send_connections,
                timeout=self.settings.smtp_timeout_s,
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # --- email ---------------------------------------------------------------------------
    def email(
        self,
        to: str,
        subject: str,
        text_body: str,
        html: str,
        msg_id: str,
        unsubscribe: str | None,
        what: str = "alerts",
        **kw: Any,
    ) -> bytes:
        return build_email(
            from_addr=self.relay.from_addr,
            from_name=self.relay.from_name,
            to=to,
            subject=subject,
            text=text_body,
            html=html,
            msg_id=msg_id,
            date=self.now,
            unsubscribe_url=unsubscribe,
            list_id=list_id(self.relay.from_domain, what),
            **kw,
        )

    def alert_email(self, o: Outgoing) -> tuple[bytes, str]:
        a, org, opp = o.alert, o.organisation, o.opportunity
        kind = "change" if a.kind.startswith("change") else a.kind
        msg_id = a.message_id or message_id(
            "alert", a.id or 0, f"{a.organisation_id}:{a.opportunity_id}:{a.kind}:{a.channel}",
            self.relay.from_domain,
        )  # fmt: skip
        days = self.settings.remind_days
        description = squash(opp.description)
        context = {
            "organisation": org,
            "opportunity": opp,
            "kind": kind,
            "value": opportunity_value(opp),
            "band_label": band_text(opp.value_band, opp.band_basis),
            "areas": [area_name(r) for r in opp.regions[:4]],
            "reasons": [plain_reason(r) for r in a.reasons],
            "lot_title": a.lot_title,
            "description": description if len(description) <= 600 else description[:597] + "...",
            "notice_url": opp.url,
            "remind_url": (
                self.links.remind(org.id or 0, opp.id or 0, days)
                if opp.deadline is not None and opp.deadline > self.now and kind != "reminder"
                else None
            ),
            "remind_days": days,
            "prefs_url": self.links.prefs(org.id or 0),
            "unsubscribe_url": self.links.unsubscribe(org.id or 0, a.profile_id),
            "reference": f"A{a.id}",
            "event_words": EVENT_WORDS.get(o.event.kind, "amended") if o.event else "",
            "changes": change_lines(o.event.changes) if o.event else [],
        }
        subject = alert_subject(opp, a.kind, o.event.kind if o.event else None)
        context["subject"] = subject
        data = self.email(
            o.target,
            subject,
            render("alert_email.txt.j2", **context),
            render("alert_email.html.j2", **context),
            msg_id,
            str(context["unsubscribe_url"]),
            extra={"X-Bidbell-Alert": str(a.id)},
        )
        return data, msg_id

    # --- sms -----------------------------------------------------------------------------
    def alert_sms(self, o: Outgoing) -> str:
        a, opp = o.alert, o.opportunity
        # our page of it (every listing, the notice's link): short, and the same for
        # every source; a notice's own address can be 100 characters
        link = sms.short_link(self.links.short(opp.id)) if opp.id else None
        value = opportunity_value(opp)
        facts = [value if value != "value not stated" else "", sms.closes(opp.deadline) or ""]
        if o.event is not None:
            lead = f"Bidbell, {EVENT_WORDS.get(o.event.kind, 'changed')}"
            if o.event.kind == "deadline_changed":
                facts = [sms.closes(opp.deadline) or "no deadline now"]
            elif o.event.kind in ("cancelled", "awarded"):
                facts = []
        elif a.kind == "reminder":
            lead = "Bidbell reminder"
        else:
            lead = "Bidbell"
        return sms.compose_sms(lead, squash(opp.title), facts, link)


def _load(session: Session, ids: Sequence[int]) -> list[tuple[Alert, Organisation, Opportunity]]:
    rows: list[tuple[Alert, Organisation, Opportunity]] = []
    for part in _chunks(ids):
        rows.extend(
            session.exec(
                select(Alert, Organisation, Opportunity)
                .join(Organisation, col(Organisation.id) == Alert.organisation_id)
                .join(Opportunity, col(Opportunity.id) == Alert.opportunity_id)
                .where(col(Alert.id).in_(part))
                .order_by(col(Alert.id))
            ).all()
        )
    return rows


def _refused(session: Session, org_ids: Iterable[int]) -> set[tuple[int, str, str]]:
    out: set[tuple[int, str, str]] = set()
    for part in _chunks(sorted(set(org_ids))):
        out.update(
            session.execute(
                select(
                    DeliveryTarget.organisation_id, DeliveryTarget.channel, DeliveryTarget.address
                ).where(
                    col(DeliveryTarget.organisation_id).in_(part),
                    DeliveryTarget.status == "rejected",
                )
            ).all()
        )
    return out


def _caps(session: Session, org_ids: Sequence[int], default: int) -> dict[int, int]:
    caps = {o: default for o in org_ids}
    for part in _chunks(sorted(org_ids)):
        for org_id, cap in session.execute(
            select(DeliveryPreference.organisation_id, DeliveryPreference.instant_cap_per_day)
            .where(col(DeliveryPreference.organisation_id).in_(part))
        ):  # fmt: skip
            if cap is not None:
                caps[org_id] = cap
    return caps


def _sent_today(
    session: Session, org_ids: Sequence[int], since: datetime
) -> dict[tuple[int, str], int]:
    out: dict[tuple[int, str], int] = {}
    for part in _chunks(sorted(org_ids)):
        for org_id, channel, n in session.execute(
            select(col(Alert.organisation_id), col(Alert.channel), func.count())
            .where(
                col(Alert.organisation_id).in_(part),
                Alert.route == "instant",
                Alert.kind == "new",
                Alert.status == "sent",
                col(Alert.sent_at) >= since,
            )
            .group_by(col(Alert.organisation_id), col(Alert.channel))
        ):
            out[(org_id, channel)] = n
    return out


ALERT_TABLE: Any = Alert.__table__  # type: ignore[attr-defined]
DELIVERY_TABLE: Any = Delivery.__table__  # type: ignore[attr-defined]


def _record(sender: Sender, outcomes: list[Outcome], report: DeliveryReport) -> None:
    """Write what happened to each alert and one delivery row per attempt, in one commit.
    Successes (nearly all) as two statements for the lot; failures one by one."""
    if not outcomes:
        return
    now = sender.now
    ok = [oc for oc in outcomes if oc.result.ok]
    if ok:
        with sender.engine.begin() as conn:
            conn.execute(
                update(ALERT_TABLE)
                .where(ALERT_TABLE.c.id == bindparam("aid"))
                .values(
                    status="sent",
                    sent_at=now,
                    last_error=None,
                    lease_owner=None,
                    lease_until=None,
                    attempts=ALERT_TABLE.c.attempts + 1,
                    message_id=func.coalesce(bindparam("mid"), ALERT_TABLE.c.message_id),
                ),
                [{"aid": oc.alert_id, "mid": oc.message_id} for oc in ok],
            )
            conn.execute(
                insert(DELIVERY_TABLE),
                [
                    {
                        "alert_id": oc.alert_id,
                        "channel": oc.channel,
                        "target": oc.shown[:512],
                        "ok": True,
                        "outcome": "sent",
                        "message_id": oc.message_id,
                        "error": None,
                        "attempted_at": now,
                    }
                    for oc in ok
                ],
            )
        report.sent += len(ok)
        report.recipients.extend(oc.recipient for oc in ok if oc.recipient)
    failed = [oc for oc in outcomes if not oc.result.ok]
    if failed:
        _record_failures(sender, failed, report)


def _record_failures(sender: Sender, outcomes: list[Outcome], report: DeliveryReport) -> None:
    s = sender.settings
    now = sender.now
    with Session(sender.engine) as session:
        deliveries = []
        for oc in outcomes:
            alert = session.get(Alert, oc.alert_id)
            if alert is None:  # removed meanwhile (the organisation unsubscribed)
                continue
            r = oc.result
            alert.attempts += 1
            if oc.message_id:
                alert.message_id = oc.message_id
            if alert.status == "sent":
                outcome = "retry"  # another sender got it out meanwhile: leave it sent
            else:
                report.failed += 1
                alert.last_error = r.error
                alert.lease_owner, alert.lease_until = sender.owner, None
                if r.outcome == REJECTED:
                    alert.status, outcome = "failed", "rejected"
                    report.rejected += 1
                    mark_refused(session, oc.org_id, alert.channel, oc.address, r.error, now)
                elif alert.attempts >= s.send_max_attempts:
                    alert.status, outcome = "failed", "failed"
                    report.given_up += 1
                else:
                    alert.status, outcome = "pending", "retry"
                    alert.next_attempt_at = now + timedelta(
                        seconds=retry_delay(alert.attempts, s, sender.rng)
                    )
                log.warning("alert %s to %s: %s (%s)", alert.id, oc.shown, r.error, outcome)
            session.add(alert)
            deliveries.append(
                Delivery(
                    alert_id=oc.alert_id,
                    channel=oc.channel,
                    target=oc.shown[:512],
                    ok=False,
                    outcome=outcome,
                    message_id=oc.message_id,
                    error=r.error,
                    attempted_at=now,
                )
            )
        session.add_all(deliveries)
        session.commit()


def mark_refused(
    session: Session, org_id: int, channel: str, address: str, reason: str | None, now: datetime
) -> None:
    """The target refused for good: remember it (the next alerts to it fail at once)."""
    if channel.startswith("target:"):
        t = session.get(DeliveryTarget, int(channel.split(":", 1)[1]))
        if t is not None:
            t.status, t.reason, t.rejected_at = "rejected", reason, now
            session.add(t)
        return
    existing = session.exec(
        select(DeliveryTarget).where(
            DeliveryTarget.organisation_id == org_id,
            DeliveryTarget.channel == channel,
            DeliveryTarget.address == address,
        )
    ).first()
    if existing is None:
        existing = DeliveryTarget(
            organisation_id=org_id, channel=channel, address=address, created_at=now
        )
    existing.status, existing.reason, existing.rejected_at = "rejected", reason, now
    session.add(existing)
    session.flush()


def _sms_result(n: dispatch.NotifyResult) -> SendResult:
    if n.ok:
        return SendResult(SENT)
    return SendResult(REJECTED if n.permanent else TEMPORARY, n.error)


def send_batch(sender: Sender, ids: Sequence[int], report: DeliveryReport) -> None:
    """Send the claimed alerts ``ids``; record each outcome."""
    s = sender.settings
    with Session(sender.engine, expire_on_commit=False) as session:
        rows = _load(session, ids)
        events: dict[int, OpportunityEvent] = {}
        ev_ids = sorted({a.event_id for a, _, _ in rows if a.event_id})
        for part in _chunks(ev_ids):
            events.update(
                (e.id or 0, e)
                for e in session.exec(
                    select(OpportunityEvent).where(col(OpportunityEvent.id).in_(part))
                )
            )
        org_ids = sorted({org.id or 0 for _, org, _ in rows})
        refused = _refused(session, org_ids)
        targets: dict[int, DeliveryTarget] = {}
        t_ids = sorted({int(a.channel[7:]) for a, _, _ in rows if a.channel.startswith("target:")})
        for part in _chunks(t_ids):
            targets.update(
                (t.id or 0, t)
                for t in session.exec(
                    select(DeliveryTarget).where(col(DeliveryTarget.id).in_(part))
                )
            )
        caps = _caps(session, org_ids, s.instant_cap_per_day)
        counts = _sent_today(session, org_ids, uk_midnight(sender.now))
        folded: list[int] = []
        outgoing: list[Outgoing] = []
        immediate: list[Outcome] = []
        for a, org, opp in rows:
            if a.kind == "new" and not a.channel.startswith("target:"):
                key = (org.id or 0, a.channel)
                if counts.get(key, 0) >= caps[org.id or 0]:
                    folded.append(a.id or 0)
                    continue
                counts[key] = counts.get(key, 0) + 1
            if a.channel == "email":
                address, shown = org.email, f"{sender.relay.redacted()} to {org.email}"
            elif a.channel == "sms":
                address = org.mobile or ""
                shown = f"sms to {address}"
            elif a.channel.startswith("target:"):
                t = targets.get(int(a.channel[7:]))
                address = t.address if t else ""
                shown = dispatch.redact(address) if address else a.channel
                if t is None or t.status != "active":
                    immediate.append(_fail_now(a, org, shown, "the target was removed or refused"))
                    continue
                try:
                    dispatch.check_target(address, s.target_schemes, s.allow_private_targets)
                except dispatch.TargetRefused as exc:
                    immediate.append(_fail_now(a, org, shown, str(exc), address=address))
                    continue
            else:
                immediate.append(_fail_now(a, org, a.channel, f"unknown channel {a.channel!r}"))
                continue
            if not address:
                immediate.append(_fail_now(a, org, shown, f"no {a.channel} address"))
                continue
            if (org.id or 0, a.channel, address) in refused:
                immediate.append(
                    _fail_now(a, org, shown, f"{address} refused our messages before", address)
                )
                continue
            outgoing.append(Outgoing(a, org, opp, events.get(a.event_id or 0), address, shown))
        if folded:
            session.execute(
                update(Alert)
                .where(col(Alert.id).in_(folded))
                .values(route="daily", status="pending", lease_owner=None, lease_until=None)
            )
            session.commit()
            report.folded_into_digest += len(folded)
    _record(sender, immediate, report)
    pending: list[tuple[Outgoing, Future[SendResult], str]] = []
    done: list[Outcome] = []
    flushed = monotonic()
    for o in outgoing:
        a = o.alert
        if a.channel == "email":
            try:
                data, msg_id = sender.alert_email(o)
            except Exception as exc:  # a template or data problem: this alert only
                log.exception("alert %s could not be rendered", a.id)
                done.append(_outcome(o, SendResult(FAILED, f"could not render: {exc}")))
                continue
            pending.append((o, sender.pool.submit(o.target, data), msg_id))
        else:
            if a.channel == "sms":
                body, url = sender.alert_sms(o), dispatch.fill_target(s.sms_url, o.target)
                title = ""
            else:
                body = sender.alert_sms(o)
                url, title = o.target, alert_subject(o.opportunity, a.kind)
            done.append(_outcome(o, _sms_result(dispatch.notify(url, title, body))))
        while pending and (pending[0][1].done() or len(pending) > 4 * s.send_connections):
            po, fut, mid = pending.pop(0)
            done.append(_outcome(po, fut.result(), mid))
        if len(done) >= FLUSH_EVERY or (done and monotonic() - flushed > FLUSH_S):
            _record(sender, done, report)
            done, flushed = [], monotonic()
    for po, fut, mid in pending:
        done.append(_outcome(po, fut.result(), mid))
    _record(sender, done, report)
    _ops_copies(sender, outgoing, report)


def _outcome(o: Outgoing, r: SendResult, msg_id: str | None = None) -> Outcome:
    return Outcome(
        alert_id=o.alert.id or 0,
        channel=o.alert.channel,
        shown=o.shown,
        result=r,
        message_id=msg_id,
        recipient=o.target if r.ok and o.alert.channel == "email" else None,
        org_id=o.organisation.id or 0,
        address=o.target,
    )


def _fail_now(a: Alert, org: Organisation, shown: str, why: str, address: str = "") -> Outcome:
    return Outcome(
        alert_id=a.id or 0,
        channel=a.channel,
        shown=shown,
        result=SendResult(REJECTED, why),
        org_id=org.id or 0,
        address=address,
    )


def _ops_copies(sender: Sender, sent: list[Outgoing], report: DeliveryReport) -> None:
    """BIDBELL_EXTRA_APPRISE_URLS: an operator's copy of each email alert; best effort."""
    extras = sender.settings.extra_apprise_urls
    if not extras or not sent:
        return
    with Session(sender.engine) as session:
        for o in sent:
            if o.alert.channel != "email":
                continue
            for url in extras:
                n = dispatch.notify(
                    url, alert_subject(o.opportunity, o.alert.kind), sender.alert_sms(o)
                )
                session.add(
                    Delivery(
                        alert_id=o.alert.id,
                        channel="extra",
                        target=dispatch.redact(url),
                        ok=n.ok,
                        outcome="sent" if n.ok else "retry",
                        error=n.error,
                        attempted_at=sender.now,
                    )
                )
        session.commit()


def send_due(sender: Sender, report: DeliveryReport, max_batches: int | None = None) -> None:
    """Claim and send until nothing instant is due."""
    s = sender.settings
    off: list[str] = []
    if not s.sms_url or in_quiet_hours(sender.now):
        off.append("sms")
    batches = 0
    while max_batches is None or batches < max_batches:
        ids = claim_alerts(
            sender.engine, sender.owner, sender.now, s.send_lease_s, s.send_batch, off
        )
        if not ids:
            break
        send_batch(sender, ids, report)
        batches += 1
    if off:
        with Session(sender.engine) as session:
            n = (
                session.scalar(
                    select(func.count())
                    .select_from(Alert)
                    .where(
                        Alert.route == "instant", Alert.status == "pending", Alert.channel == "sms"
                    )
                )
                or 0
            )
        if not s.sms_url:
            report.waiting_no_gateway = n
        else:
            report.held_quiet_hours = n


def deliver(engine: Engine, settings: Settings, now: datetime) -> DeliveryReport:
    """One delivery run (see the module doc)."""
    from notifiers.digest import send_welcome_digests, tell_refusals
    from notifiers.reminders import queue_due_reminders

    report = DeliveryReport()
    with session_scope(engine) as session:
        report.change_alerts = create_change_alerts(session, now)
        report.reminders = queue_due_reminders(session, now)
        report.published_in_feeds = route_alerts(session, now)
        fan_out_targets(session, now)
    sender = Sender(engine, settings, now)
    try:
        send_due(sender, report)
        send_welcome_digests(sender, report)
        tell_refusals(sender, report)
    finally:
        sender.close()
    return report


# --- what the outbox holds (bidbell outbox) ------------------------------------------------
def outbox_status(session: Session, now: datetime, errors: int = 10) -> dict[str, Any]:
    """Counts of alerts and digests by state, what pending ones wait for, the last errors."""
    alerts: dict[str, int] = dict(
        session.execute(
            sa_select(col(Alert.status), func.count()).group_by(col(Alert.status))
        ).all()
    )
    routes: dict[str, int] = dict(
        session.execute(
            sa_select(col(Alert.route), func.count())
            .where(col(Alert.status) == "pending")
            .group_by(col(Alert.route))
        ).all()
    )
    waiting_retry = (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(col(Alert.status) == "pending", col(Alert.next_attempt_at) > now)
        )
        or 0
    )
    sms_pending = (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(
                col(Alert.status) == "pending",
                col(Alert.channel) == "sms",
                col(Alert.route) == "instant",
            )
        )
        or 0
    )
    expired = (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(col(Alert.status) == "sending", col(Alert.lease_until) < now)
        )
        or 0
    )
    digests: dict[str, int] = dict(
        session.execute(
            sa_select(col(Digest.status), func.count()).group_by(col(Digest.status))
        ).all()
    )
    last = session.exec(
        select(Delivery)
        .where(col(Delivery.ok).is_(False))
        .order_by(col(Delivery.id).desc())
        .limit(errors)
    ).all()
    refused = session.exec(
        select(DeliveryTarget).where(col(DeliveryTarget.status) == "rejected")
    ).all()
    return {
        "alerts": {k: alerts.get(k, 0) for k in ("pending", "sending", "sent", "failed")},
        "pending_by_route": {str(k): v for k, v in routes.items()},
        "waiting_retry": waiting_retry,
        "sms_pending": sms_pending,
        "sms_quiet_hours": in_quiet_hours(now),
        "leases_expired": expired,
        "digests": {k: digests.get(k, 0) for k in ("pending", "sending", "sent", "failed")},
        "last_errors": [
            {
                "at": d.attempted_at.isoformat() if d.attempted_at else None,
                "what": f"alert {d.alert_id}" if d.alert_id else f"digest {d.digest_id}",
                "channel": d.channel,
                "target": d.target,
                "outcome": d.outcome,
                "error": d.error,
            }
            for d in last
        ],
        "refused_targets": [
            {
                "organisation_id": t.organisation_id,
                "channel": t.channel,
                "target": t.address
                if t.channel in ("email", "sms")
                else dispatch.redact(t.address),
                "reason": t.reason,
                "told": t.told_at is not None,
            }
            for t in refused
        ],
    }


def retry_failed(session: Session) -> int:
    """Failed alerts and digests back to pending with their attempts reset (after the
    cause was mended); alerts to a refused address stay failed until it changes."""
    n = session.execute(
        update(Alert)
        .where(col(Alert.status) == "failed")
        .values(status="pending", attempts=0, next_attempt_at=None, lease_owner=None)
    )
    m = session.execute(
        update(Digest)
        .where(col(Digest.status) == "failed")
        .values(status="pending", attempts=0, next_attempt_at=None, lease_owner=None)
    )
    return int(getattr(n, "rowcount", 0) or 0) + int(getattr(m, "rowcount", 0) or 0)
