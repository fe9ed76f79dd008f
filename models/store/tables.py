"""The tables. Singular names; every timestamp aware UTC; raw payloads kept as published."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.store.types import JSONType, PayloadJSON, UTCDateTime


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default: Any = list) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONType(), nullable=False))


class Notice(SQLModel, table=True):
    """One record from one source, as published (``payload``) and as normalised."""

    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_notice_source_record"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_id: str = Field(max_length=256)
    ocid: str = Field(max_length=256, index=True)
    format: str = Field(default="ocds-release", max_length=32)
    url: str = Field(default="", max_length=2048)
    notice_type: str | None = Field(default=None, max_length=32)
    stage: str = Field(default="unknown", max_length=32)
    title: str = Field(default="")
    published_at: datetime | None = _ts()
    fetched_at: datetime | None = _ts()
    stored_at: datetime | None = _ts()
    content_hash: str = Field(max_length=64)
    # JSON as the store wrote it, in an lz4 frame packed by the store (types.PayloadJSON):
    # never queried inside; bytea on PostgreSQL, where the server checking and compressing
    # the text itself was most of its cost of a notice (migrations 0013, 0014)
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(PayloadJSON(), nullable=False)
    )


class Opportunity(SQLModel, table=True):
    """One real procurement, merged from its notices (keyed by OCID)."""

    id: int | None = Field(default=None, primary_key=True)
    ocid: str = Field(max_length=256, unique=True)
    title: str = Field(default="")
    description: str = Field(default="")
    buyer_name: str = Field(default="", max_length=512)
    buyer_id: str | None = Field(default=None, max_length=256)
    buyer_postcode: str | None = Field(default=None, max_length=16)
    buyer_region: str | None = Field(default=None, max_length=16)
    buyer_type: str | None = Field(default=None, max_length=16)  # central | sub_central
    value_amount: float | None = None  # net of VAT where the source says so
    value_amount_gross: float | None = None
    value_min: float | None = None
    value_currency: str | None = Field(default=None, max_length=3)
    deadline: datetime | None = _ts(index=True)
    published_at: datetime | None = _ts(index=True)
    stage: str = Field(default="unknown", max_length=32, index=True)
    notice_type: str | None = Field(default=None, max_length=32)
    main_category: str | None = Field(default=None, max_length=16)  # goods | services | works
    light_touch: bool | None = None  # the notice says the light-touch regime applies
    cpv_codes: list[str] = _json()
    regions: list[str] = _json()
    lots: list[dict[str, Any]] = _json()
    sme_suitable: bool | None = None
    vcse_suitable: bool | None = None
    is_subcontract: bool | None = None
    parent_reference: str | None = Field(default=None, max_length=256)
    # Derived by models.classify
    value_band: str = Field(default="not_stated", max_length=32, index=True)
    lot_band: str | None = Field(default=None, max_length=32)
    band_basis: str | None = Field(default=None, max_length=256)  # which threshold applied
    sectors: list[str] = _json()
    areas: list[str] = _json()
    work_in_kent: bool = False
    buyer_in_kent: bool = False
    buyer_area: str | None = Field(default=None, max_length=64)  # Kent district of the buyer
    sector_basis: str | None = Field(default=None, max_length=8)  # cpv | text | None
    fit_score: int = 50
    fit_reasons: list[str] = _json()
    sources: list[str] = _json()
    url: str = Field(default="", max_length=2048)
    content_hash: str = Field(default="", max_length=64)
    version: int = 1
    first_seen_at: datetime | None = _ts()
    updated_at: datetime | None = _ts(index=True)
    # Deduplication: the opportunity this one is another listing of (None: it is canonical).
    canonical_id: int | None = Field(default=None, foreign_key="opportunity.id", index=True)
    duplicate_reasons: list[str] = _json()


class OpportunityBlock(SQLModel, table=True):
    """Blocking keys of an opportunity (buyer word x deadline day, reference, ...): where
    the store looks for other listings of the same procurement. Each key is kept as its
    64-bit hash (``listings.key_hashes``; 0016): a B-tree of integers is written and probed
    faster than one of 25-character strings, and a key is never read back as text."""

    # WITHOUT ROWID on SQLite: the primary key is the table (one B-tree, not a rowid table
    # and an index beside it)
    __table_args__ = {"sqlite_with_rowid": False}

    key: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # an opportunity's id, without a foreign key: the store writes keys only for rows it
    # has just inserted or read, and checking each cost PostgreSQL 0.06 ms a notice (0013)
    opportunity_id: int = Field(primary_key=True, index=True)


class OpportunityRef(SQLModel, table=True):
    """What a stored opportunity's comparison needs beyond its columns, as text (0016):
    the identifiers its notices publish ("i:..."), the buyer's own reference ("tref:...")
    and the suppliers an award names ("sup:..."). Written with its blocking keys; read
    back when a stored row is compared (``listings._load``)."""

    __table_args__ = {"sqlite_with_rowid": False}

    opportunity_id: int = Field(primary_key=True)
    value: str = Field(primary_key=True, max_length=160)


class OpportunityEvent(SQLModel, table=True):
    """A change to an opportunity: new, amended, deadline_changed, value_changed, cancelled,
    awarded; with the fields' values before and after."""

    id: int | None = Field(default=None, primary_key=True)
    opportunity_id: int = Field(foreign_key="opportunity.id", index=True)
    kind: str = Field(max_length=32, index=True)
    version: int
    changes: dict[str, Any] = _json(dict)  # field -> [before, after]
    at: datetime | None = _ts(index=True)


