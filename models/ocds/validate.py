"""Validate an OCDS release package offline, with readable errors.

Two schemas, both built from vendored files (nothing is fetched):

- core: the OCDS 1.1.5 release package schema, whose ``releases`` refer to the release
  schema by its URL; a ``referencing`` registry maps that URL to the vendored copy;
- extended (the default): the same, with the release schema patched (JSON Merge Patch,
  RFC 7386) by the extensions the export declares: the Lots extension v1.1.5 and Bidbell's
  own (``models/ocds/extension``), so that ``tender.lots`` and ``bidbell`` are type-checked.

Formats: ``date-time`` is checked (``rfc3339-validator`` is installed, so jsonschema's
format checker knows it). ``uri`` is NOT checked: jsonschema needs ``rfc3987`` or
``rfc3986-validator`` for that, and neither is installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from models.ocds import CORE_SCHEMA_DIR, EXTENSION_DIR, LOTS_SCHEMA_DIR, RELEASE_SCHEMA_URL

MAX_MESSAGE = 240  # jsonschema repeats the instance (a whole release, a codelist): cut it
FORMATS_CHECKED = sorted(Draft4Validator.FORMAT_CHECKER.checkers)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: a new value; ``target`` and ``patch`` are not changed."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def extension_patches() -> list[dict[str, Any]]:
    """The release-schema patches of the extensions the export declares, in order."""
    return [
        _load(LOTS_SCHEMA_DIR / "release-schema.json"),
        _load(EXTENSION_DIR / "release-schema.json"),
    ]


def release_schema(extended: bool = True) -> dict[str, Any]:
    schema = _load(CORE_SCHEMA_DIR / "release-schema.json")
    if extended:
        for patch in extension_patches():
            schema = merge_patch(schema, patch)
    return schema


@lru_cache(maxsize=2)
def _validator(extended: bool) -> Draft4Validator:
    package_schema = _load(CORE_SCHEMA_DIR / "release-package-schema.json")
    resource = Resource.from_contents(release_schema(extended), default_specification=DRAFT4)
    # No `retrieve`: an unknown $ref is an error, never a download.
    registry: Registry[Any] = Registry().with_resource(RELEASE_SCHEMA_URL, resource)
    return Draft4Validator(
        package_schema, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER
    )


def _path_key(error: ValidationError) -> list[tuple[int, int | str]]:
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]


def _where(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(package)"


def describe(package: Any, error: ValidationError) -> str:
    """'<ocid>: releases[2].tender.value.amount: '1000' is not of type 'number', 'null''."""
    path = list(error.absolute_path)
    who = "package"
    if len(path) >= 2 and path[0] == "releases" and isinstance(path[1], int):
        releases = package.get("releases") if isinstance(package, dict) else None
        release = releases[path[1]] if isinstance(releases, list) else None
        ocid = release.get("ocid") if isinstance(release, dict) else None
        who = str(ocid) if isinstance(ocid, str) and ocid else f"release {path[1]} (no ocid)"
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return f"{who}: {_where(path)}: {message}"


def validate_package(package: Any, *, extended: bool = True) -> list[str]:
    """Every schema error in the package, one readable line each (empty: valid).

    ``extended`` (default) validates against core OCDS 1.1.5 with the declared extensions
    applied; ``extended=False`` against core OCDS 1.1.5 only."""
    errors = sorted(_validator(extended).iter_errors(package), key=_path_key)
    return [describe(package, e) for e in errors]
