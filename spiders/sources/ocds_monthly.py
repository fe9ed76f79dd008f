"""OCDS publishers that answer one release package per month and notice type: the
Proactis-run national portals, Public Contracts Scotland and Sell2Wales.

API: ``GET {base_url}/v1/Notices?dateFrom=mm-yyyy&noticeType=N&outputType=0[&locale=2057]``
(see ../shared/fixtures/api-docs/sell2wales_api_how_to_capture.txt; PCS answers the same
shape at api.publiccontractsscotland.gov.uk). ``dateFrom`` names a month, not an instant, so
the caller's ``updated_from``..``updated_to`` becomes one window per calendar month (UK
local time), and each window asks once per configured notice type. A window is complete
only when every notice type's package for that month arrived, so the checkpoint never
moves past a month with a missing type. A month is asked for whole each time (the API
cannot say "since"); the store recognises the releases it already has.

A new publisher of this kind is a sources.toml entry (type ``ocds_monthly``) with params:
  notice_types             comma-separated noticeType codes to ask for (default "2")
  subcontract_notice_types codes whose notices are sub-contract work (Sell2Wales: 54,55,56)
  locale                   optional ``locale`` parameter (2057 English, 1106 Welsh)
  notice_url_template      optional; placeholders {id} (release id), {ocid}, {notice_id}
                           (the id of the release's notice document). Without it, the
                           notice document's own ``url`` (the portal's notice page) is used.

Each RawNotice's payload is the release as published plus one key added by us,
``x_bidbell`` = ``{"noticeType": "54", "subcontract": true}`` ("subcontract" only for the
sub-contract types): the release does not say which notice type the query was for, and
models.normalise reads ``subcontract`` into ``is_subcontract``. Public Contracts Scotland
publishes releases without an ``id``: the record id is then ``<ocid>-<notice document id>``
(bidbell.ids.release_id), the same rule the reader uses. Records are in the Proactis OCDS
dialect (format ``ocds-proactis``, models.formats.ocds: "Z" times are UK local time).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from bidbell.clock import UK
from bidbell.ids import BIDBELL_KEY, notice_document, release_id
from bidbell.records import RawError, RawNotice
from spiders.base import (
    BidbellSpider,
    OcdsReleasePackageSpider,
    PageError,
    SpiderConfigError,
    Window,
    parse_range,
)


def parse_codes(value: Any) -> list[str]:
    """'2,54' or '[2, 54]' (how sources.toml lists arrive as spider arguments) -> ['2', '54']."""
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        text = str(value or "").strip()
        if text.startswith("["):
            try:
                items = [str(v) for v in json.loads(text)]
            except ValueError as exc:
                raise SpiderConfigError(f"not a list of codes: {text!r}") from exc
        else:
            items = text.split(",")
    codes = [i.strip() for i in items if i.strip()]
    bad = [c for c in codes if not re.fullmatch(r"\d{1,3}", c)]
    if bad:
        raise SpiderConfigError(f"notice type codes must be numbers, got {', '.join(bad)}")
    return codes


def _month_start(dt: datetime) -> datetime:
    local = dt.astimezone(UK)
    return datetime(local.year, local.month, 1, tzinfo=UK)


def _next_month(m: datetime) -> datetime:
    return datetime(m.year + (m.month == 12), m.month % 12 + 1, 1, tzinfo=UK)


class OcdsMonthlySpider(OcdsReleasePackageSpider):
    name = "ocds_monthly"
    record_format = "ocds-proactis"
    endpoint = "/v1/Notices"
    from_param = "dateFrom"
    date_format = "%m-%Y"
    extra_params = {"outputType": "0"}  # 0: OCDS (1 would be TED/custom)

    def __init__(
        self,
        source: str = "",
        base_url: str = "",
        updated_from: str = "",
        updated_to: str = "",
        notice_types: str = "2",
        subcontract_notice_types: str = "",
        locale: str = "",
        notice_url_template: str = "",
        **kwargs: Any,
    ) -> None:
        # The parent's __init__ is for from/to/limit APIs; this one has months, not a limit.
        BidbellSpider.__init__(self, source=source, base_url=base_url, **kwargs)
        try:
            self.notice_types = parse_codes(notice_types)
            self.subcontract_types = set(parse_codes(subcontract_notice_types))
        except SpiderConfigError as exc:
            raise SpiderConfigError(f"{self.source}: {exc}") from None
        if not self.notice_types:
            raise SpiderConfigError(f"{self.source}: notice_types is empty")
        if locale and not str(locale).isdigit():
            raise SpiderConfigError(f"{self.source}: locale must be a number, got {locale!r}")
        self.locale = str(locale)
        if notice_url_template and not notice_url_template.startswith(("http://", "https://")):
            raise SpiderConfigError(f"{self.source}: notice_url_template must be an http(s) URL")
        self.url_template = notice_url_template or None
        try:
            (self.url_template or "").format(id="x", ocid="x", notice_id="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise SpiderConfigError(
                f"{self.source}: notice_url_template may use {{id}}, {{ocid}}, {{notice_id}} "
                f"only ({exc!r})"
            ) from None
        self.updated_from, self.updated_to = parse_range(self.source, updated_from, updated_to)
        self.report.windows = self._windows()
        # requests still to finish per window (one chain per notice type)
        self._open = {i: len(self.notice_types) for i in range(len(self.report.windows))}

    # --- windows: calendar months in UK local time ---------------------------------------
    def _windows(self) -> list[Window]:
        out, month = [], _month_start(self.updated_from)
        while month < self.updated_to:
            nxt = _next_month(month)
            out.append(Window(max(month, self.updated_from), min(nxt, self.updated_to)))
            month = nxt
        return out

    def month_url(self, w: Window, notice_type: str) -> str:
        params = {
            self.from_param: self._fmt(w.start),
            "noticeType": notice_type,
            **self.extra_params,
        }
        if self.locale:
            params["locale"] = self.locale
        return f"{self.base_url}{self.endpoint}?{urlencode(params)}"

    async def start(self) -> Any:
        for i, w in enumerate(self.report.windows):
            for ntype in self.notice_types:
                yield scrapy.Request(
                    self.month_url(w, ntype),
                    callback=self.parse_page,
                    errback=self.on_error,
                    meta={"window": i, "notice_type": ntype},
                    dont_filter=True,
                )

    # --- records ---------------------------------------------------------------------------
    missing_id_reason = "release without an id (and no notice document to name it)"

    @classmethod
    def release_id(cls, release: dict[str, Any]) -> str | None:
        return release_id(release)

    @classmethod
    def notice_url_of(cls, release: dict[str, Any], release_id: str) -> str | None:
        page = (notice_document(release) or {}).get("url")
        return page if isinstance(page, str) and page.startswith("http") else None

    def stamp(self, record: RawNotice, notice_type: str) -> RawNotice:
        """The record with the query's notice type (and sub-contract flag) under x_bidbell."""
        ours: dict[str, Any] = {"noticeType": notice_type}
        if notice_type in self.subcontract_types:
            ours["subcontract"] = True
        notice_url = record.notice_url
        doc = notice_document(record.payload)
        if self.url_template and (doc or "{notice_id}" not in self.url_template):
            notice_url = self.url_template.format(
                id=record.source_id, ocid=record.ocid or "", notice_id=(doc or {}).get("id", "")
            )
        return record.model_copy(
            update={"payload": {**record.payload, BIDBELL_KEY: ours}, "notice_url": notice_url}
        )

    # --- pages -----------------------------------------------------------------------------
    def _finish(self, i: int) -> None:
        self._open[i] -= 1
        w = self.report.windows[i]
        if self._open[i] == 0 and w.status == "pending":
            w.status = "complete"
            self.logger.log(
                logging.INFO if w.notices else logging.DEBUG,
                "%s: month %s complete: %d page(s), %d notice(s)",
                self.source,
                self._fmt(w.start),
                w.pages,
                w.notices,
            )

    def parse_page(self, response: Response) -> Iterator[Any]:
        i, ntype = response.meta["window"], response.meta["notice_type"]
        w = self.report.windows[i]
        w.pages += 1
        self.report.pages += 1
        try:
            records, next_url = self.read_package(response.body, response.url, self.source)
        except PageError as exc:
            w.status, w.error = "failed", f"noticeType {ntype}: {exc}"
            yield self.error(
                response.url, str(exc), response.status, response.body.decode("utf-8", "replace")
            )
            self._finish(i)
            return
        for record in records:
            if isinstance(record, RawError):
                self.report.errors += 1
                self.logger.error(
                    "%s: %s (%s at %s)", self.source, record.reason, record.record, record.url
                )
                yield record
            else:
                w.notices += 1
                self.report.notices += 1
                yield self.stamp(record, ntype)
        if next_url:  # the API has not been seen to page, but a package may say so
            yield response.follow(
                next_url,
                callback=self.parse_page,
                errback=self.on_error,
                meta={"window": i, "notice_type": ntype},
                dont_filter=True,
            )
        else:
            self._finish(i)

    def on_error(self, failure: Failure) -> Iterator[RawError]:
        meta = failure.request.meta  # type: ignore[attr-defined]
        w = self.report.windows[meta["window"]]
        err = self.failure_error(failure)
        w.status, w.error = "failed", f"noticeType {meta['notice_type']}: {err.reason}"
        self._finish(meta["window"])
        yield err
