"""Every source, one line each: name -> spider class (import path) and its base-URL setting."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import scrapy


@dataclass(frozen=True)
class SourceEntry:
    name: str
    spider: str  # "module:Class"
    base_url_setting: str  # attribute of bidbell.settings.Settings

    def load(self) -> type[scrapy.Spider]:
        module, _, cls = self.spider.partition(":")
        spider = getattr(importlib.import_module(module), cls)
        assert issubclass(spider, scrapy.Spider)
        return spider


SOURCES: dict[str, SourceEntry] = {
    e.name: e
    for e in [
        SourceEntry(
            "find_a_tender", "spiders.sources.find_a_tender:FindATenderSpider", "find_a_tender_url"
        ),
    ]
}


def get_source(name: str) -> SourceEntry:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
