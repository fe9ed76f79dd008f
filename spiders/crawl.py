"""Start one crawl in its own process and read back what it wrote (no database here)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spiders.config import load_sources
from spiders.run import DEFAULT_SOURCES_FILE


@dataclass
class CrawlOutcome:
    source: str
    returncode: int
    notices_path: Path
    errors_path: Path
    log_path: Path
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    window: tuple[str, str] = ("", "")  # what was asked for (ISO 8601), for the report

    @property
    def windows(self) -> list[dict[str, Any]]:
        return list(self.report.get("windows") or [])

    @property
    def complete(self) -> bool:
        return self.returncode == 0 and bool(self.report.get("complete"))


def crawl(
    name: str,
    out: Path,
    spider_args: dict[str, Any],
    scrapy_settings: dict[str, Any] | None = None,
    timeout: float = 1800.0,
    sources_file: Path = DEFAULT_SOURCES_FILE,
) -> CrawlOutcome:
    """Crawl source ``name`` (from ``sources_file``); ``spider_args`` override its params."""
    known = load_sources(sources_file)
    if name not in known:  # fail here, with the list of known ones
        raise KeyError(f"unknown source {name!r}; known: {', '.join(sorted(known))}")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "spiders.run",
        name,
        "--out",
        str(out),
        "--sources-file",
        str(sources_file),
    ]
    for k, v in spider_args.items():
        cmd += ["-a", f"{k}={v}"]
    for k, v in (scrapy_settings or {}).items():
        cmd += ["-s", f"{k}={v}"]
    outcome = CrawlOutcome(
        source=name,
        returncode=-1,
        notices_path=out,
        errors_path=out.with_name(out.name + ".errors.jsonl"),
        log_path=out.with_name(out.name + ".log"),
    )
    root = Path(__file__).resolve().parent.parent
    with outcome.log_path.open("w") as log:
        try:
            proc = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, cwd=root, check=False
            )
            outcome.returncode = proc.returncode
        except subprocess.TimeoutExpired:
            outcome.error = f"crawl of {name} exceeded {timeout:.0f}s and was stopped"
            return outcome
    report_path = out.with_name(out.name + ".report.json")
    if report_path.exists():
        outcome.report = json.loads(report_path.read_text())
    if outcome.returncode == 2:
        outcome.error = f"{name}: bad configuration (see {outcome.log_path})"
    elif outcome.returncode not in (0, 3):
        outcome.error = f"{name}: crawler exited with {outcome.returncode} (see {outcome.log_path})"
    return outcome
