"""Contracts Finder: the website's CSV export of a search (``/Search/GetCsvFile``).

The export carries what the OCDS API does not: ``Is sub-contract``, ``Parent Reference`` and
``Supply Chain`` (prime contractors' subcontract opportunities). One RawNotice per row, format
``cf-csv-row``, payload = the row as published (header -> raw text); read by
models.formats.contracts_finder_csv, which also derives the OCID.

The file is CSV with CRLF line ends and CRLF inside quoted fields; 42 columns in 2020, 43
from 2021 (``Closing Time``). The website caps an export at 1,000 rows and exports the
search held in the visitor's session (a search form is posted first), so the live source is
off by default (sources.toml); saved exports are imported with
``bidbell import --source contracts_finder_csv FILE.csv`` through ``records_from_bytes``.

A row that cannot be a notice (no identifier, the wrong number of fields, an identifier
already seen in the same file) becomes a RawError naming the row; the others are kept.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from bidbell.clock import now_iso
from bidbell.records import RawError, RawNotice
from spiders.base import BidbellSpider, PageError

ID_COLUMN = "Notice Identifier"


def decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM); Windows-1252 for an old export that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


class ContractsFinderCsvSpider(BidbellSpider):
    name = "contracts_finder_csv"
    windowed = False
    record_format = "cf-csv-row"
    export_path: ClassVar[str] = "/Search/GetCsvFile"

    async def start(self) -> Any:
        yield scrapy.Request(
            self.base_url + self.export_path,
            callback=self.parse_export,
            errback=self.on_error,
            dont_filter=True,
        )

    @classmethod
    def read_export(cls, data: bytes, url: str, source: str) -> Iterator[RawNotice | RawError]:
        """Every row of an export -> a RawNotice, or a RawError naming the row.

        Raises PageError when the body is not a Contracts Finder CSV export at all.
        """
        text = decode(data)
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise PageError(f"not a CSV file: {exc}") from exc
        if not header or ID_COLUMN not in [h.strip() for h in header]:
            raise PageError(f"not a Contracts Finder CSV export (no {ID_COLUMN!r} column)")
        header = [h.strip() for h in header]
        fetched = now_iso()
        seen: dict[str, int] = {}
        number = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                number += 1
                yield RawError(
                    source=source,
                    url=url,
                    reason=f"unreadable CSV at line {reader.line_num}: {exc}",
                    record=f"row {number}",
                    fetched_at=fetched,
                )
                continue
            if not fields:  # a blank line between records, not a record
                continue
            number += 1
            where = f"row {number} (line {reader.line_num})"
            if len(fields) != len(header):
                yield RawError(
                    source=source,
                    url=url,
                    reason=f"{where} has {len(fields)} fields; the header has {len(header)}",
                    record=f"row {number}",
                    fetched_at=fetched,
                    body=csv_line(header, fields),
                )
                continue
            row = dict(zip(header, fields, strict=True))
            identifier = row[ID_COLUMN].strip()
            if not identifier or identifier in seen:
                reason = (
                    f"{where} has no {ID_COLUMN}"
                    if not identifier
                    else f"{where} repeats {ID_COLUMN} {identifier!r} of row {seen[identifier]}"
                )
                yield RawError(
                    source=source,
                    url=url,
                    reason=reason,
                    record=f"row {number}",
                    fetched_at=fetched,
                    body=csv_line(header, fields),
                )
                continue
            seen[identifier] = number
            yield RawNotice(
                source=source,
                format=cls.record_format,
                source_id=identifier,
                url=f"{url}#row-{number}",
                fetched_at=fetched,
                payload=row,
            )

    @classmethod
    def records_from_bytes(
        cls, data: bytes, url: str, source: str, params: dict[str, Any] | None = None
    ) -> Iterator[RawNotice | RawError]:
        """A saved export file -> the same records a crawl of it would give."""
        try:
            yield from cls.read_export(data, url, source)
        except PageError as exc:
            yield RawError(
                source=source,
                url=url,
                reason=str(exc),
                fetched_at=now_iso(),
                body=decode(data[:100_000]),
            )

    def parse_export(self, response: Response) -> Iterator[Any]:
        self.report.pages += 1
        try:
            for record in self.read_export(response.body, response.url, self.source):
                if isinstance(record, RawError):
                    self.report.errors += 1
                    self.report.failures.append(record.reason)
                    self.logger.error("%s: %s at %s", self.source, record.reason, record.url)
                else:
                    self.report.notices += 1
                yield record
        except PageError as exc:
            yield self.error(
                response.url, str(exc), response.status, response.body.decode("utf-8", "replace")
            )
            return
        # Row errors are kept as RawErrors; the export itself was read to the end.
        self.report.complete = True
        self.logger.info("%s: export read: %d row(s)", self.source, self.report.notices)

    def on_error(self, failure: Failure) -> Iterator[RawError]:
        yield self.failure_error(failure)


def csv_line(header: list[str], fields: list[str]) -> str:
    """A row back as one CSV record (with its header), to keep in a RawError."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerow(fields)
    return out.getvalue()