class Organisation(SQLModel, table=True):
    """A registered SME, VCSE or infrastructure organisation (models.subscribers.criteria
    says what each field may hold). Ids are never used again (AUTOINCREMENT on SQLite; a
    sequence on PostgreSQL): a signed link names an organisation by id, and one deleted must
    not hand its old links to the next to register."""

    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=256)
    email: str = Field(max_length=320, unique=True)
    kind: str = Field(default="sme", max_length=32)  # sme | vcse | infrastructure
    sub_kind: str | None = Field(default=None, max_length=32)  # micro ... cvs, chamber
    mobile: str | None = Field(default=None, max_length=16)  # E.164, for SMS
    areas: list[str] = _json()  # areas served: "Swale", "UKJ4", "within 10 miles of ME10"
    # The infrastructure organisation (CVS, chamber, federation) this one is a member of.
    member_of_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    # "active", or "pending" for a web sign-up whose email address is not confirmed yet
    # (double opt-in: its profiles stay inactive, so nothing is sent to it before then).
    status: str = Field(default="active", max_length=16, index=True)
    confirmed_at: datetime | None = _ts()
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class Profile(SQLModel, table=True):
    """One saved search of an organisation: its criteria (models.subscribers.criteria.
    Criteria, as JSON) and how it wants to hear (channels, frequency). ``version`` grows on
    every change; the matcher sets ``matched_version`` once it has matched that version
    against the open opportunities (the welcome digest), so a profile whose two differ is
    new or changed. Ids are never used again (a private feed's link names its profile)."""

    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(default="default", max_length=128)
    criteria: dict[str, Any] = _json(dict)
    channels: list[str] = _json(lambda: ["email"])  # email | sms | feed
    frequency: str = Field(default="instant", max_length=16)  # instant | daily | weekly
    active: bool = True
    version: int = 1
    matched_version: int | None = None
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class Alert(SQLModel, table=True):
    """The outbox: one row per organisation x opportunity x event kind x channel. Kind "new":
    a new or changed opportunity a profile matched; "welcome": what a new or changed profile
    matched among the open opportunities (sent as one digest, never as instant alerts);
    "change:<event id>": an opportunity the organisation was told about changed (``event_id``
    says how); "reminder": the deadline is near (asked for with a "remind me" link).

    ``status`` says what is known: pending (waiting, maybe until ``next_attempt_at``),
    sending (claimed by ``lease_owner`` until ``lease_until``; a sender that died releases it
    when the lease runs out), sent, failed (for good: rejected or out of attempts).
    ``route`` is how it goes: instant, or inside the daily / weekly / welcome digest
    (``digest_id`` once one holds it), or feed (a profile's private feed)."""

    __table_args__ = (
        UniqueConstraint(
            "organisation_id", "opportunity_id", "kind", "channel", name="uq_alert_once"
        ),
        Index("ix_alert_status", "status"),
        Index("ix_alert_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    profile_id: int = Field(foreign_key="profile.id")
    opportunity_id: int = Field(foreign_key="opportunity.id", index=True)
    kind: str = Field(default="new", max_length=32)
    channel: str = Field(default="email", max_length=32)
    status: str = Field(default="pending", max_length=16)  # pending|sending|sent|failed
    reasons: list[str] = _json()
    score: int = 0  # relevance 0-100 (matching.explain): the order alerts are shown in
    lot_id: str | None = Field(default=None, max_length=256)  # the lot that matched, if one
    lot_title: str | None = None
    attempts: int = 0
    created_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    route: str | None = Field(default=None, max_length=16)  # instant|daily|weekly|welcome|feed
    event_id: int | None = Field(default=None, foreign_key="opportunityevent.id", index=True)
    next_attempt_at: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _ts()
    message_id: str | None = Field(default=None, max_length=255)
    last_error: str | None = None
    digest_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("digest.id", ondelete="SET NULL"), index=True),
    )


class Delivery(SQLModel, table=True):
    """Every attempt to deliver an alert or a digest to a target, successful or not.
    ``outcome``: sent, retry (a temporary failure: tried again later), rejected (the target
    refused for good), failed (out of attempts)."""

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    digest_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("digest.id", ondelete="CASCADE"), index=True),
    )
    channel: str = Field(max_length=32)
    target: str = Field(max_length=512)  # redacted: no credentials
    ok: bool
    outcome: str = Field(default="sent", max_length=16)
    message_id: str | None = Field(default=None, max_length=255)
    error: str | None = None
    attempted_at: datetime | None = _ts()


