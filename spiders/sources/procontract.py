"""ProContract (Proactis) portals: the Kent Business Portal and the councils that use it.

Two modes (``mode`` argument, set per source in sources.toml):

- ``listing`` (default): the public opportunity listing ``/Opportunities/Index?Page=N``
  (optionally one portal's, ``p=<GUID>``): rows in ``#opportunitiesGrid > tbody > tr``; the
  first cell links to ``/Advert?advertId=<GUID>`` with the title, then buyer, published date
  ("Expression start"), deadline ("Expression end"), value. Pages are followed through the
  "Next" link, up to ``max_pages``.
- ``rss``: the per-site feed ``/Opportunities/rss?site=<id>``, fetched with a conditional GET
  (If-None-Match / If-Modified-Since from the previous run's state; a 304 means nothing new).

For each advert that is new, or whose listing row (feed item) changed since the last run,
the advert page ``/Advert?advertId=<GUID>`` is read (description, CPV categories, regions,
contact, value, dates, SME/VCSE suitability, OCID if shown). ``{advertId: row hash}`` is
carried from run to run in the report's state, so unchanged adverts are not fetched again.

No capture of these pages exists; the layout is the documented one (../shared/DESIGN.md) and
what public scraper code shows. It lives in the class attributes below, so a layout change
is a change here, and a listing page that no longer has the layout is reported as an error
(raw HTML kept), never read as "no opportunities".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import urlencode

import feedparser
import scrapy
from parsel import Selector, SelectorList
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from twisted.python.failure import Failure

from bidbell.clock import now_iso
from bidbell.records import RawError, RawNotice
from spiders.base import BidbellSpider, SpiderConfigError

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ADVERT_ID = re.compile(rf"[?&]advertId=({GUID})", re.IGNORECASE)
_PAGE = re.compile(r"[?&]page=(\d+)", re.IGNORECASE)
_OCID = re.compile(r"^ocds-[a-z0-9]{6}-\S+$")
_NUTS = re.compile(r"^(UK|TL)[C-N](\d[0-9A-Z]?)?$")
_SITE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROBOTS = "forbidden by robots.txt"


@dataclass
class ListingPage:
    """What one listing page says (see ProContractSpider.read_listing)."""

    rows: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)  # (position, row HTML)
    next_page: int | None = None
    layout_error: str | None = None


def _text(sel: Selector | SelectorList[Selector]) -> str:
    """All text under a node, whitespace collapsed (the page's own words, nothing added)."""
    return " ".join(" ".join(sel.xpath(".//text()").getall()).split())


def _key(label: str) -> str:
    return " ".join(label.replace(":", " ").split()).lower()


def row_hash(fields: dict[str, Any]) -> str:
    """A short, stable digest of what a listing row (or feed item) says."""
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _truthy(value: Any, name: str) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SpiderConfigError(f"{name} must be true or false, got {value!r}")


class ProContractSpider(BidbellSpider):
    """A ProContract portal. Arguments (sources.toml params): ``mode`` (listing | rss),
    ``portal`` (the ``p=`` GUID of one portal's listing; optional), ``site`` (the RSS site
    id; required for rss), ``region`` (NUTS/ITL code of the buyer area, e.g. UKJ45),
    ``max_pages`` (listing cap), ``details`` (read advert pages; default true),
    ``download_delay`` (seconds between requests to the host), ``state`` (JSON, from the
    previous run)."""

    name = "procontract"
    record_format = "procontract-advert"

    # --- the portal's layout (documented; no capture exists) -----------------------------
    listing_path: ClassVar[str] = "/Opportunities/Index"
    page_param: ClassVar[str] = "Page"
    portal_param: ClassVar[str] = "p"
    advert_path: ClassVar[str] = "/Advert"
    advert_param: ClassVar[str] = "advertId"
    rss_path: ClassVar[str] = "/Opportunities/rss"
    rss_site_param: ClassVar[str] = "site"
    grid_selector: ClassVar[str] = "#opportunitiesGrid"
    row_selector: ClassVar[str] = "#opportunitiesGrid > tbody > tr"
    header_selector: ClassVar[str] = "#opportunitiesGrid > thead th"
    # The row's cells in order when the grid has no header we recognise.
    listing_columns: ClassVar[tuple[str, ...]] = (
        "title",
        "buyer",
        "published",
        "deadline",
        "value",
    )
    # Header texts -> row fields (the grid's header decides the order where it says).
    listing_headers: ClassVar[dict[str, str]] = {
        "title": "title", "opportunity": "title", "buyer": "buyer",
        "organisation": "buyer", "expression start": "published", "published": "published",
        "expression end": "deadline", "deadline": "deadline", "closing date": "deadline",
        "estimated value": "value", "value": "value",
    }  # fmt: skip
    next_selector: ClassVar[str] = "a[rel~='next'], .pagination li.next a, .pagination a.next"
    next_texts: ClassVar[tuple[str, ...]] = (
        "next",
        "next page",
        "\u203a",
        "\u00bb",
    )  # single and double right-pointing angle quotes
    pagination_selector: ClassVar[str] = ".pagination a"
    # The advert page: a title heading, then labelled fields (label, value in the next
    # element), and a lots table on frameworks.
    advert_root_selector: ClassVar[str] = "#main-content"
    advert_title_selector: ClassVar[str] = "h1"
    advert_label_selector: ClassVar[str] = "label"
    lots_row_selector: ClassVar[str] = "#lotsGrid > tbody > tr"
    lot_columns: ClassVar[tuple[str, ...]] = ("lot", "title", "value")
    advert_labels: ClassVar[dict[str, str]] = {
        "opportunity id": "reference", "reference": "reference", "ocid": "ocid",
        "buyer": "buyer", "description": "description", "estimated value": "value",
        "value": "value", "region(s) of supply": "regions", "regions of supply": "regions",
        "region": "regions", "location": "location", "categories": "categories",
        "cpv codes": "categories", "keywords": "keywords", "expression start": "published",
        "expression end": "deadline", "closing date": "deadline",
        "contract start": "contract_start", "contract end": "contract_end",
        "suitable for sme": "sme_suitable", "suitable for vcse": "vcse_suitable",
        "contact": "contact_name", "email": "contact_email", "telephone": "contact_telephone",
        "address": "buyer_address",
    }  # fmt: skip
    # Fields whose value is a list on the page (one item per <li>).
    list_fields: ClassVar[frozenset[str]] = frozenset({"regions", "categories", "keywords"})

    # ProContract serves web pages written for people, not an API: we read them as a polite
    # visitor would. robots.txt is obeyed (the project default is off, for APIs), and one
    # request at a time per host is spaced by DOWNLOAD_DELAY and AutoThrottle, which also
    # slows down when the portal answers slowly. The rate settings can be overridden, by
    # ``-s`` settings or the ``download_delay`` argument (see update_settings/from_crawler),
    # so that the tests against 127.0.0.1 run fast.
    custom_settings: dict[str, Any] | None = {
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": 1.0,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": 2.0,
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
    }
    rate_settings: ClassVar[tuple[str, ...]] = (
        "DOWNLOAD_DELAY",
        "AUTOTHROTTLE_ENABLED",
        "AUTOTHROTTLE_START_DELAY",
        "AUTOTHROTTLE_MAX_DELAY",
        "AUTOTHROTTLE_TARGET_CONCURRENCY",
    )

    def __init__(
        self,
        source: str = "",
        base_url: str = "",
        state: str = "",
        mode: str = "listing",
        portal: str = "",
        site: str | int = "",
        region: str = "",
        max_pages: int | str = 20,
        details: bool | str = True,
        download_delay: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise SpiderConfigError(
                f"{source or self.name}: unknown argument(s) {', '.join(sorted(kwargs))}"
            )
        super().__init__(source=source, base_url=base_url, state=state)
        self._check_layout()
        self.mode = str(mode).strip().lower()
        if self.mode not in ("listing", "rss"):
            raise SpiderConfigError(f"{self.source}: mode must be listing or rss, got {mode!r}")
        self.portal = str(portal).strip()
        if self.portal and not re.fullmatch(GUID, self.portal):
            raise SpiderConfigError(f"{self.source}: portal must be a GUID, got {portal!r}")
        self.site = str(site).strip()
        if self.mode == "rss" and not self.site:
            raise SpiderConfigError(f"{self.source}: mode rss needs the site id (site = ...)")
        if self.site and not _SITE.match(self.site):
            raise SpiderConfigError(f"{self.source}: site must be an id, got {site!r}")
        self.region = str(region).strip().upper()
        if self.region and not _NUTS.match(self.region):
            raise SpiderConfigError(
                f"{self.source}: region must be a NUTS/ITL code such as UKJ45, got {region!r}"
            )
        try:
            self.max_pages = int(max_pages)
        except ValueError:
            raise SpiderConfigError(f"{self.source}: max_pages must be a number") from None
        if self.max_pages < 1:
            raise SpiderConfigError(f"{self.source}: max_pages must be at least 1")
        self.details = _truthy(details, "details")
        self.download_delay_s: float | None = None
        if download_delay not in (None, ""):
            try:
                self.download_delay_s = float(download_delay)
            except ValueError:
                raise SpiderConfigError(f"{self.source}: download_delay must be seconds") from None
            if self.download_delay_s < 0:
                raise SpiderConfigError(f"{self.source}: download_delay must not be negative")
        known = self.state_in.get("adverts")
        self.known: dict[str, str] = known if isinstance(known, dict) else {}
        feed = self.state_in.get("feed")
        self.feed_state: dict[str, str] = feed if isinstance(feed, dict) else {}
        # This run: every advert listed (id -> row hash) and those done (unchanged, or read).
        self.listed: dict[str, str] = {}
        self.settled: dict[str, str] = {}
        self.listing_done = False  # the listing (or feed) was read to its end
        self.listing_whole = False  # ... and not cut short by max_pages
        self.feed_validators: dict[str, str] | None = None
        self.unchanged = 0
        self.fetched_details = 0

    @classmethod
    def _check_layout(cls) -> None:
        """The declared layout must hang together (a subclass may change it)."""
        problems = []
        if not cls.row_selector.startswith(cls.grid_selector):
            problems.append("row_selector is not inside grid_selector")
        if "title" not in cls.listing_columns:
            problems.append("listing_columns has no title column")
        if not set(cls.listing_headers.values()) <= set(cls.listing_columns):
            problems.append("listing_headers name fields that listing_columns lacks")
        for path in (cls.listing_path, cls.advert_path, cls.rss_path):
            if not path.startswith("/"):
                problems.append(f"path {path!r} does not start with /")
        if problems:
            raise SpiderConfigError(f"{cls.__name__}: {'; '.join(problems)}")

    # --- politeness settings ---------------------------------------------------------------
    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        # custom_settings outrank the project's; keep rate settings the caller gave (-s).
        given = {
            k: settings[k]
            for k in cls.rate_settings
            if (settings.getpriority(k) or 0) > SETTINGS_PRIORITIES["default"]
        }
        if "DOWNLOAD_DELAY" in given:  # the caller's pace from the first request on
            given.setdefault("AUTOTHROTTLE_START_DELAY", given["DOWNLOAD_DELAY"])
        super().update_settings(settings)
        for k, v in given.items():
            settings.set(k, v, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, ProContractSpider)
        if spider.download_delay_s is not None:  # a source's own pace (settings not frozen yet)
            crawler.settings.set("DOWNLOAD_DELAY", spider.download_delay_s, priority="spider")
            crawler.settings.set(
                "AUTOTHROTTLE_START_DELAY", spider.download_delay_s, priority="spider"
            )
        return spider

    # --- URLs ----------------------------------------------------------------------------
    def listing_url(self, page: int) -> str:
        query = {self.page_param: str(page)}
        if self.portal:
            query[self.portal_param] = self.portal
        return f"{self.base_url}{self.listing_path}?{urlencode(query)}"

    def advert_url(self, advert_id: str) -> str:
        return f"{self.base_url}{self.advert_path}?{urlencode({self.advert_param: advert_id})}"

    def rss_url(self) -> str:
        return f"{self.base_url}{self.rss_path}?{urlencode({self.rss_site_param: self.site})}"

    # --- start ---------------------------------------------------------------------------
    async def start(self) -> Any:
        if self.mode == "rss":
            url = self.rss_url()
            headers = {}
            if self.feed_state.get("url") == url:  # validators of this very feed only
                if self.feed_state.get("etag"):
                    headers["If-None-Match"] = self.feed_state["etag"]
                if self.feed_state.get("last_modified"):
                    headers["If-Modified-Since"] = self.feed_state["last_modified"]
            yield scrapy.Request(
                url,
                headers=headers,
                callback=self.parse_feed,
                errback=self.on_listing_error,
                meta={"handle_httpstatus_list": [304]},
                dont_filter=True,
            )
        else:
            yield self._listing_request(1)

    def _listing_request(self, page: int) -> scrapy.Request:
        return scrapy.Request(
            self.listing_url(page),
            callback=self.parse_listing,
            errback=self.on_listing_error,
            meta={"page": page},
            dont_filter=True,
        )

    # --- the listing ---------------------------------------------------------------------
    def parse_listing(self, response: Response) -> Iterator[Any]:
        page = int(response.meta["page"])
        self.report.pages += 1
        listing = self.read_listing(response.text)
        if listing.layout_error:
            yield self.layout_error(response, listing.layout_error)
            return
        for position, row_html in listing.bad_rows:
            yield self.error(
                response.url,
                "listing row without an advert link",
                response.status,
                row_html,
                record=f"page {page} row {position}",
            )
        for advert_id, fields in listing.rows:
            yield from self.consider(advert_id, fields, "listing", response.url)
        next_page = listing.next_page
        if next_page == -1:  # a Next link that names no page number: the following one
            next_page = page + 1
        elif next_page is not None and next_page <= page:
            self.logger.warning(
                "%s: next link on page %d points back to %d", self.source, page, next_page
            )
            next_page = None
        if next_page is None:
            self.listing_done = self.listing_whole = True
        elif page >= self.max_pages:
            self.listing_done = True
            self.logger.warning(
                "%s: stopped at page %d (max_pages); the listing goes on", self.source, page
            )
        else:
            yield self._listing_request(next_page)

    @classmethod
    def read_listing(cls, html: str) -> ListingPage:
        """One listing page: its advert rows, rows that could not be read, the next page,
        or why the page does not have the expected layout at all."""
        sel = Selector(text=html)
        if not sel.css(cls.grid_selector):
            return ListingPage(layout_error=f"no {cls.grid_selector} table on the page")
        columns = cls._columns(sel)
        rows = [r for r in sel.css(cls.row_selector) if not cls._is_message_row(r)]
        out = ListingPage()
        for position, row in enumerate(rows, 1):
            item = cls.read_row(row, columns)
            if item is None:
                out.bad_rows.append((position, row.get()))
            else:
                out.rows.append(item)
        if rows and not out.rows:
            return ListingPage(
                layout_error=f"{len(rows)} row(s) in {cls.grid_selector} but no advert link in any"
            )
        out.next_page = cls._next_page(sel) if rows else None
        return out

    @classmethod
    def _columns(cls, sel: Selector) -> tuple[str, ...]:
        headers = [_key(_text(h)) for h in sel.css(cls.header_selector)]
        named = [cls.listing_headers.get(h, "") for h in headers]
        if headers and "title" in named:
            return tuple(named)
        return cls.listing_columns

    @staticmethod
    def _is_message_row(row: Selector) -> bool:
        """A one-cell row with no link, such as "No opportunities found"."""
        cells = row.xpath("./td|./th")
        return len(cells) <= 1 and not row.css("a")

    @classmethod
    def read_row(cls, row: Selector, columns: tuple[str, ...]) -> tuple[str, dict[str, str]] | None:
        """(advertId, raw fields) of one listing row; None if it has no advert link."""
        cells = row.xpath("./td")
        if not cells:
            return None
        href = cells[0].css("a::attr(href)").get() or ""
        m = _ADVERT_ID.search(href.replace("&amp;", "&"))
        if not m:
            return None
        fields = {name: _text(cell) for name, cell in zip(columns, cells, strict=False) if name}
        fields["title"] = _text(cells[0].css("a")) or fields.get("title", "")
        return m.group(1).lower(), fields

    @classmethod
    def _next_page(cls, sel: Selector) -> int | None:
        """The page the "Next" link points to (None: no such link); -1 if it names none."""
        links = sel.css(cls.next_selector)
        if not links:
            links = SelectorList(
                a for a in sel.css(cls.pagination_selector) if _key(_text(a)) in cls.next_texts
            )
        if not links:
            return None
        m = _PAGE.search(links[0].attrib.get("href", ""))
        return int(m.group(1)) if m else -1

    def layout_error(self, response: Response, why: str) -> RawError:
        return self.error(
            response.url,
            f"listing layout changed: {why}",
            response.status,
            response.text,
        )

    # --- the feed ------------------------------------------------------------------------
    def parse_feed(self, response: Response) -> Iterator[Any]:
        self.report.pages += 1
        if response.status == 304:
            self.logger.info("%s: feed not modified since the last run", self.source)
            self.listing_done = self.listing_whole = True
            self.feed_validators = dict(self.feed_state)
            self.settled = dict(self.known)
            return
        feed = feedparser.parse(response.body)  # the bytes we fetched; feedparser fetches nothing
        if not feed.get("version") and not feed.entries:
            reason = "not an RSS/Atom feed"
            if feed.get("bozo_exception"):
                reason += f" ({feed.bozo_exception})"
            yield self.error(
                response.url, reason, response.status, response.body.decode("utf-8", "replace")
            )
            return
        parsed: list[tuple[str, dict[str, str]]] = []
        bad: list[tuple[int, Any]] = []
        for position, entry in enumerate(feed.entries, 1):
            link = str(entry.get("link") or "")
            m = _ADVERT_ID.search(link) or re.fullmatch(GUID, str(entry.get("id") or ""))
            if not m:
                bad.append((position, entry))
                continue
            advert_id = (m.group(1) if m.groups() else m.group(0)).lower()
            fields = {
                "title": " ".join(str(entry.get("title") or "").split()),
                "published": str(entry.get("published") or ""),
                "summary": str(entry.get("summary") or "").strip(),
                "link": link,
            }
            parsed.append((advert_id, fields))
        if feed.entries and not parsed:
            yield self.error(
                response.url,
                f"feed layout changed: {len(feed.entries)} item(s) but none links to an advert",
                response.status,
                response.body.decode("utf-8", "replace"),
            )
            return
        for position, entry in bad:
            yield self.error(
                response.url,
                "feed item without an advert id",
                response.status,
                json.dumps({k: str(v) for k, v in entry.items()}, ensure_ascii=False),
                record=f"item {position}",
            )
        for advert_id, fields in parsed:
            yield from self.consider(advert_id, fields, "feed", response.url)
        self.listing_done = self.listing_whole = True
        validators = {"url": response.url}
        for header, key in ((b"ETag", "etag"), (b"Last-Modified", "last_modified")):
            value = response.headers.get(header)
            if value:
                validators[key] = value.decode("latin-1")
        self.feed_validators = validators

    # --- adverts -------------------------------------------------------------------------
    def consider(
        self, advert_id: str, fields: dict[str, str], origin: str, page_url: str
    ) -> Iterator[Any]:
        """Read the advert if it is new or its row changed; otherwise nothing to do."""
        if advert_id in self.listed:  # listed twice in one run (the listing moved on)
            return
        digest = row_hash(fields)
        self.listed[advert_id] = digest
        if self.known.get(advert_id) == digest:
            self.unchanged += 1
            self.settled[advert_id] = digest
            return
        if not self.details:
            yield self.notice(advert_id, {origin: fields}, page_url)
            self.settled[advert_id] = digest
            return
        yield scrapy.Request(
            self.advert_url(advert_id),
            callback=self.parse_advert,
            errback=self.on_advert_error,
            meta={"advert_id": advert_id, "row": fields, "origin": origin, "hash": digest},
            dont_filter=True,
        )

    def parse_advert(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        self.report.pages += 1
        advert = self.read_advert(response.text)
        if advert is None:
            yield self.error(
                response.url,
                "advert page layout changed: no title or labelled fields",
                response.status,
                response.text,
                record=meta["advert_id"],
            )
            return
        self.fetched_details += 1
        payload = {meta["origin"]: meta["row"], "advert": advert}
        yield self.notice(meta["advert_id"], payload, response.url)
        self.settled[meta["advert_id"]] = meta["hash"]

    @classmethod
    def read_advert(cls, html: str) -> dict[str, Any] | None:
        """The labelled fields of an advert page as raw text (lists for list fields)."""
        sel = Selector(text=html)
        root = sel.css(cls.advert_root_selector) or sel.xpath("//body")
        title = _text(root.css(cls.advert_title_selector)[:1])
        out: dict[str, Any] = {}
        other: dict[str, str] = {}
        for label in root.css(cls.advert_label_selector):
            name = _key(_text(label))
            value = label.xpath("following-sibling::*[1]")
            if not name or not value:
                continue
            slot = cls.advert_labels.get(name)
            if slot in cls.list_fields:
                items = [_text(li) for li in value.css("li")]
                out[slot] = [i for i in items if i] or ([_text(value)] if _text(value) else [])
            elif slot == "description":
                paras = [_text(p) for p in value.css("p")]
                out[slot] = "\n\n".join(p for p in paras if p) or _text(value)
            elif slot:
                out[slot] = _text(value)
            else:
                other[_text(label)] = _text(value)
        if not title or not out:
            return None
        out["title"] = title
        lots = []
        for row in root.css(cls.lots_row_selector):
            cells = [_text(c) for c in row.xpath("./td")]
            if cells:
                lots.append(dict(zip(cls.lot_columns, cells, strict=False)))
        if lots:
            out["lots"] = lots
        if other:
            out["other"] = other
        return out

    def notice(self, advert_id: str, parts: dict[str, Any], page_url: str) -> RawNotice:
        advert = parts.get("advert") or {}
        ocid = advert.get("ocid") if isinstance(advert.get("ocid"), str) else None
        payload: dict[str, Any] = {"advert_id": advert_id, **parts}
        if self.region:  # from the configuration, not the page: where this buyer is
            payload["config_region"] = self.region
        self.report.notices += 1
        return RawNotice(
            source=self.source,
            format=self.record_format,
            source_id=advert_id,
            ocid=ocid if ocid and _OCID.match(ocid) else None,
            url=page_url,
            notice_url=self.advert_url(advert_id),
            fetched_at=now_iso(),
            payload=payload,
        )

    # --- failures ------------------------------------------------------------------------
    def on_listing_error(self, failure: Failure) -> Iterator[RawError]:
        if failure.check(IgnoreRequest) and _ROBOTS in failure.getErrorMessage().lower():
            url = failure.request.url  # type: ignore[attr-defined]
            yield self.error(url, "robots.txt forbids the listing page")
            return
        yield self.failure_error(failure)

    def on_advert_error(self, failure: Failure) -> Iterator[Any]:
        meta = failure.request.meta  # type: ignore[attr-defined]
        if failure.check(IgnoreRequest) and _ROBOTS in failure.getErrorMessage().lower():
            # The portal asks robots not to read this page: keep what the listing said.
            self.logger.info("%s: advert %s not read (robots.txt)", self.source, meta["advert_id"])
            payload = {meta["origin"]: meta["row"], "advert_skipped": "robots.txt"}
            yield self.notice(meta["advert_id"], payload, failure.request.url)  # type: ignore[attr-defined]
            return
        err = self.failure_error(failure)
        yield err.model_copy(update={"record": meta["advert_id"]})

    # --- the end -------------------------------------------------------------------------
    def closed(self, reason: str) -> None:
        """Complete when the listing was read to its end and nothing failed; the state
        remembers every advert that needs no reading next time."""
        self.report.complete = self.listing_done and self.report.errors == 0
        adverts = dict(self.settled)
        if not self.listing_whole:  # not seen this time is not gone: keep what we knew
            adverts = {**self.known, **adverts}
            for advert_id in self.listed:
                if advert_id not in self.settled:
                    adverts.pop(advert_id, None)
        state: dict[str, Any] = {"adverts": adverts}
        if self.mode == "rss":
            # New validators only when every item was dealt with; otherwise the next run
            # must get the feed again (a 304 would hide the adverts that failed).
            ok = self.feed_validators is not None and self.report.errors == 0
            state["feed"] = self.feed_validators if ok else self.feed_state
        self.report.state = state
        self.logger.info(
            "%s: %s %s: %d advert(s) listed, %d unchanged, %d advert page(s) read, %d error(s)%s",
            self.source,
            self.mode,
            "read to its end" if self.listing_done else "NOT read to its end",
            len(self.listed),
            self.unchanged,
            self.fetched_details,
            self.report.errors,
            "" if self.report.complete else " (incomplete)",
        )
