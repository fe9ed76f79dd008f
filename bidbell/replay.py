"""A local stand-in for the national APIs, serving the real captures (demo and tests).

It answers ``GET /api/1.0/ocdsReleasePackages`` the way Find a Tender does: releases whose
``date`` falls in ``[updatedFrom, updatedTo)`` (UK local time, no zone), ``limit`` per page,
an opaque ``cursor`` in ``links.next``. The releases and the package envelope are the real
captured ones from ``fixtures_dir/find-a-tender/``; only the paging is ours. Tests can script
faults (status codes, headers, truncated bodies, delays) for chosen requests.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")
FTS_PATH = "/api/1.0/ocdsReleasePackages"


class FixturesMissing(FileNotFoundError):
    pass


def fts_capture_files(fixtures_dir: Path) -> list[Path]:
    folder = fixtures_dir / "find-a-tender"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise FixturesMissing(
            f"no Find a Tender captures in {folder}: set BIDBELL_FIXTURES_DIR to the shared "
            "fixtures folder (../shared/fixtures from the project root)"
        )
    return files


def load_fts_captures(fixtures_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(package envelope, releases) from every captured Find a Tender release package."""
    envelope: dict[str, Any] = {}
    releases: list[dict[str, Any]] = []
    for path in fts_capture_files(fixtures_dir):
        package = json.loads(path.read_text(encoding="utf-8"))
        if not envelope:
            envelope = {k: v for k, v in package.items() if k not in ("releases", "links", "uri")}
        releases.extend(package["releases"])
    return envelope, releases


@dataclass
class Fault:
    """Answer matching requests with this instead of data, ``times`` times (None: forever)."""

    match: Callable[[str, dict[str, str]], bool]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    truncate: int | None = None  # serve only the first N bytes of the real page
    delay: float = 0.0
    times: int | None = 1


def _uk_naive(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    return dt.replace(tzinfo=UK) if dt.tzinfo is None else dt


class ReplayServer:
    def __init__(
        self,
        fixtures_dir: Path,
        page_size: int | None = None,
        releases: list[dict[str, Any]] | None = None,
    ) -> None:
        self.envelope, captured = load_fts_captures(fixtures_dir)
        self.releases = sorted(
            releases if releases is not None else captured, key=lambda r: r["date"]
        )
        self.page_size = page_size
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    # --- the API -------------------------------------------------------------------------
    def fts_page(self, query: dict[str, str]) -> dict[str, Any]:
        start, end = _uk_naive(query["updatedFrom"]), _uk_naive(query["updatedTo"])
        limit = min(int(query.get("limit", 100)), 100)
        if self.page_size:
            limit = min(limit, self.page_size)
        offset = int(base64.b64decode(query["cursor"]).decode()) if query.get("cursor") else 0
        hits = [r for r in self.releases if start <= datetime.fromisoformat(r["date"]) < end]
        page = hits[offset : offset + limit]
        base = {k: v for k, v in query.items() if k != "cursor"}
        package: dict[str, Any] = {
            "uri": f"{self.url}{FTS_PATH}?{urlencode(base)}",
            **self.envelope,
            "releases": page,
        }
        if offset + limit < len(hits):
            cursor = base64.b64encode(str(offset + limit).encode()).decode()
            package["links"] = {
                "next": f"{self.url}{FTS_PATH}?{urlencode({**base, 'cursor': cursor})}"
            }
        return package

    def _take_fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.times != 0 and f.match(path, query):
                    if f.times is not None:
                        f.times -= 1
                    return f
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with server._lock:
                    server.requests.append(self.path)
                fault = server._take_fault(parts.path, query)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                if fault and fault.body is not None:
                    return self._send(fault.status, fault.body, fault.headers)
                if parts.path != FTS_PATH:
                    return self._send(404, b'{"error": "not found"}')
                try:
                    body = json.dumps(server.fts_page(query), ensure_ascii=False).encode()
                except (KeyError, ValueError) as exc:
                    return self._send(400, json.dumps({"error": str(exc)}).encode())
                if fault and fault.truncate is not None:
                    body = body[: fault.truncate]
                status = fault.status if fault else 200
                self._send(status, body, fault.headers if fault else None)

        return Handler
