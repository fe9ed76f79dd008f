"""`bidbell subscribers add | list | show | import | export | remove`."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app
from tests.models.subscribers.test_manage import MEMBERS

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_add_update_list_show_remove(env) -> None:
    args = [
        "subscribers", "add", "--name", "Kent Care", "--email", "Bids@KentCare.example.org",
        "--kind", "vcse", "--sub-kind", "charity", "--mobile", "07911 123456",
        "--cpv", "85", "--keyword", "supported living", "--exclude-keyword", "nursing",
        "--region", "TLJ4", "--area", "within 15 miles of ME14", "--stage", "tender",
        "--suitable-for", "vcse", "--channel", "email", "--channel", "sms",
        "--frequency", "daily", "--max-value",
    ]  # fmt: skip
    r = invoke(*args, "100000")
    assert r.exit_code == 0, r.output
    assert (
        "registered Kent Care <bids@kentcare.example.org>" in r.output and "version 1" in r.output
    )
    r = invoke(*args, "200000")
    assert "updated Kent Care" in r.output and "version 2" in r.output
    listed = invoke("subscribers", "list").output
    assert listed.count("Kent Care") == 1
    assert "areas=UKJ4, within 15 miles of ME14" in listed and "value=0-£200,000" in listed
    assert "email,sms daily" in listed
    shown = invoke("subscribers", "show", "bids@kentcare.example.org").output
    assert "kind:      voluntary, community or social enterprise: charity" in shown
    assert "mobile:    +447911123456" in shown and "not words=nursing" in shown
    r = invoke("subscribers", "remove", "bids@kentcare.example.org")
    assert r.exit_code == 0 and "removed Kent Care" in r.output
    assert invoke("subscribers", "show", "bids@kentcare.example.org").exit_code == 1


def test_add_refuses_naming_the_field(env) -> None:
    r = invoke("subscribers", "add", "--name", "X", "--email", "not-an-email")
    assert r.exit_code == 2 and "email: 'not-an-email' is not an email address" in r.output
    r = invoke("subscribers", "add", "--name", "X", "--email", "x@y.org", "--cpv", "8a")
    assert r.exit_code == 2 and "cpv_prefixes: '8a' is not a CPV code" in r.output
    r = invoke("subscribers", "add", "--name", "X", "--email", "x@y.org", "--area", "Bexley")
    assert r.exit_code == 2 and "areas: 'Bexley' is not a Kent district" in r.output
    r = invoke("subscribers", "add", "--name", "X", "--email", "x@y.org", "--channel", "sms")
    assert r.exit_code == 2 and "channels: sms needs the organisation's mobile number" in r.output
    r = invoke(
        "subscribers", "add", "--name", "X", "--email", "x@y.org",
        "--min-value", "10", "--max-value", "5",
    )  # fmt: skip
    assert r.exit_code == 2 and "min_value 10 is above max_value 5" in r.output


def test_import_export_roundtrip(env, tmp_path) -> None:
    path = tmp_path / "members.csv"
    path.write_text(MEMBERS)
    r = runner.invoke(
        app, ["subscribers", "import", str(path), "--member-of", "info@swalecvs.example.org"]
    )
    assert r.exit_code == 2  # some rows were rejected
    assert "11 row(s) read: 4 organisation(s) new, 0 updated, 0 unchanged, 6 rejected" in r.output
    assert f"{path}:8: rejected: mobile: '01234 5' is not a valid phone number" in r.output
    assert f"{path}:10: rejected: duplicate of line 3" in r.output
    r = runner.invoke(
        app, ["subscribers", "import", str(path), "--member-of", "info@swalecvs.example.org"]
    )
    assert "0 organisation(s) new, 0 updated, 4 unchanged, 6 rejected" in r.output
    out = tmp_path / "out.csv"
    r = invoke("subscribers", "export", "--output", str(out))
    assert r.exit_code == 0 and "wrote 5 row(s)" in r.output
    r = invoke("subscribers", "import", str(out))
    assert r.exit_code == 0, r.output
    assert "5 row(s) read: 0 organisation(s) new, 0 updated, 4 unchanged, 0 rejected" in r.output
    r = invoke("subscribers", "import", str(tmp_path / "missing.csv"))
    assert r.exit_code == 2 and "no such file" in r.output


def test_targets_add_list_remove(env) -> None:
    r = invoke("subscribers", "add", "--name", "Kent Care", "--email", "bids@kentcare.example.org")
    assert r.exit_code == 0, r.output
    refused = invoke(
        "subscribers", "target", "add", "bids@kentcare.example.org", "json://10.1.2.3/hook"
    )
    assert refused.exit_code == 2
    assert "loopback, private or link-local" in refused.output
    r = invoke("subscribers", "target", "add", "bids@kentcare.example.org", "exec://run/rm")
    assert r.exit_code == 2 and "not an allowed kind of target" in r.output
    r = invoke(
        "subscribers", "target", "add", "bids@kentcare.example.org",
        "json://93.184.216.34/hook", "--label", "our Teams channel",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    target_id = r.output.split()[1]
    listed = invoke("subscribers", "target", "list", "bids@kentcare.example.org").output
    assert f"{target_id}\tactive\tour Teams channel" in listed
    assert "93.184.216.34/hook" not in listed  # URLs may hold secrets: never shown
    assert invoke("subscribers", "target", "remove", target_id).exit_code == 0
    listed = invoke("subscribers", "target", "list", "bids@kentcare.example.org").output
    assert f"{target_id}\tremoved\tour Teams channel" in listed
    assert invoke("subscribers", "target", "remove", "999").exit_code == 1
    assert invoke("subscribers", "target", "list", "nobody@example.org").exit_code == 1
