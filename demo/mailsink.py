"""A real SMTP server on 127.0.0.1 that keeps every message it receives (demo and tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from bidbell.net import free_port as free_port  # where the demo and the tests find it


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
