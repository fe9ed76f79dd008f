"""Per-source checkpoints: which window to ask for next, and how far a crawl really got."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bidbell.clock import published as read_instant
from models.store.tables import SourceState


def get_state(session: Session, source: str) -> SourceState:
    state = session.get(SourceState, source)
    if state is None:
        state = SourceState(source=source)
        session.add(state)
        session.flush()
    return state


def next_window(
    session: Session, source: str, now: datetime, lookback: timedelta, since: datetime | None = None
) -> tuple[datetime, datetime]:
    """From the checkpoint (or ``since``, or ``now - lookback`` on a first run) to now."""
    state = get_state(session, source)
    start = since or state.checkpoint or (now - lookback)
    return start, now


def completed_until(windows: list[dict[str, Any]]) -> datetime | None:
    """End of the longest run of completed windows from the start, in time order.

    A failed window stops the checkpoint there, so the next run asks for it again.
    """
    reached = None
    for w in sorted(windows, key=lambda w: w["start"]):
        if w["status"] != "complete":
            break
        reached = read_instant(w["end"])
    return reached


def record_run(
    session: Session,
    source: str,
    now: datetime,
    windows: list[dict[str, Any]],
    items: int,
    error: str | None,
    complete: bool = False,
    state: dict[str, Any] | None = None,
) -> SourceState:
    st = get_state(session, source)
    st.last_run_at = now
    st.last_items = items
    st.total_items += items
    # Windowed sources advance through the windows that completed; the others to now.
    reached = completed_until(windows) if windows else (now if complete else None)
    if reached is not None and (st.checkpoint is None or reached > st.checkpoint):
        st.checkpoint = reached
    if state:
        st.state = {**st.state, **state}
    if error:
        st.last_error = error
    else:
        st.last_success_at = now
        st.last_error = None
    session.add(st)
    return st
