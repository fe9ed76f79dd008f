"""The pages through the app (FastAPI's test client) on a copy of the stored captures:
security (CSRF, rate limits, no account enumeration, expired and tampered links, headers,
sanitised source text, admin authentication, tokens out of logs) and the account's life
(sign-up, confirm, preferences, remind me, unsubscribe, my data, delete)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bidbell.clock import UK, parse_iso
from bidbell.signing import sign
from demo.mailsink import MailSink
from models.store.db import get_engine, session_scope
from models.store.tables import Alert, Opportunity, Organisation, Profile, Reminder
from tests.web.conftest import AS_OF, form_token

NOW = parse_iso(AS_OF)
SIGNUP = {
    "org_name": "Swale Care Collective",
    "email": "bids@swalecare.example.org",
    "kind": "vcse",
    "sub_kind": "charity",
    "profile_name": "Care work",
    "sectors": "Social care and health",
    "areas": "UKH",
    "value_not_stated": "1",
    "stages": ["early", "tender", "subcontract"],
    "channels": "email",
    "frequency": "instant",
}


def post_form(client: Any, page: str, url: str, data: dict[str, Any]) -> Any:
    html = client.get(page).text
    return client.post(url, data={**data, "csrf_token": form_token(html)})


def signup(client: Any, **changes: Any) -> Any:
    return post_form(client, "/signup", "/signup", {**SIGNUP, **changes})


def org_by_email(email: str) -> Organisation | None:
    with session_scope(get_engine()) as s:
        org = s.exec(select(Organisation).where(Organisation.email == email)).first()
        if org is not None:
            s.expunge(org)
        return org


def profiles_of(org_id: int) -> list[Profile]:
    with session_scope(get_engine()) as s:
        rows = list(s.exec(select(Profile).where(Profile.organisation_id == org_id)))
        s.expunge_all()
        return rows


def mails_to(sink: MailSink, email: str) -> list[Any]:
    return [r for r in sink.received if email in r.rcpt_tos]


def link_in(message: Any, path: str) -> str:
    body = message.get_body(("html", "plain")).get_content()
    m = re.search(r'href="(http[^"]*/' + path + r'/[^"]+)"', body)
    assert m, body
    return m.group(1).replace("http://testserver", "")


def test_security_headers_on_every_page(client: Any) -> None:
    for url in ("/", "/opportunities/1", "/signup", "/feeds/opportunities.rss", "/nowhere"):
        r = client.get(url)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, url
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"


def test_every_form_refuses_a_post_without_its_csrf_token(client: Any) -> None:
    org_token = sign("prefs", {"org": 1})
    for url in ("/signup", "/prefs", f"/prefs/{org_token}", f"/prefs/{org_token}/delete",
                f"/confirm/{sign('confirm', {'org': 1})}", f"/u/{sign('unsubscribe', {'org': 1})}",
                f"/remind/{sign('remind', {'org': 1, 'opp': 1, 'days': 3})}"):  # fmt: skip
        assert client.post(url, data=SIGNUP).status_code == 403, url
        client.get("/")  # a cookie of ours, but a token that is not its own
        r = client.post(url, data={**SIGNUP, "csrf_token": "0" * 32})
        assert r.status_code == 403, url
        assert "could not be sent" in r.text
    assert org_by_email(SIGNUP["email"]) is None


def test_signup_confirm_and_nothing_before_confirmation(client: Any, mailsink: MailSink) -> None:
    from bidbell.settings import get_settings
    from flows.steps import deliver_alerts, match_alerts

    r = signup(client)
    assert r.status_code == 200 and "Check your email" in r.text
    org = org_by_email(SIGNUP["email"])
    assert org is not None and org.status == "pending"
    (profile,) = profiles_of(org.id or 0)
    assert not profile.active
    assert profile.criteria["sectors"] == ["Social care and health"]
    assert profile.criteria["regions"] == ["UKH"]
    (mail,) = mails_to(mailsink, SIGNUP["email"])
    assert mail.message["Subject"] == "Confirm your Bidbell alerts"
    confirm = link_in(mail.message, "confirm")
    # the pipeline runs before the address is confirmed: nothing for this organisation
    match_alerts(get_settings(), NOW)
    deliver_alerts(get_settings(), NOW)
    with session_scope(get_engine()) as s:
        assert not s.exec(select(Alert).where(Alert.organisation_id == org.id)).all()
    assert len(mails_to(mailsink, SIGNUP["email"])) == 1
    page = client.get(confirm)
    assert page.status_code == 200 and "Confirm and start my alerts" in page.text
    done = client.post(confirm, data={"csrf_token": form_token(page.text)})
    assert done.status_code == 303 and done.headers["location"].startswith("/prefs/")
    prefs = client.get(done.headers["location"])
    assert "Your address is confirmed" in prefs.text
    assert prefs.headers["cache-control"] == "no-store"
    org = org_by_email(SIGNUP["email"])
    assert org is not None and org.status == "active" and org.confirmed_at is not None
    (profile,) = profiles_of(org.id or 0)
    assert profile.active and profile.version == 2  # switched on: the matcher's welcome


def test_signup_errors_name_the_field(client: Any) -> None:
    r = signup(client, email="not an address", min_value="lots", kind="", sectors="Knitting")
    assert r.status_code == 400
    for field in ("email", "min_value", "kind", "sectors"):
        assert f'href="#{field}"' in r.text, field
    assert 'aria-invalid="true"' in r.text
    assert "Knitting" in r.text and "is not a sector" in r.text


def test_no_account_enumeration(client: Any, mailsink: MailSink) -> None:
    """Registered or not, confirmed or pending: the same page, status and headers; only the
    email (sent afterwards) differs, and a registered organisation is left unchanged."""
    from models.subscribers.manage import add_subscriber

    add_subscriber(name="Known Ltd", email="known@example.org", cpv_prefixes=["85"])
    answers = {}
    for email in ("known@example.org", "stranger@example.org"):
        r = signup(client, email=email, org_name="Someone Else")
        answers[email] = (r.status_code, r.text.replace(email, "EMAIL"))
        r = post_form(client, "/prefs", "/prefs", {"email": email})
        answers[email + " prefs"] = (r.status_code, r.text.replace(email, "EMAIL"))
    assert answers["known@example.org"] == answers["stranger@example.org"]
    assert answers["known@example.org prefs"] == answers["stranger@example.org prefs"]
    known = org_by_email("known@example.org")
    assert known is not None and known.name == "Known Ltd" and known.status == "active"
    subjects = [m.message["Subject"] for m in mails_to(mailsink, "known@example.org")]
    assert subjects == ["Your Bidbell account", "Your Bidbell preferences link"]
    subjects = [m.message["Subject"] for m in mails_to(mailsink, "stranger@example.org")]
    assert subjects == ["Confirm your Bidbell alerts", "Confirm your Bidbell alerts"]


def test_rate_limits_on_signup_and_magic_links(client: Any, mailsink: MailSink) -> None:
    for _ in range(3):
        assert post_form(client, "/prefs", "/prefs", {"email": "a@example.org"}).status_code == 200
    r = post_form(client, "/prefs", "/prefs", {"email": "a@example.org"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many requests" in r.text
    # per client address too: ten attempts in ten minutes, whatever the addresses
    for i in range(6):
        assert signup(client, email=f"b{i}@example.org").status_code == 200, i
    assert signup(client, email="c@example.org").status_code == 429
    assert org_by_email("c@example.org") is None


def test_expired_tampered_and_misused_links(client: Any) -> None:
    token = sign("prefs", {"org": 1}, timedelta(days=7), now=NOW - timedelta(days=8))
    r = client.get(f"/prefs/{token}")
    assert r.status_code == 410 and "This link has expired" in r.text
    assert 'href="/prefs"' in r.text  # ask for a new one
    good = sign("prefs", {"org": 1})
    payload, signature = good.split(".")
    other = sign("prefs", {"org": 2}).split(".")[0]
    for bad in (f"{other}.{signature}", f"{payload}.{signature[:-2]}AA", payload, "x.y"):
        r = client.get(f"/prefs/{bad}")
        assert r.status_code == 400 and "This link is not valid" in r.text
    unsubscribe = sign("unsubscribe", {"org": 1})
    assert client.get(f"/prefs/{unsubscribe}").status_code == 400  # made for something else
    assert client.get(f"/prefs/{unsubscribe}/data.json").status_code == 400
    assert client.get(f"/feeds/p/{good}.rss").status_code == 404
    assert client.get("/unsubscribe/1").status_code == 410  # old guessable links do nothing


def confirmed_org(client: Any) -> tuple[Organisation, str]:
    from web.accounts import confirm_organisation

    signup(client)
    org = org_by_email(SIGNUP["email"])
    assert org is not None
    with session_scope(get_engine()) as s:
        confirm_organisation(s, org.id or 0, NOW)
    return org, sign("prefs", {"org": org.id})


def test_one_click_unsubscribe_rfc8058(client: Any) -> None:
    org, _ = confirmed_org(client)
    (profile,) = profiles_of(org.id or 0)
    opp_id = 90
    with session_scope(get_engine()) as s:
        s.add(Alert(organisation_id=org.id or 0, profile_id=profile.id or 0,
                    opportunity_id=opp_id, status="pending", created_at=NOW))  # fmt: skip
    token = sign("unsubscribe", {"org": org.id, "profile": profile.id})
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "Care work" in page.text
    # the mail client's POST: no cookie, no form of ours
    client.cookies.clear()
    r = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    (profile,) = profiles_of(org.id or 0)
    assert not profile.active
    with session_scope(get_engine()) as s:
        (alert,) = s.exec(select(Alert).where(Alert.organisation_id == org.id)).all()
        assert alert.status == "cancelled"  # never sent now


def test_preferences_change_a_profile_and_the_organisation(client: Any) -> None:
    org, token = confirmed_org(client)
    (profile,) = profiles_of(org.id or 0)
    page = client.get(f"/prefs/{token}")
    assert page.status_code == 200 and "Care work: on" in page.text
    data = {**SIGNUP, "action": "profile", "profile_id": str(profile.id), "active": "1",
            "keywords": "supported living\nrespite", "max_value": "250,000",
            "csrf_token": form_token(page.text)}  # fmt: skip
    r = client.post(f"/prefs/{token}", data=data)
    assert r.status_code == 303 and r.headers["location"].endswith("done=profile")
    (changed,) = profiles_of(org.id or 0)
    assert changed.criteria["keywords"] == ["supported living", "respite"]
    assert changed.criteria["max_value"] == 250_000 and changed.version == profile.version + 1
    bad = client.post(f"/prefs/{token}", data={**data, "min_value": "300000"})
    assert bad.status_code == 400 and "min_value 300,000 is above max_value 250,000" in bad.text
    r = client.post(
        f"/prefs/{token}",
        data={
            "action": "organisation",
            "org_name": "Swale Care CIC",
            "kind": "vcse",
            "sub_kind": "cic",
            "mobile": "07911 123456",
            "areas_served": "Swale; Medway",
            "csrf_token": form_token(page.text),
        },
    )
    assert r.status_code == 303
    org2 = org_by_email(SIGNUP["email"])
    assert org2 is not None and (org2.name, org2.sub_kind, org2.mobile, org2.areas) == (
        "Swale Care CIC", "cic", "+447911123456", ["Swale", "Medway"])  # fmt: skip


def test_remind_me_download_and_delete(client: Any) -> None:
    org, token = confirmed_org(client)
    with session_scope(get_engine()) as s:
        opp = s.exec(
            select(Opportunity).where(
                col(Opportunity.title).startswith("Cambridgeshire County Council Home"),
                col(Opportunity.deadline) > NOW,
            )
        ).one()
        opp_id, deadline = opp.id, opp.deadline
    remind = sign("remind", {"org": org.id, "opp": opp_id, "days": 3})
    page = client.get(f"/remind/{remind}")
    assert page.status_code == 200 and "Remind me" in page.text
    r = client.post(f"/remind/{remind}", data={"days": "7", "csrf_token": form_token(page.text)})
    assert r.status_code == 200 and "Reminder set" in r.text
    with session_scope(get_engine()) as s:
        (row,) = s.exec(select(Reminder).where(Reminder.organisation_id == org.id)).all()
        assert row.days == 7 and row.status == "pending" and row.opportunity_id == opp_id
    # the page says when: seven days before the deadline, UK time
    assert (deadline - timedelta(days=7)).astimezone(UK).strftime("%a %-d %b %Y") in r.text
    data = client.get(f"/prefs/{token}/data.json")
    assert data.headers["content-disposition"].startswith("attachment")
    mine = json.loads(data.text)
    assert mine["organisation"]["email"] == SIGNUP["email"]
    assert mine["profiles"][0]["criteria"]["sectors"] == ["Social care and health"]
    assert mine["reminders"][0]["days_before"] == 7
    page = client.get(f"/prefs/{token}/delete")
    r = client.post(f"/prefs/{token}/delete", data={"csrf_token": form_token(page.text)})
    assert r.status_code == 200 and "Your account is deleted" in r.text
    assert org_by_email(SIGNUP["email"]) is None
    with session_scope(get_engine()) as s:
        assert not s.exec(select(Profile).where(Profile.organisation_id == org.id)).all()
        assert not s.exec(select(Reminder).where(Reminder.organisation_id == org.id)).all()
    assert client.get(f"/prefs/{token}").status_code == 404


def test_source_text_is_sanitised(client: Any) -> None:
    with session_scope(get_engine()) as s:
        opp = s.get(Opportunity, 90)
        assert opp is not None
        opp.description = (
            '<p onclick="steal()">Care <b>services</b><script>alert(1)</script>'
            '<img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
            '<a href="https://example.org/doc">the documents</a></p>'
        )
        s.add(opp)
    html = client.get("/opportunities/90").text
    body = html.split('<div class="source-text">')[1].split("</div>")[0]
    assert "<b>services</b>" in body
    assert "<script" not in body and "onerror" not in body and "onclick" not in body
    assert "javascript:" not in body and "<img" not in body
    assert 'href="https://example.org/doc" rel="nofollow noopener noreferrer"' in body


def test_opportunity_page_lists_every_listing_and_its_history(client: Any) -> None:
    with session_scope(get_engine()) as s:
        listing = s.exec(
            select(Opportunity).where(col(Opportunity.canonical_id).is_not(None))
        ).first()
        assert listing is not None
        canonical_id, listing_id = listing.canonical_id, listing.id
    r = client.get(f"/opportunities/{listing_id}")
    assert r.status_code == 301 and r.headers["location"] == f"/opportunities/{canonical_id}"
    page = client.get(f"/opportunities/{canonical_id}").text
    assert page.count("<li>") >= 2 and "bid on" in page and "First published" in page


def test_admin_is_behind_authentication(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bidbell.settings import reset_settings

    assert client.get("/admin").status_code == 404  # no password set: no admin pages
    monkeypatch.setenv("BIDBELL_ADMIN_PASSWORD", "correct horse")
    reset_settings()
    r = client.get("/admin")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert client.get("/admin", auth=("admin", "wrong")).status_code == 401
    r = client.get("/admin", auth=("admin", "correct horse"))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    for section in ("Sources", "Recent runs", "Delivery log", "Failed targets", "Subscribers"):
        assert f">{section}</h2>" in r.text
    assert "correct horse" not in r.text


def test_tokens_never_reach_the_access_log() -> None:
    import logging

    from web.security import RedactTokens

    token = sign("prefs", {"org": 1})
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/prefs/{token}/data.json?x=1", "1.1", 200), None,
    )  # fmt: skip
    RedactTokens().filter(record)
    line = record.getMessage()
    assert token not in line and "/prefs/[token]/data.json" in line
    feed = sign("feed", {"profile": 1})
    record = logging.LogRecord("x", logging.INFO, "", 0, f"GET /feeds/p/{feed}.rss", None, None)
    RedactTokens().filter(record)
    assert record.getMessage() == "GET /feeds/p/[token].rss"


def test_unconfirmed_signups_are_deleted_after_the_confirmation_window(client: Any) -> None:
    signup(client)
    org = org_by_email(SIGNUP["email"])
    assert org is not None
    with session_scope(get_engine()) as s:
        row = s.get(Organisation, org.id)
        assert row is not None
        row.created_at = NOW - timedelta(days=5)  # the link was good for 3 days
        s.add(row)
    signup(client, email="someone.else@example.org")
    assert org_by_email(SIGNUP["email"]) is None
    other = org_by_email("someone.else@example.org")
    assert other is not None
    # ids are never used again: the deleted sign-up's links cannot open the next account
    assert (other.id or 0) > (org.id or 0)
    with session_scope(get_engine()) as s:
        assert {p.organisation_id for p in s.exec(select(Profile))} == {other.id}


def test_short_link_of_an_sms_opens_the_opportunity(client: Any) -> None:
    from bidbell.ids import short_code

    with session_scope(get_engine()) as s:
        opp = s.exec(select(Opportunity).where(col(Opportunity.canonical_id).is_(None))).first()
        assert opp is not None and opp.id is not None
        opp_id, title = opp.id, opp.title
    r = client.get(f"/o/{short_code(opp_id)}", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == f"/opportunities/{opp_id}"
    page = client.get(f"/o/{short_code(opp_id).upper()}", follow_redirects=True)  # capitalised
    assert page.status_code == 200 and title.split()[0] in page.text
    assert client.get("/o/not-a-code").status_code == 404
