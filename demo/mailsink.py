"""A real SMTP server on 127.0.0.1 that keeps every message it receives (demo and tests)."""

from __future__ import annotations

import random
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A free port on 127.0.0.1 for a server that binds it a moment later. Chosen below the
    kernel's ephemeral range (Linux: 32768-60999), where port 0 never lands: a port taken
    by binding to 0 and let go could be handed to another process's socket before our
    server binds it (a Prefect server starting for seconds lost its port to a replay server
    that way, and its clients' health checks reached the wrong server)."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the low range is full: any free port
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    path: Path | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


class MailSink:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        with self._lock:
            path = None
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                path = self.folder / f"{len(self.received) + 1:05d}.eml"
                path.write_bytes(raw)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), raw, path))
        return "250 Message accepted for delivery"

    @property
    def url(self) -> str:
        """An apprise URL for this server (no auth, plain SMTP)."""
        return f"mailto://127.0.0.1:{self.port}?from=alerts@bidbell.localhost&name=Bidbell"

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
