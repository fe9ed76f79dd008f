"""`bidbell digest` and `bidbell outbox` as a person runs them."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

from typer.testing import CliRunner

from bidbell.settings import reset_settings
from cli.main import app

runner = CliRunner()
CF = "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json"


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_digest_dry_run_then_send_and_outbox(env: Path, fixtures_dir: Path, monkeypatch, sink):
    monkeypatch.setenv("BIDBELL_AS_OF", "2022-10-22T13:00:00+01:00")
    reset_settings()
    assert invoke("import", "--source", "contracts_finder", str(fixtures_dir / CF)).exit_code == 0
    r = invoke("subscribers", "add", "--name", "Leeds Chamber", "--email",
               "news@chamber.example.org", "--kind", "infrastructure", "--sub-kind", "chamber",
               "--serves", "UKE")  # fmt: skip
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("BIDBELL_AS_OF", "2022-10-24T07:30:00+01:00")  # the Monday after
    monkeypatch.setenv("BIDBELL_EMAIL_URL", sink.url)
    reset_settings()
    assert invoke("digest", "--kind", "fortnightly").exit_code == 2
    assert invoke("digest", "--kind", "weekly", "--org", "nobody@example.org").exit_code == 2
    r = invoke("digest", "--kind", "infrastructure", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "1 infrastructure digest(s) due now written to" in r.output and "none sent" in r.output
    (eml,) = list((env / "digests").glob("infrastructure-*/*.eml"))
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["Subject"].startswith("Bidbell weekly for Leeds Chamber: ")
    assert "in Yorkshire and the Humber" in msg["Subject"]
    assert len(sink.received) == 0  # a dry run sends nothing...
    r = invoke("digest", "--kind", "infrastructure")
    assert r.exit_code == 0, r.output  # ...and records nothing: it is still due
    assert "infrastructure digests: 1 made now; sent 1, failed 0" in r.output
    assert [m.rcpt_tos for m in sink.received] == [["news@chamber.example.org"]]
    r = invoke("digest", "--kind", "infrastructure")
    assert "0 made now; sent 0, failed 0" in r.output
    r = invoke("outbox")
    assert r.exit_code == 0, r.output
    assert "alerts:  0 pending, 0 sending, 0 sent, 0 failed" in r.output
    assert "digests: 0 pending, 0 sending, 1 sent, 0 failed" in r.output
    status = json.loads(invoke("outbox", "--json").output)
    assert status["digests"]["sent"] == 1 and status["last_errors"] == []
