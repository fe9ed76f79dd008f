"""Schema 0009 on SQLite and PostgreSQL: down to 0008 and up again with data in it; the
migrated delivery tables match the models; events recorded before the upgrade are not
sent as change alerts (the sender starts from the newest one)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from models.store.db import alembic_config, current_revision, make_engine

DELIVERY_TABLES = {
    "alert",
    "delivery",
    "digest",
    "deliverytarget",
    "deliverypreference",
    "reminder",
}


def test_0009_down_and_up_with_data(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0008")
    assert current_revision(db_url) == "0008"
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organisation (id, name, email, kind, areas) "
                          "VALUES (1, 'A', 'a@example.org', 'sme', '[]')"))  # fmt: skip
        conn.execute(text("INSERT INTO profile (id, organisation_id, name, criteria, channels, "
                          "frequency, active, version) VALUES (1, 1, 'default', '{}', "
                          "'[\"email\"]', 'instant', true, 1)"))  # fmt: skip
        conn.execute(text("INSERT INTO opportunity (id, ocid, title, description, buyer_name, "
                          "stage, cpv_codes, regions, lots, value_band, sectors, areas, "
                          "work_in_kent, buyer_in_kent, fit_score, fit_reasons, sources, url, "
                          "content_hash, version, duplicate_reasons) VALUES (1, 'o', 't', '', "
                          "'', 'tender', '[]', '[]', '[]', 'not_stated', '[]', '[]', false, "
                          "false, 50, '[]', '[]', '', '', 1, '[]')"))  # fmt: skip
        conn.execute(text("INSERT INTO opportunityevent (id, opportunity_id, kind, version, "
                          "changes) VALUES (7, 1, 'deadline_changed', 2, '{}')"))  # fmt: skip
        conn.execute(text("INSERT INTO alert (id, organisation_id, profile_id, opportunity_id, "
                          "kind, channel, status, reasons, score, attempts) VALUES "
                          "(1, 1, 1, 1, 'new', 'email', 'sent', '[]', 0, 1)"))  # fmt: skip
        conn.execute(text("INSERT INTO delivery (alert_id, channel, target, ok) "
                          "VALUES (1, 'email', 'x', false)"))  # fmt: skip
    engine.dispose()
    command.upgrade(cfg, "head")
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status, route FROM alert")).one() == ("sent", None)
        assert conn.execute(text("SELECT outcome FROM delivery")).scalar() == "retry"
        state = conn.execute(
            text("SELECT state FROM sourcestate WHERE source = 'delivery'")
        ).scalar()
        assert "7" in str(state)  # the sender starts after the last event already recorded
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    ours = [d for d in diff if _table_of(d) in DELIVERY_TABLES]
    assert ours == [], ours
    command.downgrade(cfg, "0008")
    command.upgrade(cfg, "head")


def _table_of(d: object) -> str | None:
    item = d[0] if isinstance(d, list) else d
    for part in item[1:] if isinstance(item, tuple) else ():
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if isinstance(part, str) and part in DELIVERY_TABLES:
            return part
        if name in DELIVERY_TABLES:
            return str(name)
    return None
