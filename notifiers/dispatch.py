"""Every channel but our pooled email goes through apprise: SMS gateways, Teams, Slack,
webhooks. A channel is an apprise URL, not code.

apprise's ``notify()`` answers True, False or None; None means "no target", which is not
a success. Its log is captured per attempt so a failure names its reason, and an HTTP
status in it says whether trying again can help (a 400/404/410/422 from an SMS gateway is
a number it will never take; a 5xx or a timeout is worth another try).

Targets an organisation adds are checked before they are stored and again before each
send: a scheme from the allow-list (``BIDBELL_TARGET_SCHEMES``), and no host that is a
loopback, private, link-local or otherwise internal address (``BIDBELL_ALLOW_PRIVATE_TARGETS``
lifts that for the tests and the demo, whose stand-ins listen on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import apprise

log = logging.getLogger(__name__)

# Schemes whose host is a network host we would connect to (the others reach a fixed
# public API: slack://, msteams://, discord://, tgram://, twilio:// ...).
HOST_SCHEMES = frozenset(
    {"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos", "ntfy", "ntfys",
     "matrix", "matrixs", "gotify", "gotifys", "apprise", "apprises", "mqtt", "mqtts"}
)  # fmt: skip
PERMANENT_HTTP = frozenset({400, 404, 410, 422})
_HTTP_ERROR = re.compile(r"error=(\d{3})")


class TargetRefused(ValueError):
    """A target an organisation may not add (scheme not allowed, or an internal address)."""


@dataclass
class NotifyResult:
    ok: bool
    error: str | None = None
    permanent: bool = False  # the target refused for good (trying again cannot help)


def email_target(base_url: str, to: str, headers: dict[str, str]) -> str:
    """The apprise URL for one recipient: the relay URL plus to= and +Header=value (the
    one-message-per-connection path, kept as the benchmark's baseline)."""
    parts = urlsplit(base_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "to"]
    query.append(("to", to))
    query.extend((f"+{k}", v) for k, v in headers.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def fill_target(template: str, to: str) -> str:
    """An SMS gateway URL with the number put in: ``{to}`` -> the E.164 number (URL-quoted,
    so the + survives a query string)."""
    if "{to}" not in template:
        raise ValueError("the SMS gateway URL needs {to} where the number goes")
    return template.replace("{to}", quote(to, safe=""))


def redact(url: str) -> str:
    """A target as it may be stored and shown: scheme, host and recipient, no credentials,
    no tokens in the path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in HOST_SCHEMES:
        return f"{parts.scheme}://…"
    if parts.port:
        host = f"{host}:{parts.port}"
    to = dict(parse_qsl(parts.query)).get("to", "")
    return f"{parts.scheme}://{host}" + (f" to {to}" if to else "")


def _internal(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return bool(
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def check_target(url: str, schemes: list[str], allow_private: bool = False) -> str:
    """The URL if an organisation may use it; TargetRefused saying why otherwise."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in {s.lower() for s in schemes}:
        raise TargetRefused(
            f"{scheme or 'no'}:// is not an allowed kind of target; allowed: "
            + ", ".join(sorted(schemes))
        )
    if not apprise.Apprise().add(url):
        raise TargetRefused(f"not a usable apprise URL: {redact(url)}")
    if scheme in HOST_SCHEMES and not allow_private:
        host = (parts.hostname or "").lower()
        if not host or host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise TargetRefused(f"{host or 'no host'}: an internal address is not allowed")
        if _internal(host):
            raise TargetRefused(f"{host}: a loopback, private or link-local address")
        try:
            infos = socket.getaddrinfo(host, parts.port or None, proto=socket.IPPROTO_TCP)
        except OSError:
            infos = []  # cannot resolve here: the send will fail, nothing internal reached
        for info in infos:
            if _internal(str(info[4][0])):
                raise TargetRefused(f"{host} resolves to an internal address ({info[4][0]})")
    return url.strip()


def notify(url: str, title: str, body: str, body_format: str = "text") -> NotifyResult:
    """Send one message to one apprise URL."""
    app = apprise.Apprise()
    if not app.add(url):
        return NotifyResult(False, f"not a usable apprise URL: {redact(url)}", permanent=True)
    fmt = apprise.NotifyFormat.HTML if body_format == "html" else apprise.NotifyFormat.TEXT
    with apprise.LogCapture(level=apprise.logging.WARNING) as logs:
        outcome = app.notify(title=title, body=body, body_format=fmt)
        captured = logs.getvalue().strip()
    if outcome is None:
        return NotifyResult(False, "no target", permanent=True)
    if outcome:
        return NotifyResult(True)
    lines = [line for line in captured.splitlines() if line.strip()]
    error = lines[-1] if lines else "apprise reported failure"
    codes = [int(c) for c in _HTTP_ERROR.findall(captured)]
    return NotifyResult(False, error[:500], permanent=bool(codes) and codes[-1] in PERMANENT_HTTP)
