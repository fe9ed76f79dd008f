"""Spider types, one line each: type name -> "module:Class". Sources (instances of these
types, with their URLs and filters) are configured in sources.toml."""

from __future__ import annotations

import importlib

import scrapy

SPIDER_TYPES: dict[str, str] = {
    "find_a_tender": "spiders.sources.find_a_tender:FindATenderSpider",
    "contracts_finder": "spiders.sources.contracts_finder:ContractsFinderSpider",
    "contracts_finder_csv": "spiders.sources.contracts_finder_csv:ContractsFinderCsvSpider",
    "ocds_monthly": "spiders.sources.ocds_monthly:OcdsMonthlySpider",
    "listing": "spiders.sources.listing:ListingSpider",
    "feed": "spiders.sources.feed:FeedSpider",
    "procontract": "spiders.sources.procontract:ProContractSpider",
}


def load_spider(type_name: str) -> type[scrapy.Spider]:
    try:
        target = SPIDER_TYPES[type_name]
    except KeyError:
        raise KeyError(
            f"unknown spider type {type_name!r}; known: {', '.join(sorted(SPIDER_TYPES))}"
        ) from None
    module, _, cls = target.partition(":")
    spider = getattr(importlib.import_module(module), cls)
    assert isinstance(spider, type) and issubclass(spider, scrapy.Spider)
    return spider
