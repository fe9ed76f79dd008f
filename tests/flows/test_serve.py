"""`bidbell serve` as a user runs it: its own Prefect server (with the scheduler), the web
app, and every deployment served with schedules shortened to seconds; against the local
replay server and SMTP sink. With no manual step: the source is collected, an instant alert
reaches the SMTP server, a digest goes out; SIGTERM stops it all cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bidbell.settings import get_settings, reset_settings
from demo.mailsink import MailSink, free_port
from demo.replay import ReplayServer
from models.store.db import dispose_engines, get_engine, migrate, session_scope
from models.store.tables import SourceRun
from models.subscribers.manage import add_subscriber

ROOT = Path(__file__).resolve().parents[2]
NOISE = re.compile(r"Traceback|Error flushing events|CancelledError|telemetry|Error logging")
SOURCES = """
[sources.find_a_tender]
type = "find_a_tender"
description = "Find a Tender, replayed from 127.0.0.1"
base_url = "{url}"
every_minutes = 30
[sources.find_a_tender.params]
window_hours = 24
"""


def wait_for(what: str, check, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"bidbell serve exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
            pytest.fail(f"no {what} after {timeout} s:\n{out}\n{err}")
        time.sleep(1)


@pytest.mark.prefect
@pytest.mark.slow
def test_serve_collects_alerts_and_digests_on_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replay: ReplayServer, mailsink: MailSink
) -> None:
    var = tmp_path / "var"
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES.format(url=replay.url + "/fts"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIDBELL_", "PREFECT_"))}
    env.update(
        BIDBELL_VAR_DIR=str(var),
        BIDBELL_DATABASE_URL=f"sqlite:///{var / 'bidbell.db'}",
        BIDBELL_SOURCES_FILE=str(sources),
        BIDBELL_EMAIL_URL=mailsink.url,
        BIDBELL_AS_OF="2026-10-06T19:00:00+01:00",
        BIDBELL_FIRST_RUN_LOOKBACK_HOURS="72",
        BIDBELL_SCHEDULE_OVERRIDE_S="15",
        BIDBELL_PREFECT_PORT=str(free_port()),
    )
    for k, v in env.items():
        if k.startswith("BIDBELL_"):
            monkeypatch.setenv(k, v)
    reset_settings()
    migrate(get_settings().effective_database_url)
    add_subscriber(name="Beds Care", email="bids@bedscare.example.org", cpv_prefixes=["85"],
                   regions=["UKH2"])  # fmt: skip
    add_subscriber(name="Kent and East of England Voluntary Action",
                   email="digest@kentvoluntaryaction.example.org", kind="infrastructure",
                   sub_kind="cvs", areas_served=["UKJ", "UKH"], frequency="weekly")  # fmt: skip
    dispose_engines()
    web_port = free_port()
    # started as a shell script's `bidbell serve &` starts it: SIGINT ignored (SIGTERM must
    # still stop it all)
    serve = [sys.executable, "-m", "cli.main", "serve", "--port", str(web_port)]
    ignoring_sigint = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "os.execv(sys.executable, sys.argv[1:])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", ignoring_sigint, *serve],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def rcpts() -> list[str]:
            return [r for m in mailsink.received for r in m.rcpt_tos]

        wait_for("instant alert", lambda: "bids@bedscare.example.org" in rcpts(), proc)
        wait_for("digest", lambda: "digest@kentvoluntaryaction.example.org" in rcpts(), proc)
        # the web app is up beside them
        assert httpx.get(f"http://127.0.0.1:{web_port}/", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()  # not left running past the test
            out, err = proc.communicate()
            pytest.fail(f"serve did not stop within 90 s of SIGTERM:\n{out}{err}")
    assert proc.returncode == 0, out + err
    assert not NOISE.search(out + err), out + err
    assert "serving collect-find_a_tender: every 15 s" in out
    assert "serving digest-infrastructure: every 15 s" in out and "stopped" in err
    subjects = {m.rcpt_tos[0]: m.message["Subject"] for m in mailsink.received}
    assert subjects["bids@bedscare.example.org"].startswith("New opportunity: ")
    assert subjects["digest@kentvoluntaryaction.example.org"].startswith("Bidbell weekly for ")
    # one instant alert, however many runs came after it (each from the checkpoint on)
    assert rcpts().count("bids@bedscare.example.org") == 1
    with session_scope(get_engine(get_settings().effective_database_url)) as s:
        runs = s.exec(select(SourceRun).where(SourceRun.source == "find_a_tender")).all()
        assert runs and runs[0].fetched == 4 and runs[0].new == 4 and runs[0].error is None
    # nothing left running: the web port is free again
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{web_port}/", timeout=2)
