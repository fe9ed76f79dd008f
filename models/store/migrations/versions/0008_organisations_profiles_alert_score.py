"""organisations (sub-kind, mobile, areas served, member of), profiles as saved searches
(criteria JSON, frequency, version), alerts with a relevance score and the matching lot

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 09:00:00

The profile's separate criteria columns (cpv_prefixes, keywords, regions, min_value,
max_value) become one ``criteria`` JSON object (models.subscribers.criteria.Criteria); rows
written before are carried over.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD = ("cpv_prefixes", "keywords", "regions", "min_value", "max_value")


def _json_list(value: object) -> list:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value) if isinstance(value, list) else []


def upgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sub_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("mobile", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column("areas", models.store.types.JSONType(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("member_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("updated_at", models.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_organisation_member_of_id", ["member_of_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_organisation_member_of_id", "organisation", ["member_of_id"], ["id"]
        )
    with op.batch_alter_table("profile", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "criteria", models.store.types.JSONType(), nullable=False, server_default="{}"
            )
        )
        batch_op.add_column(
            sa.Column(
                "frequency",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="instant",
            )
        )
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("matched_version", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("updated_at", models.store.types.UTCDateTime(timezone=True), nullable=True)
        )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, " + ", ".join(OLD) + " FROM profile")).mappings()
    for row in list(rows):
        criteria: dict = {
            "cpv_prefixes": _json_list(row["cpv_prefixes"]),
            "keywords": _json_list(row["keywords"]),
            "regions": _json_list(row["regions"]),
        }
        for key in ("min_value", "max_value"):
            if row[key] is not None:
                criteria[key] = float(row[key])
        conn.execute(
            sa.text("UPDATE profile SET criteria = :c WHERE id = :id").bindparams(
                sa.bindparam("c", type_=models.store.types.JSONType())
            ),
            {"c": criteria, "id": row["id"]},
        )
    with op.batch_alter_table("profile", schema=None) as batch_op:
        for column in OLD:
            batch_op.drop_column(column)
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("lot_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lot_title", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("lot_title")
        batch_op.drop_column("lot_id")
        batch_op.drop_column("score")
    with op.batch_alter_table("profile", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cpv_prefixes", models.store.types.JSONType(), nullable=False, server_default="[]"
            )
        )
        batch_op.add_column(
            sa.Column(
                "keywords", models.store.types.JSONType(), nullable=False, server_default="[]"
            )
        )
        batch_op.add_column(
            sa.Column("regions", models.store.types.JSONType(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("min_value", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_value", sa.Float(), nullable=True))
    conn = op.get_bind()
    for row in list(conn.execute(sa.text("SELECT id, criteria FROM profile")).mappings()):
        c = row["criteria"]
        c = json.loads(c) if isinstance(c, str) else (c or {})
        conn.execute(
            sa.text(
                "UPDATE profile SET cpv_prefixes = :cpv, keywords = :kw, regions = :reg, "
                "min_value = :lo, max_value = :hi WHERE id = :id"
            ).bindparams(
                *(
                    sa.bindparam(k, type_=models.store.types.JSONType())
                    for k in ("cpv", "kw", "reg")
                )
            ),
            {
                "cpv": c.get("cpv_prefixes") or [],
                "kw": c.get("keywords") or [],
                "reg": c.get("regions") or [],
                "lo": c.get("min_value"),
                "hi": c.get("max_value"),
                "id": row["id"],
            },
        )
    with op.batch_alter_table("profile", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("matched_version")
        batch_op.drop_column("version")
        batch_op.drop_column("frequency")
        batch_op.drop_column("criteria")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_constraint("fk_organisation_member_of_id", type_="foreignkey")
        batch_op.drop_index("ix_organisation_member_of_id")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("member_of_id")
        batch_op.drop_column("areas")
        batch_op.drop_column("mobile")
        batch_op.drop_column("sub_kind")
