"""Polite retries: honour Retry-After on 429/503, back off exponentially where it is missing.

Scrapy's own RetryMiddleware retries at once and ignores Retry-After; Find a Tender asks
clients to wait the given seconds and also rate-limits without the header.

Some sources name a wait for a status instead (Contracts Finder: 403 "Request forbidden"
means wait five minutes). A spider declares them as ``status_waits = {403: 300}``; those
statuses are retried after that wait (a Retry-After header still wins), not capped by
BIDBELL_BACKOFF_MAX. The setting BIDBELL_STATUS_WAITS (JSON object, e.g. '{"403": 0.5}')
overrides the spider's table, for tests and operations.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.error import (
    ConnectError,
    ConnectionDone,
    ConnectionLost,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.internet.task import deferLater
from twisted.web._newclient import ResponseFailed

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 503, 500, 502, 504, 408}
RETRY_EXCEPTIONS = (
    TimeoutError,
    TCPTimedOutError,
    ConnectError,
    ConnectionDone,
    ConnectionLost,
    DNSLookupError,
    ResponseFailed,
    OSError,
)


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryAfterMiddleware:
    def __init__(
        self,
        crawler: Crawler,
        retry_times: int,
        backoff_base: float,
        backoff_max: float,
        status_waits: dict[Any, Any] | None = None,
    ) -> None:
        self.crawler = crawler
        self.retry_times = retry_times
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.status_waits_override = {int(k): float(v) for k, v in (status_waits or {}).items()}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryAfterMiddleware:
        s = crawler.settings
        return cls(
            crawler,
            s.getint("BIDBELL_RETRY_TIMES", 5),
            s.getfloat("BIDBELL_BACKOFF_BASE", 5.0),
            s.getfloat("BIDBELL_BACKOFF_MAX", 300.0),
            s.getdict("BIDBELL_STATUS_WAITS"),
        )

    def status_waits(self) -> dict[int, float]:
        """Status -> seconds to wait before retrying: the spider's table, then the setting."""
        declared = getattr(self.crawler.spider, "status_waits", None) or {}
        return {**{int(k): float(v) for k, v in declared.items()}, **self.status_waits_override}

    def _delay(self, attempt: int, header: float | None) -> float:
        wait = header if header is not None else self.backoff_base * (2 ** (attempt - 1))
        return min(wait, self.backoff_max)

    async def _retry(
        self, request: Request, why: str, header: float | None, fixed: float | None = None
    ) -> Request | None:
        spider = self.crawler.spider
        assert spider is not None
        attempt = request.meta.get("bidbell_retries", 0) + 1
        if attempt > self.retry_times:
            spider.logger.warning(
                "giving up on %s after %d retries (%s)", request.url, attempt - 1, why
            )
            return None
        if fixed is not None and header is None:
            delay, how = fixed, "the source's wait for this status"
        else:
            delay = self._delay(attempt, header)
            how = "Retry-After" if header is not None else "backoff"
        spider.logger.info(
            "%s at %s; waiting %.1fs (%s) before retry %d/%d",
            why,
            request.url,
            delay,
            how,
            attempt,
            self.retry_times,
        )
        if self.crawler.stats:
            self.crawler.stats.inc_value(f"bidbell/retry/{why.split(':')[0]}")
        # Wait without blocking the reactor: other windows go on meanwhile.
        await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))
        retry = request.replace(dont_filter=True)
        retry.meta["bidbell_retries"] = attempt
        return retry

    async def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Any:
        waits = self.status_waits()
        if request.meta.get("dont_retry") or (
            response.status not in RETRY_STATUSES and response.status not in waits
        ):
            return response
        header = retry_after_seconds(response.headers.get(b"Retry-After"))
        retry = await self._retry(
            request, f"HTTP {response.status}", header, waits.get(response.status)
        )
        return retry or response

    async def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> Any:
        if not isinstance(exception, RETRY_EXCEPTIONS) or request.meta.get("dont_retry"):
            return None
        return await self._retry(request, type(exception).__name__, None)