def _org_fk() -> Any:
    return Field(
        sa_column=Column(
            Integer, ForeignKey("organisation.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class Digest(SQLModel, table=True):
    """One digest message to one organisation on one channel: daily, weekly, welcome or the
    infrastructure organisations' weekly digest. Unique per period, so a digest due at
    Monday 07:00 is made once; ``status`` as for an alert, plus "empty" (nothing to tell:
    the period is used up all the same). Its alerts point at it (``Alert.digest_id``)."""

    __table_args__ = (
        UniqueConstraint(
            "organisation_id", "kind", "channel", "period_end", name="uq_digest_period"
        ),
        Index("ix_digest_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = _org_fk()
    kind: str = Field(max_length=16)  # daily | weekly | welcome | infrastructure
    channel: str = Field(default="email", max_length=32)
    period_start: datetime | None = _ts()
    period_end: datetime | None = _ts(nullable=False)
    status: str = Field(default="pending", max_length=16)
    items: int = 0
    changes: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _ts()
    message_id: str | None = Field(default=None, max_length=255)
    last_error: str | None = None
    created_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()


class DeliveryTarget(SQLModel, table=True):
    """Where an organisation is reached besides its email and mobile, and what we know of
    each address. Channel "apprise": a target its administrator added (an apprise URL of an
    allowed scheme: Teams, Slack, a webhook), which gets a copy of its instant alerts.
    Channel "email" / "sms": a row appears when the address was refused for good (a 5xx to
    RCPT, an invalid number); ``told_at`` is when the organisation was told on its other
    channel."""

    __table_args__ = (
        UniqueConstraint("organisation_id", "channel", "address", name="uq_target_address"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = _org_fk()
    channel: str = Field(max_length=16)  # email | sms | apprise
    address: str = Field(max_length=2048)  # an apprise URL may hold a token: never shown
    label: str = Field(default="", max_length=128)
    status: str = Field(default="active", max_length=16)  # active | rejected
    reason: str | None = None
    rejected_at: datetime | None = _ts()
    told_at: datetime | None = _ts()
    created_at: datetime | None = _ts()


class DeliveryPreference(SQLModel, table=True):
    """An organisation's own delivery limits (unset: the settings' defaults)."""

    organisation_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True
        )
    )
    instant_cap_per_day: int | None = None
    remind_days: int | None = None


class Reminder(SQLModel, table=True):
    """A "remind me" an organisation asked for: ``days`` before the deadline an alert of
    kind "reminder" goes into the outbox (status queued), unless the opportunity was
    cancelled or withdrawn (status cancelled). The deadline is read when the day comes, so
    a moved deadline moves the reminder."""

    __table_args__ = (UniqueConstraint("organisation_id", "opportunity_id", name="uq_reminder"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = _org_fk()
    opportunity_id: int = Field(foreign_key="opportunity.id", index=True)
    days: int = 3
    status: str = Field(default="pending", max_length=16)  # pending | queued | cancelled
    created_at: datetime | None = _ts()
    queued_at: datetime | None = _ts()


class SourceState(SQLModel, table=True):
    """Checkpoint and health of one source."""

    source: str = Field(primary_key=True, max_length=64)
    checkpoint: datetime | None = _ts()
    last_run_at: datetime | None = _ts()
    last_success_at: datetime | None = _ts()
    last_error: str | None = None
    last_items: int = 0
    total_items: int = 0
    # Source-specific memory between runs: ETag / Last-Modified of a feed, rows last seen.
    state: dict[str, Any] = _json(dict)
    # Health (flows.health): failed runs in a row, last run that returned something, and
    # whether the operator has been told of the current outage (one alert, not one a run).
    consecutive_failures: int = 0
    last_nonempty_at: datetime | None = _ts()
    alerted: bool = False
    alerted_at: datetime | None = _ts()
    health: str | None = Field(default=None, max_length=16)  # ok | failing | silent


class SourceRun(SQLModel, table=True):
    """One collection of one source: when, what came, what failed (flows.health)."""

    __table_args__ = (Index("ix_sourcerun_source_started", "source", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = _ts()
    fetched: int = 0
    new: int = 0
    changed: int = 0
    failed: int = 0
    error: str | None = None
    flow_run_id: str | None = Field(default=None, max_length=64)


class IngestError(SQLModel, table=True):
    """A page or record that could not be used, with its raw payload kept for inspection."""

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64, index=True)
    url: str = Field(default="", max_length=2048)
    record: str | None = Field(default=None, max_length=256)
    reason: str
    status: int | None = None
    body: str = Field(default="")
    created_at: datetime | None = _ts()
