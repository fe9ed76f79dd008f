"""A concurrency limit per remote host: crawls of sources on the same site (the ProContract
portals all live on procontract.due-north.com) take turns, however many flow runs, workers
or machines run them. Prefect global concurrency limits named ``crawl-host-<host>``, held
by the server, so they hold across processes; made (or resized) at the start of each run.

Loopback hosts are exempt: they are our own replay servers (tests, the demo), not a public
site to be polite to.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from bidbell.settings import Settings
from flows.steps import load_configured_sources

log = logging.getLogger("bidbell")


def host_of(name: str, settings: Settings) -> str | None:
    """The host a source is crawled from; None for a loopback host (no limit)."""
    config = load_configured_sources(settings).get(name)
    if config is None:
        return None
    host = (urlsplit(config.base_url).hostname or "").lower()
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host in ("localhost", ""):
            return None
    return host


def limit_name(host: str) -> str:
    return f"crawl-host-{host}"


def ensure_host_limits(names: list[str], settings: Settings) -> dict[str, int]:
    """Make sure each remote host of ``names`` has its limit on the Prefect server."""
    from prefect.client.orchestration import get_client

    hosts = sorted({h for n in names if (h := host_of(n, settings))})
    made: dict[str, int] = {}
    if not hosts:
        return made
    with get_client(sync_client=True) as client:
        for host in hosts:
            client.upsert_global_concurrency_limit_by_name(
                limit_name(host), settings.host_concurrency
            )
            made[limit_name(host)] = settings.host_concurrency
    return made


@asynccontextmanager
async def host_slot(name: str, settings: Settings) -> AsyncIterator[None]:
    """Hold one slot of the source's host limit for the length of its crawl."""
    host = host_of(name, settings)
    if host is None:
        yield
        return
    from prefect.concurrency.asyncio import concurrency

    async with concurrency(limit_name(host), occupy=1, strict=False):
        yield
