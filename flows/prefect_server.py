"""``python -m flows.prefect_server ARGS``: ``prefect ARGS`` (e.g. ``server start``) with one
fix for SQLAlchemy 2.1 applied first.

Prefect 3.8.8's scheduler inserts scheduled flow runs in bulk from dicts that carry a
``state`` key for its own later use; ``FlowRun.state`` is a hybrid property with a setter.
SQLAlchemy 2.0 ignored the key; 2.1 calls the hybrid's bulk-DML hook and, there being none,
raises "Can't evaluate bulk DML statement" on every scheduler loop: no scheduled run is ever
made. The project pins SQLAlchemy 2.1 (its own code and types are written for it), so the
server that ``bidbell serve`` starts, and the one the tests start, gets the hook 2.0's
behaviour amounts to: leave the mapping alone (Prefect inserts the states itself next).
"""

from __future__ import annotations

from typing import Any


def _ignore(cls: Any, mapping: Any, value: Any) -> None:
    return None


def patch_state_hybrids() -> list[str]:
    """Give FlowRun.state and TaskRun.state a no-op bulk-DML hook where they lack one."""
    from prefect.server.database import orm_models

    patched = []
    for model in (orm_models.FlowRun, orm_models.TaskRun):
        hybrid = model.__dict__.get("state")
        if hybrid is None or not hasattr(hybrid, "bulk_dml"):
            continue  # SQLAlchemy 2.0: nothing to do
        if getattr(hybrid, "bulk_dml_setter", None) is None:
            # in place: hybrid.bulk_dml() would copy it, and 2.1.9's copy passes a keyword
            # its own __init__ does not take
            hybrid.bulk_dml_setter = _ignore
            patched.append(model.__name__)
    return patched


def main() -> None:
    patch_state_hybrids()
    from prefect.cli import app

    app()


if __name__ == "__main__":
    main()
