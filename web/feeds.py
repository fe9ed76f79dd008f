"""RSS 2.0 and Atom feeds, built with feedgen: one per search (a stable URL: the search's
filters in a fixed order), the default feed of open opportunities, and each profile's
private feed at an unguessable signed URL. Items are dated when the opportunity was first
published, newest first; they link to the opportunity's page here (which links to every
place it is published). Feeds answer conditional GET: the ETag is a digest of the feed, and
Last-Modified the latest change among its items."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, func, select

from bidbell.clock import utcnow
from bidbell.signing import BadToken, verify
from models.store.queries import Search, search_opportunities
from models.store.tables import Alert, Opportunity, Profile
from notifiers.feeds import FEED_ITEMS, Kind, base_url, build_feed
from web.deps import db_session, search_from

router = APIRouter()
DbSession = Annotated[Session, Depends(db_session)]
MEDIA = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}


def feed_response(
    request: Request, kind: Kind, data: bytes, last_modified: datetime, private: bool = False
) -> Response:
    """The feed, or 304 Not Modified when the client's copy (If-None-Match, else
    If-Modified-Since) is current."""
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    modified = last_modified.astimezone(UTC).replace(microsecond=0)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Cache-Control": ("private" if private else "public") + ", max-age=300",
    }
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in none_match.split(",")}
        if etag in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
    else:
        since = request.headers.get("if-modified-since")
        if since:
            try:
                when = parsedate_to_datetime(since)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None and modified <= when:
                return Response(status_code=304, headers=headers)
    return Response(content=data, media_type=MEDIA[kind], headers=headers)


def _search_feed(request: Request, session: Session, search: Search, kind: Kind) -> Response:
    search = search.model_copy(update={"sort": "newest", "page": 1, "per_page": FEED_ITEMS})
    page = search_opportunities(session, search, utcnow())
    query = urlencode(search.params(sort=None))
    words = search_words(search)
    data, updated = build_feed(
        kind,
        page.items,
        title=f"Bidbell: {words}",
        description=f"Public contract opportunities: {words}. Newest first.",
        page_url=f"{base_url()}/?{query}",
        self_url=f"{base_url()}/feeds/search.{kind}?{query}",
    )
    return feed_response(request, kind, data, updated)


def search_words(search: Search) -> str:
    parts = []
    if search.q:
        parts.append(f"“{search.q}”")
    for values in (search.sectors, search.areas):
        if values:
            parts.append(", ".join(values))
    if search.subcontract_only:
        parts.append("subcontracts")
    lead = "open opportunities" if search.open_only else "all opportunities"
    return lead + (" — " + "; ".join(parts) if parts else "")


@router.get("/feeds/search.rss")
def search_rss(request: Request, session: Annotated[Session, Depends(db_session)]) -> Response:
    return _search_feed(request, session, search_from(request.query_params)[0], "rss")


@router.get("/feeds/search.atom")
def search_atom(request: Request, session: Annotated[Session, Depends(db_session)]) -> Response:
    return _search_feed(request, session, search_from(request.query_params)[0], "atom")


@router.get("/feeds/opportunities.rss")
def default_rss(request: Request, session: Annotated[Session, Depends(db_session)]) -> Response:
    """The default feed: open opportunities, newest first."""
    return _search_feed(request, session, Search(open_only=True), "rss")


@router.get("/feeds/opportunities.atom")
def default_atom(request: Request, session: Annotated[Session, Depends(db_session)]) -> Response:
    return _search_feed(request, session, Search(open_only=True), "atom")


@router.get("/feeds/p/{name}")
def private_feed(
    request: Request, name: str, session: Annotated[Session, Depends(db_session)]
) -> Response:
    """A profile's own feed: every opportunity it was alerted about, newest first."""
    token, dot, suffix = name.rpartition(".")
    if not dot or suffix not in ("rss", "atom"):
        return Response("Not found", status_code=404, media_type="text/plain")
    kind: Kind = "rss" if suffix == "rss" else "atom"
    try:
        data = verify("feed", token)
        profile = session.get(Profile, int(data.get("profile", 0)))
    except (BadToken, TypeError, ValueError):
        profile = None
    if profile is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    alerted = (
        select(Alert.opportunity_id)
        .where(Alert.profile_id == profile.id, Alert.status != "cancelled")
        .distinct()
    )
    opps = list(
        session.exec(
            select(Opportunity)
            .where(col(Opportunity.id).in_(alerted))
            .order_by(
                func.coalesce(Opportunity.published_at, Opportunity.first_seen_at).desc(),
                col(Opportunity.id).desc(),
            )
            .limit(FEED_ITEMS)
        )
    )
    self_url = f"{base_url()}/feeds/p/{name}"
    body, updated = build_feed(
        kind,
        opps,
        title=f"Bidbell: {profile.name}",
        description="The opportunities your Bidbell profile matched. Private: do not share.",
        page_url=base_url() + "/",
        self_url=self_url,
    )
    return feed_response(request, kind, body, updated, private=True)
