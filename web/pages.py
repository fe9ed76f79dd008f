"""Browse and search, and the page of one opportunity."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from bidbell import ids
from bidbell.clock import utcnow
from models.classify.fit import EARLY_STAGES
from models.store.listings import listings_of
from models.store.queries import search_opportunities
from models.store.tables import Opportunity, OpportunityEvent
from web.deps import db_session, search_from
from web.templating import render

router = APIRouter()
DbSession = Annotated[Session, Depends(db_session)]


@router.get("/")
def browse(request: Request, session: DbSession) -> Response:
    search, errors = search_from(request.query_params)
    now = utcnow()
    page = search_opportunities(session, search, now, facets=True)
    feed_query = urlencode(search.params(page=1, sort=None))
    return render(
        request,
        "search.html",
        title="Find contract opportunities",
        search=search,
        errors=errors,
        result=page,
        now=now,
        query=urlencode(search.params()),
        feed_query=feed_query,
        page_link=lambda n: "/?" + urlencode(search.params(page=n)),
        signup_link="/signup?" + urlencode(search.params(page=1)),
    )


@router.get("/o/{code}")
def short_link(request: Request, code: str) -> Response:
    """The short link an SMS carries (``/o/<id in base 36>``): to the opportunity's page."""
    opportunity_id = ids.from_short_code(code)
    if opportunity_id is None:
        return render(request, "not_found.html", 404, title="Page not found")
    return RedirectResponse(f"/opportunities/{opportunity_id}", status_code=301)


@router.get("/opportunities/{opportunity_id}")
def opportunity_page(request: Request, opportunity_id: int, session: DbSession) -> Response:
    o = session.get(Opportunity, opportunity_id)
    if o is None:
        return render(request, "not_found.html", 404, title="Page not found")
    if o.canonical_id is not None:  # another listing of one: its page is the canonical one
        return RedirectResponse(f"/opportunities/{o.canonical_id}", status_code=301)
    listings = listings_of(session, [opportunity_id]).get(opportunity_id, [])
    events = list(
        session.exec(
            select(OpportunityEvent)
            .where(OpportunityEvent.opportunity_id == opportunity_id)
            .order_by(col(OpportunityEvent.at), col(OpportunityEvent.id))
        )
    )
    now = utcnow()
    is_open = (o.stage in EARLY_STAGES or o.stage == "tender") and (
        o.deadline is None or o.deadline > now
    )
    return render(
        request,
        "opportunity.html",
        title=o.title or o.ocid,
        o=o,
        listings=[{"ocid": o.ocid, "sources": o.sources, "url": o.url}, *listings],
        events=events,
        now=now,
        is_open=is_open,
    )
