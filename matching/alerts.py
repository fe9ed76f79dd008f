"""From the store to the outbox, incrementally, in one transaction.

Each run:
1. opportunities new or changed since the last run (the events after the matcher's place
   in the event stream) against every active profile -> alerts of kind "new";
2. profiles new or changed since the last run (``version`` != ``matched_version``)
   against the open opportunities (not those of step 1) -> alerts of kind "welcome", which
   the delivery sends as one welcome digest, never as instant alerts; an opportunity the
   organisation has already been told about is left out.
The outbox's unique key (organisation x opportunity x kind x channel) keeps a run
idempotent. Per organisation and opportunity the best-scoring of its profiles is kept, once
per channel that profile asks for (SMS only with a mobile number).

The index of all profiles is kept between runs in this process and updated with the
changed profiles only; it is rebuilt when it cannot be trusted (another process ran the
matcher since, or a profile was deleted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from matching.engine import Match, match
from matching.index import ProfileIndex
from matching.rules import Facts, Rules, compile_rules, facts_from
from models.classify.fit import EARLY_STAGES
from models.store.checkpoint import get_state
from models.store.tables import Alert, Opportunity, OpportunityEvent, Organisation, Profile
from models.store.upsert import insert_ignore_count
from models.subscribers.criteria import Criteria

MATCH_STATE = "matching"  # the SourceState row holding the matcher's place between runs
OPEN_STAGES = (*sorted(EARLY_STAGES), "tender")
CHUNK = 1000
_INDEXES: dict[str, tuple[ProfileIndex, int]] = {}  # database URL -> (index, epoch)


@dataclass
class AlertResult:
    profiles: int = 0  # active profiles in the index
    opportunities: int = 0  # new or changed opportunities open to bids (matched)
    award_notices: int = 0  # new or changed award notices (matched too)
    matches: int = 0
    alerts_created: int = 0
    welcome_profiles: int = 0  # new or changed profiles
    welcome_opportunities: int = 0  # open opportunities they were matched against
    welcome_matches: int = 0
    welcome_alerts: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def rules_of(p: Profile) -> Rules:
    return compile_rules(p.id or 0, p.organisation_id, Criteria.model_validate(p.criteria or {}))


def _chunks(items: Sequence[Any], n: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _db_key(session: Session) -> str:
    bind = session.get_bind()
    return str(getattr(bind, "url", id(bind)))


def _index_for(session: Session, changed: list[Profile], epoch: int, n_shards: int) -> ProfileIndex:
    key = _db_key(session)
    cached = _INDEXES.get(key)
    active = session.scalar(
        select(func.count()).select_from(Profile).where(col(Profile.active).is_(True))
    )
    if cached is not None and cached[1] == epoch:
        index = cached[0]
        index.update(
            (rules_of(p) for p in changed if p.active),
            removed=[p.id or 0 for p in changed if not p.active],
        )
        if len(index) == active:
            return index
    rows = session.exec(select(Profile).where(col(Profile.active).is_(True)))
    return ProfileIndex((rules_of(p) for p in rows), n_shards=n_shards)


def _canonical(session: Session, ids: Sequence[int]) -> list[Opportunity]:
    out: list[Opportunity] = []
    for part in _chunks(sorted(ids)):
        out.extend(
            session.exec(
                select(Opportunity).where(
                    col(Opportunity.id).in_(part), col(Opportunity.canonical_id).is_(None)
                )
            )
        )
    return out


def _open(session: Session, now: datetime, skip: set[int]) -> list[Opportunity]:
    rows = session.exec(
        select(Opportunity).where(
            col(Opportunity.stage).in_(OPEN_STAGES),
            col(Opportunity.canonical_id).is_(None),
            col(Opportunity.deadline).is_(None) | (col(Opportunity.deadline) > now),
        )
    )
    return [o for o in rows if o.id not in skip]


def _best_per_organisation(matches: Iterable[Match]) -> list[Match]:
    best: dict[tuple[int, int], Match] = {}
    for m in matches:
        key = (m.organisation_id, m.opportunity_id)
        if key not in best or (m.score, -m.profile_id) > (best[key].score, -best[key].profile_id):
            best[key] = m
    return list(best.values())


def _rows(
    matches: Iterable[Match],
    kind: str,
    channels: dict[int, list[str]],
    mobiles: dict[int, str | None],
    now: datetime,
) -> list[dict[str, Any]]:
    rows = []
    for m in matches:
        for channel in channels.get(m.profile_id) or ["email"]:
            if channel == "sms" and not mobiles.get(m.organisation_id):
                continue
            rows.append(
                {
                    "organisation_id": m.organisation_id,
                    "profile_id": m.profile_id,
                    "opportunity_id": m.opportunity_id,
                    "kind": kind,
                    "channel": channel,
                    "status": "pending",
                    "reasons": m.reasons,
                    "score": m.score,
                    "lot_id": m.lot_id,
                    "lot_title": m.lot_title,
                    "attempts": 0,
                    "created_at": now,
                }
            )
    return rows


def create_alerts(
    session: Session,
    now: datetime,
    n_shards: int = 1,
    matcher: Callable[[list[Facts], ProfileIndex, datetime], list[Match]] | None = None,
) -> AlertResult:
    """One incremental matching run (see the module doc); the caller's transaction holds
    the alerts and the matcher's new place together. ``matcher`` (default
    ``matching.engine.match``) may spread the work, e.g. over profile parts on workers
    (``ProfileIndex.split`` and ``matching.engine.join``): it must return what ``match``
    returns."""
    run = matcher or match
    state = get_state(session, MATCH_STATE)
    memory = dict(state.state or {})
    last = int(memory.get("event_id", 0))
    epoch = int(memory.get("profiles_epoch", 0))
    top = session.scalar(select(func.max(OpportunityEvent.id))) or 0
    changed = list(
        session.exec(
            select(Profile).where(
                col(Profile.matched_version).is_(None)
                | (col(Profile.matched_version) != col(Profile.version))
            )
        )
    )
    index = _index_for(session, changed, epoch, n_shards)
    result = AlertResult(profiles=len(index))
    opp_ids = [
        i
        for (i,) in session.execute(
            select(OpportunityEvent.opportunity_id)
            .where(col(OpportunityEvent.id) > last, col(OpportunityEvent.id) <= top)
            .distinct()
        )
    ]
    facts = [facts_from(o) for o in _canonical(session, opp_ids)]
    live = [f for f in facts if f.live(now)]
    result.award_notices = sum(1 for f in live if f.category == "award")
    result.opportunities = len(live) - result.award_notices
    found = run(live, index, now) if len(index) else []
    result.matches = len(found)
    welcome: list[Match] = []
    wanted = [p for p in changed if p.active]
    if wanted:
        small = ProfileIndex(rules_of(p) for p in wanted)
        backlog = _open(session, now, set(opp_ids))
        result.welcome_profiles, result.welcome_opportunities = len(wanted), len(backlog)
        welcome = run([facts_from(o) for o in backlog], small, now)
        orgs = sorted({p.organisation_id for p in wanted})
        told: set[tuple[int, int]] = set()
        for part in _chunks(orgs):
            told.update(
                session.execute(
                    select(Alert.organisation_id, Alert.opportunity_id).where(
                        col(Alert.organisation_id).in_(part)
                    )
                ).all()
            )
        welcome = [m for m in welcome if (m.organisation_id, m.opportunity_id) not in told]
        result.welcome_matches = len(welcome)
    profile_ids = sorted({m.profile_id for m in (*found, *welcome)})
    channels: dict[int, list[str]] = {}
    for part in _chunks(profile_ids):
        channels.update(
            session.execute(
                select(Profile.id, Profile.channels).where(col(Profile.id).in_(part))
            ).all()
        )
    org_ids = sorted({m.organisation_id for m in (*found, *welcome)})
    mobiles: dict[int, str | None] = {}
    for part in _chunks(org_ids):
        mobiles.update(
            session.execute(
                select(Organisation.id, Organisation.mobile).where(col(Organisation.id).in_(part))
            ).all()
        )
    keys = ["organisation_id", "opportunity_id", "kind", "channel"]
    result.alerts_created = insert_ignore_count(
        session, Alert, _rows(_best_per_organisation(found), "new", channels, mobiles, now), keys
    )
    result.welcome_alerts = insert_ignore_count(
        session,
        Alert,
        _rows(_best_per_organisation(welcome), "welcome", channels, mobiles, now),
        keys,
    )
    for p in changed:
        p.matched_version = p.version
        session.add(p)
    new_epoch = epoch + 1 if changed else epoch
    state.state = {**memory, "event_id": top, "profiles_epoch": new_epoch}
    state.last_run_at = now
    session.add(state)
    session.flush()
    _INDEXES[_db_key(session)] = (index, new_epoch)
    return result
