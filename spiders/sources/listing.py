"""A prime contractor's own "supply chain opportunities" web page, configured entirely by
selectors in sources.toml, so that adding a prime needs no code.

Params (CSS, or XPath when the expression starts with ``/``, ``./`` or ``(``; an
expression that selects elements yields their whole text, ``::text``/``::attr(x)`` or
``text()``/``@x`` yield exactly that):
  path          the listing page, appended to base_url (default "")
  container     optional: an element every good page has (e.g. ``table#packages``); a page
                without it is a layout change
  row           required: one match per package, e.g. ``table#packages > tbody > tr``
  title         required, within a row
  link          within a row (default ``a::attr(href)``); relative links are resolved
  deadline, value, buyer, description, published, parent   optional, within a row
  next_page     optional: the next page's href, e.g. ``a[rel=next]::attr(href)``
  id_param      optional: the link's query parameter that holds the package id
  prime         the prime contractor's name (the buyer when rows name none)
  parent_reference, regions, cpv_codes   optional facts true of every row (comma-separated)
  max_pages     safety stop (default 50)
  download_delay  seconds between requests to the host (default 5)
Records: ``format="listing-row"`` (models/formats/listing.py, which also gives the OCID
rule: ``bidbell-<source>-<stable id from the link>``); every row is sub-contract work.

Layout changes are errors, not silence: a page without ``container``, or a page whose row
selector matches nothing where the previous run found rows on that page (the per-page row
counts are kept in ``report.state["rows_per_page"]``, read back from ``state_in``), yields a
RawError naming the change with the page kept, and the crawl is not marked complete.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from typing import Any

import scrapy
from parsel import Selector, SelectorList
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.settings import SETTINGS_PRIORITIES
from twisted.python.failure import Failure

from bidbell.clock import now_iso
from bidbell.ids import bidbell_ocid, stable_id
from bidbell.records import RawError, RawNotice
from bidbell.text import yes_no
from spiders.base import BidbellSpider, SpiderConfigError

FIELDS = ("title", "link", "deadline", "value", "buyer", "description", "published", "parent")


def select(sel: Selector | SelectorList[Any] | TextResponse, expr: str) -> SelectorList[Any]:
    """CSS, or XPath when the expression looks like one."""
    if expr.startswith(("/", "./", "(")):
        return sel.xpath(expr)
    return sel.css(expr)


def text_of(sel: Selector, expr: str) -> str:
    """Every match's text joined, whitespace folded; an element gives all its text."""
    parts: list[str] = []
    for hit in select(sel, expr):
        if isinstance(hit.root, str):
            parts.append(hit.root)
        else:
            parts.extend(hit.xpath(".//text()").getall())
    return re.sub(r"\s+", " ", " ".join(parts)).strip()


