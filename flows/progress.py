"""What a person sees while the pipeline or a long command runs: one line per stage and
source as each finishes (with a spinner naming what is still running, in a terminal), and
progress bars with counts, rate and time left for long work. Quiet when not a terminal:
then each finished step is one plain line, and bars are not drawn.

Prefect's own per-task log lines (hashed task-run names) go to ``<var>/prefect/run.log``
(flows/prefect_logging.yml) and the Prefect UI, not the terminal.

The pipeline reports through ``reporter()``; the command line installs a ``RunDisplay``
for the length of a run (``displaying()``). Nothing is shown when none is installed (tests,
workers).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class Reporter:
    """The silent reporter (no display installed)."""

    def started(self, step: str) -> None:
        """A step ("crawl find_a_tender", "match") has started."""

    def finished(self, step: str, summary: str, ok: bool = True) -> None:
        """A step has finished; ``summary`` says what it did in a few words."""


class RunDisplay(Reporter):
    """One line per finished step; in a terminal, a spinner naming the running steps."""

    def __init__(self, stream: TextIO | None = None, force_terminal: bool | None = None) -> None:
        self.console = Console(
            file=stream or sys.stderr, highlight=False, force_terminal=force_terminal
        )
        self.tty = self.console.is_terminal
        self.running: dict[str, float] = {}
        self.lock = threading.Lock()
        self.status: Any = None

    def __enter__(self) -> RunDisplay:
        if self.tty:
            self.status = self.console.status("starting ...", spinner="dots")
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def _refresh(self) -> None:
        if self.status is not None:
            names = ", ".join(self.running) or "..."
            self.status.update(f"running: {names}")

    def started(self, step: str) -> None:
        with self.lock:
            self.running[step] = time.monotonic()
            self._refresh()

    def finished(self, step: str, summary: str, ok: bool = True) -> None:
        with self.lock:
            began = self.running.pop(step, None)
            took = f" ({time.monotonic() - began:.1f} s)" if began is not None else ""
            mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
            if not self.tty:
                mark = "ok  " if ok else "FAIL"
            self.console.print(f"  {mark} {step}: {summary}{took}", markup=self.tty, soft_wrap=True)
            self._refresh()


_CURRENT: Reporter = Reporter()


def reporter() -> Reporter:
    return _CURRENT


@contextmanager
def displaying(stream: TextIO | None = None) -> Iterator[RunDisplay]:
    """Show the pipeline's steps for the length of the block."""
    global _CURRENT
    display = RunDisplay(stream)
    previous, _CURRENT = _CURRENT, display
    try:
        with display:
            yield display
    finally:
        _CURRENT = previous


class RateColumn(ProgressColumn):
    """Items per second."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else "")


@contextmanager
def progress_bar(
    what: str,
    total: int | None,
    stream: TextIO | None = None,
    unit: str = "",
    force_terminal: bool | None = None,
) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar (counts, rate, time left) in a terminal; nothing otherwise. Yields
    ``advance(done, total)`` to call with the work done so far."""
    console = Console(file=stream or sys.stderr, force_terminal=force_terminal)
    if not console.is_terminal:

        def quiet(done: int, new_total: int | None = None) -> None:
            return None

        yield quiet
        return
    columns: list[Any] = [
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit or "items"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(what, total=total)

        def advance(done: int, new_total: int | None = None) -> None:
            if new_total is not None:
                bar.update(task, total=new_total)
            bar.update(task, completed=done)

        yield advance
