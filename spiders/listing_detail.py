"""List, then read details only for new or changed rows: a small base for web portals whose
listing pages name their items (a grid of rows, page by page) and whose detail pages say the
rest (label -> value blocks). A source file declares the two layouts and a few paths; the
base does the crawl.

- ``GridListing``: a listing page laid out as an HTML table. Selectors and the column headers
  are class attributes; ``read`` gives the rows (item id -> the row's texts), the rows it
  could not read, the highest page the pager links to, or why the page is not this layout.
- ``LabelledDetail``: a detail page of label -> value blocks. ``read`` gives the fields named
  by their labels (lists for list fields, tables such as attachments), keeps the labels it
  does not know under ``other``, or says why the page is not this layout.
- ``ListingDetailSpider``: reads the listing page by page (up to ``max_pages``), then the
  detail page of each item whose row is new or changed since the last run: ``{item id: row
  hash}`` is carried in the state, so an unchanged row costs no request. A layout change is
  an error with the page kept, never "no items"; a failed detail page is an error for that
  item alone, which is read again next run.

Web pages, not APIs: robots.txt is obeyed and the host is visited slowly (see
``custom_settings``); a source may set its own pace (``download_delay``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import scrapy
from parsel import Selector, SelectorList
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from twisted.python.failure import Failure

from bidbell.clock import now_iso
from bidbell.ids import GUID_PATTERN, row_hash
from bidbell.records import RawError, RawNotice
from bidbell.text import yes_no_setting
from spiders.base import BidbellSpider, SpiderConfigError

_ROBOTS = "forbidden by robots.txt"


def text_of(sel: Selector | SelectorList[Selector]) -> str:
    """All text under a node, whitespace collapsed (the page's own words, nothing added)."""
    return " ".join(" ".join(sel.xpath(".//text()").getall()).split())


def label_key(label: str) -> str:
    """A label or header as compared: 'Expression End:' -> 'expression end'."""
    return " ".join(label.replace(":", " ").split()).casefold()


def _valid_css(expr: str) -> str | None:
    try:
        Selector(text="<html></html>").css(expr)
    except Exception as exc:  # cssselect raises several kinds for a bad expression
        return f"{expr!r} is not a CSS selector ({exc})"
    return None


# --- the listing -------------------------------------------------------------------------
@dataclass
class ListingPage:
    """What one listing page says (``GridListing.read``)."""

    rows: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)  # (position, row HTML)
    last_page: int | None = None  # the highest page number the pager links to
    empty: bool = False  # the grid says it has nothing to list
    layout_error: str | None = None


