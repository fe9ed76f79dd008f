"""delivery: alert states with leases and retries, change alerts, digests, targets,
preferences, reminders

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 09:00:00

Alerts gain what the outbox sender needs (route, lease owner and expiry, next attempt,
Message-ID, last error, the change event and the digest that carried it); a delivery row
may record a digest; new tables: digest, deliverytarget, deliverypreference, reminder.
Alerts already sent keep "sent"; pending ones stay pending and are routed on the next run.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = models.store.types.UTCDateTime
S = sqlmodel.sql.sqltypes.AutoString


def _org_fk() -> sa.Column:
    return sa.Column(
        "organisation_id",
        sa.Integer(),
        sa.ForeignKey("organisation.id", ondelete="CASCADE", name=None),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "digest",
        sa.Column("id", sa.Integer(), nullable=False),
        _org_fk(),
        sa.Column("kind", S(length=16), nullable=False),
        sa.Column("channel", S(length=32), nullable=False, server_default="email"),
        sa.Column("period_start", TS(timezone=True), nullable=True),
        sa.Column("period_end", TS(timezone=True), nullable=False),
        sa.Column("status", S(length=16), nullable=False, server_default="pending"),
        sa.Column("items", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("changes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS(timezone=True), nullable=True),
        sa.Column("lease_owner", S(length=64), nullable=True),
        sa.Column("lease_until", TS(timezone=True), nullable=True),
        sa.Column("message_id", S(length=255), nullable=True),
        sa.Column("last_error", S(), nullable=True),
        sa.Column("created_at", TS(timezone=True), nullable=True),
        sa.Column("sent_at", TS(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "organisation_id", "kind", "channel", "period_end", name="uq_digest_period"
        ),
    )
    op.create_index("ix_digest_organisation_id", "digest", ["organisation_id"])
    op.create_index("ix_digest_due", "digest", ["status", "next_attempt_at"])
    op.create_table(
        "deliverytarget",
        sa.Column("id", sa.Integer(), nullable=False),
        _org_fk(),
        sa.Column("channel", S(length=16), nullable=False),
        sa.Column("address", S(length=2048), nullable=False),
        sa.Column("label", S(length=128), nullable=False, server_default=""),
        sa.Column("status", S(length=16), nullable=False, server_default="active"),
        sa.Column("reason", S(), nullable=True),
        sa.Column("rejected_at", TS(timezone=True), nullable=True),
        sa.Column("told_at", TS(timezone=True), nullable=True),
        sa.Column("created_at", TS(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organisation_id", "channel", "address", name="uq_target_address"),
    )
    op.create_index("ix_deliverytarget_organisation_id", "deliverytarget", ["organisation_id"])
    op.create_table(
        "deliverypreference",
        sa.Column(
            "organisation_id",
            sa.Integer(),
            sa.ForeignKey("organisation.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("instant_cap_per_day", sa.Integer(), nullable=True),
        sa.Column("remind_days", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("organisation_id"),
    )
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        _org_fk(),
        sa.Column("opportunity_id", sa.Integer(), sa.ForeignKey("opportunity.id"), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False, server_default="3"),
        sa.Column("status", S(length=16), nullable=False, server_default="pending"),
        sa.Column("created_at", TS(timezone=True), nullable=True),
        sa.Column("queued_at", TS(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organisation_id", "opportunity_id", name="uq_reminder"),
    )
    op.create_index("ix_reminder_organisation_id", "reminder", ["organisation_id"])
    op.create_index("ix_reminder_opportunity_id", "reminder", ["opportunity_id"])
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", S(length=16), nullable=True))
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", TS(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", S(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", TS(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("message_id", S(length=255), nullable=True))
        batch_op.add_column(sa.Column("last_error", S(), nullable=True))
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_alert_event_id", "opportunityevent", ["event_id"], ["id"])
        batch_op.create_foreign_key(
            "fk_alert_digest_id", "digest", ["digest_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_alert_event_id", ["event_id"])
        batch_op.create_index("ix_alert_digest_id", ["digest_id"])
        batch_op.create_index("ix_alert_due", ["status", "next_attempt_at"])
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.alter_column("alert_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("outcome", S(length=16), nullable=False, server_default="sent")
        )
        batch_op.add_column(sa.Column("message_id", S(length=255), nullable=True))
        batch_op.create_foreign_key(
            "fk_delivery_digest_id", "digest", ["digest_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_delivery_digest_id", ["digest_id"])
    op.execute("UPDATE delivery SET outcome = 'retry' WHERE NOT ok")
    # Change alerts start from now: the events recorded before this revision were never
    # sent, and telling everyone about them at once on upgrade would be a flood.
    conn = op.get_bind()
    top = conn.execute(sa.text("SELECT MAX(id) FROM opportunityevent")).scalar() or 0
    if top:
        conn.execute(
            sa.text(
                "INSERT INTO sourcestate (source, last_items, total_items, state) "
                "VALUES ('delivery', 0, 0, :state)"
            ).bindparams(sa.bindparam("state", type_=models.store.types.JSONType())),
            {"state": {"event_id": int(top)}},
        )


def downgrade() -> None:
    op.execute("DELETE FROM sourcestate WHERE source = 'delivery'")
    op.execute("DELETE FROM delivery WHERE alert_id IS NULL")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_digest_id")
        batch_op.drop_constraint("fk_delivery_digest_id", type_="foreignkey")
        batch_op.drop_column("message_id")
        batch_op.drop_column("outcome")
        batch_op.drop_column("digest_id")
        batch_op.alter_column("alert_id", existing_type=sa.Integer(), nullable=False)
    op.execute("UPDATE alert SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_due")
        batch_op.drop_index("ix_alert_digest_id")
        batch_op.drop_index("ix_alert_event_id")
        batch_op.drop_constraint("fk_alert_digest_id", type_="foreignkey")
        batch_op.drop_constraint("fk_alert_event_id", type_="foreignkey")
        for column in (
            "digest_id", "last_error", "message_id", "lease_until", "lease_owner",
            "next_attempt_at", "event_id", "route",
        ):  # fmt: skip
            batch_op.drop_column(column)
    op.drop_table("reminder")
    op.drop_table("deliverypreference")
    op.drop_table("deliverytarget")
    op.drop_table("digest")
