"""Store raw notices: upsert notices, rebuild the opportunities they describe, keep errors.

Re-storing the same records changes nothing. A record that cannot be normalised becomes an
IngestError row (reason, source, record id, raw payload) and the others are still stored.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import logging
import multiprocessing
import multiprocessing.util
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select, text, tuple_
from sqlmodel import Session

from bidbell import jsoncodec
from bidbell.clock import published as read_instant
from models.classify import classify_opportunity
from models.formats import normalise
from models.formats.fields import NormaliseError, NoticeFields
from models.store.db import background_checkpoints
from models.store.events import diff_events
from models.store.listings import Linkage, link_listings, linkage
from models.store.merge import content_hash, merge_notices, notice_order
from models.store.sectors import SectorModel, active_model
from models.store.tables import IngestError, Notice, Opportunity, OpportunityEvent
from models.store.types import pack_json
from models.store.upsert import (
    SearchVector,
    insert_new_rows,
    insert_rows,
    next_ids,
    select_in,
    serialise_linking,
    update_rows,
    upsert,
)

log = logging.getLogger(__name__)
CHUNK = 1000
BULK_GC_THRESHOLD = 50_000  # allocations between collections while storing (default 700)
PARALLEL_AT_BYTES = 4 * 1024 * 1024  # a crawl's file this large is parsed in worker processes
MAX_REJECTIONS_SAID = 20


@dataclass
class StoreResult:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    opportunities_new: int = 0
    opportunities_changed: int = 0
    events: int = 0
    listings_linked: int = 0  # new or changed rows found to be another listing of one
    new_opportunity_ids: list[int] = field(default_factory=list)
    # The first rejections, each "record: reason", to say why (all are kept as IngestError).
    rejections: list[str] = field(default_factory=list)

    def add(self, other: StoreResult) -> None:
        for k, v in vars(other).items():
            setattr(self, k, getattr(self, k) + v)
        del self.rejections[MAX_REJECTIONS_SAID:]

    def reject(self, record: Any, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS_SAID:
            self.rejections.append(f"{record or 'a record'}: {reason}")

    @property
    def usable(self) -> int:
        """Records read that could be stored (new, updated or already stored)."""
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


def iter_jsonl(path: Path, source: str) -> Iterator[dict[str, Any] | IngestError]:
    """Lines of a JSONL file; an unreadable line becomes an IngestError (not an exception).
    A file that does not exist (a crawl that wrote nothing) has no lines."""
    for lineno, raw in _raw_lines(path):
        yield _decode_line(path, source, lineno, raw)


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    if not path.exists():
        return
    with path.open("rb") as f:
        yield from _numbered(f, 1)


def _numbered(lines: Iterable[bytes], first: int) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a binary file (or of a range of one), numbered from
    ``first`` (blank lines counted)."""
    for lineno, raw in enumerate(lines, first):
        if raw.strip():
            yield lineno, raw


_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")  # what bytes.strip() strips


def _line_ranges(path: Path, n: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, first line number) of consecutive byte ranges of a file, each holding
    ``n`` of its non-blank lines (the last one the rest), as ``_raw_lines`` reads them: the
    parsing workers read their batch themselves (``_lines_at``), so this process only
    finds line ends, reading the file through a buffer of ``_SCAN_BYTES``, and neither
    keeps the lines nor sends them (a 7 MB batch read, pickled and piped cost the writer
    0.02-0.05 ms a notice). Not a memory map: its pages count as this process's resident
    memory until it is closed (the whole file, 0.7 GB for 100,000 notices)."""
    if not path.exists():
        return
    with path.open("rb") as f:
        buf = b""
        base = pos = 0  # the file offset of buf[0]; where the next line starts in buf
        start, first, lineno, held = 0, 1, 1, 0
        while True:
            cut = buf.find(b"\n", pos)
            if cut < 0:
                more = f.read(_SCAN_BYTES)
                if more:
                    base, buf, pos = base + pos, buf[pos:] + more, 0
                    continue
                if pos == len(buf):
                    break
                cut = len(buf) - 1  # a last line without its newline
            # blank: only whitespace (a line's first byte settles nearly every line)
            if buf[pos] not in _WHITESPACE or buf[pos : cut + 1].strip():
                held += 1
            pos = cut + 1
            lineno += 1
            if held == n:
                yield start, base + pos, first
                start, first, held = base + pos, lineno, 0
        if held:
            yield start, base + pos, first


_SCAN_BYTES = 4 * 1024 * 1024


def _lines_at(path: Path, start: int, end: int, first: int) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of one range of ``_line_ranges``, numbered as ``_raw_lines``
    numbers them."""
    with path.open("rb") as f:
        f.seek(start)
        data = f.read(end - start)
    yield from _numbered(io.BytesIO(data), first)


