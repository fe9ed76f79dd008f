"""The tables. Singular names; every timestamp aware UTC; raw payloads kept as published."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.store.types import JSONType, UTCDateTime


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
    payload: dict[str, Any] = _json(dict)


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
    the store looks for other listings of the same procurement."""

    key: str = Field(primary_key=True, max_length=160)
    opportunity_id: int = Field(primary_key=True, foreign_key="opportunity.id", index=True)


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
    matched among the open opportunities (sent as one digest, never as instant alerts)."""

    __table_args__ = (
        UniqueConstraint(
            "organisation_id", "opportunity_id", "kind", "channel", name="uq_alert_once"
        ),
        Index("ix_alert_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    profile_id: int = Field(foreign_key="profile.id")
    opportunity_id: int = Field(foreign_key="opportunity.id", index=True)
    kind: str = Field(default="new", max_length=32)
    channel: str = Field(default="email", max_length=32)
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed
    reasons: list[str] = _json()
    score: int = 0  # relevance 0-100 (matching.explain): the order alerts are shown in
    lot_id: str | None = Field(default=None, max_length=256)  # the lot that matched, if one
    lot_title: str | None = None
    attempts: int = 0
    created_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()


class Reminder(SQLModel, table=True):
    """A "remind me before the deadline" of one opportunity, asked from a link in an alert
    (bidbell.signing purpose "remind"): ``remind_at`` is the deadline less ``days_before``;
    delivery sends it then (none when the opportunity was cancelled) and sets ``sent_at``."""

    __table_args__ = (
        UniqueConstraint("organisation_id", "opportunity_id", name="uq_reminder_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    opportunity_id: int = Field(foreign_key="opportunity.id", index=True)
    days_before: int = 3
    remind_at: datetime | None = _ts(index=True)
    created_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()


class Delivery(SQLModel, table=True):
    """Every attempt to deliver an alert to a target, successful or not."""

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    channel: str = Field(max_length=32)
    target: str = Field(max_length=512)  # redacted: no credentials
    ok: bool
    error: str | None = None
    attempted_at: datetime | None = _ts()


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
