"""Our own SMTP channel: connections kept open and reused, several side by side.

apprise's ``mailto://`` opens a new connection for every message (~25 messages/s measured
here) and always writes a random Message-ID; alerts at volume need neither. The relay is
still written as apprise writes it (``BIDBELL_EMAIL_URL``), so one URL configures both:

    mailto://[user:password@]host[:port]?from=alerts@example.org&name=Bidbell
    mailtos://user:password@smtp.example.org      STARTTLS on 587 (the default port)
    mailtos://user:password@smtp.example.org:465  TLS from the start (or ?mode=ssl)

``?smtp=host`` names the relay when the URL's host is the mail domain (apprise's way),
``?user=`` / ``?pass=`` may carry the credentials.

Every send answers with an outcome the outbox can act on: sent; ``temporary`` (connection
refused or lost, a timeout, a 4xx: try again later); ``rejected`` (a 5xx to RCPT: this
address will never take it; the target is marked); ``failed`` (a 5xx to MAIL or DATA:
counted as an attempt, retried until the attempts run out).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

SENT, TEMPORARY, REJECTED, FAILED = "sent", "temporary", "rejected", "failed"


class RelayURLError(ValueError):
    """BIDBELL_EMAIL_URL is not a mailto:// or mailtos:// URL we can use."""


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    security: str  # none | starttls | ssl
    user: str | None
    password: str | None
    from_addr: str
    from_name: str

    @property
    def from_domain(self) -> str:
        return self.from_addr.rpartition("@")[2] or "bidbell.localhost"

    def redacted(self) -> str:
        scheme = "mailto" if self.security == "none" else "mailtos"
        return f"{scheme}://{self.host}:{self.port}"


def parse_relay(url: str) -> Relay:
    """The relay of an apprise-style mailto:// URL (see the module doc)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mailto", "mailtos"):
        raise RelayURLError(f"the email URL must be mailto:// or mailtos://, not {parts.scheme!r}")
    query = dict(parse_qsl(parts.query))
    host = query.get("smtp") or parts.hostname
    if not host:
        raise RelayURLError("the email URL names no SMTP host")
    mode = query.get("mode", "").lower()
    if parts.scheme == "mailto":
        security = "none"
        default_port = 25
    elif mode == "ssl" or parts.port == 465:
        security, default_port = "ssl", 465
    else:
        security, default_port = "starttls", 587
    user = query.get("user") or (unquote(parts.username) if parts.username else None)
    password = query.get("pass") or (unquote(parts.password) if parts.password else None)
    from_addr = query.get("from") or (
        f"{user}@{parts.hostname}" if user and "@" not in user else (user or "")
    )
    if not from_addr or "@" not in from_addr:
        from_addr = f"alerts@{parts.hostname or 'bidbell.localhost'}"
    return Relay(
        host=host,
        port=parts.port or default_port,
        security=security,
        user=user,
        password=password,
        from_addr=from_addr,
        from_name=query.get("name", "Bidbell"),
    )


@dataclass
class SendResult:
    outcome: str  # sent | temporary | rejected | failed
    error: str | None = None
    code: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == SENT


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def classify(exc: BaseException) -> SendResult:
    """What an smtplib or socket error means for the outbox."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, raw = next(iter(exc.recipients.values()))
        kind = REJECTED if 500 <= code < 600 else TEMPORARY
        return SendResult(kind, f"RCPT refused: {code} {_text(raw)}", code)
    if isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, _text(exc.smtp_error)
        what = "MAIL FROM" if isinstance(exc, smtplib.SMTPSenderRefused) else "the server"
        if isinstance(exc, smtplib.SMTPDataError):
            what = "DATA"
        kind = FAILED if 500 <= code < 600 else TEMPORARY
        return SendResult(kind, f"{what} answered {code} {text}", code)
    if isinstance(exc, ConnectionRefusedError):
        return SendResult(TEMPORARY, f"cannot reach the SMTP server: {exc}")
    if isinstance(exc, TimeoutError | socket.timeout) or "timed out" in str(exc):
        return SendResult(TEMPORARY, "the SMTP server did not answer in time")
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError):
        return SendResult(TEMPORARY, f"connection lost: {exc or type(exc).__name__}")
    if isinstance(exc, OSError):
        return SendResult(TEMPORARY, f"cannot reach the SMTP server: {exc}")
    return SendResult(TEMPORARY, f"{type(exc).__name__}: {exc}")


class SmtpPool:
    """Up to ``size`` SMTP connections, each kept open and reused by one worker thread.

    ``submit(to, data)`` returns a Future of a SendResult; a connection that the server
    closed while idle is opened again once, transparently."""

    def __init__(self, relay: Relay, size: int = 4, timeout: float = 30.0) -> None:
        self.relay = relay
        self.size = size
        self.timeout = timeout
        self._local = threading.local()
        self._all: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="smtp")

    # --- connections -----------------------------------------------------------------
    def _open(self) -> smtplib.SMTP:
        r = self.relay
        conn: smtplib.SMTP
        if r.security == "ssl":
            conn = smtplib.SMTP_SSL(
                r.host, r.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = smtplib.SMTP(r.host, r.port, timeout=self.timeout)
            if r.security == "starttls":
                conn.starttls(context=ssl.create_default_context())
        if r.user and r.password:
            conn.login(r.user, r.password)
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            with suppress(Exception):  # already gone
                conn.close()

    def _send(self, to: str, data: bytes) -> SendResult:
        for fresh in (False, True):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            try:
                if conn is None:
                    conn = self._local.conn = self._open()
                conn.sendmail(self.relay.from_addr, [to], data)
                return SendResult(SENT)
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset(conn)
                return classify(exc)
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == 421:  # service closing: the connection is gone
                    self._drop()
                else:
                    self._reset(conn)
                return classify(exc)
            except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                self._drop()
                if reused and not fresh:
                    continue  # an idle connection the server closed: open a new one once
                return classify(exc)
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return classify(exc)
        return SendResult(TEMPORARY, "connection lost")  # pragma: no cover

    def _reset(self, conn: smtplib.SMTP | None) -> None:
        """After a refused message: RSET so the connection can carry the next one."""
        if conn is None:
            return
        try:
            conn.rset()
        except Exception:
            self._drop()

    # --- use ---------------------------------------------------------------------------
    def submit(self, to: str, data: bytes) -> Future[SendResult]:
        return self._executor.submit(self._send, to, data)

    def send(self, to: str, data: bytes) -> SendResult:
        return self.submit(to, data).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.quit()
            except Exception:
                with suppress(Exception):
                    conn.close()

    def __enter__(self) -> SmtpPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def smtp_pool(url: str, size: int = 4, timeout: float = 30.0) -> Iterator[SmtpPool]:
    pool = SmtpPool(parse_relay(url), size=size, timeout=timeout)
    try:
        yield pool
    finally:
        pool.close()
