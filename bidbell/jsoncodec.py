"""JSON in and out.

- ``dumps`` / ``loads``: fast (orjson) for our own data, with the standard library as the
  fallback for values orjson refuses (integers beyond 64 bits, non-string keys).
- ``loads_tolerant``: the reader of JSON from outside (API pages, saved files, lines of
  crawl output). Numbers a source writes that are not finite (Find a Tender has published
  ``1e9999``) become null; integers too long for any value keep their digits; JSON nested
  deeper than ``MAX_DEPTH`` raises ``JsonTooDeep`` instead of exhausting the interpreter's
  recursion. ``split_members`` cuts an object's array member (a page's ``releases``) into
  its elements' raw texts, so that one element too deep to read costs that element alone.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

# orjson's own limit is 1024; ours is the same for a page, and the standard library's
# fallback is checked against it before it recurses.
MAX_DEPTH = 1000
# One record (a release, a row) nested deeper than this is not a record we can keep: real
# OCDS nests about ten levels, and pydantic refuses to serialise past ~255.
MAX_RECORD_DEPTH = 200


class JsonTooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH."""


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: Any) -> Any:
    """The value with non-finite floats as null (as orjson writes them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any, sort_keys: bool = False) -> str:
    """Valid JSON text, always (NaN and infinities are written as null, as orjson does)."""
    try:
        opts = orjson.OPT_SORT_KEYS if sort_keys else 0
        return orjson.dumps(value, option=opts, default=_default).decode()
    except TypeError:  # integers beyond 64 bits, keys that are not strings...
        return _dumps_std(value, sort_keys)


def dumps_bytes(value: Any, sort_keys: bool = False) -> bytes:
    """``dumps`` encoded as UTF-8: orjson's own bytes, not text made of them and encoded
    again (7 kB payloads: 22 -> 15 us). Raises UnicodeEncodeError for text that is not
    Unicode (lone surrogates), which ``dumps`` writes as they are."""
    try:
        opts = orjson.OPT_SORT_KEYS if sort_keys else 0
        return orjson.dumps(value, option=opts, default=_default)
    except TypeError:
        return _dumps_std(value, sort_keys).encode("utf-8")


def _dumps_std(value: Any, sort_keys: bool) -> str:
    """``dumps`` by the standard library: what orjson refuses."""
    kw: dict[str, Any] = {
        "sort_keys": sort_keys,
        "default": str,
        "ensure_ascii": False,
        "separators": (",", ":"),
        "allow_nan": False,
    }
    try:
        return json.dumps(value, **kw)
    except ValueError:
        return json.dumps(_finite(value), **kw)


def loads(text: str | bytes) -> Any:
    """JSON we wrote (the database's JSON columns): fast, and tolerant of the long
    integers the standard library's fallback in ``dumps`` may have written."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return loads_tolerant(text)


def _finite_or_none(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def depth(text: str) -> int:
    """How deeply the JSON text nests arrays and objects (strings skipped)."""
    deepest = level = 0
    for m in _TOKEN.finditer(text):
        c = m.group()
        if c in "[{":
            level += 1
            deepest = max(deepest, level)
        elif c in "]}":
            level -= 1
    return deepest


def nesting_depth(value: Any, limit: int = MAX_RECORD_DEPTH) -> int:
    """How deeply a parsed JSON value nests (iteratively; stops counting past ``limit``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads_tolerant(body: bytes | str) -> Any:
    """JSON from outside -> Python values. Raises ValueError (``JsonTooDeep`` included) or
    UnicodeDecodeError for text that is not JSON we can read."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise JsonTooDeep(f"JSON nested more than {MAX_DEPTH} deep") from None
    # orjson refuses what the standard library reads: non-finite numbers, long integers,
    # NaN/Infinity constants. The standard library recurses per level: check first.
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if depth(text) > MAX_DEPTH:
        raise JsonTooDeep(f"JSON nested more than {MAX_DEPTH} deep")
    return json.loads(text, parse_float=_finite_or_none, parse_constant=lambda _c: None)


def _scan_value(text: str, start: int) -> int:
    """The end (exclusive) of the JSON value starting at ``start`` (whitespace skipped)."""
    level = 0
    pos = start
    for m in _TOKEN_OR_DELIM.finditer(text, start):
        c = m.group()
        if c[0] == '"':
            if level == 0:
                return m.end()
            continue
        if c in "[{":
            level += 1
        elif c in "]}":
            if level == 0:
                return m.start()
            level -= 1
            if level == 0:
                return m.end()
        elif c == "," and level == 0:
            return m.start()
        pos = m.end()
    return max(pos, len(text))


_TOKEN_OR_DELIM = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.S)


def split_members(text: str, key: str) -> tuple[dict[str, Any], list[str]] | None:
    """A JSON object whose member ``key`` is an array -> (the other members parsed, the
    array's elements as raw JSON texts); None if the text is not such an object. For pages
    too deep to parse whole: each element can then be read (or refused) on its own."""
    m = re.match(r"\s*\{", text)
    if not m:
        return None
    pos, others, elements = m.end(), {}, None
    name = re.compile(r'\s*("(?:[^"\\]|\\.)*")\s*:\s*', re.S)
    while True:
        nm = name.match(text, pos)
        if not nm:
            break
        member = json.loads(nm.group(1))
        value_start = nm.end()
        if member == key and text[value_start : value_start + 1] == "[":
            elements, pos = [], value_start + 1
            while True:
                while pos < len(text) and text[pos] in " \t\r\n,":
                    pos += 1
                if pos >= len(text) or text[pos] == "]":
                    pos += 1
                    break
                end = _scan_value(text, pos)
                elements.append(text[pos:end].strip())
                pos = end
        else:
            end = _scan_value(text, value_start)
            try:
                others[member] = loads_tolerant(text[value_start:end])
            except ValueError:
                others[member] = None
            pos = end
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "}":
            break
    return (others, elements) if elements is not None else None
