"""Run the Prefect flow in Prefect's local mode with clean terminal output.

Local mode: no PREFECT_API_URL, so Prefect runs its own temporary server. We start that
server ourselves (the same singleton Prefect would start lazily) with its stdout/stderr sent
to var/prefect/server.log: on exit it prints 'Error flushing events' and CancelledError
tracebacks (PrefectHQ/prefect#15033) that a user must not see. Telemetry is off (offline).
Prefect's settings must be in the environment before ``import prefect``: import this module
before anything that imports Prefect.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from bidbell.settings import get_settings


def prepare_prefect_env() -> Path:
    s = get_settings()
    home = s.prefect_home
    home.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("PREFECT_API_URL"):
        os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "true"
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # no network: no telemetry
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    # Prefect's per-task lines to <PREFECT_HOME>/run.log; the terminal shows our own lines
    # (flows.progress) and Prefect's warnings and errors.
    os.environ.setdefault(
        "PREFECT_LOGGING_CONFIG_PATH", str(Path(__file__).with_name("prefect_logging.yml"))
    )
    # Flow and task logs go to the terminal only: the temporary server is gone after the
    # run, and shipping logs to it at exit fails ("Error logging to API").
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    return home


def _start_local_server(log_path: Path) -> Any:
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # port=None: the instance Prefect's client reuses
    sys.stdout.flush()
    sys.stderr.flush()
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(log_fd, 1)  # the server subprocess inherits these descriptors
        os.dup2(log_fd, 2)
        server.start()  # returns when /api/health answers
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
    return server


def run_pipeline_once(sources: list[str] | None) -> dict[str, Any] | None:
    """Run ``run_pipeline`` once; return its summary (None if the flow failed)."""
    home = prepare_prefect_env()
    from models.store.db import migrate

    migrate(get_settings().effective_database_url)
    import prefect  # noqa: F401  (after the environment is set)

    logging.getLogger("prefect").addFilter(
        lambda record: "temporary server" not in record.getMessage()
    )
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        typer.echo("starting Prefect (local mode) ...")
        server = _start_local_server(home / "server.log")
    try:
        from flows.pipeline import run_pipeline
        from flows.progress import displaying

        with displaying():
            state = run_pipeline(sources=sources, return_state=True)
        if state.is_failed():
            typer.secho(f"pipeline failed: {state.message}", fg=typer.colors.RED, err=True)
            return None
        result: dict[str, Any] = state.result()
        return result
    finally:
        if server is not None:
            # Hand every pending event to the server before stopping it, so it is idle
            # when stopped (stopping it mid-write is what prints tracebacks at exit).
            from prefect.events.worker import EventsWorker

            EventsWorker.drain_all(timeout=15)
            server.stop()


# Exit statuses of `bidbell run` (and `bidbell demo`), as the README promises.
EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_SOURCE_FAILED, EXIT_NOT_SENT = 0, 1, 2, 3, 4


def exit_status(summary: dict[str, Any] | None) -> int:
    """0 all well; 1 the run or a stage failed; 3 it finished but a source failed; 4 it
    finished but alerts could not be sent (they stay in the outbox and are tried again)."""
    if summary is None or summary.get("errors"):
        return EXIT_ERROR
    if any(c.get("error") for c in summary["collected"]):
        return EXIT_SOURCE_FAILED
    sent = summary.get("sent") or {}
    if sent.get("failed"):
        return EXIT_NOT_SENT
    return EXIT_OK


def run_pipeline_cli(sources: list[str] | None) -> int:
    summary = run_pipeline_once(sources)
    if summary is None:
        return EXIT_ERROR
    for c in summary["collected"]:
        st = c["stored"]
        typer.echo(
            f"{c['source']}: {c['notices']} notice(s) from {c['windows']} window(s); "
            f"{st.get('inserted', 0)} new, {st.get('updated', 0)} updated; "
            f"{st.get('opportunities_new', 0)} new opportunities; {c['errors']} error(s)"
        )
        for line in c.get("rejections") or []:
            typer.secho(f"    rejected {line}", fg=typer.colors.YELLOW)
        if c["error"]:
            typer.secho(f"    {c['source']} failed: {c['error']}", fg=typer.colors.RED, err=True)
    a, sent = summary.get("alerts"), summary.get("sent")
    if a is not None and sent is not None:
        typer.echo(
            f"alerts: {a['alerts_created']} new; sent {sent['sent']}, failed {sent['failed']}"
        )
    if summary.get("feed"):
        typer.echo(f"feed: {summary['feed']}")
    for stage, message in (summary.get("errors") or {}).items():
        typer.secho(f"{stage} failed: {message}", fg=typer.colors.RED, err=True)
    status = exit_status(summary)
    if status == EXIT_NOT_SENT:
        typer.secho(
            f"{sent['failed'] if sent else 0} alert(s) could not be sent; they stay in the "
            "outbox and are tried again on the next run",
            fg=typer.colors.YELLOW,
            err=True,
        )
    return status
