"""Shared request plumbing: a database session per request, and the search read from a
query string (the browse page, its feeds and "alert me about this search" share it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import ImmutableMultiDict

from models.store.db import get_engine, session_scope
from models.store.queries import Search

LIST_FIELDS = ("sectors", "areas", "bands", "stages", "suitable_for", "sources")


def db_session() -> Iterator[Session]:
    with session_scope(get_engine()) as session:
        yield session


def field_errors(exc: ValidationError) -> dict[str, str]:
    """{field: message} from pydantic's errors (the first message per field)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(x) for x in err["loc"] if not isinstance(x, int)]
        name = loc[-1] if loc else "form"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "literal_error":
            msg = f"{err.get('input')!r} is not one of the choices"
        out.setdefault(name, msg)
    return out


def search_from(
    params: ImmutableMultiDict[str, str], *, per_page: int = 20
) -> tuple[Search, dict[str, str]]:
    """The search a query string asks for (status defaults to open), and {field: message}
    for what could not be read (then the search without those filters)."""
    data: dict[str, Any] = {k: params.getlist(k) for k in LIST_FIELDS if params.getlist(k)}
    if params.get("q"):
        data["q"] = params["q"]
    data["open_only"] = params.get("status", "open") != "all"
    data["subcontract_only"] = params.get("subcontract_only") in ("1", "on", "true")
    for key in ("closing_within", "page", "sort"):
        if params.get(key):
            data[key] = params[key]
    data["per_page"] = per_page
    try:
        return Search.model_validate(data), {}
    except ValidationError as exc:
        errors = field_errors(exc)
        kept = {k: v for k, v in data.items() if k not in errors}
        try:
            return Search.model_validate(kept), errors
        except ValidationError:
            return Search(open_only=True, per_page=per_page), errors
