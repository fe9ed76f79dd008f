"""``bidbell serve``: the Prefect server (unless PREFECT_API_URL points at one), the web app,
and every deployment of flows.deployments served from this process; Ctrl-C or SIGTERM stops
them all cleanly (the served schedules are paused, the web app and the server stopped).

Processes (the one-machine default; README "Production topology" for more machines):
- this process: Prefect's runner (``serve``), which starts each flow run as a subprocess;
- ``prefect server start`` (API, UI, scheduler) on 127.0.0.1:<prefect_port>, its output in
  var/prefect/server.log, its database PREFECT_API_DATABASE_CONNECTION_URL (SQLite in
  var/prefect by default; PostgreSQL in production);
- ``bidbell web`` on --host/--port, its output in var/web.log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer

from bidbell.net import free_port
from bidbell.settings import get_settings
from flows.runner import prepare_prefect_env

HEALTH_WAIT_S = 120.0


def wait_healthy(
    url: str,
    proc: subprocess.Popen[bytes] | None,
    what: str,
    log: Path,
    wait_s: float = HEALTH_WAIT_S,
) -> None:
    """Until ``url`` answers 200; RuntimeError naming ``what`` and its log's first error when
    ``proc`` ends first or ``wait_s`` passes."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            said = next((x for x in tail.splitlines() if "ERROR" in x), "")
            raise RuntimeError(f"{what} did not start{': ' + said if said else ''} (see {log})")
        time.sleep(0.5)


def start_prefect_server(home: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """A Prefect server with its services (the scheduler makes the scheduled runs)."""
    port = port or free_port()
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_SERVER_EPHEMERAL_ENABLED", None)
    env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    if get_settings().schedule_override_s:
        # short test schedules: the scheduler looks for work every few seconds
        env.setdefault("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "5")
    log_path = home / "server.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.prefect_server", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    url = f"http://127.0.0.1:{port}/api"
    wait_healthy(f"{url}/health", proc, "the Prefect server", log_path)
    return proc, url


def start_web(host: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "web", "--host", host, "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    log.close()
    wait_healthy(f"http://{host}:{port}/", proc, "the web app", log_path)
    return proc


def stop(proc: subprocess.Popen[bytes] | None, wait_s: float = 20.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve_all(host: str, port: int, web: bool) -> int:
    """Serve until Ctrl-C or SIGTERM; returns the exit status."""
    settings = get_settings()
    # Logs of served runs go to the server too (the UI shows them): it outlives the runs.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "true")
    own_server = not os.environ.get("PREFECT_API_URL")
    home = prepare_prefect_env()
    os.environ.pop("PREFECT_SERVER_EPHEMERAL_ENABLED", None)  # a real server: ours below
    from models.store.db import migrate

    migrate(settings.effective_database_url)
    server = web_proc = None
    # SIGTERM ends the block below like Ctrl-C (the runner sets its own handler once it
    # runs; before that, this one).
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background by a shell without job control (`bidbell serve &` in a
        # script): SIGINT arrives ignored, and the runner is stopped by a SIGINT of our own
        # (``_as_ctrl_c``), which would then never arrive: SIGTERM stopped nothing.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if own_server:
            typer.echo("starting the Prefect server ...", err=True)
            server, api = start_prefect_server(home, settings.prefect_port)
            os.environ["PREFECT_API_URL"] = api
            typer.echo(f"Prefect server: {api.removesuffix('/api')} (log {home / 'server.log'})")
        else:
            typer.echo(f"Prefect server: {os.environ['PREFECT_API_URL']}")
        if web:
            web_proc = start_web(host, port, settings.var_dir / "web.log")
            typer.echo(f"web app: http://{host}:{port}/ (log {settings.var_dir / 'web.log'})")
        return _serve(settings)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:  # the server or the web app did not start: say so, plainly
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 1
    finally:
        typer.echo("stopping ...", err=True)
        stop(web_proc)
        stop(server)
        typer.echo("stopped", err=True)


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _as_ctrl_c(*_: Any) -> None:
    # asyncio.run answers SIGINT by cancelling its main task: the runner then pauses its
    # schedules and returns, with no exception thrown into the middle of the event loop.
    os.kill(os.getpid(), signal.SIGINT)


def _serve(settings: Any) -> int:
    """Prefect's ``serve``, written out: the runner's own SIGTERM handler calls an async
    stop without awaiting it (a RuntimeWarning on stderr); here SIGTERM becomes Ctrl-C,
    which the runner answers by pausing the schedules and leaving cleanly."""
    from prefect.runner import Runner

    from flows.deployments import build_deployments, served_plans

    runner = Runner(name="bidbell-serve", pause_on_shutdown=True)
    for deployment in build_deployments(settings):
        runner.add_deployment(deployment)
    runner.handle_sigterm = _as_ctrl_c  # type: ignore[method-assign]
    for p in served_plans(settings):
        typer.echo(f"  serving {p.name}: {p.when}")
    typer.echo("serving; Ctrl-C or SIGTERM stops (logs: var/prefect/run.log and the Prefect UI)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.start())
    return 0
