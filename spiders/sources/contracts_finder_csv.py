"""Contracts Finder: the website's CSV export of a search (``/Search/GetCsvFile``).

The export carries what the OCDS API does not: ``Is sub-contract``, ``Parent Reference`` and
``Supply Chain`` (prime contractors' subcontract opportunities). One RawNotice per row, format
``cf-csv-row``, payload = the row as published (header -> raw text); read by
models.formats.contracts_finder_csv, which also derives the OCID.

The file is CSV with CRLF line ends and CRLF inside quoted fields; 42 columns in 2020, 43
from 2021 (``Closing Time``). The website caps an export at 1,000 rows and exports the
search held in the visitor's session (a search form is posted first), so the live source is
off by default (sources.toml); saved exports are imported with
``bidbell import --source contracts_finder_csv FILE.csv`` through ``records_from_stream``.

Columns. ``REQUIRED_COLUMNS`` are the ones models.formats.contracts_finder_csv reads that
every export has (2020 and 2021 alike). A file whose header lacks one of them (renamed,
misspelt, dropped) is refused whole: one RawError naming the missing columns and the file,
no row read, because otherwise every row would be stored with that field blank (a renamed
``Closing Date`` blanks every deadline). ``OPTIONAL_COLUMNS`` (``Closing Time``, exports from
2021 on) may be absent. A header naming a column twice is refused too (one of the two would
be lost). Other columns are kept in the payload as published and not read.
tests/models/formats keeps these two lists equal to what the format reader reads.

Reading, record by record, never the whole file at once:

- Records are split on the raw bytes with the csv module's own quoting rules (a line break
  inside a quoted field belongs to the field), so memory is bounded by one record
  (``MAX_RECORD_BYTES``) however large the file is.
- Decoding is per record: UTF-8 wherever the bytes are valid UTF-8; a byte that is not
  (a stray Windows-1252 "£" = 0xA3 from an old export or a hand edit) is read as
  Windows-1252, in that record only, and counted in the log. The rows beside it keep their
  UTF-8 "£". A whole Windows-1252 file (old exports) reads the same way, every record.
- A record longer than ``MAX_RECORD_BYTES`` (the largest row of the real 2020 export is
  7 KB) is rejected as a RawError naming row and lines, saying how big it was and keeping
  its first ``KEPT_BYTES``; the reader skips to its end and reads the rows after it.

A row that cannot be a notice (no identifier, the wrong number of fields, an identifier
already seen in the same file, unreadable CSV, a NUL byte, a quoted field still open at the
end of the file) becomes a RawError naming the row, its raw text kept as the body (a NUL
written ``\x00``); the others are kept. Whatever the bytes, reading yields RawNotice or
RawError records and raises nothing but HeaderError (a PageError), before any record, for a
file that is not an export this reader can use; ``records_from_stream`` turns that into one
RawError with ``record`` None, the only record of that file.

The one damage that can cost other rows: CSV has no mark to find the next record by, so a
stray byte just before the opening quote of a field that holds a line break (``,X"two
lines"``) makes that quote text, as the csv module reads it; the row ends at the field's
line break, and the field's closing quote opens a field that runs to the next quote,
taking the rows in between with it (each refused, none lost silently). Reading quotes
by count instead would keep those rows but lose others to any quote byte inside
multi-byte text (a UTF-16 row, "•" is 0x22 0x20), which is worse.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar
from urllib.parse import unquote, urlsplit

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from bidbell.clock import now_iso
from bidbell.records import RawError, RawNotice
from spiders.base import BidbellSpider, PageError

log = logging.getLogger(__name__)

ID_COLUMN = "Notice Identifier"
# What models.formats.contracts_finder_csv reads; a file without one of these is refused.
REQUIRED_COLUMNS: tuple[str, ...] = (
    ID_COLUMN,
    "Notice Type",
    "Status",
    "Organisation Name",
    "Published Date",
    "Title",
    "Description",
    "Nationwide",
    "Region",
    "Cpv Codes",
    "Contact Postcode",
    "Links",
    "Closing Date",
    "Is sub-contract",
    "Parent Reference",
    "Suitable for SME",
    "Suitable for VCO",
    "Supply Chain",
    "Value Low",
    "Value High",
)
# Read when present: exports from 2021 on add the closing time of day.
OPTIONAL_COLUMNS: tuple[str, ...] = ("Closing Time",)

MAX_RECORD_BYTES = 1 << 20  # one row; the real 2020 export's largest is 7 KB
KEPT_BYTES = 64 << 10  # what a rejected oversized row keeps of itself
READ_BYTES = 64 << 10  # read size: a 10 MB line is read in pieces, never whole
BOM = codecs.BOM_UTF8

# Quoting states, as the csv module's reader has them (strict=False, doublequote=True).
_FIELD, _QUOTED, _QUOTE_IN_QUOTED = 0, 1, 2  # _FIELD: outside quotes (start of or in a field)


class HeaderError(PageError):
    """The file is not an export this reader can use; ``body`` is (the start of) its first
    line as read."""

    def __init__(self, reason: str, body: str = "") -> None:
        super().__init__(reason)
        self.body = body[:KEPT_BYTES]


@dataclass
class Chunk:
    """One CSV record's bytes as split from the file (line break included)."""

    data: bytes  # the whole record, or only its first KEPT_BYTES when oversized
    first_line: int
    last_line: int
    size: int  # bytes in the file
    oversized: bool = False
    open_quote: bool = False  # the file ended inside a quoted field

    @property
    def lines(self) -> str:
        if self.last_line == self.first_line:
            return f"line {self.first_line}"
        return f"lines {self.first_line}-{self.last_line}"


