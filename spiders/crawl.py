"""Start one crawl in its own process and read back what it wrote (no database here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
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
    progress: Callable[[int, int | None], None] | None = None,
) -> CrawlOutcome:
    """Crawl source ``name`` (from ``sources_file``); ``spider_args`` override its params.
    ``progress(records written so far, None)`` hears how far it is, twice a second."""
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
        returncode = _watched(cmd, log, root, timeout, out, progress)
    if returncode is None:
        outcome.error = f"crawl of {name} exceeded {timeout:.0f}s and was stopped"
        return outcome
    outcome.returncode = returncode
    report_path = out.with_name(out.name + ".report.json")
    if report_path.exists():
        outcome.report = json.loads(report_path.read_text())
    if outcome.returncode == 2:
        outcome.error = f"{name}: bad configuration (see {outcome.log_path})"
    elif outcome.returncode not in (0, 3):
        outcome.error = f"{name}: crawler exited with {outcome.returncode} (see {outcome.log_path})"
    return outcome


def _watched(
    cmd: list[str],
    log: Any,
    root: Path,
    timeout: float,
    out: Path,
    progress: Callable[[int, int | None], None] | None,
) -> int | None:
    """Run the crawl, telling ``progress`` (if any) how many records its output file holds
    as it grows (lines counted as they are appended); None when it ran out of time (the
    crawl is stopped)."""
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    deadline = time.monotonic() + timeout
    lines, offset = 0, 0

    def count() -> None:
        nonlocal lines, offset
        if progress is None:
            return
        try:
            with out.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        last = chunk.rfind(b"\n")
        if last >= 0:  # whole lines only: a line being written is counted when done
            lines += chunk.count(b"\n", 0, last + 1)
            offset += last + 1
        progress(lines, None)

    while True:
        try:
            returncode = proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                return None
            count()
            continue
        count()
        return returncode
