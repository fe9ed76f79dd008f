"""What keeps the pages safe: CSRF tokens on every form, rate limits on what sends email,
security headers on every answer, and signed-link tokens kept out of the logs.

CSRF: a random value in a cookie (SameSite=Lax, HttpOnly) and, in each form, an HMAC of it
under the signing key; a POST whose field does not match its cookie is refused (403). The
RFC 8058 one-click unsubscribe POST carries no form of ours and needs none: the signed token
in its URL is the authority.

Rate limits are counted in this process (a sliding window per client address and per email
address); ``bidbell web`` runs one process. Behind a proxy, run uvicorn with
``--proxy-headers`` so the client address is the visitor's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from bidbell.signing import PATHS, secret_key

CSRF_COOKIE = "bidbell_csrf"
CSRF_FIELD = "csrf_token"
# Pages may load our own stylesheet and nothing else: no script at all, no frames, forms
# posting only to us, no <base> games.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Tokens live in some of our URLs: never hand them on to a site a link leads to.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_TOKEN_PATH = re.compile(
    r"/("
    + "|".join(re.escape(p) for p in sorted(PATHS.values(), key=len, reverse=True))
    + r")/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
)


def redact_tokens(text: str) -> str:
    """'/u/eyJ...abc' -> '/u/[token]': what a log line may show of a signed link."""
    return _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/[token]", text)


class RedactTokens(logging.Filter):
    """A logging filter for uvicorn's access log: signed links never reach a log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        record.msg = redact_tokens(str(record.msg))
        return True


def _sign(value: str) -> str:
    return hmac.new(secret_key(), f"csrf.{value}".encode(), hashlib.sha256).hexdigest()[:32]


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms (makes the cookie's value when there is none;
    the middleware sets the cookie on the way out)."""
    value = getattr(request.state, "csrf_value", None)
    if value is None:
        value = request.cookies.get(CSRF_COOKIE) or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", value):
            value = secrets.token_urlsafe(32)
            request.state.csrf_new = True
        request.state.csrf_value = value
    return _sign(value)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(_sign(cookie), submitted)


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Every answer carries the security headers; a page that made a CSRF value sets its
    cookie; pages reached by a signed link are never cached."""
    response = await call_next(request)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(
            CSRF_COOKIE,
            request.state.csrf_value,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
    if getattr(request.state, "private", False):
        response.headers["Cache-Control"] = "no-store"
    return response


@dataclass
class RateLimit:
    """At most ``limit`` events per ``window_s`` seconds for one key."""

    limit: int
    window_s: float
    _events: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Count one event; None when allowed, else the seconds until one more is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._events[key]
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return max(1.0, q[0] + self.window_s - now)
            q.append(now)
            if len(self._events) > 100_000:  # forget idle keys rather than grow for ever
                for k in [k for k, v in self._events.items() if not v][:50_000]:
                    del self._events[k]
            return None

    def reset(self) -> None:
        with self._lock:
            self._events.clear()


@dataclass
class Limits:
    """The rate limits of the pages that send email (sign-up, a new preferences link)."""

    per_client: RateLimit = field(default_factory=lambda: RateLimit(10, 600.0))
    per_email: RateLimit = field(default_factory=lambda: RateLimit(3, 3600.0))

    def check(self, client: str, email: str | None) -> float | None:
        wait = self.per_client.hit(f"client:{client}")
        if wait is None and email:
            digest = hashlib.sha256(email.encode()).hexdigest()  # no addresses kept in memory
            wait = self.per_email.hit(f"email:{digest}")
        return wait