def _scan(piece: bytes, state: int, start_of_field: bool) -> tuple[int, bool]:
    """The quoting state after ``piece`` (part of one line), given the state before it.

    ``start_of_field``: outside quotes, the next byte starts a field (a ``"`` there opens a
    quoted field; anywhere else in an unquoted field it is an ordinary character, as in the
    csv module). Only quotes and commas are looked at, with bytes.find: fast on long lines.
    """
    i, n = 0, len(piece)
    while i < n:
        if state == _QUOTED:
            j = piece.find(b'"', i)
            if j < 0:
                return _QUOTED, False
            state, i = _QUOTE_IN_QUOTED, j + 1
        elif state == _QUOTE_IN_QUOTED:
            if piece[i] == 0x22:  # "" inside a quoted field: a quote, still quoted
                state, i = _QUOTED, i + 1
            else:  # the quoted field ended; what follows is read as unquoted text
                state, start_of_field = _FIELD, False
        elif start_of_field and piece[i] == 0x22:
            state, i, start_of_field = _QUOTED, i + 1, False
        else:
            if start_of_field:
                start_of_field = False
            j = piece.find(b',"', i)
            if j < 0:
                return _FIELD, piece.endswith(b",")
            state, i = _QUOTED, j + 2
    return state, start_of_field and state == _FIELD


def split_records(stream: BinaryIO, read_size: int = READ_BYTES) -> Iterator[Chunk]:
    """The file's CSV records as byte chunks, read ``read_size`` bytes at most at a time.

    A record ends at a line feed outside quotes. One that grows past MAX_RECORD_BYTES keeps
    its first KEPT_BYTES only and is marked oversized; reading goes on to its end.
    """
    line = 1
    first_line = 1
    parts: list[bytes] = []
    kept = size = 0
    state, start_of_field = _FIELD, True
    first = True
    while True:
        piece = stream.readline(max(read_size, len(BOM)) if first else read_size)
        if first:
            first = False
            if piece.startswith(BOM):  # the csv module would read it as part of a column name
                piece = piece[len(BOM) :]
        if not piece:
            break
        state, start_of_field = _scan(piece, state, start_of_field)
        size += len(piece)
        if kept < KEPT_BYTES or size <= MAX_RECORD_BYTES:
            parts.append(piece)
            kept += len(piece)
        if size > MAX_RECORD_BYTES and kept > KEPT_BYTES:  # oversized: keep its start only
            parts = _first_bytes(parts, KEPT_BYTES)
            kept = KEPT_BYTES
        ends_line = piece.endswith(b"\n")
        if ends_line and state != _QUOTED:
            yield Chunk(b"".join(parts), first_line, line, size, oversized=size > MAX_RECORD_BYTES)
            parts, kept, size = [], 0, 0
            state, start_of_field = _FIELD, True
            first_line = line + 1
        if ends_line:
            line += 1
    if parts:
        yield Chunk(
            b"".join(parts),
            first_line,
            line,
            size,
            oversized=size > MAX_RECORD_BYTES,
            open_quote=state == _QUOTED,
        )


def _first_bytes(parts: list[bytes], limit: int) -> list[bytes]:
    """The first ``limit`` bytes of ``parts`` (without joining the rest)."""
    out: list[bytes] = []
    left = limit
    for part in parts:
        if left <= 0:
            break
        out.append(part[:left])
        left -= len(out[-1])
    return out


