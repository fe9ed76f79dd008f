"""Read side of source health: what `bidbell sources` shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import func, select

from bidbell.clock import to_uk
from models.store.db import get_engine, session_scope
from models.store.tables import IngestError, SourceState


def source_status(configs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per configured source, with its stored state (never run: empty state)."""
    with session_scope(get_engine()) as s:
        states = {st.source: st for st in s.exec(select(SourceState))}
        errors = dict(
            s.exec(select(IngestError.source, func.count()).group_by(IngestError.source)).all()
        )
    rows = []
    for name, c in sorted(configs.items()):
        st = states.get(name)

        def at(value: Any) -> str | None:
            return to_uk(value).isoformat(timespec="seconds") if value is not None else None

        rows.append(
            {
                "name": name,
                "type": c.type,
                "enabled": c.enabled,
                "every_minutes": c.every_minutes,
                "base_url": c.base_url,
                "checkpoint": at(st.checkpoint) if st else None,
                "last_run_at": at(st.last_run_at) if st else None,
                "last_success_at": at(st.last_success_at) if st else None,
                "last_items": st.last_items if st else 0,
                "total_items": st.total_items if st else 0,
                "last_error": st.last_error if st else None,
                # flows.health: ok | failing | silent (None: never judged)
                "health": st.health if st else None,
                "consecutive_failures": st.consecutive_failures if st else 0,
                "last_nonempty_at": at(st.last_nonempty_at) if st else None,
                "operator_alerted": st.alerted if st else False,
                "errors_kept": errors.get(name, 0),
            }
        )
    return rows
