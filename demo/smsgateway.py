"""A local HTTP endpoint standing in for an SMS gateway (demo and tests).

Bidbell reaches an SMS gateway through an apprise URL with ``{to}`` where the number goes
(``BIDBELL_SMS_URL``); against this stand-in that is apprise's JSON webhook,
``json://127.0.0.1:PORT/sms/{to}``: each message is a POST of apprise's JSON payload
(``title``, ``message``...) to ``/sms/<E.164 number>``. The stand-in keeps every message
and can be told to answer with an error or to be slow, a number of times or for good, so
that the outbox's retries can be shown. Nothing here is a real gateway's API.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass
class Sms:
    to: str
    text: str
    payload: dict[str, Any]


@dataclass
class GatewayFault:
    status: int = 500
    delay: float = 0.0
    times: int | None = 1  # None: until removed
    only_to: str | None = None  # only for this number


@dataclass
class SmsGateway:
    folder: Path | None = None
    received: list[Sms] = field(default_factory=list)
    faults: list[GatewayFault] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The BIDBELL_SMS_URL that reaches this stand-in."""
        return f"json://127.0.0.1:{self.port}/sms/{{to}}"

    def fail(self, fault: GatewayFault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _fault_for(self, to: str) -> GatewayFault | None:
        with self._lock:
            for f in self.faults:
                if f.times != 0 and (f.only_to is None or f.only_to == to):
                    if f.times is not None:
                        f.times -= 1
                    return f
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                path = unquote(urlsplit(self.path).path)
                to = path.rsplit("/", 1)[-1]
                with gateway._lock:
                    gateway.requests += 1
                fault = gateway._fault_for(to)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                if fault and fault.status >= 300:
                    self._answer(fault.status, {"error": "scripted failure"})
                    return
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    self._answer(400, {"error": "not JSON"})
                    return
                sms = Sms(to=to, text=str(payload.get("message", "")), payload=payload)
                with gateway._lock:
                    gateway.received.append(sms)
                    if gateway.folder is not None:
                        gateway.folder.mkdir(parents=True, exist_ok=True)
                        n = len(gateway.received)
                        (gateway.folder / f"{n:05d}.txt").write_text(
                            f"To: {to}\n\n{sms.text}\n", encoding="utf-8"
                        )
                self._answer(200, {"status": "queued"})

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:  # the client gave up (a timeout we scripted)
                    pass

        return Handler

    def start(self) -> SmsGateway:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SmsGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
