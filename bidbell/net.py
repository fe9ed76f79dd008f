"""Ports on this machine for servers Bidbell starts (the Prefect server, the web app, the
demo's and the tests' stand-ins)."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A free port on 127.0.0.1 for a server that binds it a moment later. Chosen below the
    kernel's ephemeral range (Linux: 32768-60999), where port 0 never lands: a port taken
    by binding to 0 and let go could be handed to another process's socket before our
    server binds it (a Prefect server starting for seconds lost its port to a replay server
    that way, and its clients' health checks reached the wrong server)."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the low range is full: any free port
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
