"""Write each record as one JSON line: notices to the output file, errors to the errors file."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from scrapy import Spider
from scrapy.crawler import Crawler

from bidbell.records import RawError, RawNotice


class JsonLinesPipeline:
    def __init__(self, out: str, errors: str) -> None:
        self.out_path, self.errors_path = Path(out), Path(errors)
        self.out: IO[str] | None = None
        self.errors: IO[str] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JsonLinesPipeline:
        return cls(crawler.settings["BIDBELL_OUT"], crawler.settings["BIDBELL_ERRORS"])

    def open_spider(self, spider: Spider | None = None) -> None:
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        self.out = self.out_path.open("w", encoding="utf-8")
        self.errors = self.errors_path.open("w", encoding="utf-8")

    def close_spider(self, spider: Spider | None = None) -> None:
        for f in (self.out, self.errors):
            if f:
                f.close()

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, RawNotice):
            assert self.out and self.errors
            try:
                line = item.model_dump_json()
            except ValueError as exc:  # pydantic could not write it (nested too deep...)
                error = RawError(
                    source=item.source,
                    url=item.url,
                    reason=f"record {item.source_id} cannot be written as JSON: {exc}",
                    record=item.source_id,
                    fetched_at=item.fetched_at,
                    body=repr(item.payload)[:100_000],
                )
                self.errors.write(error.model_dump_json() + "\n")
                return item
            self.out.write(line + "\n")
        elif isinstance(item, RawError):
            assert self.errors
            self.errors.write(item.model_dump_json() + "\n")
        else:
            raise TypeError(f"spiders must yield RawNotice or RawError, not {type(item).__name__}")
        return item
