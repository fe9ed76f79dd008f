"""A run's summary as markdown, published as a Prefect artifact by each flow run (the
Prefect UI shows it on the run's page and under Artifacts): a table per source (fetched,
new, changed, failed, duration, health) and what happened to alerts."""

from __future__ import annotations

from typing import Any

ARTIFACT_KEY = "run-summary"  # lowercase letters, digits and dashes (Prefect's rule)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")[:200]


def summary_markdown(summary: dict[str, Any]) -> str:
    """``summary``: what ``run_pipeline`` returns."""
    lines = [f"# Bidbell run at {summary.get('now', '')}", ""]
    lines += [
        "| Source | Fetched | New | Changed | Failed | Duration (s) | Health | Error |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for c in summary.get("collected") or []:
        st = c.get("stored") or {}
        health = (c.get("health") or {}).get("health", "")
        alert = (c.get("health") or {}).get("alert")
        if alert:
            health += f" (operator: {alert})"
        lines.append(
            f"| {_cell(c['source'])} | {c.get('notices', 0)} | {st.get('inserted', 0)} | "
            f"{st.get('updated', 0)} | {c.get('errors', 0)} | {c.get('duration_s', '')} | "
            f"{_cell(health)} | {_cell(c.get('error') or '')} |"
        )
    if not summary.get("collected"):
        lines.append("| (no source collected in this run) | | | | | | | |")
    alerts = summary.get("alerts") or {}
    sent = summary.get("sent") or {}
    lines += [
        "",
        "| Alerts | Count |",
        "|---|---:|",
        f"| queued (new matches) | {alerts.get('alerts_created', 0)} |",
        f"| welcome alerts queued | {alerts.get('welcome_alerts', 0)} |",
        f"| change alerts queued | {sent.get('change_alerts', 0)} |",
        f"| sent | {sent.get('sent', 0)} |",
        f"| failed | {sent.get('failed', 0)} |",
        f"| folded into a digest | {sent.get('folded_into_digest', 0)} |",
        f"| digests sent | {sent.get('digests_sent', 0)} |",
    ]
    errors = summary.get("errors") or {}
    if errors:
        lines += ["", "## Stage errors", ""]
        lines += [f"- **{_cell(k)}**: {_cell(v)}" for k, v in errors.items()]
    return "\n".join(lines) + "\n"


def digest_markdown(kinds: list[str], report: dict[str, Any]) -> str:
    """A digest run's artifact: the kinds made, how many were sent and failed."""
    return (
        f"# Digests: {', '.join(kinds)}\n\n| Digests | Count |\n|---|---:|\n"
        f"| sent | {report.get('digests_sent', 0)} |\n"
        f"| failed | {report.get('digests_failed', 0)} |\n"
    )
