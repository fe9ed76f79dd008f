"""Delivery fixtures: real captures stored, subscribers registered, a real SMTP server on
127.0.0.1 that can be told to refuse or stall, and a local HTTP endpoint standing in for
the SMS gateway (demo.smsgateway)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bidbell.settings import Settings, get_settings, reset_settings
from demo.mailsink import MailSink
from demo.smsgateway import SmsGateway
from matching.alerts import create_alerts
from models.store.store import store_records
from models.subscribers.manage import add_subscriber
from notifiers.outbox import DeliveryReport, deliver
from spiders.files import read_file

# A Tuesday evening in October (UK summer time): not quiet hours, not a digest hour.
NOW = datetime(2026, 10, 6, 17, 0, tzinfo=UTC)
BEDS = "bids@bedscare.example.org"
KENT = "hi@kentdigital.example.com"
MOBILE = "+447911123456"


class FaultySink(MailSink):
    """The demo's SMTP sink with scripted answers: ``rcpt[address] = "550 ..."`` refuses a
    recipient; ``data`` answers DATA with these replies in turn (then accepts);
    ``stall`` seconds of silence before answering DATA."""

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__(folder)
        self.rcpt: dict[str, str] = {}
        self.data: list[str] = []
        self.stall = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.rcpt:
            return self.rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.data:
            return self.data.pop(0)
        return await super().handle_DATA(server, session, envelope)

    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[FaultySink]:
    with FaultySink(tmp_path / "mail") as s:
        yield s


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[SmsGateway]:
    with SmsGateway(tmp_path / "sms") as g:
        yield g


@pytest.fixture
def delivery_env(
    engine: Engine, sink: FaultySink, gateway: SmsGateway, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Settings]:
    """Point delivery at the local SMTP server and SMS stand-in; returns a function that
    changes more settings (``configure(SMTP_TIMEOUT_S="1")``) and gives the settings."""

    def configure(**more: str) -> Settings:
        for k, v in more.items():
            monkeypatch.setenv(f"BIDBELL_{k.upper()}", v)
        reset_settings()
        return get_settings()

    base = {
        "EMAIL_URL": sink.url,
        "SMS_URL": gateway.url,
        "SECRET_KEY": "test-secret-key",
        "PUBLIC_URL": "https://bidbell.example.org",
    }
    return lambda **more: configure(**{**base, **more})


def store_captures(engine: Engine, fts_files: list[Path], now: datetime = NOW) -> None:
    with Session(engine) as s:
        recs = [
            r.model_dump()
            for f in fts_files
            for r in read_file("find_a_tender", "find_a_tender", f)
        ]
        store_records(s, recs, now=now)
        s.commit()


def register(engine: Engine, **kw: Any) -> None:
    """Beds Care (VCSE, social care in Bedfordshire: matches the Aldbanks tender)."""
    args: dict[str, Any] = {
        "name": "Beds Care",
        "email": BEDS,
        "kind": "vcse",
        "cpv_prefixes": ["85"],
        "regions": ["UKH2"],
        "max_value": 5_000_000,
        "engine": engine,
    }
    args.update(kw)
    add_subscriber(**args)


def match(engine: Engine, now: datetime = NOW) -> Any:
    with Session(engine) as s:
        r = create_alerts(s, now)
        s.commit()
    return r


def run(engine: Engine, settings: Settings, now: datetime = NOW) -> DeliveryReport:
    return deliver(engine, settings, now)
