"""Signed links: the one format for every link a message carries and a page opens
(unsubscribe, preferences, remind me, confirm sign-up, a profile's private feed).

A token is ``<payload>.<signature>``: the payload is base64url JSON
``{"p": purpose, "d": data, "e": expiry (Unix seconds) or null}``, the signature the first
128 bits of HMAC-SHA256 over ``purpose + "." + payload`` with the secret key, base64url.
Nothing in it can be guessed (a sequential id is no use without the key), a token made for
one purpose is refused for another, and an expired one is refused as such.

The secret is ``BIDBELL_SECRET_KEY``; when it is not set, one is made at first use and kept
in ``<var>/secret_key`` (mode 0600), so links keep working across restarts. Rotating the
key ends every link given out.

The paths under ``BIDBELL_PUBLIC_URL`` (delivery writes these links, the web app answers
them; ``link()`` builds them):

    /u/<token>         unsubscribe: GET a page with one button; POST = RFC 8058 one-click
                       (purpose "unsubscribe", data {"org": id} or {"org": id, "profile": id})
    /prefs/<token>     preferences, reached without a password (purpose "prefs",
                       data {"org": id}; expires: MAGIC_LINK_TTL)
    /confirm/<token>   double opt-in (purpose "confirm", data {"org": id}; CONFIRM_TTL)
    /remind/<token>    "remind me before the deadline" (purpose "remind",
                       data {"org": id, "opp": id, "days": n})
    /feeds/p/<token>.rss and .atom   a profile's private feed (purpose "feed",
                       data {"profile": id}; no expiry)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MAGIC_LINK_TTL = timedelta(days=7)
CONFIRM_TTL = timedelta(days=3)
PATHS = {
    "unsubscribe": "u",
    "prefs": "prefs",
    "confirm": "confirm",
    "remind": "remind",
    "feed": "feeds/p",
}


class BadToken(ValueError):
    """A link that was not made by us, was made for something else, or was changed."""


class ExpiredToken(BadToken):
    """A link of ours whose time is up (say so: the person can ask for a new one)."""


_KEY_LOCK = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret_key() -> bytes:
    """The signing key: BIDBELL_SECRET_KEY, else one kept in <var>/secret_key."""
    from bidbell.settings import get_settings

    s = get_settings()
    if s.secret_key:
        return s.secret_key.encode("utf-8")
    path = Path(s.var_dir) / "secret_key"
    with _KEY_LOCK:
        try:
            return path.read_bytes().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48).encode("ascii")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key


def _signature(key: bytes, purpose: str, payload: str) -> str:
    digest = hmac.new(key, f"{purpose}.{payload}".encode(), hashlib.sha256).digest()
    return _b64(digest[:16])


def sign(
    purpose: str,
    data: dict[str, Any],
    expires_in: timedelta | None = None,
    now: datetime | None = None,
    key: bytes | None = None,
) -> str:
    """A token for ``purpose`` carrying ``data`` (small JSON), valid for ``expires_in``."""
    if purpose not in PATHS:
        raise ValueError(f"unknown link purpose {purpose!r}; known: {', '.join(PATHS)}")
    expiry = None
    if expires_in is not None:
        expiry = int(((now or datetime.now(UTC)) + expires_in).timestamp())
    body = json.dumps({"p": purpose, "d": data, "e": expiry}, separators=(",", ":"))
    payload = _b64(body.encode("utf-8"))
    return f"{payload}.{_signature(key or secret_key(), purpose, payload)}"


def verify(
    purpose: str, token: str, now: datetime | None = None, key: bytes | None = None
) -> dict[str, Any]:
    """The data of a token made for ``purpose``; BadToken or ExpiredToken otherwise."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 2000:
        raise BadToken("not a link of ours")
    payload, signature = token.split(".")
    expected = _signature(key or secret_key(), purpose, payload)
    if not hmac.compare_digest(expected, signature):
        raise BadToken("this link is not valid (changed, or made for something else)")
    try:
        body = json.loads(_unb64(payload))
    except ValueError:
        raise BadToken("not a link of ours") from None
    if not isinstance(body, dict) or body.get("p") != purpose:
        raise BadToken("this link was made for something else")
    expiry = body.get("e")
    if expiry is not None and (now or datetime.now(UTC)).timestamp() > expiry:
        raise ExpiredToken("this link has expired")
    data = body.get("d")
    return data if isinstance(data, dict) else {}


def link(
    purpose: str,
    data: dict[str, Any],
    expires_in: timedelta | None = None,
    suffix: str = "",
    now: datetime | None = None,
) -> str:
    """The full URL of a signed link under BIDBELL_PUBLIC_URL (see the module's paths)."""
    from bidbell.settings import get_settings

    base = get_settings().public_url.rstrip("/")
    return f"{base}/{PATHS[purpose]}/{sign(purpose, data, expires_in, now)}{suffix}"
