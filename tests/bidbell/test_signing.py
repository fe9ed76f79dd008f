"""Signed links (bidbell.signing): unguessable, bound to their purpose, expiring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bidbell.settings import get_settings
from bidbell.signing import BadToken, ExpiredToken, link, secret_key, sign, verify

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_round_trip_and_purpose() -> None:
    token = sign("unsubscribe", {"org": 7}, now=NOW)
    assert verify("unsubscribe", token) == {"org": 7}
    with pytest.raises(BadToken, match="made for something else"):
        verify("prefs", token)


def test_tampering_is_refused() -> None:
    token = sign("unsubscribe", {"org": 7})
    payload, sig = token.split(".")
    other = sign("unsubscribe", {"org": 8}).split(".")[0]
    # the last of 22 base64 characters is one of A, Q, g, w: "A" was sometimes no change
    changed = sig[:-1] + ("B" if sig[-1] != "B" else "C")
    for bad in (f"{other}.{sig}", f"{payload}.{changed}", payload, "", "a.b.c", "x" * 3000):
        with pytest.raises(BadToken):
            verify("unsubscribe", bad)


def test_expiry() -> None:
    token = sign("prefs", {"org": 1}, expires_in=timedelta(days=7), now=NOW)
    assert verify("prefs", token, now=NOW + timedelta(days=6)) == {"org": 1}
    with pytest.raises(ExpiredToken):
        verify("prefs", token, now=NOW + timedelta(days=8))


def test_key_is_kept_and_a_set_key_wins(monkeypatch) -> None:
    first = secret_key()
    assert first == secret_key() and len(first) >= 48
    path = get_settings().var_dir / "secret_key"
    assert path.stat().st_mode & 0o777 == 0o600
    token = sign("feed", {"profile": 3})
    monkeypatch.setattr(get_settings(), "secret_key", "another key")
    with pytest.raises(BadToken):
        verify("feed", token)


def test_link_shape(monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "public_url", "https://bidbell.example/")
    url = link("feed", {"profile": 3}, suffix=".rss")
    assert url.startswith("https://bidbell.example/feeds/p/") and url.endswith(".rss")
    token = url.rsplit("/", 1)[1].removesuffix(".rss")
    assert verify("feed", token) == {"profile": 3}
