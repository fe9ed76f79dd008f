"""Scale-out of matching: each profile shard of the index matched as its own Prefect task,
on the flow's task runner — a Dask cluster through prefect-dask's ``DaskTaskRunner`` when
BIDBELL_DASK_ADDRESS names one. The results are merged exactly as ``matching.engine.match``
merges its shards (same order, same reasons and scores), so the alerts are the same as a
single-process run's.

matching/ is another engineer's (issue 10); it exposes the pieces (``prepare_batch``,
``match_shard`` per ``index.shards``, ``to_matches``) but ``create_alerts`` takes no matcher
argument, so for the length of a Dask matching run ``matching_with`` swaps the function it
calls. A ``matcher=`` parameter on ``create_alerts`` would make that swap unnecessary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from bidbell.settings import get_settings
from matching.alerts import create_alerts
from matching.engine import Batch, Match, ShardMatches, match_shard, prepare_batch, to_matches
from matching.index import ProfileIndex, Shard
from matching.rules import Facts
from models.store.db import get_engine, session_scope


@task(name="match_shard", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def match_shard_task(shard: Shard, batch: Batch) -> ShardMatches:
    # One batch of opportunities against one shard of profiles (numpy, no database).
    return match_shard(shard, batch)


def match_sharded(facts: Iterable[Facts], index: ProfileIndex, now: datetime) -> list[Match]:
    """``matching.engine.match`` with one task per profile shard, submitted to the current
    flow's task runner."""
    batch = prepare_batch(facts, index.vocab, now)
    futures = [match_shard_task.submit(shard, batch) for shard in index.shards]
    parts: list[ShardMatches] = [f.result() for f in futures]
    found = ShardMatches(
        np.concatenate([p.opp for p in parts]) if parts else np.zeros(0, np.int64),
        np.concatenate([p.profile_id for p in parts]) if parts else np.zeros(0, np.int64),
        np.concatenate([p.organisation_id for p in parts]) if parts else np.zeros(0, np.int64),
        np.concatenate([p.lot for p in parts]) if parts else np.zeros(0, np.int64),
    )
    out = to_matches(found, batch, index if index.keep_rules else None)
    out.sort(key=lambda m: (m.opportunity_id, -m.score, m.profile_id))
    return out


@contextmanager
def matching_with(matcher: Callable[..., list[Match]]) -> Iterator[None]:
    import matching.alerts as alerts

    saved = alerts.match
    alerts.match = matcher
    try:
        yield
    finally:
        alerts.match = saved


@flow(name="match_alerts_on_dask", log_prints=False, validate_parameters=False)
def match_alerts_on_dask(now: datetime, n_shards: int) -> dict[str, Any]:
    """``create_alerts`` (incremental matching, alerts written in one transaction) with
    its matching fanned out per profile shard."""
    engine = get_engine(get_settings().effective_database_url)
    with session_scope(engine) as session, matching_with(match_sharded):
        return create_alerts(session, now, n_shards=n_shards).as_dict()


def dask_matcher(address: str, n_shards: int) -> Any:
    """The subflow above bound to the Dask cluster at ``address``."""
    from prefect_dask import DaskTaskRunner

    runner = DaskTaskRunner(address=address)
    return match_alerts_on_dask.with_options(task_runner=runner)  # type: ignore[arg-type]