def decode_record(data: bytes, final: bool = True) -> tuple[str, int]:
    """(text, bytes read as Windows-1252): UTF-8 wherever valid, Windows-1252 byte by byte
    where not. ``final=False``: an incomplete UTF-8 sequence at the end (a cut) is dropped."""
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError:
        pass
    view = memoryview(data)
    out: list[str] = []
    i = bad = 0
    while i < len(data):
        try:
            text = codecs.utf_8_decode(view[i:], "strict", final)[0]
            out.append(text)
            break
        except UnicodeDecodeError as exc:
            out.append(codecs.utf_8_decode(view[i : i + exc.start], "strict", True)[0])
            wrong = bytes(view[i + exc.start : i + exc.end])
            out.append(wrong.decode("cp1252", "replace"))
            bad += len(wrong)
            i += exc.end
    return "".join(out), bad


def parse_record(text: str) -> list[str]:
    """One record's text -> its fields ([] for a blank line). Raises csv.Error."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if len(rows) > 1:  # split_records keeps line breaks outside quotes at the end only
        raise csv.Error(f"{len(rows)} records where one was expected")
    return rows[0] if rows else []


def where_from(url: str) -> str:
    """The file a URL names (a path for a local file), for messages."""
    parts = urlsplit(url)
    return unquote(parts.path) if parts.scheme == "file" else url


def read_header(chunk: Chunk | None, url: str) -> list[str]:
    """The export's column names, checked. Raises HeaderError naming what is wrong."""
    name = where_from(url)
    if chunk is None:
        raise HeaderError(f"not a Contracts Finder CSV export: {name} is empty")
    text = decode_record(chunk.data, final=not chunk.oversized)[0]
    if chunk.oversized:
        raise HeaderError(
            f"not a Contracts Finder CSV export: the first line of {name} is over "
            f"{MAX_RECORD_BYTES:,} bytes ({chunk.size:,})",
            text,
        )
    try:
        header = [h.strip() for h in parse_record(text)]
    except csv.Error as exc:
        raise HeaderError(f"not a CSV file: {name}: {exc}", text) from None
    if ID_COLUMN not in header:
        raise HeaderError(
            f"not a Contracts Finder CSV export (no {ID_COLUMN!r} column in the first line "
            f"of {name})",
            text,
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        renamed = []
        unknown = [h for h in header if h and h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        for column in missing:
            near = [
                h for h in unknown if column.lower() in h.lower() or h.lower() in column.lower()
            ]
            near = near or difflib.get_close_matches(column, unknown, n=1, cutoff=0.6)
            if near:
                renamed.append(f"{column!r} as {near[0]!r}")
        raise HeaderError(
            f"{name}: the Contracts Finder CSV export has no "
            f"{', '.join(repr(c) for c in missing)} column"
            + ("s" if len(missing) > 1 else "")
            + (f" (perhaps renamed: {', '.join(renamed)})" if renamed else "")
            + "; every row needs "
            + ("them" if len(missing) > 1 else "it")
            + ", so nothing was read from the file",
            text,
        )
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise HeaderError(
            f"{name}: the Contracts Finder CSV export names the column(s) "
            f"{', '.join(repr(c) for c in twice)} more than once; nothing was read from the file",
            text,
        )
    return header


def oversized_reason(chunk: Chunk, number: int, header: list[str]) -> str:
    """Why an oversized record was rejected, naming it by row, lines and (if its first part
    shows it) its identifier."""
    text = decode_record(chunk.data, final=False)[0]
    named = ""
    try:
        fields = next(csv.reader(io.StringIO(text, newline="")), [])
        identifier = fields[header.index(ID_COLUMN)].strip()
        if identifier and len(identifier) <= 240:
            named = f", {ID_COLUMN} {identifier!r}"
    except (csv.Error, IndexError):
        pass
    return (
        f"row {number} ({chunk.lines}{named}) is {chunk.size:,} bytes, over the "
        f"{MAX_RECORD_BYTES:,} bytes one row may take; not read (its first "
        f"{min(chunk.size, KEPT_BYTES):,} bytes are kept)"
    )


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
    def read_export(cls, stream: BinaryIO, url: str, source: str) -> Iterator[RawNotice | RawError]:
        """Every row of an export, read from ``stream`` a record at a time -> a RawNotice,
        or a RawError naming the row.

        Raises HeaderError (a PageError), before any record, when the file is not a
        Contracts Finder CSV export this reader can use.
        """
        # The csv module refuses a field over its limit (128 Ki characters by default); a
        # record is bounded by MAX_RECORD_BYTES before csv sees it, so let any field of an
        # accepted record through (the limit is the module's, process-wide: only raised).
        if csv.field_size_limit() < MAX_RECORD_BYTES:
            csv.field_size_limit(MAX_RECORD_BYTES)
        chunks = split_records(stream)
        header = read_header(next(chunks, None), url)
        header_line = csv_line(header)
        fetched = now_iso()
        seen: dict[str, int] = {}
        number = 0
        repaired: list[str] = []

        def reject(reason: str, body: str) -> RawError:
            return RawError(
                source=source,
                url=url,
                reason=reason,
                record=f"row {number}",
                fetched_at=fetched,
                body=kept_text(header_line + body),
            )

        for chunk in chunks:
            if chunk.data.strip(b"\r\n") == b"" and not chunk.oversized:
                continue  # a blank line between records, not a record
            number += 1
            where = f"row {number} ({chunk.lines})"
            if chunk.oversized:
                text = decode_record(chunk.data, final=False)[0]
                yield reject(oversized_reason(chunk, number, header), text)
                continue
            text, bad = decode_record(chunk.data)
            if chunk.open_quote:
                yield reject(
                    f"{where} ends inside a quoted field at the end of the file "
                    "(the file may be cut short)",
                    text,
                )
                continue
            if "\x00" in text:  # not text: PostgreSQL refuses it, and no export writes it
                yield reject(f"{where} holds a NUL byte; the row was not read", text)
                continue
            try:
                fields = parse_record(text)
            except csv.Error as exc:
                yield reject(f"unreadable CSV at {where}: {exc}", text)
                continue
            if not fields:
                number -= 1
                continue
            if len(fields) != len(header):
                yield reject(
                    f"{where} has {len(fields)} fields; the header has {len(header)}", text
                )
                continue
            if bad:
                repaired.append(f"row {number} ({bad})")
            row = dict(zip(header, fields, strict=True))
            identifier = row[ID_COLUMN].strip()
            if not identifier or identifier in seen:
                reason = (
                    f"{where} has no {ID_COLUMN}"
                    if not identifier
                    else f"{where} repeats {ID_COLUMN} {identifier!r} of row {seen[identifier]}"
                )
                yield reject(reason, text)
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
        if repaired:
            log.warning(
                "%s: %s: %d row(s) had bytes that are not UTF-8, read as Windows-1252 "
                "(row and byte count): %s",
                source,
                where_from(url),
                len(repaired),
                ", ".join(repaired[:20]) + (" ..." if len(repaired) > 20 else ""),
            )

    @classmethod
    def records_from_stream(
        cls, stream: BinaryIO, url: str, source: str, params: dict[str, Any] | None = None
    ) -> Iterator[RawNotice | RawError]:
        """A saved export file, read as it goes -> the same records a crawl of it would give;
        a file this reader cannot use -> one RawError (record None) and nothing else."""
        try:
            yield from cls.read_export(stream, url, source)
        except HeaderError as exc:
            yield RawError(
                source=source,
                url=url,
                reason=str(exc),
                fetched_at=now_iso(),
                body=kept_text(exc.body),
            )

    @classmethod
    def records_from_bytes(
        cls, data: bytes, url: str, source: str, params: dict[str, Any] | None = None
    ) -> Iterator[RawNotice | RawError]:
        """An export already in memory (a response body) -> its records, as above."""
        yield from cls.records_from_stream(io.BytesIO(data), url, source, params)

    def parse_export(self, response: Response) -> Iterator[Any]:
        self.report.pages += 1
        try:
            # BytesIO shares the body's buffer: the export is read a record at a time.
            for record in self.read_export(io.BytesIO(response.body), response.url, self.source):
                if isinstance(record, RawError):
                    self.report.errors += 1
                    self.report.failures.append(record.reason)
                    self.logger.error("%s: %s at %s", self.source, record.reason, record.url)
                else:
                    self.report.notices += 1
                yield record
        except HeaderError as exc:
            yield self.error(response.url, str(exc), response.status, kept_text(exc.body))
            return
        # Row errors are kept as RawErrors; the export itself was read to the end.
        self.report.complete = True
        self.logger.info("%s: export read: %d row(s)", self.source, self.report.notices)

    def on_error(self, failure: Failure) -> Iterator[RawError]:
        yield self.failure_error(failure)


def kept_text(text: str) -> str:
    """Raw text as a rejection keeps it: a NUL byte written as the four characters ``\\x00``
    (PostgreSQL text cannot hold NUL, and the whole batch of errors would be lost)."""
    return text.replace("\x00", "\\x00")


def csv_line(fields: list[str]) -> str:
    """Fields as one CSV record (CRLF-terminated), as the export writes them."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(fields)
    return out.getvalue()
