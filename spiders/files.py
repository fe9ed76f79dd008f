"""Saved payload files of a source (downloaded exports, captures) -> the same records a
crawl yields, through the same parser as the live spider.

A spider type reads its own files when it has a classmethod
``records_from_stream(stream, url, source, params)`` (the open file, read as it goes: Contracts
Finder's CSV export, whatever its size) or ``records_from_bytes(data, url, source, params)``
(the file's bytes: a saved listing page); OCDS release package spiders share the reader here
(.json package, or one release per line .jsonl).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from bidbell.jsoncodec import loads_tolerant
from bidbell.records import RawError, RawNotice
from spiders.base import OcdsReleasePackageSpider, PageError
from spiders.registry import load_spider

# A release package larger than this is read a release at a time (a 200 MB package read
# whole took 1.4 GB); smaller ones are read whole, as a page of the API is.
STREAM_PACKAGE_BYTES = 8 * 1024 * 1024
_READ_BYTES = 1024 * 1024
# A JSON string (escapes included), an unterminated string's opening quote, or a structural
# character: enough to find where each element of the package's releases array ends.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|"|[\[\]{},:]', re.S)


def can_import(spider_type: str) -> bool:
    """Whether saved files of this spider type can be imported (its own file reader, or
    OCDS release packages / JSON Lines)."""
    spider = load_spider(spider_type)
    own_reader = getattr(spider, "records_from_bytes", None)
    return callable(own_reader) or issubclass(spider, OcdsReleasePackageSpider)


def read_file(
    source: str, spider_type: str, path: Path, params: dict[str, Any] | None = None
) -> Iterator[RawNotice | RawError]:
    """A release package (.json) or one release per line (.jsonl), or the spider type's own
    file format (``records_from_stream`` on the open file, else ``records_from_bytes``, given
    the source's params from sources.toml); errors are records too."""
    spider = load_spider(spider_type)
    stream_reader = getattr(spider, "records_from_stream", None)
    own_reader = getattr(spider, "records_from_bytes", None)
    readers = (stream_reader, own_reader)
    if not any(map(callable, readers)) and not issubclass(spider, OcdsReleasePackageSpider):
        raise ValueError(f"{source}: importing files is not supported for this source yet")
    url = path.resolve().as_uri()
    fetched = datetime.now(UTC).isoformat(timespec="seconds")
    if callable(stream_reader):
        try:
            stream = path.open("rb")
        except OSError as exc:
            yield RawError(
                source=source, url=url, reason=f"cannot read file: {exc}", fetched_at=fetched
            )
            return
        with stream:
            try:
                yield from stream_reader(stream, url, source, params or {})
            except OSError as exc:  # a read failing half-way (a disk error, a file cut)
                yield RawError(
                    source=source,
                    url=url,
                    reason=f"cannot read file to the end: {exc}",
                    fetched_at=fetched,
                )
        return
    if own_reader is None and path.suffix.lower() == ".json" and _size(path) > STREAM_PACKAGE_BYTES:
        assert issubclass(spider, OcdsReleasePackageSpider)
        streamed = yield from _stream_package(spider, path, url, source, fetched)
        if streamed:
            return
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield RawError(
            source=source, url=url, reason=f"cannot read file: {exc}", fetched_at=fetched
        )
        return
    if callable(own_reader):
        yield from own_reader(data, url, source, params or {})
        return
    assert issubclass(spider, OcdsReleasePackageSpider)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                release = loads_tolerant(line)
            except ValueError as exc:
                yield RawError(
                    source=source,
                    url=url,
                    record=f"line {lineno}",
                    reason=f"malformed line: {exc}",
                    fetched_at=fetched,
                    body=line,
                )
                continue
            if isinstance(release, dict) and "payload" in release and "source_id" in release:
                release = release["payload"]  # a line of our own crawl output
            yield spider.notice_from_release(release, f"{url}#L{lineno}", lineno, fetched, source)
        return
    try:
        records, _next = spider.read_package(data, url, source)
    except PageError as exc:
        yield RawError(
            source=source,
            url=url,
            reason=str(exc),
            fetched_at=fetched,
            body=data.decode("utf-8", "replace"),
        )
        return
    yield from records


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def iter_array_items(stream: BinaryIO, member: bytes = b"releases") -> Iterator[bytes]:
    """The raw JSON texts of the elements of the top-level object's array ``member``, read
    from ``stream`` a megabyte at a time: memory holds one element, not the file. Yields
    nothing if there is no such array; raises ValueError if the file ends inside it."""
    buf = b""
    pos = 0  # where scanning resumes in buf
    depth = 0
    key: bytes | None = None  # the last member name read at depth 1
    in_array = False
    start: int | None = None  # where the element in hand starts in buf
    eof = False
    while True:
        m = _TOKEN.search(buf, pos)
        if m is None or (m.group() == b'"' and not eof):
            if eof:
                if in_array:
                    raise ValueError("the file ends inside the releases array")
                return
            keep = start if start is not None else (m.start() if m is not None else len(buf))
            buf, pos = buf[keep:], pos - keep if m is None else m.start() - keep
            if start is not None:
                start = 0
            more = stream.read(_READ_BYTES)
            eof = not more
            buf += more
            pos = max(pos, 0)
            continue
        tok = m.group()
        pos = m.end()
        if tok == b'"':  # unterminated at the end of the file
            raise ValueError("the file ends inside a string")
        c = tok[:1]
        if c == b'"':
            if depth == 1:
                key = tok
            if in_array and depth == 2 and start is None:
                start = m.start()
            continue
        if in_array and depth == 2:
            if c in b",]":
                if start is not None:
                    yield buf[start : m.start()].strip()
                    start = None
                if c == b"]":
                    return
                continue
            if start is None:
                start = m.start()
        if c in b"[{":
            depth += 1
            if depth == 2 and c == b"[" and key == b'"' + member + b'"':
                in_array = True
        elif c in b"]}":
            depth -= 1


def _stream_package(
    spider: type[OcdsReleasePackageSpider], path: Path, url: str, source: str, fetched: str
) -> Generator[RawNotice | RawError, None, bool]:
    """The releases of a large package, one at a time, each read (or refused) on its own.
    Returns False, having yielded nothing, if the file has no releases array to stream."""
    position = 0
    try:
        with path.open("rb") as stream:
            for raw in iter_array_items(stream):
                yield spider.record_from_raw(raw, url, position, fetched, source)
                position += 1
    except (OSError, ValueError) as exc:
        if not position:
            return False
        yield RawError(
            source=source,
            url=url,
            reason=f"cannot read the package past release {position}: {exc}",
            fetched_at=fetched,
        )
    return bool(position)