class GridListing:
    """A listing page laid out as an HTML table (declare the class attributes)."""

    grid: ClassVar[str] = ""  # the table
    rows: ClassVar[str] = ""  # the item rows, within the table
    headers: ClassVar[str] = "thead th"
    # Header text as the page writes it -> row field. Every one must be in the header row.
    columns: ClassVar[dict[str, str]] = {}
    link_column: ClassVar[str] = "title"  # the field whose cell holds the item link
    link: ClassVar[str] = "a[href]"  # the item link, within that cell
    link_attributes: ClassVar[dict[str, str]] = {}  # link attribute -> row field
    id_param: ClassVar[str] = ""  # the link's query parameter that holds the item id
    id_pattern: ClassVar[str] = GUID_PATTERN
    empty_text: ClassVar[str] = ""  # the one row of a grid with nothing to list
    pagination: ClassVar[str] = ""  # the pager's items (links, or elements holding links)
    page_param: ClassVar[str] = "Page"
    page_size: ClassVar[int] = 0  # rows on a full page (0: not known)

    @classmethod
    def problems(cls) -> list[str]:
        """What is incoherent in the declared layout (empty: nothing)."""
        out = [
            f"{name} is not declared"
            for name in ("grid", "rows", "id_param")
            if not getattr(cls, name)
        ]
        if cls.link_column not in cls.columns.values():
            out.append(f"link_column {cls.link_column!r} is not one of the columns")
        if len(set(cls.columns.values())) != len(cls.columns):
            out.append("two columns read into one field")
        for expr in (cls.grid, cls.rows, cls.headers, cls.link, cls.pagination):
            if expr and (bad := _valid_css(expr)):
                out.append(bad)
        try:
            re.compile(cls.id_pattern)
        except re.error as exc:
            out.append(f"id_pattern is not a regular expression ({exc})")
        return out

    @classmethod
    def read(cls, html: str) -> ListingPage:
        sel = Selector(text=html)
        grid = sel.css(cls.grid)
        if not grid:
            return ListingPage(layout_error=f"no {cls.grid} on the page")
        grid = grid[:1]
        rows = grid.css(cls.rows)
        if not rows:
            body = [r for r in grid.css("tr") if not r.xpath("ancestor::thead")]
            texts = [text_of(r) for r in body]
            if not body or (cls.empty_text and texts == [cls.empty_text]):
                return ListingPage(empty=True)
            return ListingPage(
                layout_error=f"{len(body)} row(s) in {cls.grid} but none is {cls.rows}"
                + (f" or says {cls.empty_text!r}" if cls.empty_text else "")
            )
        positions, missing = cls._positions(grid)
        if missing:
            return ListingPage(
                layout_error=f"{cls.grid} has no column {', '.join(map(repr, missing))} "
                f"(its header row: {' | '.join(text_of(h) for h in grid.css(cls.headers))})"
            )
        out = ListingPage(last_page=cls._last_page(sel))
        for position, row in enumerate(rows, 1):
            item = cls.read_row(row, positions)
            if item is None:
                out.bad_rows.append((position, row.get()))
            else:
                out.rows.append(item)
        if not out.rows:
            return ListingPage(
                layout_error=f"{len(rows)} row(s) in {cls.grid} but no {cls.id_param} link in any"
            )
        return out

    @classmethod
    def _positions(cls, grid: SelectorList[Selector]) -> tuple[dict[str, int], list[str]]:
        """Each field's cell position, from the header row; the declared headers it lacks."""
        found = {label_key(text_of(h)): i for i, h in enumerate(grid.css(cls.headers))}
        positions = {
            f: found[label_key(h)] for h, f in cls.columns.items() if label_key(h) in found
        }
        return positions, [h for h, f in cls.columns.items() if f not in positions]

    @classmethod
    def read_row(
        cls, row: Selector, positions: dict[str, int]
    ) -> tuple[str, dict[str, str]] | None:
        """(item id, the row's texts) of one row; None if it has no usable item link."""
        cells = row.xpath("./td")
        at = positions[cls.link_column]
        if at >= len(cells):
            return None
        link = cells[at].css(cls.link)[:1]
        item_id = cls.item_id(link.attrib.get("href", "")) if link else None
        if item_id is None:
            return None
        fields = {f: text_of(cells[i]) if i < len(cells) else "" for f, i in positions.items()}
        fields[cls.link_column] = text_of(link) or fields[cls.link_column]
        for attribute, name in cls.link_attributes.items():
            fields[name] = " ".join((link.attrib.get(attribute) or "").split())
        return item_id, fields

    @classmethod
    def item_id(cls, href: str) -> str | None:
        """The item id in a link (its ``id_param``), lower case; None if it has none."""
        query = dict((k.lower(), v) for k, v in parse_qsl(urlsplit(href.strip()).query))
        value = query.get(cls.id_param.lower(), "").strip()
        return value.lower() if re.fullmatch(cls.id_pattern, value) else None

    @classmethod
    def _last_page(cls, sel: Selector) -> int | None:
        if not cls.pagination:
            return None
        numbers = []
        for item in sel.css(cls.pagination):
            hrefs = [item.attrib.get("href", ""), *item.css("a::attr(href)").getall()]
            for href in hrefs:
                query = dict((k.lower(), v) for k, v in parse_qsl(urlsplit(href).query))
                page = query.get(cls.page_param.lower(), "")
                if page.isdigit():
                    numbers.append(int(page))
        return max(numbers) if numbers else None