def _decode_line(path: Path, source: str, lineno: int, raw: bytes) -> dict[str, Any] | IngestError:
    try:
        record = jsoncodec.loads_tolerant(raw)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        return record
    except (ValueError, UnicodeDecodeError) as exc:
        return IngestError(
            source=source,
            url=str(path),
            record=f"line {lineno}",
            reason=f"unreadable line: {exc}",
            body=raw.decode("utf-8", "replace"),
            created_at=datetime.now(UTC),
        )


def _chunks(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    buf: list[Any] = []
    for it in items:
        buf.append(it)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


# Columns of the notice and opportunity tables with a length limit: a value too long for
# its column would fail the whole transaction on PostgreSQL. Identity fields that do not fit
# reject the record; descriptive text is cut to fit (nothing that identifies the record).
_IDENTITY_LIMITS = {"ocid": 256, "source_id": 256}
_TEXT_LIMITS = {
    "buyer_name": 512, "buyer_id": 256, "buyer_postcode": 16, "buyer_region": 16,
    "value_currency": 3, "parent_reference": 256, "notice_type": 32, "stage": 32,
    "buyer_type": 16, "main_category": 16,
}  # fmt: skip
_URL_LIMIT = 2048
# A NUL character written as JSON (an even number of backslashes before "u0000").
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def prepare_record(rec: dict[str, Any], now: datetime) -> tuple[NoticeFields, dict[str, Any]]:
    """One RawNotice-shaped dict -> (its fields, its notice row). Raises NormaliseError
    naming why the record cannot be stored (the caller keeps it as an IngestError). The
    payload is compressed here, as the store keeps it (types.PayloadJSON): in the parsing
    workers for a large file, not by the writer."""
    source = rec.get("source")
    if not isinstance(source, str) or not source.strip():
        raise NormaliseError("record has no source")
    if len(source) > 64:
        raise NormaliseError("source name longer than 64 characters")
    fmt = rec.get("format") or "ocds-release"
    if not isinstance(fmt, str):
        raise NormaliseError(f"record format is a {type(fmt).__name__}, not a name")
    payload = rec.get("payload")
    try:
        encoded = jsoncodec.dumps_bytes(payload, sort_keys=True)
    except UnicodeEncodeError:  # lone surrogates ("\ud800" in the JSON): not text
        raise NormaliseError("the record's text is not valid Unicode (lone surrogates)") from None
    if b"\\u0000" in encoded and _JSON_NUL.search(encoded):  # the regex alone: 0.5 ms a record
        # PostgreSQL cannot keep U+0000 in text or JSON: refused here, on every database.
        raise NormaliseError("the record contains a NUL character (U+0000)")
    fields = normalise(fmt, source, payload)
    for name, limit in _IDENTITY_LIMITS.items():
        if len(getattr(fields, name)) > limit:
            raise NormaliseError(f"{name} longer than {limit} characters")
    for name, limit in _TEXT_LIMITS.items():
        value = getattr(fields, name)
        if isinstance(value, str) and len(value) > limit:
            setattr(fields, name, value[:limit])
    url = rec.get("notice_url") or fields.url or rec.get("url") or ""
    fields.url = url if isinstance(url, str) and len(url) <= _URL_LIMIT else ""
    page_url = rec.get("url")
    row = {
        "source": source,
        "source_id": fields.source_id,
        "ocid": fields.ocid,
        "format": fmt[:32],
        "url": fields.url,
        "notice_type": fields.notice_type,
        "stage": fields.stage,
        "title": fields.title,
        "published_at": fields.published_at,
        "fetched_at": read_instant(rec.get("fetched_at")) or now,
        "stored_at": now,
        "content_hash": hashlib.sha256(encoded).hexdigest(),
        # encoded once: for the hash, the checks and the row
        "payload": pack_json(encoded),
    }
    if not fields.url and isinstance(page_url, str) and len(page_url) <= _URL_LIMIT:
        row["url"] = fields.url = page_url
    return fields, row


def _dump_record(rec: Any) -> str:
    try:
        return json.dumps(rec, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return repr(rec)[:1_000_000]


def safe_error(error: IngestError) -> IngestError:
    """An IngestError every database can keep: NUL characters written out, limits kept."""

    def text(value: str | None, limit: int | None = None) -> str | None:
        if value is None:
            return None
        value = value.replace("\x00", "\\u0000")
        if not value.isascii():  # lone surrogates cannot be written as UTF-8: escape them
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value[:limit] if limit else value

    error.source = text(error.source, 64) or "?"
    error.url = text(error.url, 2048) or ""
    error.record = text(error.record, 256)
    error.reason = text(error.reason) or "unknown"
    error.body = text(error.body) or ""
    return error


def store_records(
    session: Session,
    records: Iterable[dict[str, Any] | IngestError],
    now: datetime | None = None,
    commit_batches: bool = False,
    batch_size: int = CHUNK,
) -> StoreResult:
    """Store RawNotice-shaped dicts ({source, source_id, url, fetched_at, payload}).

    Records are read and stored a batch at a time (``batch_size``): the batch's notices,
    then the opportunities they describe, with their events and links. ``commit_batches``
    commits each batch (a kill loses at most the batch in hand; storing the same records
    again skips the stored ones, so a re-run resumes); otherwise the caller commits. A
    procurement whose releases fall in two batches is still new after the second, as in
    one transaction: its opportunity keeps its version and its one "new" event (a re-run
    after a kill is another store: there the second batch's releases change it)."""
    now = now or datetime.now(UTC)
    result = StoreResult()
    with _bulk_gc(), _checkpoints(session, commit_batches) as committed:
        for done, chunk in enumerate(_chunks(records, batch_size), 1):
            _store_batch(session, chunk, now, result)
            _refresh_statistics(session, done)
            if commit_batches:
                session.commit()
                committed()
    return result


def _checkpoints(session: Session, commit_batches: bool) -> Any:
    """Background WAL checkpoints (SQLite) where batches are committed as they go."""
    return background_checkpoints(session) if commit_batches else nullcontext(lambda: None)


def _refresh_statistics(session: Session, batches: int) -> None:
    """PostgreSQL: ANALYZE the tables the store reads back after the 2nd, 8th, 32nd ...
    batch of one import. Until autovacuum comes round, the planner knows a table only as
    it was (empty, in a fresh deployment's backfill) and may scan what has grown since."""
    if batches < 2 or batches & (batches - 1) or batches.bit_length() % 2 != 0:
        return
    if session.get_bind().dialect.name == "postgresql":
        # the columns the store looks rows up by: ANALYZE of every column read a sample of
        # the payloads (decompressing each), 0.44 s a time at 8,000 notices
        session.execute(
            text(
                "ANALYZE notice (source, source_id, ocid), opportunity (id, ocid, canonical_id),"
                " opportunityblock"
            )
        )


@contextmanager
def _bulk_gc() -> Iterator[None]:
    """Fewer cyclic garbage collections while batches of short-lived objects come and go:
    at the default threshold (700 allocations) they took about a fifth of the writer's CPU
    (3,000 notices: 2.4 s -> 2.0 s on SQLite, 2.3 s -> 1.7 s on PostgreSQL)."""
    old = gc.get_threshold()
    if old[0] >= BULK_GC_THRESHOLD:
        yield
        return
    gc.set_threshold(BULK_GC_THRESHOLD, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


# What one record becomes before it is written: a notice (its key, fields and row), or a
# rejection (the IngestError to keep, the record's id, the reason). Plain data: it crosses
# from the parsing processes to the writer (store_jsonl).
Prepared = tuple[str, Any, Any, Any]


def prepare_one(rec: dict[str, Any] | IngestError, now: datetime) -> Prepared:
    if isinstance(rec, IngestError):  # unreadable already (a line of a file)
        return ("unreadable", rec, rec.record, rec.reason)
    try:
        fields, row = prepare_record(rec, now)
    except NormaliseError as exc:
        source = str(rec.get("source") or "?")
        payload = rec.get("payload")
        rid = rec.get("source_id") or (payload.get("id") if isinstance(payload, dict) else None)
        error = IngestError(
            source=source,
            url=str(rec.get("url") or ""),
            record=str(rid) if rid else None,
            reason=str(exc),
            body=_dump_record(rec),
            created_at=now,
        )
        return ("rejected", error, rid, str(exc))
    return ("notice", (row["source"], row["source_id"]), fields, row)


def _store_batch(
    session: Session,
    chunk: list[dict[str, Any] | IngestError],
    now: datetime,
    result: StoreResult,
) -> None:
    _write_batch(session, [prepare_one(rec, now) for rec in chunk], now, result)


def _write_batch(
    session: Session,
    prepared: list[Prepared],
    now: datetime,
    result: StoreResult,
    derived: dict[str, Derived] | None = None,
    sector_model: Callable[[], SectorModel | None] = active_model,
) -> None:
    fresh: dict[tuple[str, str], NoticeFields] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, a, b, c in prepared:
        result.received += 1
        if kind != "notice":
            if kind == "rejected":  # a record that could not be normalised: say so
                log.warning("%s: record %.80s rejected: %.200s", a.source, b, c)
            session.add(safe_error(a))
            result.reject(b, c)
            continue
        fresh[a] = b
        rows[a] = c
    if not rows:
        session.flush()
        return
    existing = _stored_hashes(session, list(rows))
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    touched_ocids: set[str] = set()
    for key, row in rows.items():
        old = existing.get(key)
        if old is None:
            result.inserted += 1
            new.append(row)
        elif old != row["content_hash"]:
            result.updated += 1
            changed.append(row)
        else:
            result.unchanged += 1
            continue
        touched_ocids.add(row["ocid"])
    kept = [
        "ocid", "url", "notice_type", "stage", "title", "published_at", "fetched_at",
        "stored_at", "content_hash", "payload",
    ]  # fmt: skip
    insert_new_rows(session, Notice, new, keys=["source", "source_id"], update=kept)
    upsert(session, Notice, changed, keys=["source", "source_id"], update=kept)
    session.flush()
    for ocids in _chunks(sorted(touched_ocids), CHUNK):
        _rebuild_opportunities(session, ocids, fresh, now, result, derived, sector_model)


def store_jsonl(
    session: Session,
    path: Path,
    source: str,
    now: datetime | None = None,
    commit_batches: bool = False,
    batch_size: int = CHUNK,
    workers: int | None = None,
) -> StoreResult:
    """Store a JSON Lines file of records (a crawl's output), as ``store_records`` does.

    A large file (``PARALLEL_AT_BYTES``) is cut into ranges of ``batch_size`` lines,
    which ``workers`` processes read and parse (default: one per core but this one's)
    while this process writes the batches they have parsed, in order: reading,
    normalising and classifying overlap the database work. When the oldest batch is not
    parsed yet, this process parses the next one itself rather than wait
    (``STEAL_LINES``).
    At most two batches per worker, and one parsed here, are in hand at once, so memory
    stays bounded."""
    now = now or datetime.now(UTC)
    if workers is None:
        big = path.exists() and path.stat().st_size >= PARALLEL_AT_BYTES
        workers = max(1, min((os.cpu_count() or 1) - 1, 4)) if big else 0
    if not workers:
        return store_records(session, iter_jsonl(path, source), now, commit_batches, batch_size)
    result = StoreResult()
    # One sector model for the whole import, the same in the workers (which classify the
    # opportunities they can: ``derive``) and here.
    model = active_model()
    # fork: spawn and forkserver run the main module again in each worker (a script
    # without a __main__ guard would start over). The workers only parse: pure functions,
    # no database (the connections they inherit are never used, and os._exit closes none).
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_set_worker_model,
        initargs=(model, _search_url(session)),
    )
    # Batches in file order: parsed in a worker (a Future) or here (_ParsedHere).
    pending: deque[Future[Parsed] | _ParsedHere] = deque()
    ranges = _line_ranges(path, batch_size)
    done = [0]

    def write_oldest() -> None:
        oldest = pending.popleft()
        prepared, derived = oldest.result()
        _write_batch(session, prepared, now, result, derived, lambda: model)
        done[0] += 1
        _refresh_statistics(session, done[0])
        if commit_batches:
            session.commit()
            committed()

    try:
        with _bulk_gc(), _checkpoints(session, commit_batches) as committed:
            more = True
            here: _ParsedHere | None = None  # the batch being parsed here, if any
            while True:
                in_workers = sum(isinstance(p, Future) for p in pending)
                if more and in_workers < 2 * workers:  # each worker two batches ahead
                    if (lines := next(ranges, None)) is None:
                        more = False
                    else:
                        pending.append(pool.submit(_prepare_lines, path, source, now, lines))
                    continue
                if not pending:
                    break
                head = pending[0]
                if STEAL_LINES and isinstance(head, Future) and not head.done():
                    # The oldest batch is not parsed yet: rather than wait, parse some
                    # lines of one batch here (one at a time, so memory stays bounded).
                    if here is not None and not here.finished:
                        here.step(STEAL_LINES)
                        continue
                    if here is None and more:
                        if (lines := next(ranges, None)) is None:
                            more = False
                        else:
                            here = _ParsedHere(path, source, now, lines, model)
                            pending.append(here)
                        continue
                if head is here:
                    here = None
                write_oldest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return result


# While the oldest batch is still being parsed in a worker, the writer parses lines of a
# later batch itself, this many between looks at the oldest, instead of waiting: it
# parses only when it would wait (distinct notices: the one worker is the slower side).
# 0: never.
STEAL_LINES = 25


class _ParsedHere:
    """The lines of a range of the file (``_line_ranges``) parsed: what they become, and
    what they say of their opportunities; a few lines at a time where the writer parses a
    batch itself (``store_jsonl``), all at once in a worker (``_prepare_lines``)."""

    def __init__(
        self,
        path: Path,
        source: str,
        now: datetime,
        lines: tuple[int, int, int],
        model: SectorModel | None,
    ) -> None:
        self.path, self.source, self.now, self.model = path, source, now, model
        self.rest: Iterator[tuple[int, bytes]] | None = _lines_at(path, *lines)
        self.prepared: list[Prepared] = []
        self.parsed: Parsed | None = None

    @property
    def finished(self) -> bool:
        return self.parsed is not None

    def step(self, n: int) -> None:
        """Parse up to ``n`` more lines (the batch's opportunities after its last line)."""
        if self.parsed is not None:
            return
        for _ in range(n):
            line = next(self.rest, None) if self.rest is not None else None
            if line is None:
                self.rest = None
                self.parsed = self.prepared, derive(self.prepared, self.model)
                return
            rec = _decode_line(self.path, self.source, line[0], line[1])
            self.prepared.append(prepare_one(rec, self.now))

    def result(self) -> Parsed:
        """The batch parsed (what is left parsed now)."""
        while self.parsed is None:
            self.step(1000)
        return self.parsed


# In a worker: the import's sector model, and where to ask PostgreSQL for search vectors.
_WORKER_MODEL: list[SectorModel | None] = [None]
_WORKER_SEARCH: list[Any] = [None, None]  # [conninfo, connection]


def _set_worker_model(model: SectorModel | None, search_url: str | None = None) -> None:
    _WORKER_MODEL[0] = model
    _WORKER_SEARCH[:] = [search_url, None]


def _prepare_lines(path: Path, source: str, now: datetime, lines: tuple[int, int, int]) -> Parsed:
    """In a worker process: a range of the file parsed (``_ParsedHere``), with the
    import's sector model, and on PostgreSQL the search vectors of its opportunities."""
    parsed = _ParsedHere(path, source, now, lines, _WORKER_MODEL[0]).result()
    if _WORKER_SEARCH[0] is not None:
        _add_search_vectors(parsed[1])
    return parsed


def _search_url(session: Session) -> str | None:
    """Where the parsing workers ask for search vectors: the store's PostgreSQL database."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    url = bind.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


# opportunity.search_vector's expression (migrations 0010 and 0015), over three text arrays
# in order. PostgreSQL's own text search makes the vectors; only who asks, and when, moved.
_SEARCH_VECTORS = (
    "SELECT setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(buyer_name, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C') "
    "FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY "
    "AS r(title, buyer_name, description, n) ORDER BY n"
)


def _add_search_vectors(derived: dict[str, Derived]) -> None:
    """In a worker, PostgreSQL: each derived opportunity's search vector, made by the server
    on this worker's own connection while the writer stores earlier batches. Made inside
    the writer's COPY (the generated column before migration 0015) they were 0.12 ms a row
    of the server's time in series with the writer (three text columns of 18,764 real
    opportunities copied into a test table: 0.02 ms with the vectors given). Any failure
    leaves the vectors to the table's trigger (the writer's COPY then makes them, as
    before): nothing is lost."""
    if not derived:
        return
    rows = list(derived.values())
    try:
        conn = _WORKER_SEARCH[1]
        if conn is None:
            conn = _WORKER_SEARCH[1] = psycopg.connect(_WORKER_SEARCH[0], autocommit=True)
            # closed as the worker ends (a worker process leaves by os._exit: no atexit)
            multiprocessing.util.Finalize(None, conn.close, exitpriority=10)
        columns = ([d.merged.get(c) for d in rows] for c in ("title", "buyer_name", "description"))
        with conn.cursor(binary=True) as cur:
            vectors = cur.execute(_SEARCH_VECTORS, tuple(columns)).fetchall()
    except psycopg.Error as exc:
        log.warning("search vectors left to the database's trigger: %s", exc)
        _WORKER_SEARCH[:] = [None, None]
        return
    for d, (vector,) in zip(rows, vectors, strict=True):
        d.search = vector


@dataclass(slots=True)
class Derived:
    """What one batch's notices of an OCID say of its opportunity, worked out where they
    were parsed (a worker process) on the guess that they are all its notices. The writer
    takes it when the store holds no other notice of the OCID (a new procurement: nearly
    every notice of a backfill) and works it out itself otherwise: merging, classifying,
    hashing and the dedupe features and keys then cost the writer nothing."""

    notices: frozenset[tuple[str, str]]  # (source, source_id) of the notices it came from
    merged: dict[str, Any]  # the opportunity's fields: merged, sources and classification
    digest: str  # content_hash(merged)
    linkage: Linkage  # dedupe features and keys (listings.linkage)
    # PostgreSQL: opportunity.search_vector of ``merged``, in its binary form, if asked for
    search: bytes | None = None


# A batch parsed: its records prepared, and what they say of their opportunities.
Parsed = tuple[list[Prepared], dict[str, Derived]]


def derive(prepared: list[Prepared], sector_model: SectorModel | None) -> dict[str, Derived]:
    """``Derived`` for every OCID among these prepared records (a later copy of a record
    replaces an earlier one, as in ``_write_batch``)."""
    latest: dict[tuple[str, str], NoticeFields] = {}
    for kind, key, fields, _row in prepared:
        if kind == "notice":
            latest[key] = fields
    groups: dict[str, list[tuple[tuple[str, str], NoticeFields]]] = {}
    for key, fields in latest.items():
        groups.setdefault(fields.ocid, []).append((key, fields))
    out: dict[str, Derived] = {}
    for ocid, members in groups.items():
        notices = [f for _k, f in members]
        merged, digest = _opportunity(notices, {k[0] for k, _f in members}, sector_model)
        extras = _listing_extras(notices)
        out[ocid] = Derived(
            notices=frozenset(k for k, _f in members),
            merged=merged,
            digest=digest,
            linkage=linkage({**merged, **extras}),
        )
    return out


def _opportunity(
    notices: list[NoticeFields], sources: set[str], sector_model: SectorModel | None
) -> tuple[dict[str, Any], str]:
    """An opportunity's fields (merged from all its notices, with its sources and its
    classification) and their content hash."""
    merged = merge_notices(notices)
    merged["sources"] = sorted(sources)
    merged.update(
        classify_opportunity(merged, [n.stage for n in notices], sector_model=sector_model)
    )
    return merged, content_hash(merged)


def _listing_extras(notices: list[NoticeFields]) -> dict[str, Any]:
    """What linking compares beside an opportunity's columns: every identifier its notices
    publish (record ids, and references such as ProContract's DN number or a buyer's own
    reference), who won (award notices) and the buyer's own reference: different suppliers
    or a different reference from one publisher are different contracts (models.dedupe)."""
    return {
        "references": list(dict.fromkeys(r for n in notices for r in (n.source_id, *n.references))),
        "suppliers": list(dict.fromkeys(s for n in notices for s in n.suppliers)),
        "tender_reference": _tender_reference(notices),
    }


def _tender_reference(notices: list[NoticeFields]) -> str | None:
    """The buyer's own reference of an opportunity: its newest notice's that gives one
    (newest as ``merge_notices`` reads them: not the order they were read in, where a
    notice stored earlier came after the batch's own, so an update took an old one's)."""
    given = sorted((n for n in notices if n.tender_reference), key=notice_order)
    return given[-1].tender_reference if given else None


def _stored_hashes(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Content hashes of the stored notices among (source, source_id) keys. One query per
    source with ``source = ? AND source_id IN (...)``, which both databases answer from the
    unique index (a row-value IN was measured 4x slower on PostgreSQL)."""
    by_source: dict[str, list[str]] = {}
    for source, sid in keys:
        by_source.setdefault(source, []).append(sid)
    out: dict[tuple[str, str], str] = {}
    for source, ids in by_source.items():
        q = select(Notice.source_id, Notice.content_hash).where(  # type: ignore[call-overload]
            Notice.source == source
        )
        for sid, digest in select_in(session, q, Notice.source_id, ids):  # type: ignore[arg-type]
            out[(source, sid)] = digest
    return out


