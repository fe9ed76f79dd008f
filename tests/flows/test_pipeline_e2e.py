"""The whole product as a user runs it: `bidbell run` and `bidbell demo`, as processes,
through Prefect's local mode, against the real captures on 127.0.0.1 and a real SMTP server.
Each run starts Prefect's temporary server (~15 s), so these are few and thorough."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from demo.mailsink import MailSink
from demo.replay import ReplayServer

ROOT = Path(__file__).resolve().parents[2]
BIDBELL = [sys.executable, "-m", "cli.main"]
NOISE = re.compile(r"Traceback|Error flushing events|CancelledError|telemetry|Error logging")


def bidbell(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*BIDBELL, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert not NOISE.search(proc.stdout + proc.stderr), proc.stdout + proc.stderr
    return proc


@pytest.fixture
def proc_env(tmp_path: Path, fixtures_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIDBELL_", "PREFECT_"))}
    env.update(BIDBELL_VAR_DIR=str(tmp_path / "var"), BIDBELL_FIXTURES_DIR=str(fixtures_dir))
    return env


@pytest.mark.prefect
def test_run_twice_sends_each_alert_once(
    proc_env, prefect_api: str, replay: ReplayServer, mailsink: MailSink
):
    proc_env["PREFECT_API_URL"] = prefect_api  # a shared server: see conftest.prefect_api
    proc_env.update(
        BIDBELL_SOURCE_URLS=json.dumps({"find_a_tender": replay.url + "/fts"}),
        BIDBELL_SOURCE_PARAMS=json.dumps({"find_a_tender": {"window_hours": 6}}),
        BIDBELL_EMAIL_URL=mailsink.url,
        BIDBELL_AS_OF="2026-10-06T19:00:00+01:00",
        BIDBELL_FIRST_RUN_LOOKBACK_HOURS="72",
    )
    sub = bidbell(
        proc_env,
        "subscribers",
        "add",
        "--name",
        "Beds Care",
        "--email",
        "bids@bedscare.example.org",
        "--cpv",
        "85",
        "--region",
        "UKH2",
    )
    assert sub.returncode == 0, sub.stderr
    first = bidbell(proc_env, "run", "--source", "find_a_tender")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "find_a_tender: 4 notice(s) from 12 window(s); 4 new, 0 updated" in first.stdout
    assert "alerts: 1 new; sent 1, failed 0" in first.stdout
    # one line per stage and source on the terminal; Prefect's per-task lines in its log
    assert "ok   collect find_a_tender: 4 notice(s), 4 new" in first.stderr
    assert "ok   send: 1 sent, 0 failed" in first.stderr
    assert "Task run" not in first.stderr
    run_log = Path(proc_env["BIDBELL_VAR_DIR"], "prefect", "run.log").read_text()
    assert "Finished in state Completed()" in run_log
    assert len(mailsink.received) == 1
    assert mailsink.received[0].rcpt_tos == ["bids@bedscare.example.org"]
    # the run's summary, a markdown artifact on the Prefect server: a row per source
    import httpx

    latest = httpx.get(f"{prefect_api}/artifacts/run-summary/latest", timeout=10).json()
    assert latest["type"] == "markdown"
    assert re.search(r"\| find_a_tender \| 4 \| 4 \| 0 \| 0 \| [\d.]+ \| ok \|", latest["data"])
    assert "| queued (new matches) | 1 |" in latest["data"] and "| sent | 1 |" in latest["data"]

    second = bidbell(proc_env, "run", "--source", "find_a_tender")
    assert second.returncode == 0, second.stdout + second.stderr
    # from the checkpoint (19:00 UK) to now (the same instant): nothing new, nothing sent
    assert "alerts: 0 new; sent 0, failed 0" in second.stdout
    assert len(mailsink.received) == 1

    feed = feedparser.parse(
        Path(proc_env["BIDBELL_VAR_DIR"], "feeds/opportunities.rss").read_bytes()
    )
    # the default feed: what is open (the Aldbanks tender; the others are awards)
    assert not feed.bozo and [e.title for e in feed.entries] == [
        "Competitive Flexible Procedure (CFP) Aldbanks Supported Living CBC-2074-CFP-SK"
    ]


@pytest.mark.slow
@pytest.mark.prefect
def test_demo_end_to_end_and_again_with_keep(proc_env, tmp_path: Path) -> None:
    from demo.mailsink import free_port

    # a port of its own: another demo on this machine must not change the links it stores
    proc_env["BIDBELL_DEMO_PORT"] = str(free_port())
    first = bidbell(proc_env, "demo")
    out = first.stdout
    assert first.returncode == 0, out + first.stderr
    # every source delivered every record of its fixtures (the golden files list them)
    golden = ROOT / "tests" / "golden"
    for path in sorted(golden.glob("*.jsonl")):
        n = len(path.read_text().splitlines())
        assert re.search(
            rf"  {path.stem}( \[constructed\])?: {n} notices \({n} new, "
            rf"0 updated, 0 unchanged, 0 errors\)",
            out,
        ), (path.stem, out)
    assert "kent_business_portal [constructed]" in out and "find_a_tender: 5 notices" in out
    sent = int(re.search(r"alerts sent: (\d+) \(failed 0\)", out).group(1))
    received = int(re.search(r"emails received by the local SMTP server: (\d+)", out).group(1))
    mail = sorted(Path(proc_env["BIDBELL_VAR_DIR"], "demo/mail").glob("*.eml"))
    assert received == len(mail) >= 2 and sent >= 2
    # delivery: an instant alert, a change alert (the second replay), an SMS, the digest
    assert "instant alert: to bids@bedscare.example.org: New opportunity: " in out
    assert re.search(r"change alert: to bids@bedscare.example.org: Changed \(deadline moved\)", out)
    assert "SMS to +447911123456 (local gateway stand-in, " in out and "GSM-7): Bidbell" in out
    digest = re.search(
        r"infrastructure digest: to \S+: Bidbell weekly for .*\n    saved as (\S+)", out
    )
    assert digest and Path(digest.group(1)).is_file(), out
    assert "(chart inline: 1 PNG; CSV attached: " in out
    bodies = [m.read_bytes() for m in mail]
    assert any(b"Aldbanks" in b and b"bids@bedscare.example.org" in b for b in bodies)
    assert any(b"Grounds Maintenance Services" in b for b in bodies)
    assert "RSS 2.0 feed:" in out and "items, valid)" in out

    again = bidbell(proc_env, "demo", "--keep")
    assert again.returncode == 0, again.stdout + again.stderr
    # windowed sources resume from their checkpoints; the others find nothing changed
    assert "find_a_tender: nothing new; already collected up to" in again.stdout
    # the portal's listing rows are unchanged: no advert page is fetched or stored again
    assert "kent_business_portal [constructed]: 0 notices (0 new, 0 updated" in again.stdout
    assert "contracts_finder_csv: 500 notices (0 new, 0 updated, 500 unchanged" in again.stdout
    assert "prime_example [constructed]: 9 notices (0 new, 0 updated, 9 unchanged" in again.stdout
    assert ", 0 new alerts" in again.stdout
    assert "alerts sent: 0 (failed 0)" in again.stdout
    assert "emails received by the local SMTP server: 0" in again.stdout


def test_demo_says_clearly_when_the_captures_are_missing(proc_env, tmp_path) -> None:
    proc_env["BIDBELL_FIXTURES_DIR"] = str(tmp_path / "nowhere")
    proc = bidbell(proc_env, "demo")
    assert proc.returncode == 2
    assert "no Find a Tender captures in" in proc.stderr and "BIDBELL_FIXTURES_DIR" in proc.stderr


@pytest.mark.slow
@pytest.mark.prefect
def test_a_poisoned_source_and_a_dead_smtp_server_cost_only_themselves(
    proc_env, prefect_api: str, fixtures_dir: Path, mailsink: MailSink
) -> None:
    """`bidbell run` with one bad release on Find a Tender and the SMTP relay down: the
    other releases and the other source are stored, matched and alerted; the bad release
    is rejected with its reason and the checkpoint moves past it; the alert that could not
    be sent makes the run exit 4 and goes out on the next run."""
    import copy

    from sqlmodel import Session, select

    from demo.mailsink import free_port
    from demo.replay.contracts_finder import CfOcdsSite
    from demo.replay.fts import FtsSite
    from models.store.db import make_engine
    from models.store.tables import IngestError, Notice, SourceState

    proc_env["PREFECT_API_URL"] = prefect_api
    fts = FtsSite(fixtures_dir, page_size=2)
    poisoned = copy.deepcopy(fts.releases)
    bad = next(r for r in poisoned if r["id"] == "094477-2026")  # collected in the window
    bad["tender"] = "poison"
    fts.releases = poisoned
    db = Path(proc_env["BIDBELL_VAR_DIR"]) / "bidbell.db"
    with ReplayServer() as server:
        server.mount("/fts", fts)
        server.mount("/cf", CfOcdsSite(fixtures_dir, page_size=30))
        proc_env.update(
            BIDBELL_SOURCE_URLS=json.dumps(
                {"find_a_tender": server.url + "/fts", "contracts_finder": server.url + "/cf"}
            ),
            BIDBELL_SOURCE_PARAMS=json.dumps(
                {"find_a_tender": {"window_hours": 6}, "contracts_finder": {"window_hours": 24}}
            ),
            BIDBELL_EMAIL_URL=f"mailto://127.0.0.1:{free_port()}?from=alerts@bidbell.localhost",
            BIDBELL_AS_OF="2026-10-06T19:00:00+01:00",
            BIDBELL_FIRST_RUN_LOOKBACK_HOURS="72",
        )
        assert bidbell(proc_env, "init").returncode == 0
        engine = make_engine(f"sqlite:///{db}")
        with Session(engine) as s:  # Contracts Finder's capture is of October 2022
            s.add(
                SourceState(
                    source="contracts_finder",
                    checkpoint=datetime(2022, 10, 20, tzinfo=UTC),
                )
            )
            s.commit()
        args = ["subscribers", "add", "--name", "Beds Care", "--email", "bids@bedscare.example.org"]
        assert bidbell(proc_env, *args, "--cpv", "85", "--region", "UKH2").returncode == 0
        sources = ["--source", "find_a_tender", "--source", "contracts_finder"]
        first = bidbell(proc_env, "run", *sources)
        assert first.returncode == 4, first.stdout + first.stderr
        assert "find_a_tender: 4 notice(s)" in first.stdout and "3 new" in first.stdout
        assert "rejected" in first.stdout and "tender is a str" in first.stdout
        assert "contracts_finder: 73 notice(s)" in first.stdout
        assert "alerts: 1 new; sent 0, failed 1" in first.stdout
        assert "could not be sent" in first.stderr
        with Session(engine) as s:
            fts_state = s.get(SourceState, "find_a_tender")
            assert fts_state is not None
            assert fts_state.checkpoint == datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
            errors = s.exec(select(IngestError)).all()
            assert len(errors) == 1 and "poison" in errors[0].body
            assert len(s.exec(select(Notice)).all()) == 3 + 73
        engine.dispose()

        proc_env["BIDBELL_EMAIL_URL"] = mailsink.url
        second = bidbell(proc_env, "run", *sources)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "sent 1, failed 0" in second.stdout
    assert [m.rcpt_tos for m in mailsink.received] == [["bids@bedscare.example.org"]]
