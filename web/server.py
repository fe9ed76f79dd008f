"""``bidbell web``: serve the app with uvicorn, signed-link tokens kept out of its access log."""

from __future__ import annotations

import copy
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG


def log_config() -> dict[str, Any]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": "web.security.RedactTokens"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_tokens")
    return config


def serve(host: str, port: int, proxy_headers: bool = False) -> None:
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=log_config(),
        proxy_headers=proxy_headers,
        server_header=False,
    )
