"""Shared fixtures. Real captures come from BIDBELL_FIXTURES_DIR (default ../shared/fixtures).

Store tests take the ``engine`` fixture and run once on SQLite and once on PostgreSQL
(BIDBELL_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test; each test
session creates and drops its own database there).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bidbell.settings import Settings, get_settings, reset_settings
from demo.mailsink import MailSink
from demo.replay import ReplayServer
from demo.replay.fts import FtsSite

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow run first (a stable sort: the rest keep their order), so that with
    several workers (``-n auto``) the long ones overlap instead of ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    folder = Settings().fixtures_dir
    if not (folder / "find-a-tender").is_dir():
        pytest.fail(
            f"real captures not found at {folder}: set BIDBELL_FIXTURES_DIR to the shared "
            "fixtures folder (../shared/fixtures from the project root)"
        )
    return folder


@pytest.fixture(scope="session")
def fts_files(fixtures_dir: Path) -> list[Path]:
    return sorted((fixtures_dir / "find-a-tender").glob("*.json"))


@pytest.fixture(scope="session")
def fts_releases(fts_files: list[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in fts_files:
        out.extend(json.loads(f.read_text())["releases"])
    return out


@pytest.fixture(autouse=True)
def _private_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads or writes the project's own var/ (a sector model a developer trained
    there must not change what a test sees)."""
    monkeypatch.setenv("BIDBELL_VAR_DIR", str(tmp_path / "private-var"))
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private var folder and SQLite database; settings re-read from the environment."""
    var = tmp_path / "var"
    monkeypatch.setenv("BIDBELL_VAR_DIR", str(var))
    monkeypatch.setenv("BIDBELL_DATABASE_URL", f"sqlite:///{var / 'bidbell.db'}")
    monkeypatch.setenv("BIDBELL_BACKOFF_BASE_S", "0.2")
    monkeypatch.setenv("BIDBELL_RETRY_TIMES", "3")
    reset_settings()
    yield var
    from models.store.db import dispose_engines

    dispose_engines()
    reset_settings()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    from models.store.db import make_engine

    base = os.environ.get("BIDBELL_TEST_POSTGRES_URL", DEFAULT_PG)
    admin = make_engine(base)
    name = f"bidbell_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported plainly
        pytest.fail(
            f"PostgreSQL at {base} is not usable ({exc}); start it or set BIDBELL_TEST_POSTGRES_URL"
        )
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: SQLite file, or a clean PostgreSQL schema."""
    from models.store.db import make_engine, migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
    migrate(url)
    yield url


@pytest.fixture
def engine(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    from models.store.db import dispose_engines, make_engine

    monkeypatch.setenv("BIDBELL_DATABASE_URL", db_url)
    monkeypatch.setenv("BIDBELL_VAR_DIR", str(tmp_path / "var"))
    reset_settings()
    dispose_engines()
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
    dispose_engines()
    reset_settings()


@pytest.fixture
def replay(fixtures_dir: Path) -> Iterator[ReplayServer]:
    """The local replay server with Find a Tender mounted at /fts (2 releases a page)."""
    with ReplayServer() as server:
        server.mount("/fts", FtsSite(fixtures_dir, page_size=2))
        yield server


@pytest.fixture
def fts_url(replay: ReplayServer) -> str:
    return replay.url + "/fts"


@pytest.fixture
def mailsink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as sink:
        yield sink


def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Prefect server for this test session (each xdist worker has its own): runs of
    `bidbell run` point PREFECT_API_URL at it instead of each starting Prefect's temporary
    server (~15 s a time). The demo's test keeps the real local mode, as a user runs it."""
    import subprocess
    import sys

    from bidbell.net import free_port
    from flows.serve import wait_healthy

    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BIDBELL_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port), "--no-services"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(f"{url}/health", proc, "the Prefect server", home / "server.log")
    except RuntimeError as exc:
        proc.kill()
        log.close()
        pytest.fail(f"{exc}: {(home / 'server.log').read_text()}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
