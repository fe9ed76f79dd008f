"""A local stand-in for the sources, serving real captures (and, where no capture exists,
fixtures built from the documented layout) on 127.0.0.1 for the demo and the tests.

One HTTP server; each source's site is mounted under a path prefix, so a source's base URL
is ``server.url + prefix``. Tests script faults (status, headers, truncated bodies, delays)
for chosen requests; every request is logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


class FixturesMissing(FileNotFoundError):
    pass


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class Site(Protocol):
    def handle(self, server: ReplayServer, path: str, query: dict[str, str],
               headers: dict[str, str]) -> Reply: ...  # fmt: skip


@dataclass
class Fault:
    """Answer matching requests with this instead of data, ``times`` times (None: forever).

    ``match(path, query)`` sees the full path (mount prefix included).
    """

    match: Callable[[str, dict[str, str]], bool]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    truncate: int | None = None  # serve only the first N bytes of the real answer
    delay: float = 0.0
    times: int | None = 1


class ReplayServer:
    def __init__(
        self, robots_txt: str = "User-agent: *\nDisallow: /private/\n", port: int = 0
    ) -> None:
        self.sites: dict[str, Site] = {}
        self.robots_txt = robots_txt
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self.request_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        try:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        except OSError:  # the preferred port is taken: any free one will do
            self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def mount(self, prefix: str, site: Site) -> str:
        """Serve ``site`` under ``prefix`` (e.g. "/fts"); returns its base URL."""
        prefix = "/" + prefix.strip("/")
        self.sites[prefix] = site
        return self.url + prefix

    def start(self) -> ReplayServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
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

    def _take_fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.times != 0 and f.match(path, query):
                    if f.times is not None:
                        f.times -= 1
                    return f
        return None

    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        if path == "/robots.txt":
            return Reply(200, self.robots_txt.encode(), content_type="text/plain")
        for prefix in sorted(self.sites, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                try:
                    return self.sites[prefix].handle(self, path[len(prefix):] or "/", query,
                                                     headers)  # fmt: skip
                except (KeyError, ValueError) as exc:
                    return Reply(400, f'{{"error": "{exc}"}}'.encode())
        return Reply(404, b'{"error": "not found"}')

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(reply.body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with server._lock:
                    server.requests.append(self.path)
                    server.request_headers.append(dict(self.headers.items()))
                fault = server._take_fault(parts.path, query)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                if fault and fault.body is not None:
                    return self._send(Reply(fault.status, fault.body, fault.headers))
                reply = server.route(parts.path, query, dict(self.headers.items()))
                if fault:
                    if fault.truncate is not None:
                        reply.body = reply.body[: fault.truncate]
                    reply.status = fault.status
                    reply.headers.update(fault.headers)
                self._send(reply)

        return Handler


# Sources whose local site serves fixtures built from a documented layout (no public capture
# exists); the demo says so next to their figures.
CONSTRUCTED_SOURCES = frozenset({"kent_business_portal", "prime_example", "feed_example"})


def replay_all(
    fixtures_dir: Any, page_size: int = 2, port: int = 0
) -> tuple[ReplayServer, dict[str, str]]:
    """A server with every source's site mounted; returns it and {source name: base URL}.

    ``port``: a preferred port (the demo asks for the same one each time, so links stored
    from one run are the same in the next); 0 or a taken port means any free port."""
    from demo.replay.contracts_finder import CfCsvSite, CfOcdsSite
    from demo.replay.feed import FeedSite
    from demo.replay.fts import FtsSite
    from demo.replay.listing import ListingSite
    from demo.replay.ocds_monthly import OcdsMonthlySite
    from demo.replay.procontract import ProContractSite

    server = ReplayServer(port=port)
    urls = {
        "find_a_tender": server.mount("/fts", FtsSite(fixtures_dir, page_size=page_size)),
        "contracts_finder": server.mount("/cf", CfOcdsSite(fixtures_dir, page_size=page_size)),
        "contracts_finder_csv": server.mount("/cf-csv", CfCsvSite(fixtures_dir)),
        "public_contracts_scotland": server.mount("/pcs", OcdsMonthlySite(fixtures_dir, "pcs")),
        "sell2wales": server.mount("/s2w", OcdsMonthlySite(fixtures_dir, "s2w")),
        # constructed from the documented layouts (see the files' headers)
        "kent_business_portal": server.mount("/kent-business-portal", ProContractSite()),
        "prime_example": server.mount("/prime-example", ListingSite()),
        "feed_example": server.mount("/feed", FeedSite()),
    }
    return server, urls
