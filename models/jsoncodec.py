"""Fast JSON for the hot path (orjson), with the standard library as the fallback for values
orjson refuses (integers beyond 64 bits, non-string keys)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any, sort_keys: bool = False) -> str:
    try:
        opts = orjson.OPT_SORT_KEYS if sort_keys else 0
        return orjson.dumps(value, option=opts, default=_default).decode()
    except TypeError:
        return json.dumps(
            value, sort_keys=sort_keys, default=str, ensure_ascii=False, separators=(",", ":")
        )


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)