# --- the detail page ---------------------------------------------------------------------
class LabelledDetail:
    """A detail page of label -> value blocks (declare the class attributes)."""

    root: ClassVar[str] = ""  # where the blocks are; the whole body if absent
    block: ClassVar[str] = ""  # one label -> value block
    value: ClassVar[str] = ""  # the value, within a block; the rest of the block is the label
    labels: ClassVar[dict[str, str]] = {}  # label as the page writes it -> field
    list_fields: ClassVar[frozenset[str]] = frozenset()  # one item per line (or <li>)
    text_fields: ClassVar[frozenset[str]] = frozenset()  # paragraphs kept apart
    required: ClassVar[tuple[str, ...]] = ()  # fields a page of this layout always has
    # field -> (row selector, column names): tables read whole; a row's first link is "url".
    tables: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}

    @classmethod
    def problems(cls) -> list[str]:
        out = [f"{name} is not declared" for name in ("block", "value") if not getattr(cls, name)]
        fields = set(cls.labels.values())
        if undeclared := (cls.list_fields | cls.text_fields | set(cls.required)) - fields:
            out.append(f"fields {', '.join(sorted(undeclared))} have no label")
        if cls.list_fields & cls.text_fields:
            out.append("a field is both a list and a text field")
        rows = [row for row, _cols in cls.tables.values()]
        for expr in (cls.root, cls.block, cls.value, *rows):
            if expr and (bad := _valid_css(expr)):
                out.append(bad)
        return out

    @classmethod
    def read(cls, html: str) -> dict[str, Any] | str:
        """The page's fields as raw text (lists for list fields), or why it is not this
        layout (a page without the required fields: an error page, a login page, a redesign)."""
        sel = Selector(text=html)
        root = (sel.css(cls.root) if cls.root else None) or sel.xpath("//body")
        known = {label_key(k): v for k, v in cls.labels.items()}
        out: dict[str, Any] = {}
        other: dict[str, str] = {}
        for block in root.css(cls.block):
            values = block.css(cls.value)
            if not values:
                continue
            inside = {id(v.root) for v in values}
            label = " ".join(
                text_of(child) for child in block.xpath("./*") if id(child.root) not in inside
            )
            name = known.get(label_key(label))
            value = values[0]
            if name in cls.list_fields:
                out[name] = [
                    t for t in (" ".join(x.split()) for x in value.xpath(".//text()").getall()) if t
                ]
            elif name in cls.text_fields:
                paras = [text_of(p) for p in value.css("p")]
                out[name] = "\n\n".join(p for p in paras if p) or text_of(value)
            elif name:
                out[name] = text_of(value)
            elif label:
                other[label] = text_of(value)
        missing = [f for f in cls.required if not out.get(f)]
        if missing:
            names = {v: k for k, v in cls.labels.items()}
            return f"no {', '.join(repr(names[f]) for f in missing)} on the page"
        for name, (row_expr, columns) in cls.tables.items():
            rows = []
            for row in root.css(row_expr):
                cells = [text_of(c) for c in row.xpath("./td")]
                if not any(cells):
                    continue
                item: dict[str, str] = dict(zip(columns, cells, strict=False))
                href = row.css("a::attr(href)").get()
                if href:
                    item["url"] = href.strip()
                rows.append(item)
            if rows:
                out[name] = rows
        if other:
            out["other"] = other
        return out


