"""Pages of an organisation's account: sign-up (double opt-in), confirm, preferences by a
signed magic link, one-click unsubscribe, remind me, download my data, delete my account.

No passwords: the signed link in an email is the key (bidbell.signing). Forms carry a CSRF
token; sign-up and "email me a link" are rate-limited and answer the same whether or not the
address is registered (the email, sent after the answer, is what differs)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from bidbell.clock import utcnow
from bidbell.signing import CONFIRM_TTL, MAGIC_LINK_TTL, BadToken, ExpiredToken, link, sign, verify
from models.store.db import get_engine, session_scope
from models.store.tables import Opportunity, Organisation, Profile, Reminder
from models.subscribers.criteria import SubscriberError, normalise_email
from models.subscribers.manage import profile_criteria
from web import accounts
from web.deps import LIST_FIELDS, search_from
from web.forms import (
    empty_profile_values,
    profile_values,
    read_organisation_form,
    read_profile_form,
)
from web.mail import send_email
from web.security import CSRF_FIELD, Limits, csrf_ok
from web.templating import env, render

router = APIRouter()
REMIND_DAYS = (1, 2, 3, 5, 7, 14)


# --- helpers -------------------------------------------------------------------------------
def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _forbidden(request: Request) -> Response:
    return render(request, "csrf.html", 403, title="This form could not be sent")


def _too_many(request: Request, wait: float) -> Response:
    minutes = max(1, round(wait / 60))
    return render(
        request,
        "too_many.html",
        429,
        headers={"Retry-After": str(int(wait))},
        title="Too many requests",
        minutes=minutes,
    )


def _bad_link(request: Request, exc: BadToken, what: str) -> Response:
    expired = isinstance(exc, ExpiredToken)
    return render(
        request,
        "bad_link.html",
        410 if expired else 400,
        title="This link has expired" if expired else "This link is not valid",
        expired=expired,
        what=what,
    )


def _private(request: Request) -> None:
    request.state.private = True  # pages opened by a signed link: never cached


def _token_data(purpose: str, token: str) -> dict[str, Any]:
    return verify(purpose, token)


def _id(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _email_html(template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)


# --- emails, sent after the answer (so its timing says nothing) -----------------------------
def send_signup_email(outcome: accounts.Signup, name: str) -> None:
    if outcome.outcome == "already_registered":
        url = link("prefs", {"org": outcome.organisation_id}, MAGIC_LINK_TTL)
        html = _email_html("email/already_registered.html", name=name, prefs_url=url)
        send_email(outcome.email, "Your Bidbell account", html)
        return
    url = link("confirm", {"org": outcome.organisation_id}, CONFIRM_TTL)
    html = _email_html("email/confirm.html", name=name, confirm_url=url, days=CONFIRM_TTL.days)
    send_email(outcome.email, "Confirm your Bidbell alerts", html)


def send_prefs_email(email: str) -> None:
    with session_scope(get_engine()) as s:
        org = s.exec(select(Organisation).where(Organisation.email == email)).first()
        if org is None:
            return
        org_id, name, pending = org.id or 0, org.name, org.status == accounts.PENDING
    if pending:
        send_signup_email(accounts.Signup("pending_again", org_id, email), name)
        return
    url = link("prefs", {"org": org_id}, MAGIC_LINK_TTL)
    html = _email_html("email/prefs_link.html", name=name, prefs_url=url, days=MAGIC_LINK_TTL.days)
    send_email(email, "Your Bidbell preferences link", html)


# --- sign-up -------------------------------------------------------------------------------
@router.get("/signup")
def signup_form(request: Request) -> Response:
    search, _ = search_from(request.query_params)
    notes: list[str] = []
    if any(
        k in request.query_params for k in (*LIST_FIELDS, "q", "subcontract_only", "closing_within")
    ):
        try:
            criteria, notes = search.to_criteria()
            values = profile_values(criteria)
        except SubscriberError as exc:  # a search an alert cannot be: start from nothing
            values, notes = empty_profile_values(), [str(exc)]
    else:
        values = empty_profile_values()
    return render(
        request,
        "signup.html",
        title="Get alerts",
        org={"kind": ""},
        profile=values,
        errors={},
        notes=notes,
    )


def _signup(form: FormData, client: str, limits: Limits) -> tuple[str, Any]:
    org, org_errors, org_values = read_organisation_form(form)
    profile, profile_errors, values = read_profile_form(form)
    errors = {**org_errors, **profile_errors}
    if errors or org is None or profile is None:
        return "errors", (errors, org_values, values)
    wait = limits.check(client, org.email)
    if wait is not None:
        return "wait", wait
    try:
        with session_scope(get_engine()) as s:
            outcome = accounts.register_signup(s, org, profile, utcnow())
    except SubscriberError as exc:
        name, _, message = str(exc).partition(": ")
        return "errors", (
            {name if message else "org_name": message or str(exc)},
            org_values,
            values,
        )
    return "ok", (outcome, org.name)


@router.post("/signup")
async def signup(request: Request, background: BackgroundTasks) -> Response:
    form = await request.form()
    if not csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        return _forbidden(request)
    status, result = await run_in_threadpool(_signup, form, _client(request), _limits(request))
    if status == "wait":
        return _too_many(request, result)
    if status == "errors":
        errors, org_values, values = result
        return render(
            request,
            "signup.html",
            400,
            title="Get alerts: check your answers",
            org=org_values,
            profile=values,
            errors=errors,
            notes=[],
        )
    outcome, name = result
    background.add_task(send_signup_email, outcome, name)
    return render(request, "check_email.html", title="Check your email", email=outcome.email)


@router.get("/confirm/{token}")
def confirm_page(request: Request, token: str) -> Response:
    _private(request)
    try:
        org_id = _id(_token_data("confirm", token), "org")
    except BadToken as exc:
        return _bad_link(request, exc, "confirm")
    with session_scope(get_engine()) as s:
        org = s.get(Organisation, org_id) if org_id else None
        if org is None:
            return render(request, "gone.html", 404, title="Nothing to confirm")
        return render(request, "confirm.html", title="Confirm your alerts", org=org, token=token)


@router.post("/confirm/{token}")
async def confirm(request: Request, token: str) -> Response:
    _private(request)
    form = await request.form()
    if not csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        return _forbidden(request)
    try:
        org_id = _id(_token_data("confirm", token), "org")
    except BadToken as exc:
        return _bad_link(request, exc, "confirm")

    def run() -> Organisation | None:
        with session_scope(get_engine()) as s:
            return accounts.confirm_organisation(s, org_id or 0, utcnow())

    org = await run_in_threadpool(run)
    if org is None:
        return render(request, "gone.html", 404, title="Nothing to confirm")
    prefs = sign("prefs", {"org": org.id}, MAGIC_LINK_TTL)
    return RedirectResponse(f"/prefs/{prefs}?done=confirmed", status_code=303)


# --- preferences ---------------------------------------------------------------------------
@router.get("/prefs")
def prefs_request_form(request: Request) -> Response:
    return render(request, "prefs_request.html", title="Change your alerts", errors={}, email="")


@router.post("/prefs")
async def prefs_request(request: Request, background: BackgroundTasks) -> Response:
    form = await request.form()
    if not csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        return _forbidden(request)
    raw = str(form.get("email") or "")
    try:
        email = normalise_email(raw)
    except ValueError:
        return render(
            request,
            "prefs_request.html",
            400,
            title="Change your alerts: check your answer",
            errors={"email": "enter an email address, like name@example.org"},
            email=raw,
        )
    wait = _limits(request).check(_client(request), email)
    if wait is not None:
        return _too_many(request, wait)
    background.add_task(send_prefs_email, email)
    return render(request, "check_email.html", title="Check your email", email=email)


def _org_of(s: Session, token: str) -> Organisation | None:
    org_id = _id(_token_data("prefs", token), "org")
    return s.get(Organisation, org_id) if org_id else None


def _prefs_context(s: Session, org: Organisation, token: str) -> dict[str, Any]:
    profiles = list(
        s.exec(select(Profile).where(Profile.organisation_id == org.id).order_by(col(Profile.id)))
    )
    forms = []
    for p in profiles:
        values = profile_values(
            profile_criteria(p),
            name=p.name,
            channels=list(p.channels),
            frequency=p.frequency,
            active=p.active,
        )
        feed = sign("feed", {"profile": p.id})
        forms.append({"profile": p, "values": values, "errors": {}, "feed": feed})
    reminders = list(
        s.exec(
            select(Reminder, Opportunity)
            .join(Opportunity, col(Opportunity.id) == Reminder.opportunity_id)
            .where(Reminder.organisation_id == org.id)
            .order_by(col(Opportunity.deadline))
        )
    )
    return {
        "org": org,
        "org_values": {
            "org_name": org.name,
            "email": org.email,
            "kind": org.kind,
            "sub_kind": org.sub_kind or "",
            "mobile": org.mobile or "",
            "areas_served": "; ".join(org.areas),
        },
        "org_errors": {},
        "profiles": forms,
        "new_profile": {"values": empty_profile_values() | {"profile_name": ""}, "errors": {}},
        "reminders": reminders,
        "token": token,
        "unsubscribe_token": sign("unsubscribe", {"org": org.id}),
    }


@router.get("/prefs/{token}")
def prefs_page(request: Request, token: str) -> Response:
    _private(request)
    try:
        with session_scope(get_engine()) as s:
            org = _org_of(s, token)
            if org is None:
                return render(request, "gone.html", 404, title="No account")
            context = _prefs_context(s, org, token)
    except BadToken as exc:
        return _bad_link(request, exc, "prefs")
    return render(
        request,
        "prefs.html",
        title="Your alerts",
        done=request.query_params.get("done", ""),
        **context,
    )


def _save_prefs(token: str, form: FormData) -> tuple[str, Any]:
    now = utcnow()
    with session_scope(get_engine()) as s:
        org = _org_of(s, token)
        if org is None:
            return "gone", None
        action = str(form.get("action") or "")
        if action == "organisation":
            org_form, errors, values = read_organisation_form(form, email=org.email)
            if org_form is not None:
                try:
                    accounts.update_organisation(s, org, org_form, now)
                    return "ok", "organisation"
                except SubscriberError as exc:
                    name, _, message = str(exc).partition(": ")
                    errors = {name: message}
            context = _prefs_context(s, org, token)
            context["org_values"], context["org_errors"] = values, errors
            return "errors", context
        if action in ("profile", "new_profile"):
            raw_id = str(form.get("profile_id") or "")
            profile_id = int(raw_id) if raw_id.isdigit() else None
            profile, errors, values = read_profile_form(form)
            if action == "new_profile" and not values["profile_name"]:
                errors["profile_name"] = "give the new profile a name"
                profile = None
            if profile is not None and not errors:
                try:
                    accounts.save_profile(
                        s,
                        org,
                        profile_id,
                        profile,
                        values["active"] or action == "new_profile",
                        now,
                    )
                    return "ok", "profile"
                except SubscriberError as exc:
                    name, _, message = str(exc).partition(": ")
                    errors = {name: message}
            s.rollback()
            context = _prefs_context(s, org, token)
            if action == "new_profile":
                context["new_profile"] = {"values": values, "errors": errors}
            else:
                for f in context["profiles"]:
                    if f["profile"].id == profile_id:
                        f["values"], f["errors"] = values, errors
            return "errors", context
        if action == "delete_profile":
            raw_id = str(form.get("profile_id") or "")
            if raw_id.isdigit() and accounts.delete_profile(s, org, int(raw_id)):
                return "ok", "deleted"
        return "ok", ""


@router.post("/prefs/{token}")
async def prefs_save(request: Request, token: str) -> Response:
    _private(request)
    form = await request.form()
    if not csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        return _forbidden(request)
    try:
        status, result = await run_in_threadpool(_save_prefs, token, form)
    except BadToken as exc:
        return _bad_link(request, exc, "prefs")
    if status == "gone":
        return render(request, "gone.html", 404, title="No account")
    if status == "errors":
        return render(
            request, "prefs.html", 400, title="Your alerts: check your answers", done="", **result
        )
    return RedirectResponse(f"/prefs/{token}?done={result}", status_code=303)


@router.get("/prefs/{token}/data.json")
def download_data(request: Request, token: str) -> Response:
    _private(request)
    try:
        with session_scope(get_engine()) as s:
            org = _org_of(s, token)
            if org is None:
                return render(request, "gone.html", 404, title="No account")
            data = accounts.export_data(s, org)
    except BadToken as exc:
        return _bad_link(request, exc, "prefs")
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n",
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="bidbell-my-data.json"'},
    )


@router.get("/prefs/{token}/delete")
def delete_page(request: Request, token: str) -> Response:
    _private(request)
    try:
        with session_scope(get_engine()) as s:
            org = _org_of(s, token)
            if org is None:
                return render(request, "gone.html", 404, title="No account")
            return render(request, "delete.html", title="Delete your account", org=org, token=token)
    except BadToken as exc:
        return _bad_link(request, exc, "prefs")


@router.post("/prefs/{token}/delete")
async def delete_account(request: Request, token: str) -> Response:
    _private(request)
    form = await request.form()
    if not csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        return _forbidden(request)

    def run() -> bool:
        with session_scope(get_engine()) as s:
            org = _org_of(s, token)
            return org is not None and accounts.delete_organisation(s, org.id or 0)

    try:
        deleted = await run_in_threadpool(run)
    except BadToken as exc:
        return _bad_link(request, exc, "prefs")
    if not deleted:
        return render(request, "gone.html", 404, title="No account")
    return render(request, "deleted.html", title="Your account is deleted")


# --- unsubscribe ---------------------------------------------------------------------------
def _unsubscribe_target(token: str) -> tuple[int, int | None]:
    data = _token_data("unsubscribe", token)
    org_id = _id(data, "org")
    if org_id is None:
        raise BadToken("this link is not valid")
    return org_id, _id(data, "profile")


@router.get("/u/{token}")
def unsubscribe_page(request: Request, token: str) -> Response:
    _private(request)
    try:
        org_id, profile_id = _unsubscribe_target(token)
    except BadToken as exc:
        return _bad_link(request, exc, "unsubscribe")
    with session_scope(get_engine()) as s:
        org = s.get(Organisation, org_id)
        profile = s.get(Profile, profile_id) if profile_id else None
        if org is None or (profile_id and (profile is None or profile.organisation_id != org_id)):
            return render(request, "gone.html", 404, title="Nothing to unsubscribe")
        return render(
            request, "unsubscribe.html", title="Unsubscribe", org=org, profile=profile, token=token
        )


@router.post("/u/{token}")
async def unsubscribe(request: Request, token: str) -> Response:
    """A person's button, or RFC 8058 one-click (body ``List-Unsubscribe=One-Click``, sent
    by the mail client without a form of ours: the signed token is the authority)."""
    _private(request)
    form = await request.form()
    one_click = str(form.get("List-Unsubscribe") or "") == "One-Click"
    if not one_click and not csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        return _forbidden(request)
    try:
        org_id, profile_id = _unsubscribe_target(token)
    except BadToken as exc:
        return _bad_link(request, exc, "unsubscribe")

    def run() -> tuple[Organisation | None, list[str]]:
        with session_scope(get_engine()) as s:
            stopped = accounts.unsubscribe(s, org_id, profile_id, utcnow())
            return s.get(Organisation, org_id), [p.name for p in stopped or []]

    org, names = await run_in_threadpool(run)
    if org is None or not names:
        return render(request, "gone.html", 404, title="Nothing to unsubscribe")
    return render(request, "unsubscribed.html", title="You are unsubscribed", org=org, names=names)


@router.get("/unsubscribe/{anything:path}")
def old_unsubscribe(request: Request, anything: str) -> Response:
    """Links of emails sent before signed links: an id anyone could guess is not enough."""
    return render(request, "old_link.html", 410, title="This link is no longer used")


# --- remind me -----------------------------------------------------------------------------
def _remind_target(token: str) -> tuple[int, int, int]:
    data = _token_data("remind", token)
    org_id, opp_id = _id(data, "org"), _id(data, "opp")
    if org_id is None or opp_id is None:
        raise BadToken("this link is not valid")
    days = _id(data, "days") or 3
    return org_id, opp_id, days


@router.get("/remind/{token}")
def remind_page(request: Request, token: str) -> Response:
    _private(request)
    try:
        org_id, opp_id, days = _remind_target(token)
    except BadToken as exc:
        return _bad_link(request, exc, "remind")
    with session_scope(get_engine()) as s:
        org, opp = s.get(Organisation, org_id), s.get(Opportunity, opp_id)
        if org is None or opp is None:
            return render(request, "gone.html", 404, title="Nothing to remind you of")
        return render(
            request,
            "remind.html",
            title="Remind me before the deadline",
            o=opp,
            days=days,
            choices=REMIND_DAYS,
            token=token,
            now=utcnow(),
            errors={},
        )


@router.post("/remind/{token}")
async def remind(request: Request, token: str) -> Response:
    _private(request)
    form = await request.form()
    if not csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        return _forbidden(request)
    try:
        org_id, opp_id, days = _remind_target(token)
    except BadToken as exc:
        return _bad_link(request, exc, "remind")
    raw = str(form.get("days") or days)
    chosen = int(raw) if raw.isdigit() and int(raw) in REMIND_DAYS else days

    def run() -> tuple[Opportunity | None, datetime | None]:
        with session_scope(get_engine()) as s:
            when = accounts.remind(s, org_id, opp_id, chosen, utcnow())
            return s.get(Opportunity, opp_id), when

    opp, when = await run_in_threadpool(run)
    if opp is None:
        return render(request, "gone.html", 404, title="Nothing to remind you of")
    return render(request, "reminded.html", title="Reminder set", o=opp, when=when, days=chosen)
