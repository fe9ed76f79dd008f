"""Scale-out of matching: the profile index cut into parts (``ProfileIndex.split``: each
part holds the profiles of its shard, with its own vocabulary, picklable), each part matched
against the batch as its own Prefect task on the flow's task runner — a Dask cluster
through prefect-dask's ``DaskTaskRunner`` when BIDBELL_DASK_ADDRESS names one — and the
results joined with ``matching.engine.join``, which gives exactly what ``match`` gives on the
whole index (matching's own tests check that). So the alerts are those of a single-process
run. ``create_alerts(matcher=match_sharded)`` puts the fan-out in place of ``match``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from bidbell.settings import get_settings
from matching.alerts import create_alerts
from matching.engine import Match, join, match
from matching.index import ProfileIndex
from matching.rules import Facts
from models.store.db import get_engine, session_scope


@task(name="match_shard", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def match_part(facts: list[Facts], part: ProfileIndex, now: datetime) -> list[Match]:
    # One batch of opportunities against one part (shard) of the profiles; no database.
    return match(facts, part, now)


def match_sharded(
    facts: Iterable[Facts], index: ProfileIndex, now: datetime, n: int
) -> list[Match]:
    """``matching.engine.match`` with one task per profile part (``n`` parts), submitted to
    the current flow's task runner, joined as ``match`` would order them."""
    batch = list(facts)
    parts = index.split(n) if index.part == (0, 1) and n > 1 else [index]
    futures = [match_part.submit(batch, part, now) for part in parts]
    return join(f.result() for f in futures)


@flow(name="match_alerts_on_dask", log_prints=False, validate_parameters=False)
def match_alerts_on_dask(now: datetime, n_shards: int) -> dict[str, Any]:
    """``create_alerts`` (incremental matching, alerts written in one transaction) with
    its matching fanned out per profile shard."""
    engine = get_engine(get_settings().effective_database_url)
    with session_scope(engine) as session:
        matcher = functools.partial(match_sharded, n=n_shards)
        return create_alerts(session, now, n_shards=n_shards, matcher=matcher).as_dict()


def dask_matcher(address: str) -> Any:
    """The subflow above bound to the Dask cluster at ``address``."""
    from prefect_dask import DaskTaskRunner

    runner = DaskTaskRunner(address=address)
    return match_alerts_on_dask.with_options(task_runner=runner)  # type: ignore[arg-type]
