"""The admin pages, behind HTTP Basic authentication with the user and password from the
settings (BIDBELL_ADMIN_USER, BIDBELL_ADMIN_PASSWORD; no password set: no admin pages).
Source health, recent pipeline runs, the delivery log and failed targets, subscriber counts.

Recent runs are read from what the runs left (every stage of one run stamps its rows with the
run's one "now"): notices stored, opportunity events, alerts created and delivery attempts,
grouped by that instant."""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from bidbell.settings import get_settings
from models.store.db import get_engine, session_scope
from models.store.source_health import source_status
from models.store.tables import (
    Alert,
    Delivery,
    Notice,
    OpportunityEvent,
    Organisation,
    Profile,
)
from web.templating import render

router = APIRouter()
RUNS = 15
LOG = 50


def _authorised(request: Request) -> bool | None:
    """None: admin pages off; else whether the request carries the configured credentials."""
    s = get_settings()
    if not s.admin_password:
        return None
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(user.encode(), s.admin_user.encode()) & secrets.compare_digest(
        password.encode(), s.admin_password.encode()
    )


def recent_runs(s: Session, limit: int = RUNS) -> list[dict[str, Any]]:
    runs: dict[datetime, dict[str, Any]] = {}

    def row(at: datetime) -> dict[str, Any]:
        return runs.setdefault(
            at,
            {"at": at, "notices": 0, "new": 0, "changed": 0, "alerts": 0, "sent": 0, "failed": 0},
        )

    for at, n in s.exec(
        select(col(Notice.stored_at), func.count()).group_by(col(Notice.stored_at))
        .order_by(col(Notice.stored_at).desc()).limit(limit)
    ):  # fmt: skip
        if at is not None:
            row(at)["notices"] = n
    for at, new, changed in s.exec(
        select(
            col(OpportunityEvent.at),
            func.count().filter(col(OpportunityEvent.kind) == "new"),
            func.count().filter(col(OpportunityEvent.kind) != "new"),
        ).group_by(col(OpportunityEvent.at)).order_by(col(OpportunityEvent.at).desc()).limit(limit)
    ):  # fmt: skip
        if at is not None:
            row(at).update(new=new, changed=changed)
    for at, n in s.exec(
        select(col(Alert.created_at), func.count()).group_by(col(Alert.created_at))
        .order_by(col(Alert.created_at).desc()).limit(limit)
    ):  # fmt: skip
        if at is not None:
            row(at)["alerts"] = n
    for at, ok, failed in s.exec(
        select(
            col(Delivery.attempted_at),
            func.sum(case((col(Delivery.ok), 1), else_=0)),
            func.sum(case((col(Delivery.ok), 0), else_=1)),
        ).group_by(col(Delivery.attempted_at)).order_by(col(Delivery.attempted_at).desc()).limit(limit)
    ):  # fmt: skip
        if at is not None:
            row(at).update(sent=int(ok or 0), failed=int(failed or 0))
    return sorted(runs.values(), key=lambda r: r["at"], reverse=True)[:limit]


def _dashboard(s: Session) -> dict[str, Any]:
    from flows.steps import load_configured_sources

    try:
        sources = source_status(load_configured_sources(get_settings()))
        sources_error = None
    except Exception as exc:  # a broken sources file is shown, not a crash
        sources, sources_error = [], str(exc)
    log = list(
        s.exec(
            select(Delivery, Alert, Organisation)
            .join(Alert, col(Alert.id) == Delivery.alert_id)
            .join(Organisation, col(Organisation.id) == Alert.organisation_id)
            .order_by(col(Delivery.id).desc())
            .limit(LOG)
        )
    )
    failed_targets = list(
        s.exec(
            select(
                Delivery.target,
                func.count(),
                func.max(Delivery.attempted_at),
                func.max(Delivery.error),
            )
            .where(col(Delivery.ok).is_(False))
            .group_by(col(Delivery.target))
            .order_by(func.count().desc())
            .limit(LOG)
        )
    )
    orgs = list(
        s.exec(
            select(Organisation.kind, Organisation.status, func.count())
            .group_by(col(Organisation.kind), col(Organisation.status))
            .order_by(col(Organisation.kind), col(Organisation.status))
        )
    )
    profiles = s.exec(
        select(func.count(), func.count().filter(col(Profile.active).is_(True)))
    ).one()
    outbox = list(s.exec(select(col(Alert.status), func.count()).group_by(col(Alert.status))))
    return {
        "sources": sources,
        "sources_error": sources_error,
        "runs": recent_runs(s),
        "log": log,
        "failed_targets": failed_targets,
        "orgs": orgs,
        "profiles": {"all": profiles[0], "active": profiles[1]},
        "outbox": outbox,
    }


@router.get("/admin")
def admin(request: Request) -> Response:
    request.state.private = True
    ok = _authorised(request)
    if ok is None:
        return render(request, "not_found.html", 404, title="Page not found")
    if not ok:
        return Response(
            "Authentication required",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="Bidbell admin", charset="UTF-8"'},
            media_type="text/plain",
        )
    with session_scope(get_engine()) as s:
        context = _dashboard(s)
    return render(request, "admin.html", title="Admin", **context)
