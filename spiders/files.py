"""Saved payload files of a source (downloaded exports, captures) -> the same records a
crawl yields, through the same parser as the live spider.

A spider type reads its own files when it has a classmethod
``records_from_stream(stream, url, source, params)`` (the open file, read as it goes: Contracts
Finder's CSV export, whatever its size) or ``records_from_bytes(data, url, source, params)``
(the file's bytes: a saved listing page); OCDS release package spiders share the reader here
(.json package, or one release per line .jsonl).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bidbell.jsoncodec import loads_tolerant
from bidbell.records import RawError, RawNotice
from spiders.base import OcdsReleasePackageSpider, PageError
from spiders.registry import load_spider


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
