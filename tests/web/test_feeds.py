"""Feeds parsed back with feedparser (no bozo): RSS 2.0 and Atom per search and per profile,
items dated when first published, newest first, open ones by default, stable GUIDs, and
conditional GET answered with 304."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import feedparser
from sqlmodel import col, select

from bidbell.clock import parse_iso
from bidbell.signing import sign
from models.store.db import get_engine, session_scope
from models.store.tables import Alert, Opportunity
from models.subscribers.manage import add_subscriber
from tests.web.conftest import AS_OF

NOW = parse_iso(AS_OF)


def parse(client: Any, url: str) -> Any:
    r = client.get(url)
    assert r.status_code == 200, url
    feed = feedparser.parse(r.content)
    assert not feed.bozo, (url, feed.get("bozo_exception"))
    return feed


def test_search_feeds_are_valid_and_announced(client: Any) -> None:
    page = client.get("/?sectors=Social+care+and+health&areas=UKH").text
    links = dict(re.findall(r'<link rel="alternate" type="([^"]+)"[^>]*href="([^"]+)"', page))
    assert set(links) == {"application/rss+xml", "application/atom+xml"}
    rss = parse(client, links["application/rss+xml"].replace("&amp;", "&"))
    atom = parse(client, links["application/atom+xml"].replace("&amp;", "&"))
    assert rss.version == "rss20" and atom.version == "atom10"
    assert rss.feed.title and rss.feed.link and rss.feed.subtitle  # RSS channel: description
    assert atom.feed.id and atom.feed.title and atom.feed.updated_parsed and atom.feed.author
    assert any(li.rel == "self" for li in atom.feed.links)
    assert [e.title for e in rss.entries] == [e.title for e in atom.entries]
    assert rss.entries, "open social care work in the East of England is in the captures"
    with session_scope(get_engine()) as s:
        for e in rss.entries:
            opp_id = int(e.link.rsplit("/", 1)[1])
            o = s.get(Opportunity, opp_id)
            assert o is not None and o.sectors and "Social care and health" in o.sectors
            assert e.id == e.link == f"http://testserver/opportunities/{opp_id}"
            assert "#" not in e.link  # never a CSV export's row anchor
            published = datetime(*e.published_parsed[:6], tzinfo=UTC)
            assert published == (o.published_at or o.first_seen_at).replace(microsecond=0)
            assert re.search(r"[+-]\d{4}$|GMT$", e.published)  # the zone is written


def test_default_feed_lists_open_opportunities_newest_first(client: Any) -> None:
    feed = parse(client, "/feeds/opportunities.rss")
    with session_scope(get_engine()) as s:
        rows = [s.get(Opportunity, int(e.link.rsplit("/", 1)[1])) for e in feed.entries]
    assert rows and all(
        o is not None and o.stage in ("tender", "pipeline", "planned", "early_engagement")
        and (o.deadline is None or o.deadline > NOW)
        for o in rows
    )  # fmt: skip
    dates = [e.published_parsed for e in feed.entries]
    assert dates == sorted(dates, reverse=True)
    assert len({e.published for e in feed.entries}) > 1  # not one instant for every item
    again = parse(client, "/feeds/opportunities.rss")
    assert [e.id for e in again.entries] == [e.id for e in feed.entries]  # stable GUIDs


def test_conditional_get_answers_304(client: Any) -> None:
    url = "/feeds/search.atom?sectors=Social+care+and+health"
    first = client.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    r = client.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    older = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
    assert client.get(url, headers={"If-Modified-Since": older}).status_code == 200
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # the feed changes: a new ETag, and the old one no longer gives 304
    with session_scope(get_engine()) as s:
        o = s.exec(
            select(Opportunity).where(Opportunity.title.startswith("Cambridgeshire County"))  # type: ignore[attr-defined]
            .where(col(Opportunity.deadline) > NOW)
        ).first()  # fmt: skip
        assert o is not None
        o.title += " (amended)"
        o.updated_at = NOW
        s.add(o)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "(amended)" in changed.text


def test_private_profile_feed(client: Any) -> None:
    org, profile, _ = add_subscriber(
        name="Beds Care", email="beds@example.org", cpv_prefixes=["85"]
    )
    with session_scope(get_engine()) as s:
        opps = list(s.exec(select(Opportunity).where(col(Opportunity.id).in_([90, 126, 502]))))
        for o in opps:
            s.add(Alert(organisation_id=org.id or 0, profile_id=profile.id or 0,
                        opportunity_id=o.id or 0, status="sent", created_at=NOW))  # fmt: skip
    token = sign("feed", {"profile": profile.id})
    for kind in ("rss", "atom"):
        feed = parse(client, f"/feeds/p/{token}.{kind}")
        assert {e.title for e in feed.entries} == {o.title for o in opps}
    r = client.get(f"/feeds/p/{token}.rss")
    assert r.headers["cache-control"].startswith("private")
    assert (
        client.get(
            f"/feeds/p/{token}.rss", headers={"If-None-Match": r.headers["etag"]}
        ).status_code
        == 304
    )
    assert client.get(f"/feeds/p/{sign('feed', {'profile': 9999})}.rss").status_code == 404
    assert client.get(f"/feeds/p/{token}.xml").status_code == 404