class ListingSpider(BidbellSpider):
    name = "listing"
    record_format = "listing-row"
    # Why these settings differ from spiders.run.BASE_SETTINGS: this reads web pages meant
    # for people, not an API, so robots.txt is obeyed. The per-host delay is the spider's
    # ``download_delay`` attribute (a spider argument, default 5 s; an explicit
    # DOWNLOAD_DELAY setting overrides it, see from_crawler), which Scrapy applies per
    # download slot, i.e. per host.
    custom_settings = {"ROBOTSTXT_OBEY": True}

    def __init__(
        self,
        source: str = "",
        base_url: str = "",
        path: str = "",
        container: str = "",
        row: str = "",
        title: str = "",
        link: str = "a::attr(href)",
        deadline: str = "",
        value: str = "",
        buyer: str = "",
        description: str = "",
        published: str = "",
        parent: str = "",
        next_page: str = "",
        id_param: str = "",
        prime: str = "",
        parent_reference: str = "",
        regions: str = "",
        cpv_codes: str = "",
        subcontract: bool | str = True,
        drop_query: bool | str = False,
        max_pages: int | str = 50,
        download_delay: float | str = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(source=source, base_url=base_url, **kwargs)
        if not row or not title:
            raise SpiderConfigError(f"{self.source}: the row and title selectors are required")
        self.selectors = {
            "title": title,
            "link": link,
            "deadline": deadline,
            "value": value,
            "buyer": buyer,
            "description": description,
            "published": published,
            "parent": parent,
        }
        self.container, self.row, self.next_page = container, row, next_page
        for name, expr in [
            ("container", container),
            ("row", row),
            ("next_page", next_page),
            *self.selectors.items(),
        ]:
            if expr:
                try:
                    select(Selector(text="<html></html>"), expr)
                except Exception as exc:  # parsel raises several kinds for a bad expression
                    raise SpiderConfigError(
                        f"{self.source}: {name} selector {expr!r} is invalid: {exc}"
                    ) from None
        self.start_url = self.base_url + path
        self.id_param = id_param or None
        self.static: dict[str, Any] = {
            "prime": prime or None,
            "parent_reference": parent_reference or None,
            "regions": [r.strip() for r in str(regions).split(",") if r.strip()],
            "cpv_codes": [c.strip() for c in str(cpv_codes).split(",") if c.strip()],
            # a prime's supply-chain page is sub-contract work; a buyer's own listing is not
            "subcontract": yes_no(subcontract) is not False,
        }
        # links that carry tracking parameters (?origin=SearchResults&p=1) lose them, so the
        # same notice keeps one id whichever page lists it
        self.drop_query = yes_no(drop_query) is True
        self.max_pages = int(max_pages)
        self.download_delay = float(download_delay)
        if self.max_pages < 1 or self.download_delay < 0:
            raise SpiderConfigError(f"{self.source}: max_pages >= 1 and download_delay >= 0")
        previous = self.state_in.get("rows_per_page")
        self.previous_rows: list[int] = previous if isinstance(previous, list) else []
        self.rows_per_page: list[int] = []
        self.page_failed = False
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ListingSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # A DOWNLOAD_DELAY setting given explicitly (tests, operations: -s DOWNLOAD_DELAY=0)
        # wins over the source's download_delay; Scrapy alone would prefer the attribute.
        priority = crawler.settings.getpriority("DOWNLOAD_DELAY")
        if priority is not None and priority > SETTINGS_PRIORITIES["default"]:
            spider.download_delay = crawler.settings.getfloat("DOWNLOAD_DELAY")
        return spider

    async def start(self) -> Any:
        yield self._request(self.start_url, 0)

    def _request(self, url: str, page: int) -> scrapy.Request:
        self.seen.add(url)
        return scrapy.Request(
            url, callback=self.parse_page, errback=self.on_error, meta={"page": page}
        )

    def layout_error(self, response: Response, why: str) -> RawError:
        self.page_failed = True
        return self.error(
            response.url,
            f"layout changed: {why}",
            response.status,
            response.body.decode("utf-8", "replace"),
        )

    def parse_page(self, response: Response) -> Generator[Any, None, None]:
        page: int = response.meta["page"]
        self.report.pages += 1
        if not (yield from self.parse_rows(response, page)):
            return
        assert isinstance(response, TextResponse)
        href = select(response, self.next_page).get() if self.next_page else None
        next_url = response.urljoin(href.strip()) if href and href.strip() else None
        if next_url and next_url not in self.seen and page + 1 < self.max_pages:
            yield self._request(next_url, page + 1)
            return
        if next_url and page + 1 >= self.max_pages:
            self.logger.warning("%s: stopped at max_pages=%d", self.source, self.max_pages)
        self.report.complete = not self.page_failed
        if self.report.complete:
            self.report.state = {"rows_per_page": self.rows_per_page}

    def record(
        self, response: TextResponse, row: Selector, page: int, n: int, fetched: str
    ) -> RawNotice | RawError:
        texts = {k: text_of(row, expr) for k, expr in self.selectors.items() if expr}
        where = f"page {page + 1} row {n}"
        href = texts.pop("link", "")
        if not href:
            return self.error(response.url, "row without a link", record=where, body=row.get())
        link = response.urljoin(href)
        if self.drop_query:
            link = link.split("?", 1)[0]
        rid = stable_id(link, self.id_param)
        if not texts.get("title"):
            return self.error(response.url, "row without a title", record=where, body=row.get())
        parent = texts.pop("parent", "") or self.static["parent_reference"]
        payload = {
            "id": rid,
            "link": link,
            **texts,
            "parent_reference": parent,
            "prime": self.static["prime"],
            "regions": self.static["regions"],
            "cpv_codes": self.static["cpv_codes"],
            "subcontract": None if self.static["subcontract"] else False,
            "page": response.url,
        }
        self.report.notices += 1
        return RawNotice(
            source=self.source,
            format=self.record_format,
            source_id=rid,
            ocid=bidbell_ocid(self.source, rid, hashed=False),
            url=response.url,
            notice_url=link,
            fetched_at=fetched,
            payload={k: v for k, v in payload.items() if v not in (None, "", [])},
        )

    @classmethod
    def records_from_bytes(
        cls, data: bytes, url: str, source: str, params: dict[str, Any] | None = None
    ) -> Iterator[RawNotice | RawError]:
        """A saved page of this listing -> its rows, with the source's selectors."""
        params = {k: v for k, v in (params or {}).items() if k not in ("path", "next_page")}
        spider = cls(
            source=source, base_url=str(params.pop("base_url", "https://import.invalid")), **params
        )
        yield from spider.parse_rows(HtmlResponse(url=url, body=data, encoding="utf-8"), 0)

    def parse_rows(self, response: Response, page: int) -> Generator[Any, None, bool]:
        """The rows of one page; False (after a RawError) when the layout changed."""
        if not isinstance(response, TextResponse):
            yield self.layout_error(response, "the page is not HTML")
            return False
        if self.container and not select(response, self.container):
            yield self.layout_error(response, f"no {self.container!r} on the page")
            return False
        rows = select(response, self.row)
        before = self.previous_rows[page] if page < len(self.previous_rows) else 0
        if not rows and before:
            yield self.layout_error(
                response,
                f"row selector {self.row!r} matched nothing on page {page + 1}, "
                f"which had {before} row(s) last time",
            )
            return False
        self.rows_per_page.append(len(rows))
        fetched = now_iso()
        for n, row in enumerate(rows, 1):
            yield self.record(response, row, page, n, fetched)
        return True

    def on_error(self, failure: Failure) -> Iterator[RawError]:
        self.page_failed = True
        yield self.failure_error(failure)
