"""Small declarative base classes. A source file sets class attributes; the base does the work.

- ``BidbellSpider``: what every spider shares: the configured source name and base URL,
  a report of what was done (for the caller's checkpoint), errors as RawError records.
- ``OcdsReleasePackageSpider``: APIs that answer OCDS release packages for a date window
  and page through ``links.next`` (Find a Tender, Contracts Finder...).
- ``ConditionalGetSpider``: one document fetched with a conditional GET (ETag /
  Last-Modified carried from run to run, ``Validators``): feeds.
- ``spiders.listing_detail.ListingDetailSpider``: web portals listed page by page, each
  item's detail page read only when its listing row is new or changed (ProContract).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from bidbell.clock import UK, now_iso, parse_iso
from bidbell.jsoncodec import (
    MAX_RECORD_DEPTH,
    JsonTooDeep,
    loads_tolerant,
    nesting_depth,
    split_members,
)
from bidbell.records import RawError, RawNotice


def dumps_for_error(value: Any) -> str:
    """A value as JSON text to keep with its rejection (never raises)."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return repr(value)[:100_000]


class SpiderConfigError(ValueError):
    """The spider was configured in a way that cannot work."""


class PageError(ValueError):
    """A page that cannot be used (not JSON, not a release package...)."""


def parse_range(source: str, updated_from: str, updated_to: str) -> tuple[datetime, datetime]:
    """The [from, to) range a windowed spider was asked for, checked."""
    if not updated_from or not updated_to:
        raise SpiderConfigError(f"{source}: updated_from and updated_to are required")
    try:
        start, end = parse_iso(updated_from), parse_iso(updated_to)
    except ValueError as exc:
        raise SpiderConfigError(f"{source}: {exc}") from None
    if start >= end:
        raise SpiderConfigError(
            f"{source}: updated_from {updated_from} is not before updated_to {updated_to}"
        )
    return start, end


@dataclass
class Window:
    start: datetime
    end: datetime
    status: str = "pending"  # pending | complete | failed
    pages: int = 0
    notices: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "status": self.status,
            "pages": self.pages,
            "notices": self.notices,
            "error": self.error,
        }


@dataclass
class CrawlReport:
    """What a crawl did. Windowed spiders fill ``windows``; the others set ``complete``."""

    windows: list[Window] = field(default_factory=list)
    complete: bool = False
    errors: int = 0
    notices: int = 0
    pages: int = 0
    state: dict[str, Any] = field(default_factory=dict)  # carried to the next run
    failures: list[str] = field(default_factory=list)


