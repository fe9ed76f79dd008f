"""Per-host crawl limits (flows.limits): sources on one remote host take turns, across
processes, through a Prefect global concurrency limit held by the server; loopback hosts
(our replay servers) are not limited. No request leaves the machine: only the slots are
taken, no crawl is made."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Coroutine
from pathlib import Path

import pytest

from bidbell.settings import Settings
from flows.limits import ensure_host_limits, host_of, host_slot, limit_name

SOURCES = """
[sources.portal_a]
type = "procontract"
base_url = "https://procontract.example.org"
[sources.portal_a.params]
portal = "a"
[sources.portal_b]
type = "procontract"
base_url = "https://procontract.example.org"
[sources.portal_b.params]
portal = "b"
[sources.local]
type = "find_a_tender"
base_url = "http://127.0.0.1:8080/fts"
"""


def run_apart(coro: Coroutine[object, object, None]) -> None:
    """asyncio.run in a thread of its own: a session's browser (Playwright's sync API)
    keeps an event loop running in this one, where asyncio.run refuses to start. The
    thread runs in a copy of this context (Prefect's temporary settings live there)."""
    failed: list[BaseException] = []
    context = contextvars.copy_context()

    def target() -> None:
        try:
            context.run(asyncio.run, coro)
        except BaseException as exc:  # handed back to the test
            failed.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if failed:
        raise failed[0]


@pytest.mark.prefect
def test_sources_on_one_host_take_turns(tmp_path: Path, prefect_api: str) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    path = tmp_path / "sources.toml"
    path.write_text(SOURCES)
    s = Settings(sources_file=path, source_urls={})
    assert host_of("portal_a", s) == host_of("portal_b", s) == "procontract.example.org"
    assert host_of("local", s) is None

    spans: dict[str, tuple[float, float]] = {}

    async def crawl(name: str) -> None:
        async with host_slot(name, s):
            began = time.monotonic()
            await asyncio.sleep(1.0)
            spans[name] = (began, time.monotonic())

    async def both(a: str, b: str) -> None:
        await asyncio.gather(crawl(a), crawl(b))

    with temporary_settings({PREFECT_API_URL: prefect_api}):
        made = ensure_host_limits(["portal_a", "portal_b", "local"], s)
        assert made == {limit_name("procontract.example.org"): 1}
        run_apart(both("portal_a", "portal_b"))
        (a0, a1), (b0, b1) = spans["portal_a"], spans["portal_b"]
        assert a1 <= b0 or b1 <= a0  # one after the other, never both at once
        spans.clear()
        run_apart(both("local", "portal_a"))  # a loopback source does not wait
        (l0, l1), (p0, p1) = spans["local"], spans["portal_a"]
        assert l0 < p1 and p0 < l1  # side by side
