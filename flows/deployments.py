"""The served deployments: what runs when.

- ``collect-<source>``: each enabled source of sources.toml on its own interval
  (``every_minutes``), staggered so they do not all start at once: collect -> store ->
  match -> instant alerts -> feed (``run_pipeline`` for that one source, digests left to
  their own deployments). At most one run of a source at a time: a run due while the
  previous one is still going is cancelled (deployment concurrency limit 1, CANCEL_NEW).
- ``digest-daily`` 07:00 and ``digest-weekly`` / ``digest-infrastructure`` Monday 07:00,
  Europe/London (the hours notifiers.digest makes its periods end at).
- ``housekeeping`` 03:30 Europe/London: raw crawl files expired, database vacuumed and
  analysed (flows.housekeeping).

``bidbell serve`` serves these from one process (Prefect's ``serve``); prefect.yaml
describes the same deployments for a work pool (``prefect deploy --all``) served by workers.
``BIDBELL_SCHEDULE_OVERRIDE_S`` puts every deployment on one short interval (tests, bench).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bidbell.settings import Settings
from flows.steps import load_configured_sources

ZONE = "Europe/London"
STAGGER_S = 90  # sources start this far apart within their interval
ANCHOR = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday at midnight


@dataclass
class Plan:
    """One deployment, described without Prefect objects (also read by tests and docs)."""

    name: str
    flow: str  # "run_pipeline" | "send_digests" | "keep_house"
    parameters: dict[str, Any]
    interval_s: float | None = None
    anchor: datetime | None = None
    cron: str | None = None
    tags: list[str] = field(default_factory=list)
    description: str = ""

    @property
    def when(self) -> str:
        if self.cron:
            return f"cron '{self.cron}' {ZONE}"
        offset = int(((self.anchor or ANCHOR) - ANCHOR).total_seconds())
        return f"every {self.interval_s:g} s (offset {offset} s)"


def plan_deployments(settings: Settings) -> list[Plan]:
    configs = load_configured_sources(settings)
    enabled = sorted(n for n, c in configs.items() if c.enabled)
    override = settings.schedule_override_s
    plans = []
    for i, name in enumerate(enabled):
        every = override or configs[name].every_minutes * 60.0
        step = (every / max(len(enabled), 1)) if override else STAGGER_S
        plans.append(
            Plan(
                name=f"collect-{name}",
                flow="run_pipeline",
                parameters={"sources": [name], "digests": False},
                interval_s=every,
                anchor=ANCHOR + timedelta(seconds=(i * step) % every),
                tags=["bidbell", "collect", name],
                description=f"Collect {name}, store, match, send instant alerts, feed.",
            )
        )
    for kind, cron in (
        ("daily", "0 7 * * *"),
        ("weekly", "0 7 * * 1"),
        ("infrastructure", "0 7 * * 1"),
    ):
        plans.append(
            Plan(
                name=f"digest-{kind}",
                flow="send_digests",
                parameters={"kinds": [kind]},
                cron=None if override else cron,
                interval_s=override,
                anchor=ANCHOR if override else None,
                tags=["bidbell", "digest"],
                description=f"The {kind} digests due now.",
            )
        )
    plans.append(
        Plan(
            name="housekeeping",
            flow="keep_house",
            parameters={},
            cron=None if override else "30 3 * * *",
            interval_s=override,
            anchor=ANCHOR if override else None,
            tags=["bidbell", "housekeeping"],
            description="Expire old raw crawl files; vacuum and analyse the database.",
        )
    )
    return plans


def served_plans(settings: Settings) -> list[Plan]:
    """What ``bidbell serve`` serves: every plan, or those named in ``serve_only``."""
    plans = plan_deployments(settings)
    if settings.serve_only:
        unknown = set(settings.serve_only) - {p.name for p in plans}
        if unknown:
            raise ValueError(f"BIDBELL_SERVE_ONLY names no deployment: {sorted(unknown)}")
        plans = [p for p in plans if p.name in settings.serve_only]
    return plans


def build_deployments(settings: Settings) -> list[Any]:
    """The plans as Prefect ``RunnerDeployment``s (for ``prefect.serve``). Import Prefect
    only after flows.runner.prepare_prefect_env."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron, Interval

    from flows.housekeeping import keep_house
    from flows.pipeline import run_pipeline, send_digests

    flows: dict[str, Any] = {
        "run_pipeline": run_pipeline,
        "send_digests": send_digests,
        "keep_house": keep_house,
    }
    out = []
    for p in served_plans(settings):
        if p.cron:
            schedule = Cron(p.cron, timezone=ZONE)
        else:
            schedule = Interval(timedelta(seconds=p.interval_s or 60), anchor_date=p.anchor)
        out.append(
            flows[p.flow].to_deployment(
                name=p.name,
                parameters=p.parameters,
                schedules=[schedule],
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
                ),
                tags=p.tags,
                description=p.description,
            )
        )
    return out


WORK_POOL = "bidbell"
ENTRYPOINTS = {
    "run_pipeline": "flows/pipeline.py:run_pipeline",
    "send_digests": "flows/pipeline.py:send_digests",
    "keep_house": "flows/housekeeping.py:keep_house",
}


def prefect_yaml(settings: Settings) -> str:
    """prefect.yaml: the same deployments for a work pool (``prefect deploy --all``), run by
    ``prefect worker start --pool bidbell`` on any machine with a checkout at $BIDBELL_HOME.
    ``make prefect-yaml`` writes it; a test checks the committed file is up to date."""
    import yaml

    deployments = []
    for p in plan_deployments(settings):
        if p.cron:
            schedule: dict[str, Any] = {"cron": p.cron, "timezone": ZONE}
        else:
            anchor = (p.anchor or ANCHOR).isoformat()
            schedule = {"interval": p.interval_s, "anchor_date": anchor, "timezone": "UTC"}
        deployments.append(
            {
                "name": p.name,
                "description": p.description,
                "entrypoint": ENTRYPOINTS[p.flow],
                "parameters": p.parameters,
                "tags": p.tags,
                "schedules": [schedule],
                "concurrency_limit": {"limit": 1, "collision_strategy": "CANCEL_NEW"},
                "work_pool": {"name": WORK_POOL, "work_queue_name": "default"},
            }
        )
    doc = {
        "name": "bidbell",
        "prefect-version": "3.8.8",
        "build": None,
        "push": None,
        # each worker runs the flows from its own checkout of this repository
        "pull": [
            {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": "{{ $BIDBELL_HOME }}"
                }
            }
        ],
        "deployments": deployments,
    }
    head = (
        "# Generated by `make prefect-yaml` from sources.toml (flows/deployments.py): the\n"
        "# deployments `bidbell serve` serves, for a work pool instead. Deploy with\n"
        "#   prefect work-pool create bidbell --type process\n"
        "#   prefect deploy --all\n"
        "# and run `prefect worker start --pool bidbell` on each machine (README, Production\n"
        "# topology). Edit sources.toml, not this file.\n"
    )
    return head + yaml.safe_dump(doc, sort_keys=False, width=100)


def main() -> None:  # python -m flows.deployments > prefect.yaml
    print(prefect_yaml(Settings(schedule_override_s=None, source_urls={})), end="")


if __name__ == "__main__":
    main()