class BidbellSpider(scrapy.Spider):
    """Base of every spider. Arguments: ``source`` (configured name), ``base_url``."""

    # True: the caller passes updated_from/updated_to and checkpoints by window.
    windowed: ClassVar[bool] = False
    # Record format of the RawNotices this spider yields (models.normalise.FORMATS).
    record_format: ClassVar[str] = "ocds-release"

    def __init__(self, source: str = "", base_url: str = "", state: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.source = source or self.name
        if not base_url.startswith(("http://", "https://")):
            raise SpiderConfigError(
                f"{self.source}: base_url must be an http(s) URL, got {base_url!r}"
            )
        self.base_url = base_url.rstrip("/")
        try:
            self.state_in: dict[str, Any] = json.loads(state) if state else {}
        except ValueError as exc:
            raise SpiderConfigError(f"{self.source}: state is not JSON: {exc}") from exc
        self.report = CrawlReport()

    def error(
        self,
        url: str,
        reason: str,
        status: int | None = None,
        body: str = "",
        record: str | None = None,
    ) -> RawError:
        """A RawError for this source, logged and counted."""
        self.report.errors += 1
        self.report.failures.append(reason)
        self.logger.error("%s: %s at %s", self.source, reason, url)
        return RawError(
            source=self.source,
            url=url,
            reason=reason,
            status=status,
            record=record,
            fetched_at=now_iso(),
            body=body,
        )

    def failure_error(self, failure: Failure) -> RawError:
        """A RawError from a failed request (HTTP error after retries, timeout, refused)."""
        request = failure.request  # type: ignore[attr-defined]
        if failure.check(HttpError):
            response = failure.value.response  # type: ignore[union-attr]
            return self.error(
                request.url,
                f"HTTP {response.status}",
                response.status,
                response.body.decode("utf-8", "replace"),
            )
        name = getattr(failure.type, "__name__", "error")
        return self.error(request.url, f"{name}: {failure.getErrorMessage()}")


class OcdsReleasePackageSpider(BidbellSpider):
    """Windows of ``updated_from``..``updated_to``, each paged through ``links.next``.

    Arguments: ``base_url``, ``updated_from``, ``updated_to`` (ISO 8601; naive means UK
    local time), ``window_hours``, ``limit``.
    """

    windowed = True
    # --- declared by each source type ----------------------------------------------------
    endpoint: ClassVar[str] = ""
    from_param: ClassVar[str] = ""
    to_param: ClassVar[str] = ""
    limit_param: ClassVar[str] = "limit"
    max_limit: ClassVar[int] = 100
    # The API wants UK local time with no zone designator.
    date_format: ClassVar[str] = "%Y-%m-%dT%H:%M:%S"
    extra_params: ClassVar[dict[str, str]] = {}
    # True: send the window's dates as UK local time with the offset in effect ("Z" in GMT,
    # "+01:00" in BST), for APIs that read the zone (Contracts Finder); date_format is unused.
    date_with_offset: ClassVar[bool] = False
    # Optional filters taken from spider arguments (sources.toml params): argument -> API
    # parameter, sent only when given; and, where the API has a fixed vocabulary, the values
    # each argument accepts (comma-separated lists are checked item by item).
    filter_params: ClassVar[dict[str, str]] = {}
    filter_values: ClassVar[dict[str, frozenset[str]]] = {}
    # Where a person reads a release ({id}: the release id); None if the source has no page.
    notice_url_template: ClassVar[str | None] = None
    # When the page's id is only part of the release id: a regex whose first group is the
    # {id} for notice_url_template; a release id it does not match gets no notice_url.
    notice_id_pattern: ClassVar[str | None] = None

    def __init__(
        self,
        source: str = "",
        base_url: str = "",
        updated_from: str = "",
        updated_to: str = "",
        window_hours: float | str = 3,
        limit: int | str = 100,
        **kwargs: Any,
    ) -> None:
        filters = {arg: str(kwargs.pop(arg, "") or "").strip() for arg in self.filter_params}
        super().__init__(source=source, base_url=base_url, **kwargs)
        self.filters: dict[str, str] = {}
        for arg, value in filters.items():
            if not value:
                continue
            allowed = self.filter_values.get(arg)
            items = [v.strip() for v in value.split(",") if v.strip()]
            bad = [v for v in items if allowed is not None and v not in allowed]
            if bad:
                raise SpiderConfigError(
                    f"{self.source}: {arg} {', '.join(bad)} not one of "
                    f"{', '.join(sorted(allowed or ()))}"
                )
            self.filters[self.filter_params[arg]] = ",".join(items)
        missing = [a for a in ("endpoint", "from_param", "to_param") if not getattr(self, a)]
        if missing:
            raise SpiderConfigError(f"{type(self).__name__} does not declare {', '.join(missing)}")
        self.updated_from, self.updated_to = parse_range(self.source, updated_from, updated_to)
        self.window = timedelta(hours=float(window_hours))
        if self.window <= timedelta(0):
            raise SpiderConfigError(f"{self.source}: window_hours must be positive")
        self.limit = int(limit)
        if not 1 <= self.limit <= self.max_limit:
            raise SpiderConfigError(
                f"{self.source}: limit must be 1..{self.max_limit}, got {limit}"
            )
        self.report.windows = self._windows()
        self.pages_read: dict[int, set[str]] = {}  # window -> URLs read (cursor loops)

    # --- windows -------------------------------------------------------------------------
    def _windows(self) -> list[Window]:
        out, start = [], self.updated_from
        while start < self.updated_to:
            end = min(start + self.window, self.updated_to)
            out.append(Window(start, end))
            start = end
        return out

    def _fmt(self, dt: datetime) -> str:
        local = dt.astimezone(UK)
        if self.date_with_offset:
            text = local.isoformat(timespec="seconds")
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return local.strftime(self.date_format)

    def window_url(self, w: Window) -> str:
        params = {
            self.from_param: self._fmt(w.start),
            self.to_param: self._fmt(w.end),
            self.limit_param: str(self.limit),
            **self.extra_params,
            **self.filters,
        }
        return f"{self.base_url}{self.endpoint}?{urlencode(params)}"

    async def start(self) -> Any:
        for i, w in enumerate(self.report.windows):
            yield scrapy.Request(
                self.window_url(w),
                callback=self.parse_page,
                errback=self.on_error,
                meta={"window": i},
                dont_filter=True,
            )

    # --- pages ---------------------------------------------------------------------------
    @classmethod
    def read_package(
        cls, body: bytes | str, url: str, source: str
    ) -> tuple[list[RawNotice | RawError], str | None]:
        """One page (or saved file) -> its records and the next page's URL.

        Raises PageError when the page as a whole is unusable; a bad record inside a good
        page becomes a RawError and the others are kept.
        """
        fetched = now_iso()
        try:
            package = loads_tolerant(body)
        except JsonTooDeep:
            # One release nested absurdly deep must not cost the others on the page: read
            # the page's releases one by one.
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            parts = split_members(text, "releases")
            if parts is None:
                raise PageError("malformed page: JSON nested too deeply to read") from None
            others, raw_releases = parts
            records = [
                cls.record_from_raw(raw, url, position, fetched, source)
                for position, raw in enumerate(raw_releases)
            ]
            return records, cls.next_link(others)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PageError(f"malformed page: {exc}") from exc
        if not isinstance(package, dict) or not isinstance(package.get("releases"), list):
            raise PageError("not an OCDS release package (no 'releases' list)")
        records = [
            cls.notice_from_release(release, url, position, fetched, source)
            for position, release in enumerate(package["releases"])
        ]
        return records, cls.next_link(package)

    @classmethod
    def record_from_raw(
        cls, raw: str | bytes, url: str, position: int, fetched: str, source: str
    ) -> RawNotice | RawError:
        """One release's own JSON text -> its record, or a RawError with that text when it
        cannot be read (the releases beside it are read on their own)."""
        try:
            release = loads_tolerant(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            return cls.record_error(source, url, position, fetched, str(exc), text)
        return cls.notice_from_release(release, url, position, fetched, source)

    @staticmethod
    def next_link(package: dict[str, Any]) -> str | None:
        links = package.get("links")
        nxt = links.get("next") if isinstance(links, dict) else None
        return nxt if isinstance(nxt, str) and nxt.strip() else None

    @staticmethod
    def record_error(
        source: str, url: str, position: int, fetched_at: str, reason: str, body: str
    ) -> RawError:
        return RawError(
            source=source,
            url=url,
            reason=reason,
            record=f"#{position}",
            fetched_at=fetched_at,
            body=body,
        )

    @classmethod
    def notice_from_release(
        cls, release: Any, url: str, position: int, fetched_at: str, source: str
    ) -> RawNotice | RawError:
        if isinstance(release, dict) and nesting_depth(release) > MAX_RECORD_DEPTH:
            body = dumps_for_error(release)
            reason = f"release nested more than {MAX_RECORD_DEPTH} deep: not a record we can keep"
            return cls.record_error(source, url, position, fetched_at, reason, body)
        rid = cls.release_id(release) if isinstance(release, dict) else None
        if not isinstance(release, dict) or not rid:
            return cls.record_error(
                source, url, position, fetched_at, cls.missing_id_reason, dumps_for_error(release)
            )
        return RawNotice(
            source=source,
            format=cls.record_format,
            source_id=rid,
            ocid=release.get("ocid") if isinstance(release.get("ocid"), str) else None,
            url=url,
            notice_url=cls.notice_url_of(release, rid),
            fetched_at=fetched_at,
            payload=release,
        )

    # Hooks for publishers whose releases name themselves differently.
    missing_id_reason: ClassVar[str] = "release without an id"

    @classmethod
    def release_id(cls, release: dict[str, Any]) -> str | None:
        rid = release.get("id")
        if isinstance(rid, bool) or not isinstance(rid, str | int):
            return None
        text = str(rid).strip()
        return text if 0 < len(text) <= 256 else None

    @classmethod
    def notice_url_of(cls, release: dict[str, Any], release_id: str) -> str | None:
        return cls.notice_url_for(release_id)

    @classmethod
    def notice_url_for(cls, release_id: str) -> str | None:
        """Where a person reads the release, from notice_url_template (None if unknown)."""
        if not cls.notice_url_template:
            return None
        if cls.notice_id_pattern:
            m = re.match(cls.notice_id_pattern, release_id)
            if not m:
                return None
            release_id = m.group(1)
        return cls.notice_url_template.format(id=release_id)

    def parse_page(self, response: Response) -> Iterator[Any]:
        w = self.report.windows[response.meta["window"]]
        w.pages += 1
        self.report.pages += 1
        try:
            records, next_url = self.read_package(response.body, response.url, self.source)
        except PageError as exc:
            w.status, w.error = "failed", str(exc)
            yield self.error(
                response.url, str(exc), response.status, response.body.decode("utf-8", "replace")
            )
            return
        for record in records:
            if isinstance(record, RawError):
                self.report.errors += 1
                self.logger.error(
                    "%s: %s (%s at %s)", self.source, record.reason, record.record, record.url
                )
            else:
                w.notices += 1
                self.report.notices += 1
            yield record
        seen = self.pages_read.setdefault(response.meta["window"], set())
        seen.add(response.url)
        follow = response.urljoin(next_url) if next_url else None
        if follow and follow in seen:
            # A cursor that points back to a page already read (seen: links.next to itself)
            # would be followed until the crawl's time limit. The page was read; say so.
            yield self.error(
                response.url,
                f"links.next points to a page already read in this window ({follow}); "
                "stopped following it",
                response.status,
            )
            follow = None
        if follow:
            yield scrapy.Request(
                follow,
                callback=self.parse_page,
                errback=self.on_error,
                meta={"window": response.meta["window"]},
                dont_filter=True,
            )
        else:
            w.status = "complete"
            self.logger.log(
                logging.INFO if w.notices else logging.DEBUG,
                "%s: window %s..%s complete: %d page(s), %d notice(s)",
                self.source,
                self._fmt(w.start),
                self._fmt(w.end),
                w.pages,
                w.notices,
            )

    def on_error(self, failure: Failure) -> Iterator[RawError]:
        w = self.report.windows[failure.request.meta["window"]]  # type: ignore[attr-defined]
        err = self.failure_error(failure)
        w.status, w.error = "failed", err.reason
        yield err


# --- conditional GET -------------------------------------------------------------------------
@dataclass(frozen=True)
class Validators:
    """What a server said about one document (``ETag``, ``Last-Modified``), to ask it next
    time "changed since?" (a conditional GET). Carried in a spider's state as ``{"url",
    "etag", "last_modified"}``; validators are sent only to the URL that gave them."""

    url: str
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def carried(cls, state: Mapping[str, Any], url: str) -> Self:
        """The validators a previous run kept for ``url`` (none if they were for another)."""
        if state.get("url") != url:
            return cls(url)
        etag, modified = state.get("etag"), state.get("last_modified")
        return cls(
            url,
            etag if isinstance(etag, str) and etag else None,
            modified if isinstance(modified, str) and modified else None,
        )

    @classmethod
    def of(cls, response: Response, url: str) -> Self:
        """The validators a response sent for the document at ``url`` (the URL asked for,
        which a redirect does not change)."""

        def header(name: bytes) -> str | None:
            value = response.headers.get(name)
            return value.decode("latin-1") if value else None

        return cls(url, header(b"ETag"), header(b"Last-Modified"))

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out

    def as_state(self) -> dict[str, str | None]:
        # Every key, None included: the caller merges states, and a validator the server no
        # longer sends must not survive from an older run.
        return {"url": self.url, "etag": self.etag, "last_modified": self.last_modified}


class ConditionalGetSpider(BidbellSpider):
    """A document fetched with a conditional GET, its validators carried in ``state``.

    ``conditional_request`` sends the last run's ``If-None-Match`` / ``If-Modified-Since``
    (for that URL only); ``not_modified`` handles a 304 (nothing to read, the crawl is
    complete, the validators are kept). After reading a body, the spider keeps the new
    validators (``keep_new_validators``) only when it read the body in full; after a bad
    body it keeps the old ones (``keep_old_validators``), so the next run asks again rather
    than being told "not modified" about a document it never read."""

    def conditional_request(
        self, url: str, callback: Callable[..., Any], errback: Callable[..., Any]
    ) -> scrapy.Request:
        old = Validators.carried(self.state_in, url)
        return scrapy.Request(
            url,
            headers=old.headers(),
            callback=callback,
            errback=errback,
            meta={"handle_httpstatus_list": [304], "validators": old},
            dont_filter=True,
        )

    def not_modified(self, response: Response) -> bool:
        """True (and the crawl complete, the validators kept) if the server answered 304."""
        if response.status != 304:
            return False
        self.logger.info("%s: not modified since the last run", self.source)
        self.keep_old_validators(response)
        self.report.complete = True
        return True

    def keep_old_validators(self, response: Response) -> None:
        old = self._sent(response)
        self.report.state = old.as_state() if old else {}

    def keep_new_validators(self, response: Response) -> None:
        self.report.state = Validators.of(response, self._sent(response).url).as_state()

    def _sent(self, response: Response) -> Validators:
        """The validators the request carried (a response made without conditional_request,
        as a test or a saved file: the carried state's for its URL)."""
        sent = response.meta.get("validators")
        return (
            sent
            if isinstance(sent, Validators)
            else Validators.carried(self.state_in, response.url)
        )
