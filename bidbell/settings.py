"""The one settings object. Every knob is an environment variable prefixed ``BIDBELL_``.

Nothing else in the code base reads ``os.environ`` for configuration.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bidbell.clock import UK

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIDBELL_", env_file=None, extra="ignore")

    # --- storage -------------------------------------------------------------------------
    var_dir: Path = Field(
        default=PROJECT_ROOT / "var",
        description="Working folder: database, raw captures, feeds, Prefect home.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Default: SQLite file var/bidbell.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )

    write_wait_s: float = Field(
        default=600.0,
        ge=0,
        description="How long a command waits for another Bidbell process writing to the same "
        "SQLite database before it gives up (exit status 5).",
    )

    sector_model_path: Path | None = Field(
        default=None,
        description="The text sector model (bidbell train-sectors). Default: var/sector_model.npz.",
    )

    # --- sources -------------------------------------------------------------------------
    sources_file: Path = Field(
        default=PROJECT_ROOT / "sources.toml",
        description="Which sources run, their base URLs, filters and schedules.",
    )
    source_urls: dict[str, str] = Field(
        default_factory=dict,
        description='Per-source base URL overrides, JSON: {"find_a_tender": "http://127.0.0.1:8080"}',
    )
    source_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-source spider argument overrides, JSON: "
        '{"find_a_tender": {"window_hours": 24}}',
    )
    first_run_lookback_hours: float = Field(
        default=24.0, gt=0, description="How far back a source's first collection reaches."
    )
    fixtures_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "fixtures",
        description="Folder of real captured payloads used by the demo and the tests.",
    )
    user_agent: str = Field(
        default="Bidbell/0.1 (+https://github.com/bidbell/bidbell; opportunity alerts for SMEs)",
    )
    crawl_timeout_s: float = Field(default=1800.0, gt=0, description="Wall-clock cap per crawl.")
    download_timeout_s: float = Field(default=60.0, gt=0)
    retry_times: int = Field(default=5, ge=0, description="Retries per request on 429/503/5xx.")
    backoff_base_s: float = Field(
        default=5.0, ge=0, description="Backoff when a 429/503 has no Retry-After: base*2^n."
    )
    backoff_max_s: float = Field(default=300.0, ge=0, description="Cap on any single wait.")

    # --- delivery ------------------------------------------------------------------------
    email_url: str = Field(
        default="mailto://localhost:25?from=alerts@bidbell.localhost&name=Bidbell",
        description="apprise URL of the SMTP relay; the recipient is added per alert as to=.",
    )
    extra_apprise_urls: list[str] = Field(
        default_factory=list, description="Extra apprise URLs that get every alert (ops copy)."
    )
    secret_key: str = Field(
        default="",
        repr=False,
        description="Key that signs the links in messages (unsubscribe, preferences...). "
        "Unset: one is made and kept in <var>/secret_key.",
    )
    public_url: str = Field(
        default="http://localhost:8000", description="Where links in emails and feeds point."
    )
    sms_url: str = Field(
        default="",
        description="apprise URL of the SMS gateway with {to} where the E.164 number goes, "
        "e.g. twilio://SID:TOKEN@+441234567890/{to}. Unset: SMS alerts wait in the outbox.",
    )
    send_batch: int = Field(default=500, ge=1, description="Alerts claimed per lease.")
    send_lease_s: float = Field(
        default=300.0,
        gt=0,
        description="How long a sender owns the alerts it claimed; a sender that dies "
        "releases them when this runs out.",
    )
    send_connections: int = Field(
        default=4, ge=1, le=64, description="SMTP connections used side by side."
    )
    send_max_attempts: int = Field(
        default=20, ge=1, description="Attempts before an alert is marked failed for good."
    )
    send_backoff_base_s: float = Field(
        default=60.0,
        ge=0,
        description="Retry wait after the second failed attempt, doubling after each one "
        "(with jitter); the first retry is on the next run.",
    )
    send_backoff_max_s: float = Field(default=3600.0, ge=0, description="Cap on a retry wait.")
    smtp_timeout_s: float = Field(default=30.0, gt=0, description="SMTP socket timeout.")
    instant_cap_per_day: int = Field(
        default=20,
        ge=0,
        description="Instant alerts per organisation and channel per UK day; beyond it they "
        "fold into the next daily digest.",
    )
    remind_days: int = Field(
        default=3, ge=1, le=60, description="Days before the deadline a reminder goes out."
    )
    target_schemes: list[str] = Field(
        default_factory=lambda: [
            "mailto",
            "mailtos",
            "msteams",
            "slack",
            "discord",
            "json",
            "jsons",
            "form",
            "forms",
            "matrix",
            "matrixs",
            "ntfy",
            "ntfys",
            "tgram",
            "twilio",
            "clicksend",
        ],
        description="apprise schemes an organisation may add as extra targets.",
    )
    allow_private_targets: bool = Field(
        default=False,
        description="Let organisation targets point at loopback/private addresses "
        "(tests and the demo only: their stand-ins listen on 127.0.0.1).",
    )

    # --- operations (bidbell serve; flows.health) ------------------------------------------
    operator_urls: list[str] = Field(
        default_factory=list,
        description="apprise URL(s) told when a source breaks or falls silent, and when it "
        'recovers, JSON: ["mailto://ops@example.org", "slack://..."]. Unset: logged only.',
    )
    health_failed_runs: int = Field(
        default=3, ge=1, description="Failed runs in a row before the operator is alerted."
    )
    health_silence_factor: float = Field(
        default=4.0,
        gt=1,
        description="A source that usually returns something every T falls 'silent' after "
        "this many times T with nothing (T: median gap between its non-empty runs).",
    )
    health_silence_min_hours: float = Field(
        default=6.0, ge=0, description="Never call a source silent sooner than this."
    )
    host_concurrency: int = Field(
        default=1,
        ge=1,
        description="Crawls of one remote host at the same time, across every flow run "
        "and worker (a Prefect global concurrency limit per host).",
    )
    schedule_override_s: float | None = Field(
        default=None,
        gt=0,
        description="Tests and benches: every served deployment runs on this interval "
        "(seconds) instead of its schedule.",
    )
    serve_only: list[str] = Field(
        default_factory=list,
        description='Serve only these deployments, JSON: ["collect-find_a_tender"] (e.g. '
        "digests on one machine only). Unset: all of them.",
    )
    prefect_port: int = Field(
        default=4200,
        ge=0,
        le=65535,
        description="Port of the Prefect server that bidbell serve starts when "
        "PREFECT_API_URL is not set (0: any free port).",
    )
    dask_address: str = Field(
        default="",
        description="Scheduler of a Dask cluster (tcp://host:8786): matching then runs one "
        "task per profile shard on it (flows.dask_match). Unset: in the flow's process.",
    )
    match_shards: int = Field(
        default=4, ge=1, le=1024, description="Profile shards of the matching index."
    )
    raw_keep_days: float = Field(
        default=30.0,
        gt=0,
        description="Housekeeping deletes raw crawl files (var/raw) older than this; the "
        "stored notices keep their payloads.",
    )

    demo_port: int = Field(
        default=8931,
        ge=0,
        le=65535,
        description="The demo's replay server port: the same each run, so that links stored "
        "by one demo are the same in the next (any free port when it is taken).",
    )

    # --- web (bidbell web) ----------------------------------------------------------------
    admin_user: str = Field(default="admin", description="User name of the admin pages.")
    admin_password: str = Field(
        default="",
        repr=False,
        description="Password of the admin pages (HTTP Basic; use HTTPS). Unset: no admin pages.",
    )

    # --- time ----------------------------------------------------------------------------
    as_of: datetime | None = Field(
        default=None,
        description="Pretend 'now' is this instant (replaying old captures). Unset: real time.",
    )

    @field_validator("as_of")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            v = v.replace(tzinfo=UK)
        return v

    # --- derived -------------------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'bidbell.db'}"

    @property
    def effective_sector_model_path(self) -> Path:
        return self.sector_model_path or self.var_dir / "sector_model.npz"

    @property
    def raw_dir(self) -> Path:
        return self.var_dir / "raw"

    @property
    def feed_dir(self) -> Path:
        return self.var_dir / "feeds"

    @property
    def prefect_home(self) -> Path:
        return self.var_dir / "prefect"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (after changing BIDBELL_* variables)."""
    get_settings.cache_clear()
