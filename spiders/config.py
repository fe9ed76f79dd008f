"""The sources file (sources.toml): one entry per source, validated on load."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spiders.registry import SPIDER_TYPES


class SourcesFileError(ValueError):
    pass


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    base_url: str
    description: str = ""
    enabled: bool = True
    every_minutes: int = 60
    params: dict[str, Any] = field(default_factory=dict)

    def with_base_url(self, url: str | None) -> SourceConfig:
        if not url:
            return self
        return SourceConfig(self.name, self.type, url, self.description, self.enabled,
                            self.every_minutes, dict(self.params))  # fmt: skip


KNOWN_KEYS = {"type", "description", "base_url", "enabled", "every_minutes", "params"}


def load_sources(path: Path, overrides: dict[str, str] | None = None) -> dict[str, SourceConfig]:
    """Read and check the sources file; ``overrides`` maps source name -> base URL."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourcesFileError(f"sources file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourcesFileError(f"{path}: not valid TOML: {exc}") from None
    entries = data.get("sources")
    if not isinstance(entries, dict) or not entries:
        raise SourcesFileError(f"{path}: no [sources.NAME] tables")
    out: dict[str, SourceConfig] = {}
    for name, entry in entries.items():
        where = f"{path}: source {name!r}"
        if not isinstance(entry, dict):
            raise SourcesFileError(f"{where}: must be a table")
        unknown = sorted(set(entry) - KNOWN_KEYS)
        if unknown:
            raise SourcesFileError(f"{where}: unknown key(s) {', '.join(unknown)}")
        stype = entry.get("type")
        if stype not in SPIDER_TYPES:
            raise SourcesFileError(
                f"{where}: type {stype!r} is not one of {', '.join(sorted(SPIDER_TYPES))}"
            )
        base_url = (overrides or {}).get(name) or entry.get("base_url", "")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise SourcesFileError(f"{where}: base_url must be an http(s) URL")
        params = entry.get("params", {})
        if not isinstance(params, dict):
            raise SourcesFileError(f"{where}: params must be a table")
        every = entry.get("every_minutes", 60)
        if not isinstance(every, int) or every < 1:
            raise SourcesFileError(f"{where}: every_minutes must be a positive integer")
        out[name] = SourceConfig(
            name=name, type=stype, base_url=base_url.rstrip("/"),
            description=str(entry.get("description", "")),
            enabled=bool(entry.get("enabled", True)), every_minutes=every, params=params,
        )  # fmt: skip
    unknown_overrides = sorted(set(overrides or {}) - set(out))
    if unknown_overrides:
        raise SourcesFileError(
            f"BIDBELL_SOURCE_URLS names unknown source(s): {', '.join(unknown_overrides)}"
        )
    return out