# --- the spider --------------------------------------------------------------------------
class ListingDetailSpider(BidbellSpider):
    """A portal listed page by page, each item's detail page read when its row is new or
    changed. Arguments: ``max_pages``, ``details`` (read detail pages; default true),
    ``download_delay`` (seconds between requests to the host), ``state`` (JSON, from the
    previous run), and the source type's own ``arguments``."""

    # --- declared by each source type ----------------------------------------------------
    listing: ClassVar[type[GridListing]] = GridListing
    detail: ClassVar[type[LabelledDetail] | None] = None
    listing_path: ClassVar[str] = ""
    detail_path: ClassVar[str] = ""
    detail_param: ClassVar[str] = ""  # the detail page's query parameter naming the item
    # The source type's own arguments: name -> reader (raw text -> value; ValueError if bad).
    arguments: ClassVar[dict[str, Callable[[str], str]]] = {}
    scope_argument: ClassVar[str | None] = None  # an argument sent with the listing...
    scope_param: ClassVar[str] = ""  # ...as this query parameter (one portal's listing)
    # Arguments that only make sense with another: name -> the one it needs.
    requires: ClassVar[dict[str, str]] = {}
    payload_arguments: ClassVar[dict[str, str]] = {}  # argument -> payload key, when given
    id_key: ClassVar[str] = "id"  # the payload keys: item id, and the detail page's fields
    detail_key: ClassVar[str] = "detail"
    state_key: ClassVar[str] = "rows"  # {item id: row hash} in the carried state
    default_max_pages: ClassVar[int] = 20

    # Web pages written for people, not an API: read as a polite visitor would. robots.txt
    # is obeyed (the project default is off, for APIs), and one request at a time per host
    # is spaced by DOWNLOAD_DELAY and AutoThrottle, which also slows down when the portal
    # answers slowly. The rate settings can be overridden, by ``-s`` settings or the
    # ``download_delay`` argument (update_settings/from_crawler), so that tests against
    # 127.0.0.1 run fast.
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
        max_pages: int | str | None = None,
        details: bool | str = True,
        download_delay: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        given = {name: str(kwargs.pop(name, "") or "").strip() for name in self.arguments}
        name = source or self.name
        if kwargs:
            raise SpiderConfigError(f"{name}: unknown argument(s) {', '.join(sorted(kwargs))}")
        super().__init__(source=source, base_url=base_url, state=state)
        self.check_declarations()
        self.args: dict[str, str] = {}
        for arg, text in given.items():
            if text:
                try:
                    self.args[arg] = self.arguments[arg](text)
                except ValueError as exc:
                    raise SpiderConfigError(f"{self.source}: {arg} {exc}") from None
        for arg, needed in self.requires.items():
            if arg in self.args and needed not in self.args:
                raise SpiderConfigError(
                    f"{self.source}: {arg} needs {needed} (without it the listing is not "
                    f"one {needed}'s)"
                )
        try:
            self.max_pages = int(
                max_pages if max_pages not in (None, "") else self.default_max_pages
            )
            self.details = yes_no_setting(details, "details")
            delay = float(download_delay) if download_delay not in (None, "") else None
        except ValueError as exc:
            raise SpiderConfigError(
                f"{self.source}: max_pages must be a number, details true or false, "
                f"download_delay seconds ({exc})"
            ) from None
        if self.max_pages < 1:
            raise SpiderConfigError(f"{self.source}: max_pages must be at least 1")
        if delay is not None and delay < 0:
            raise SpiderConfigError(f"{self.source}: download_delay must not be negative")
        self.download_delay_s = delay
        known = self.state_in.get(self.state_key)
        self.known: dict[str, str] = known if isinstance(known, dict) else {}
        # This run: every item listed (id -> row hash), and those done (unchanged, or read).
        self.listed: dict[str, str] = {}
        self.settled: dict[str, str] = {}
        self.listing_done = False  # the listing was read to its end...
        self.listing_whole = False  # ...and not cut short by max_pages
        self.unchanged = 0
        self.details_read = 0

    @classmethod
    def check_declarations(cls) -> None:
        """The declared layout and paths must hang together (a subclass may change them)."""
        problems = [f"listing: {p}" for p in cls.listing.problems()]
        if cls.detail is not None:
            problems += [f"detail: {p}" for p in cls.detail.problems()]
            if not (cls.detail_path and cls.detail_param):
                problems.append("a detail layout without detail_path and detail_param")
        for path in (cls.listing_path, cls.detail_path):
            if path and not path.startswith("/"):
                problems.append(f"path {path!r} does not start with /")
        if not cls.listing_path:
            problems.append("listing_path is not declared")
        if cls.scope_argument and (cls.scope_argument not in cls.arguments or not cls.scope_param):
            problems.append("scope_argument is not an argument, or has no scope_param")
        for a, b in [*cls.requires.items(), *((a, a) for a in cls.payload_arguments)]:
            if a not in cls.arguments or b not in cls.arguments:
                problems.append(f"{a}/{b} in requires or payload_arguments is not an argument")
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
        delay = getattr(spider, "download_delay_s", None)
        if delay is not None:  # a source's own pace (the settings are not frozen yet)
            crawler.settings.set("DOWNLOAD_DELAY", delay, priority="spider")
            crawler.settings.set("AUTOTHROTTLE_START_DELAY", delay, priority="spider")
        return spider

    # --- URLs ----------------------------------------------------------------------------
    def listing_url(self, page: int) -> str:
        query = {self.listing.page_param: str(page)}
        if self.scope_argument and self.args.get(self.scope_argument):
            query[self.scope_param] = self.args[self.scope_argument]
        return f"{self.base_url}{self.listing_path}?{urlencode(query)}"

    def detail_url(self, item_id: str) -> str:
        return f"{self.base_url}{self.detail_path}?{urlencode({self.detail_param: item_id})}"

    # --- the listing ---------------------------------------------------------------------
    async def start(self) -> Any:
        yield self.listing_request(1)

    def listing_request(self, page: int) -> scrapy.Request:
        return scrapy.Request(
            self.listing_url(page),
            callback=self.parse_listing,
            errback=self.on_listing_error,
            meta={"page": page},
            dont_filter=True,
        )

    def parse_listing(self, response: Response) -> Iterator[Any]:
        page = int(response.meta["page"])
        self.report.pages += 1
        listing = self.listing.read(response.text)
        if listing.layout_error:
            yield self.error(
                response.url, f"listing layout changed: {listing.layout_error}", response.status,
                response.text,
            )  # fmt: skip
            return
        for position, row_html in listing.bad_rows:
            yield self.error(
                response.url,
                f"listing row without an item link ({self.listing.id_param})",
                response.status,
                row_html,
                record=f"page {page} row {position}",
            )
        for item_id, row in listing.rows:
            yield from self.consider(item_id, row, response.url)
        if listing.empty or listing.last_page is None or listing.last_page <= page:
            size = self.listing.page_size
            if size and len(listing.rows) + len(listing.bad_rows) >= size and not listing.last_page:
                self.logger.warning(
                    "%s: page %d is full and links to no next page; has the pager changed?",
                    self.source,
                    page,
                )
            self.listing_done = self.listing_whole = True
        elif page >= self.max_pages:
            self.listing_done = True
            self.logger.warning(
                "%s: stopped at page %d (max_pages); the listing goes on to page %d",
                self.source,
                page,
                listing.last_page,
            )
        else:
            yield self.listing_request(page + 1)

    def consider(self, item_id: str, row: dict[str, str], page_url: str) -> Iterator[Any]:
        """Read the item's detail page if its row is new or changed; else nothing to do."""
        if item_id in self.listed:  # listed twice in one run (the listing moved on)
            return
        digest = row_hash(row)
        self.listed[item_id] = digest
        if self.known.get(item_id) == digest:
            self.unchanged += 1
            self.settled[item_id] = digest
            return
        if self.detail is None or not self.details:
            yield self.notice(item_id, row, None, page_url)
            self.settled[item_id] = digest
            return
        yield scrapy.Request(
            self.detail_url(item_id),
            callback=self.parse_detail,
            errback=self.on_detail_error,
            meta={"item_id": item_id, "row": row, "hash": digest, "page_url": page_url},
            dont_filter=True,
        )

    # --- details -------------------------------------------------------------------------
    def parse_detail(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        self.report.pages += 1
        assert self.detail is not None
        fields = self.detail.read(response.text)
        if isinstance(fields, str):
            yield self.error(
                response.url,
                f"detail page layout changed: {fields}",
                response.status,
                response.text,
                record=meta["item_id"],
            )
            return
        self.details_read += 1
        yield self.notice(meta["item_id"], meta["row"], fields, response.url)
        self.settled[meta["item_id"]] = meta["hash"]

    def notice(
        self,
        item_id: str,
        row: dict[str, str],
        detail: dict[str, Any] | None,
        page_url: str,
        skipped: str = "",
    ) -> RawNotice:
        """The record of one item: its listing row, its detail page's fields if read."""
        payload: dict[str, Any] = {self.id_key: item_id, "listing": row}
        if detail is not None:
            payload[self.detail_key] = detail
        if skipped:
            payload[f"{self.detail_key}_skipped"] = skipped
        for arg, key in self.payload_arguments.items():  # from the configuration, not the page
            if self.args.get(arg):
                payload[key] = self.args[arg]
        self.report.notices += 1
        return RawNotice(
            source=self.source,
            format=self.record_format,
            source_id=item_id,
            url=page_url,
            notice_url=self.detail_url(item_id) if self.detail_path else None,
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

    def on_detail_error(self, failure: Failure) -> Iterator[Any]:
        meta = failure.request.meta  # type: ignore[attr-defined]
        if failure.check(IgnoreRequest) and _ROBOTS in failure.getErrorMessage().lower():
            # The portal asks robots not to read this page: keep what the listing said; the
            # item is not settled, so the page is asked for again next run.
            self.logger.info("%s: %s not read (robots.txt)", self.source, meta["item_id"])
            row, page_url = meta["row"], meta["page_url"]
            yield self.notice(meta["item_id"], row, None, page_url, skipped="robots.txt")
            return
        err = self.failure_error(failure)
        yield err.model_copy(update={"record": meta["item_id"]})

    # --- the end -------------------------------------------------------------------------
    def closed(self, reason: str) -> None:
        """Complete when the listing was read to its end and nothing failed; the state
        remembers every item that needs no reading next time."""
        self.report.complete = self.listing_done and self.report.errors == 0
        rows = dict(self.settled)
        if not self.listing_whole:  # not seen this time is not gone: keep what we knew
            rows = {**self.known, **rows}
            for item_id in self.listed:
                if item_id not in self.settled:
                    rows.pop(item_id, None)
        self.report.state = {self.state_key: rows}
        self.logger.info(
            "%s: listing %s: %d item(s) listed, %d unchanged, %d detail page(s) read, "
            "%d error(s)%s",
            self.source,
            "read to its end" if self.listing_done else "NOT read to its end",
            len(self.listed),
            self.unchanged,
            self.details_read,
            self.report.errors,
            "" if self.report.complete else " (incomplete)",
        )
