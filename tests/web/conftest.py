"""The web front's fixtures: a store holding the real captures (seeded once per test session
into a template file and copied for each test), the app with a test client, and settings
for it (a fixed signing key, "now" just after the newest Find a Tender capture).

Find a Tender's releases are left out of the seed: the end-to-end test collects them through
the pipeline from the local replay server."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bidbell.settings import reset_settings
from tests.models.captures import capture_records

AS_OF = "2026-10-06T19:00:00+01:00"
SECRET = "test-signing-key-" + "x" * 32
SEED_SOURCES_LEFT_OUT = {"find_a_tender"}


def seed_records(fixtures_dir: Path) -> list[dict[str, Any]]:
    return [r for r in capture_records(fixtures_dir) if r["source"] not in SEED_SOURCES_LEFT_OUT]


def seed(url: str, fixtures_dir: Path) -> None:
    from bidbell.clock import parse_iso
    from models.store.db import make_engine, migrate, session_scope
    from models.store.store import store_records

    migrate(url)
    engine = make_engine(url)
    with session_scope(engine) as s:
        store_records(s, seed_records(fixtures_dir), now=parse_iso("2026-10-01T09:00:00+01:00"))
    engine.dispose()


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    path = tmp_path_factory.mktemp("web-seed") / "seeded.db"
    seed(f"sqlite:///{path}", fixtures_dir)
    return path


@pytest.fixture(scope="session")
def seeded_postgres(fixtures_dir: Path) -> Iterator[str]:
    """A PostgreSQL database of its own (other store tests wipe theirs), seeded once."""
    from models.store.db import make_engine

    base = os.environ.get("BIDBELL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    admin = make_engine(base)
    name = f"bidbell_web_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported plainly
        pytest.fail(f"PostgreSQL at {base} is not usable ({exc})")
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    seed(url, fixtures_dir)
    yield url
    from models.store.db import dispose_engines

    dispose_engines()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def web_settings(monkeypatch: pytest.MonkeyPatch, db_url: str, var: Path, **extra: str) -> None:
    from models.store.db import dispose_engines

    monkeypatch.setenv("BIDBELL_DATABASE_URL", db_url)
    monkeypatch.setenv("BIDBELL_VAR_DIR", str(var))
    monkeypatch.setenv("BIDBELL_SECRET_KEY", SECRET)
    monkeypatch.setenv("BIDBELL_AS_OF", AS_OF)
    monkeypatch.setenv("BIDBELL_PUBLIC_URL", "http://testserver")
    for key, value in extra.items():
        monkeypatch.setenv(f"BIDBELL_{key.upper()}", value)
    reset_settings()
    dispose_engines()


@pytest.fixture
def web_db(
    tmp_path: Path, seeded_sqlite: Path, monkeypatch: pytest.MonkeyPatch, mailsink: Any
) -> Iterator[str]:
    """A private copy of the seeded store; email goes to the test's SMTP server."""
    from models.store.db import dispose_engines

    path = tmp_path / "web.db"
    shutil.copy(seeded_sqlite, path)
    url = f"sqlite:///{path}"
    web_settings(monkeypatch, url, tmp_path / "var", email_url=mailsink.url)
    yield url
    dispose_engines()
    reset_settings()


@pytest.fixture
def client(web_db: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def form_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    import re

    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)