def rebuild_all(
    session: Session,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StoreResult:
    """Rebuild every opportunity from its stored notices: after the classification rules,
    the sector model or the deduplication change. Changed rows get a new version (no
    event unless what they say changed); the links of every row are judged afresh (rows
    stored before deduplication get their blocking keys)."""
    now = now or datetime.now(UTC)
    result = StoreResult()
    ocids = [o for (o,) in session.execute(select(Notice.ocid).distinct().order_by(Notice.ocid))]  # type: ignore[call-overload]
    done = 0
    for part in _chunks(ocids, CHUNK):
        _rebuild_opportunities(session, part, {}, now, result, relink=True)
        done += len(part)
        if progress is not None:
            progress(done, len(ocids))
    return result


def _rebuild_opportunities(
    session: Session,
    ocids: list[str],
    fresh: dict[tuple[str, str], NoticeFields],
    now: datetime,
    result: StoreResult,
    derived: dict[str, Derived] | None = None,
    sector_model: Callable[[], SectorModel | None] = active_model,
    relink: bool = False,
) -> None:
    """Merge and classify the opportunities of these OCIDs from all their notices; write
    what changed, with events; link listings of changed rows (``relink``: of every row).
    ``derived``: what the batch's notices say of their opportunities, taken where they are
    all its notices.

    Writers that run at once (two imports on PostgreSQL) take turns here, for the rest of
    their transaction: which rows are canonical and which listings link to them then comes
    out as it would one import after the other."""
    serialise_linking(session)
    by_ocid: dict[str, list[NoticeFields]] = {o: [] for o in ocids}
    stored: dict[str, set[tuple[str, str]]] = {o: set() for o in ocids}  # notice keys
    stale: list[tuple[str, str]] = []
    q = select(Notice.source, Notice.source_id, Notice.ocid)  # type: ignore[call-overload]
    for source, source_id, ocid in select_in(session, q, Notice.ocid, ocids):  # type: ignore[arg-type]
        stored[ocid].add((source, source_id))
        fields = fresh.get((source, source_id))
        if fields is None:
            stale.append((source, source_id))  # stored earlier: read its payload below
        else:
            by_ocid[ocid].append(fields)
    for part in _chunks(stale, CHUNK):
        q = select(  # type: ignore[call-overload]
            Notice.source, Notice.ocid, Notice.format, Notice.url, Notice.payload
        ).where(tuple_(Notice.source, Notice.source_id).in_(part))
        for source, ocid, fmt, url, payload in session.execute(q):
            try:
                fields = normalise(fmt, source, payload)
            except NormaliseError as exc:  # stored under older rules that read it then
                log.warning("%s: stored notice of %s unreadable now: %s", source, ocid, exc)
                continue
            fields.url = url
            by_ocid[ocid].append(fields)
    table = Opportunity.__table__  # type: ignore[attr-defined]
    current = {
        row.ocid: row._asdict() for row in select_in(session, select(table), table.c.ocid, ocids)
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    model = sector_model()  # sectors from text for notices without CPV, if trained
    taken: dict[str, Derived] = {}  # what the batch's notices said, where they are all
    made_here: set[int] | None = None  # opportunities this store inserted (asked if needed)
    changed = 0
    for ocid, notices in by_ocid.items():
        if not notices:
            continue
        d = derived.get(ocid) if derived else None
        search = None
        if d is not None and d.notices == stored[ocid]:
            taken[ocid] = d
            merged, digest, search = d.merged, d.digest, d.search
        else:
            merged, digest = _opportunity(notices, {s for s, _i in stored[ocid]}, model)
        old = current.get(ocid)
        if old is None:
            row = {**merged, "content_hash": digest, "version": 1, "first_seen_at": now}
            row["updated_at"] = now
            if search is not None:
                row["search_vector"] = SearchVector(search)
            inserts.append(row)
        elif old["content_hash"] != digest:
            if made_here is None:
                made_here = set(result.new_opportunity_ids)
            # Made by an earlier batch of this store (its notices fell in two batches): it
            # is still new, as one transaction would have made it: the same version, its
            # "new" event, no change events.
            again = old["id"] in made_here
            version = old["version"] if again else old["version"] + 1
            updates.append(
                {
                    **merged,
                    "b_id": old["id"],
                    "content_hash": digest,
                    "version": version,
                    "updated_at": now,
                }
            )
            if again:
                continue
            changed += 1
            events.extend(
                {
                    "opportunity_id": old["id"],
                    "kind": kind,
                    "version": version,
                    "changes": changes,
                    "at": now,
                }
                for kind, changes in diff_events(old, merged)
            )
        elif relink:
            unchanged.append({**merged, "id": old["id"]})
    linkable: list[dict[str, Any]] = [{**u, "id": u["b_id"]} for u in updates] + unchanged
    new_ids: list[int] = []
    if inserts:
        if any("search_vector" in r for r in inserts):  # rows of one shape; the rest: trigger
            for r in inserts:
                r.setdefault("search_vector", None)
        # Ids in order of first publication: of two listings of one procurement stored
        # together, the earlier publication is the one kept as canonical (lowest id). Taken
        # before the insert (the ids the insert would give), so that the rows are linked
        # first and inserted with their links, not updated after (near-duplicates on
        # PostgreSQL: an UPDATE a row, 0.13 ms a notice), and not read back by OCID.
        far = datetime.max.replace(tzinfo=UTC)
        inserts.sort(key=lambda r: (r.get("published_at") or far, r["ocid"]))
        new_ids = next_ids(session, Opportunity, len(inserts))
        for row, opp_id in zip(inserts, new_ids, strict=True):
            row["id"] = opp_id
            linkable.append(row)
            events.append(
                {"opportunity_id": opp_id, "kind": "new", "version": 1, "changes": {}, "at": now}
            )
        result.new_opportunity_ids.extend(new_ids)
        result.opportunities_new += len(inserts)
    if updates:
        update_rows(
            session,
            Opportunity,
            [{"id": u["b_id"], **{k: v for k, v in u.items() if k != "b_id"}} for u in updates],
        )
        result.opportunities_changed += changed
    known: dict[int, Linkage] = {}
    for i, row in enumerate(linkable):
        d = taken.get(row["ocid"])
        if d is not None:  # the same notices: the same linkage (its newest reference too)
            known[row["id"]] = d.linkage
        else:  # linking works out this row's linkage from it (a new dict: a row to insert)
            linkable[i] = {**row, **_listing_extras(by_ocid[row["ocid"]])}
    linked = link_listings(session, linkable, known, new_ids=set(new_ids))
    result.listings_linked += linked.linked
    if inserts:
        # One bulk INSERT (COPY on PostgreSQL), links in it: not a flush a row, and not
        # INSERT ... RETURNING, which PostgreSQL's driver path makes 5x slower (measured:
        # 1,000 rows 0.57 s with RETURNING, 0.10 s without).
        for row in inserts:
            row["canonical_id"], row["duplicate_reasons"] = linked.links.get(row["id"], (None, []))
        insert_rows(session, Opportunity, inserts)
    if events:
        insert_rows(session, OpportunityEvent, events)
        result.events += len(events)


def store_errors(session: Session, errors: Iterable[dict[str, Any] | IngestError]) -> int:
    """Keep spider errors (RawError dicts) with their raw payload."""
    n = 0
    for e in errors:
        if isinstance(e, IngestError):  # an unreadable line of the errors file itself
            session.add(safe_error(e))
            n += 1
            continue
        record, status = e.get("record"), e.get("status")
        session.add(
            safe_error(
                IngestError(
                    source=str(e.get("source") or "?"),
                    url=str(e.get("url") or ""),
                    record=str(record) if record is not None else None,
                    reason=str(e.get("reason") or "unknown"),
                    status=status
                    if isinstance(status, int) and not isinstance(status, bool)
                    else None,
                    body=str(e.get("body") or ""),
                    created_at=read_instant(e.get("fetched_at")) or datetime.now(UTC),
                )
            )
        )
        n += 1
    return n
