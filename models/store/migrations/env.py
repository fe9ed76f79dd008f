"""Alembic environment: the URL comes from models.store.db.alembic_config (or BIDBELL settings)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool
from sqlmodel import SQLModel, create_engine

import models.store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from bidbell.settings import get_settings
from models.store.db import normalise_url

config = context.config
target_metadata = SQLModel.metadata
url = config.get_main_option("sqlalchemy.url") or normalise_url(
    get_settings().effective_database_url
)


def run_offline() -> None:
    context.configure(
        url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # render_as_batch lets ALTERs work on SQLite too.
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
