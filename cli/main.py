"""The ``bidbell`` command line. Names and options here are a stable contract."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bidbell.clock import parse_iso, to_uk, utcnow
from bidbell.settings import get_settings

app = typer.Typer(
    help="Bidbell: public contract opportunities for small firms and voluntary organisations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
subscribers = typer.Typer(
    help="Organisations and their profiles: add, list, show, import, export, remove.",
    no_args_is_help=True,
)
app.add_typer(subscribers, name="subscribers")


# Exit statuses (README, "Exit status"): 0 success; 1 error; 2 bad input, bad configuration
# or missing captures; 3 the run finished but a source failed; 4 the run finished but alerts
# could not be sent; 5 another Bidbell process kept the SQLite database busy.
EXIT_BAD_INPUT = 2
EXIT_BUSY = 5
SAY_REJECTIONS = 5  # the first few rejected records are named; the rest counted


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def _writing() -> Iterator[None]:
    """Hold the right to write to the database for this command (SQLite: one writing
    process at a time; a second one says so in one line and waits, see BIDBELL_WRITE_WAIT_S)."""
    from models.store.db import DatabaseBusy, writer_lock

    s = get_settings()
    try:
        with writer_lock(
            s.effective_database_url,
            wait_s=s.write_wait_s,
            on_wait=lambda msg: typer.secho(msg, fg=typer.colors.YELLOW, err=True),
        ):
            yield
    except DatabaseBusy as exc:
        _fail(str(exc), EXIT_BUSY)


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        _fail(f"--since {value!r} is not an ISO 8601 date or date-time")
    return None


def _known_sources() -> list[str]:
    from flows.steps import known_sources
    from spiders.config import SourcesFileError

    try:
        return known_sources(get_settings())
    except SourcesFileError as exc:
        _fail(str(exc), 2)
        raise


@app.command()
def init() -> None:
    """Create or migrate the database."""
    from models.store.db import migrate

    s = get_settings()
    with _writing():
        rev = migrate(s.effective_database_url)
    typer.echo(f"database ready at revision {rev}: {s.effective_database_url}")


@app.command()
def collect(
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Source name (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Collect from this date (UK local if no zone).")
    ] = None,
) -> None:
    """Crawl live sources into the store (from each source's checkpoint to now); in a
    terminal a progress bar per source shows the notices fetched and the rate."""
    from flows.progress import progress_bar
    from flows.steps import collect_source, known_sources
    from models.store.db import migrate

    s = get_settings()
    known = _known_sources()
    names = source or known_sources(s, enabled_only=True)
    unknown = sorted(set(names) - set(known))
    if unknown:
        _fail(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(known)}", EXIT_BAD_INPUT)
    when = _since(since)
    failed = 0
    with _writing():
        migrate(s.effective_database_url)
        for name in names:
            typer.echo(f"collecting {name} ...")
            with progress_bar(f"fetch {name}", None, unit="notices") as advance:
                r = collect_source(name, s, utcnow(), since=when, progress=advance)
            stored = r.stored
            typer.echo(
                f"  {name}: {r.notices} notice(s) in {r.windows} window(s); "
                f"{stored.get('inserted', 0)} new, {stored.get('updated', 0)} updated, "
                f"{stored.get('unchanged', 0)} unchanged; {r.errors} error(s)"
            )
            for line in r.rejections[:SAY_REJECTIONS]:
                typer.secho(f"    rejected {line}", fg=typer.colors.YELLOW, err=True)
            if r.error:
                failed += 1
                typer.secho(f"  {name}: {r.error} (log: {r.log_path})", fg=typer.colors.YELLOW)
    # 3: a source failed (its error is kept; the others were stored), as for `bidbell run`
    raise typer.Exit(3 if failed else 0)


@app.command()
def sources(
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines output.")] = False,
) -> None:
    """Each source: enabled, schedule, last success, items collected, last error."""
    from flows.steps import load_configured_sources
    from models.store.db import migrate
    from models.store.source_health import source_status

    s = get_settings()
    _known_sources()  # a broken sources file is reported plainly
    migrate(s.effective_database_url)
    rows = source_status(load_configured_sources(s))
    for r in rows:
        if as_json:
            typer.echo(json.dumps(r, ensure_ascii=False, default=str))
            continue
        when = r["last_success_at"] or "never"
        flag = "" if r["enabled"] else " (disabled)"
        bad = r["health"] not in (None, "ok")
        typer.secho(
            f"{r['name']}{flag} [{r['type']}] every {r['every_minutes']} min"
            + (f"  {r['health'].upper()}" if bad else ""),
            fg=typer.colors.RED if bad else None,
        )
        if bad:
            told = "operator alerted" if r["operator_alerted"] else "operator not yet alerted"
            typer.secho(
                f"    {r['consecutive_failures']} failed run(s) in a row; last run with notices: "
                f"{r['last_nonempty_at'] or 'never'}; {told}",
                fg=typer.colors.RED,
            )
        typer.echo(f"    {r['base_url']}")
        typer.echo(
            f"    last success: {when}; last run: {r['last_items']} item(s); "
            f"total: {r['total_items']}; kept errors: {r['errors_kept']}"
        )
        if r["last_error"]:
            typer.secho(f"    last error: {r['last_error']}", fg=typer.colors.YELLOW)


@app.command("import")
def import_(
    source: Annotated[str, typer.Option("--source", "-s", help="Source the files came from.")],
    files: Annotated[list[Path], typer.Argument(help="Saved payload files.")],
) -> None:
    """Parse saved payload files of a source into the store."""
    from flows.steps import import_files, load_configured_sources
    from models.store.db import migrate
    from spiders.files import can_import

    known = _known_sources()
    if source not in known:
        _fail(f"unknown source {source!r}; known: {', '.join(known)}", EXIT_BAD_INPUT)
    s = get_settings()
    spider_type = load_configured_sources(s)[source].type
    if not can_import(spider_type):
        _fail(
            f"source {source!r} (type {spider_type}) cannot import saved files: its pages are "
            "only read live (bidbell collect --source NAME)",
            EXIT_BAD_INPUT,
        )
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        _fail(f"no such file: {', '.join(missing)}", EXIT_BAD_INPUT)
    from flows.progress import progress_bar

    with _writing():
        migrate(s.effective_database_url)
        with progress_bar(f"import {source}", None, unit="records") as advance:
            r = import_files(source, files, s, utcnow(), progress=advance)
    typer.echo(
        f"{source}: {r.received} record(s) read; {r.inserted} new, {r.updated} updated, "
        f"{r.unchanged} unchanged, {r.rejected} rejected; "
        f"opportunities: {r.opportunities_new} new, {r.opportunities_changed} changed"
        + (f", {r.listings_linked} another listing of one stored" if r.listings_linked else "")
    )
    if r.rejected:
        for line in r.rejections[:SAY_REJECTIONS]:
            typer.secho(f"  rejected {line}", fg=typer.colors.YELLOW, err=True)
        more = r.rejected - min(len(r.rejections), SAY_REJECTIONS)
        if more > 0:
            typer.secho(f"  ... and {more} more rejected", fg=typer.colors.YELLOW, err=True)
        typer.secho(
            f"{r.rejected} record(s) could not be used; each is kept with its reason and "
            "raw payload in the ingesterror table",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if not r.usable:
        _fail("nothing usable was read from the file(s)", EXIT_BAD_INPUT)


def _subscribers_ready() -> None:
    from models.store.db import migrate

    migrate(get_settings().effective_database_url)


def _describe_profile(profile: object) -> list[str]:
    from models.subscribers.manage import profile_criteria

    c = profile_criteria(profile)  # type: ignore[arg-type]
    parts = []
    for label, values in (
        ("sectors", c.sectors),
        ("cpv", c.cpv_prefixes),
        ("keywords", c.keywords),
        ("not sectors", c.exclude_sectors),
        ("not cpv", c.exclude_cpv),
        ("not words", c.exclude_keywords),
        ("areas", [str(a) for a in c.areas()]),
        ("stages", c.stages),
        ("suitable for", c.suitable_for),
    ):
        if values:
            parts.append(f"{label}={', '.join(map(str, values))}")
    lo = f"£{c.min_value:,.0f}" if c.min_value is not None else "0"
    hi = f"£{c.max_value:,.0f}" if c.max_value is not None else "any"
    ns = "" if c.value_not_stated else ", not 'value not stated'"
    parts.append(f"value={lo}-{hi}{ns}")
    if c.min_fit_score is not None:
        parts.append(f"fit>={c.min_fit_score}")
    if c.min_days_left is not None:
        parts.append(f"days left>={c.min_days_left}")
    return parts


@subscribers.command("add")
def subscribers_add(
    name: Annotated[str, typer.Option(help="Organisation name.")],
    email: Annotated[str, typer.Option(help="Where alerts go.")],
    kind: Annotated[str, typer.Option(help="sme, vcse or infrastructure.")] = "sme",
    sub_kind: Annotated[
        str | None,
        typer.Option(
            help="micro|small|medium; charity|cic|community_group|social_enterprise; "
            "cvs|chamber|federation."
        ),
    ] = None,
    mobile: Annotated[str | None, typer.Option(help="Mobile number for SMS (UK or +..).")] = None,
    member_of: Annotated[
        str | None, typer.Option(help="Email of the infrastructure organisation it belongs to.")
    ] = None,
    serves: Annotated[
        list[str] | None, typer.Option(help="An area the organisation serves (repeatable).")
    ] = None,
    profile: Annotated[
        str, typer.Option(help="Profile name (one organisation, many).")
    ] = "default",
    sector: Annotated[
        list[str] | None, typer.Option(help="Sector by name, e.g. 'Food and catering'.")
    ] = None,
    cpv: Annotated[
        list[str] | None, typer.Option(help="CPV code prefix, e.g. 85 or 7931 (repeatable).")
    ] = None,
    keyword: Annotated[
        list[str] | None, typer.Option(help="Keyword or phrase, matched on word stems.")
    ] = None,
    exclude_sector: Annotated[list[str] | None, typer.Option(help="Sector to leave out.")] = None,
    exclude_cpv: Annotated[list[str] | None, typer.Option(help="CPV prefix to leave out.")] = None,
    exclude_keyword: Annotated[
        list[str] | None, typer.Option(help="Word or phrase that rules a notice out.")
    ] = None,
    region: Annotated[
        list[str] | None, typer.Option(help="NUTS/ITL code, e.g. UKJ4 for Kent (repeatable).")
    ] = None,
    area: Annotated[
        list[str] | None,
        typer.Option(help="Kent district, NUTS/ITL code or 'within 20 miles of ME10'."),
    ] = None,
    min_value: Annotated[float | None, typer.Option(help="Smallest contract value, £.")] = None,
    max_value: Annotated[float | None, typer.Option(help="Largest contract value, £.")] = None,
    value_not_stated: Annotated[
        bool, typer.Option(help="Include notices that state no value.")
    ] = True,
    stage: Annotated[
        list[str] | None, typer.Option(help="early, tender, subcontract or award (repeatable).")
    ] = None,
    suitable_for: Annotated[
        list[str] | None, typer.Option(help="Only notices marked suitable for sme / vcse.")
    ] = None,
    min_fit: Annotated[int | None, typer.Option(help="Lowest fit score, 0-100.")] = None,
    min_days_left: Annotated[int | None, typer.Option(help="Fewest days left to respond.")] = None,
    channel: Annotated[list[str] | None, typer.Option(help="email, sms or feed.")] = None,
    frequency: Annotated[str, typer.Option(help="instant, daily or weekly.")] = "instant",
) -> None:
    """Register an organisation with a profile (again with the same email and profile
    name: update them)."""
    from models.subscribers.manage import SubscriberError, add_subscriber

    _subscribers_ready()
    extra: dict[str, Any] = {
        "sectors": sector or [],
        "exclude_sectors": exclude_sector or [],
        "exclude_cpv": exclude_cpv or [],
        "exclude_keywords": exclude_keyword or [],
        "areas": area or [],
        "value_not_stated": value_not_stated,
        "min_fit_score": min_fit,
        "min_days_left": min_days_left,
    }
    if stage:
        extra["stages"] = stage
    if suitable_for:
        extra["suitable_for"] = suitable_for
    try:
        org, prof, created = add_subscriber(
            name=name,
            email=email,
            kind=kind,
            sub_kind=sub_kind,
            mobile=mobile,
            member_of=member_of,
            areas_served=serves or [],
            profile=profile,
            channels=channel or ["email"],
            frequency=frequency,
            cpv_prefixes=cpv or [],
            keywords=keyword or [],
            regions=region or [],
            min_value=min_value,
            max_value=max_value,
            **extra,
        )
    except SubscriberError as exc:
        _fail(str(exc), 2)
        return
    verb = "registered" if created else "updated"
    typer.echo(
        f"{verb} {org.name} <{org.email}> (organisation {org.id}, profile {prof.id} "
        f"{prof.name!r}, version {prof.version})"
    )


@subscribers.command("list")
def subscribers_list() -> None:
    """List organisations and their profiles, one line per profile."""
    from models.subscribers.manage import list_subscribers

    _subscribers_ready()
    rows = list_subscribers()
    for org, profiles in rows:
        kind = org.kind + (f"/{org.sub_kind}" if org.sub_kind else "")
        shown: list[Any] = list(profiles) or [None]
        for p in shown:
            what = (
                f"\t{p.name}\t{'; '.join(_describe_profile(p))}\t"
                f"{','.join(p.channels)} {p.frequency}"
                if p is not None
                else "\t(no profile)"
            )
            typer.echo(f"{org.id}\t{org.name}\t{org.email}\t{kind}{what}")
    typer.echo(f"{len(rows)} organisation(s)", err=True)


@subscribers.command("show")
def subscribers_show(
    who: Annotated[str, typer.Argument(help="Email or organisation id.")],
) -> None:
    """One organisation: its details, members and every profile in full."""
    from models.subscribers.criteria import KIND_LABEL
    from models.subscribers.manage import get_subscriber

    _subscribers_ready()
    found = get_subscriber(who)
    if found is None:
        _fail(f"no organisation {who!r}")
        return
    org, profiles, members, parent = found
    typer.echo(f"{org.name} <{org.email}> (organisation {org.id})")
    kind = KIND_LABEL.get(org.kind, org.kind)
    if org.sub_kind:
        kind += f": {KIND_LABEL.get(org.sub_kind, org.sub_kind)}"
    typer.echo(f"  kind:      {kind}")
    typer.echo(f"  mobile:    {org.mobile or '-'}")
    typer.echo(f"  serves:    {'; '.join(org.areas) or '-'}")
    if parent is not None:
        typer.echo(f"  member of: {parent.name} <{parent.email}>")
    if members:
        typer.echo(f"  members:   {len(members)}")
        for m in members:
            typer.echo(f"    {m.name} <{m.email}>")
    for p in profiles:
        state = "active" if p.active else "inactive"
        typer.echo(
            f"  profile {p.id} {p.name!r} ({state}, version {p.version}): "
            f"{', '.join(p.channels)}, {p.frequency}"
        )
        for part in _describe_profile(p):
            typer.echo(f"    {part}")


@subscribers.command("import")
def subscribers_import(
    file: Annotated[Path, typer.Argument(help="CSV file (columns: bidbell subscribers export).")],
    member_of: Annotated[
        str | None,
        typer.Option(help="Email of the infrastructure organisation whose members these are."),
    ] = None,
) -> None:
    """Import organisations and profiles from a CSV; bad rows are reported with their line
    number and reason, the rest are stored; importing the same file again changes nothing."""
    from models.subscribers.manage import SubscriberError, import_csv

    if not file.is_file():
        _fail(f"no such file: {file}", 2)
    _subscribers_ready()
    try:
        report = import_csv(file, member_of=member_of)
    except SubscriberError as exc:
        _fail(f"{file}: {exc}", 2)
        return
    for line, reason in report.rejected:
        typer.secho(f"{file}:{line}: rejected: {reason}", fg=typer.colors.YELLOW, err=True)
    typer.echo(
        f"{report.rows} row(s) read: {report.organisations_created} organisation(s) new, "
        f"{report.organisations_updated} updated, {report.unchanged} unchanged, "
        f"{len(report.rejected)} rejected"
    )
    raise typer.Exit(2 if report.rejected else 0)


@subscribers.command("export")
def subscribers_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Every organisation and profile as CSV, in the import format."""
    import io

    from models.subscribers.manage import export_csv

    _subscribers_ready()
    buf = io.StringIO()
    n = export_csv(buf)
    if output is None:
        typer.echo(buf.getvalue(), nl=False)
    else:
        output.write_text(buf.getvalue(), encoding="utf-8")
        typer.echo(f"wrote {n} row(s) to {output}", err=True)


@subscribers.command("remove")
def subscribers_remove(
    who: Annotated[str, typer.Argument(help="Email or organisation id.")],
) -> None:
    """Remove an organisation with its profiles and alerts (its members stay)."""
    from models.subscribers.manage import remove_subscriber

    _subscribers_ready()
    org = remove_subscriber(who)
    if org is None:
        _fail(f"no organisation {who!r}")
        return
    typer.echo(f"removed {org.name} <{org.email}> (organisation {org.id})")


targets = typer.Typer(
    help="Other places an organisation's instant alerts go (Teams, Slack, a webhook...): "
    "apprise URLs of an allowed scheme (BIDBELL_TARGET_SCHEMES), never an internal address.",
    no_args_is_help=True,
)
subscribers.add_typer(targets, name="target")


def _org_id(who: str) -> int:
    from models.subscribers.manage import get_subscriber

    found = get_subscriber(who)
    if found is None:
        _fail(f"no organisation {who!r}")
        raise AssertionError  # unreachable: _fail exits
    return int(found[0].id or 0)


@targets.command("add")
def target_add(
    who: Annotated[str, typer.Argument(help="Email or organisation id.")],
    url: Annotated[str, typer.Argument(help="An apprise URL, e.g. msteams://... or json://...")],
    label: Annotated[str, typer.Option(help="What to call it (default: the URL, redacted).")] = "",
) -> None:
    """Send a copy of the organisation's instant alerts to this target as well."""
    from models.store.db import get_engine, session_scope
    from notifiers.dispatch import redact
    from notifiers.targets import TargetRefused, add_target

    _subscribers_ready()
    org_id = _org_id(who)
    try:
        with session_scope(get_engine()) as s:
            t = add_target(s, org_id, url, get_settings(), utcnow(), label)
            shown = f"target {t.id} ({t.label}) added for organisation {org_id}"
    except TargetRefused as exc:
        _fail(f"{redact(url)}: {exc}", EXIT_BAD_INPUT)
        return
    typer.echo(shown)


@targets.command("list")
def target_list(who: Annotated[str, typer.Argument(help="Email or organisation id.")]) -> None:
    """The organisation's targets: id, state, label (URLs are not shown: they hold secrets)."""
    from models.store.db import get_engine, session_scope
    from notifiers.targets import list_targets

    _subscribers_ready()
    org_id = _org_id(who)
    with session_scope(get_engine()) as s:
        rows = [(t.id, t.status, t.label, t.reason) for t in list_targets(s, org_id)]
    for tid, status, label, reason in rows:
        typer.echo(f"{tid}\t{status}\t{label}" + (f"\t{reason}" if reason else ""))
    typer.echo(f"{len(rows)} target(s)", err=True)


@targets.command("remove")
def target_remove(target_id: Annotated[int, typer.Argument(help="The target's id.")]) -> None:
    """Stop sending to a target (its past deliveries stay on record)."""
    from models.store.db import get_engine, session_scope
    from notifiers.targets import remove_target

    _subscribers_ready()
    with session_scope(get_engine()) as s:
        removed = remove_target(s, target_id)
    if not removed:
        _fail(f"no target {target_id}")
    typer.echo(f"removed target {target_id}")


def _money_cell(o: Any) -> str:
    """The value with its currency: "£2,770,000", "EUR 1,000", "-" (not stated)."""
    amount = o.value_amount if o.value_amount is not None else o.value_amount_gross
    if amount is None:
        amount = o.value_min
    if amount is None:
        return "-"
    currency = o.value_currency or "GBP"
    prefix = "from " if o.value_amount is None and o.value_amount_gross is None else ""
    if currency == "GBP":
        return f"{prefix}£{amount:,.0f}"
    return f"{prefix}{currency} {amount:,.0f}"


@app.command()
def opportunities(
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines output.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 1000,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only those open to bids (deadline not passed).")
    ] = False,
    q: Annotated[
        str | None,
        typer.Option(
            "--q", help='Keywords (full text): words, "a phrase", a OR b, -word to leave out.'
        ),
    ] = None,
    sector: Annotated[
        list[str] | None, typer.Option(help="Sector by name (repeatable: any of them).")
    ] = None,
    area: Annotated[
        list[str] | None, typer.Option(help="Kent district or NUTS/ITL code (repeatable).")
    ] = None,
    band: Annotated[
        list[str] | None,
        typer.Option(
            help="Size band: under_10k, below_publication, below_threshold, above_threshold, "
            "not_stated (repeatable)."
        ),
    ] = None,
    stage: Annotated[
        list[str] | None, typer.Option(help="early, tender, subcontract or award (repeatable).")
    ] = None,
    closing_within: Annotated[
        int | None, typer.Option(help="Closing within this many days.")
    ] = None,
    suitable_for: Annotated[
        list[str] | None, typer.Option(help="Marked suitable for sme / vcse.")
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Published on this source.")] = None,
    subcontract: Annotated[bool, typer.Option("--subcontract", help="Subcontracts only.")] = False,
    sort: Annotated[
        str | None, typer.Option(help="relevance, closing or newest (default: newest).")
    ] = None,
) -> None:
    """List stored opportunities, one per procurement; the web search's filters."""
    from pydantic import ValidationError

    from models.store.db import get_engine, migrate, session_scope
    from models.store.queries import (
        Search,
        count_listings_stored,
        listings_for,
        opportunity_json,
        search_opportunities,
    )
    from models.subscribers.criteria import explain_error

    s = get_settings()
    try:
        search = Search.model_validate(
            {
                "q": q or "",
                "sectors": sector or [],
                "areas": area or [],
                "bands": band or [],
                "stages": stage or [],
                "suitable_for": suitable_for or [],
                "sources": source or [],
                "subcontract_only": subcontract,
                "open_only": open_only,
                "closing_within": closing_within,
                "sort": sort,
                "per_page": max(1, limit),
            }
        )
    except ValidationError as exc:
        _fail(explain_error(exc), EXIT_BAD_INPUT)
        return
    migrate(s.effective_database_url)
    with session_scope(get_engine()) as session:
        page = search_opportunities(session, search, utcnow())
    opps = page.items
    where = s.effective_database_url
    shown = f"{len(opps)} of {page.total}" if page.total > len(opps) else f"{page.total}"
    if not as_json:  # JSON Lines stay lines of JSON, even where both streams are read as one
        typer.echo(f"{shown} opportunit{'y' if page.total == 1 else 'ies'} in {where}", err=True)
    if page.total == 0 and count_listings_stored()[0] == 0:
        typer.echo(
            "  the database is empty: after `make demo`, query the demo's database with "
            f"BIDBELL_DATABASE_URL=sqlite:///{s.var_dir / 'demo' / 'bidbell.db'}",
            err=True,
        )
    if as_json:
        listings = listings_for(opps)
        for o in opps:
            typer.echo(json.dumps(opportunity_json(o, listings.get(o.id or 0)), ensure_ascii=False))
        return
    typer.echo("OCID\tSTAGE\tCLOSES (UK)\tVALUE\tSIZE\tBUYER\tTITLE")
    for o in opps:
        deadline = to_uk(o.deadline).strftime("%Y-%m-%d %H:%M") if o.deadline else "-"
        title = " ".join(o.title.split())
        typer.echo(
            f"{o.ocid}\t{o.stage}\t{deadline}\t{_money_cell(o)}\t{o.value_band}\t"
            f"{o.buyer_name}\t{title}"
        )


@app.command()
def web(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    proxy_headers: Annotated[
        bool,
        typer.Option(help="Trust X-Forwarded-For/-Proto from a proxy in front (client address)."),
    ] = False,
) -> None:
    """Serve the web front (search, feeds, sign-up, preferences, admin) on the database."""
    from models.store.db import migrate
    from web.server import serve

    s = get_settings()
    migrate(s.effective_database_url)
    typer.echo(
        f"Bidbell web on http://{host}:{port}/ (database {s.effective_database_url})", err=True
    )
    if s.public_url.rstrip("/") != f"http://{host}:{port}":
        typer.echo(
            f"  links in emails and feeds point at {s.public_url} (BIDBELL_PUBLIC_URL)", err=True
        )
    serve(host, port, proxy_headers=proxy_headers)


EXPORT_FORMATS = ("ocds",)


@app.command()
def export(
    format_: Annotated[str, typer.Option("--format", help="Output format: ocds.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
    all_listings: Annotated[
        bool,
        typer.Option(
            "--all-listings",
            help="One release per stored listing, not only per canonical opportunity.",
        ),
    ] = False,
) -> None:
    """Export stored opportunities as an OCDS 1.1 release package (JSON, UTF-8, indent 2),
    validated against the OCDS 1.1.5 schema and its extensions before it is written."""
    if format_ not in EXPORT_FORMATS:
        _fail(f"unknown format {format_!r}; known: {', '.join(EXPORT_FORMATS)}", 2)
    from models.ocds.export import export_release_package
    from models.ocds.validate import validate_package
    from models.store.db import get_engine, migrate, session_scope

    s = get_settings()
    migrate(s.effective_database_url)
    with session_scope(get_engine()) as session:
        package = export_release_package(session, utcnow(), s.public_url, all_listings)
    n = len(package["releases"])
    if not n:
        _fail("no opportunities stored: nothing to export (OCDS needs at least one release)")
    errors = validate_package(package)
    if errors:
        for line in errors[:50]:
            typer.echo(f"  {line}", err=True)
        more = " (first 50 shown)" if len(errors) > 50 else ""
        _fail(f"the OCDS export is not valid: {len(errors)} error(s){more}; nothing written")
    text = json.dumps(package, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        typer.echo(text.encode("utf-8"), nl=False)  # bytes: UTF-8 whatever the locale
        return
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc}")
    typer.echo(f"wrote {n} release(s) to {output}", err=True)


@app.command()
def reclassify() -> None:
    """Rebuild every stored opportunity from its notices (after the classification rules,
    the sector model or deduplication changed, or on a store from before deduplication)."""
    from flows.progress import progress_bar
    from models.store.db import get_engine, migrate, session_scope
    from models.store.store import rebuild_all

    s = get_settings()
    with _writing(), session_scope(get_engine(s.effective_database_url)) as session:
        migrate(s.effective_database_url)
        # a bar with counts, rate and time left in a terminal; quiet otherwise
        with progress_bar("reclassify", None, unit="procurements") as advance:
            r = rebuild_all(session, utcnow(), progress=advance)
    typer.echo(
        f"opportunities: {r.opportunities_changed} changed, {r.opportunities_new} new, "
        f"{r.listings_linked} another listing of one"
    )


@app.command("train-sectors")
def train_sectors() -> None:
    """Train the text sector model from the store; give a sector to notices without CPV."""
    from models.store.db import get_engine, migrate, session_scope
    from models.store.sectors import NothingToTrain, label_uncoded, train_from_store
    from models.store.sectors import trained_sectors as sectors_in

    s = get_settings()
    with _writing(), session_scope(get_engine(s.effective_database_url)) as session:
        migrate(s.effective_database_url)
        try:
            model, path, n = train_from_store(session, s, utcnow())
        except NothingToTrain as exc:
            _fail(str(exc))
            return
        labelled = label_uncoded(session, model)
    typer.echo(
        f"trained on {n} notices ({sectors_in(model)} sectors); labelled {labelled} "
        f"opportunities without CPV; model saved to {path}"
    )


def _org_ids(email: str | None) -> list[int] | None:
    if email is None:
        return None
    from sqlmodel import select

    from models.store.db import get_engine, session_scope
    from models.store.tables import Organisation

    with session_scope(get_engine()) as session:
        org = session.exec(
            select(Organisation).where(Organisation.email == email.strip().lower())
        ).first()
        if org is None:
            _fail(f"no organisation with the email {email!r}", EXIT_BAD_INPUT)
            return None
        return [org.id or 0]


@app.command()
def digest(
    kind: Annotated[str, typer.Option(help="daily, weekly or infrastructure.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the digests as files; send nothing.")
    ] = False,
    org: Annotated[str | None, typer.Option(help="Only this organisation (its email).")] = None,
) -> None:
    """Send the digests due now: daily (07:00 UK), weekly (Monday 07:00 UK) or the
    infrastructure organisations' weekly digest (chart and CSV). --dry-run writes them to
    var/digests/ (.eml; .txt for an SMS) instead, and records nothing."""
    from notifiers.digest import SCHEDULED_KINDS

    if kind not in SCHEDULED_KINDS:
        _fail(f"unknown digest kind {kind!r}; known: {', '.join(SCHEDULED_KINDS)}", EXIT_BAD_INPUT)
    from models.store.db import get_engine, migrate
    from notifiers.digest import send_due_digests, write_digests
    from notifiers.outbox import DeliveryReport, Sender
    from notifiers.smtp import RelayURLError

    s = get_settings()
    migrate(s.effective_database_url)
    org_ids = _org_ids(org)
    now = utcnow()
    try:
        sender = Sender(get_engine(), s, now)
    except RelayURLError as exc:
        _fail(f"BIDBELL_EMAIL_URL: {exc}", EXIT_BAD_INPUT)
        return
    try:
        if dry_run:
            folder = s.var_dir / "digests" / f"{kind}-{now:%Y%m%dT%H%M%SZ}"
            paths = write_digests(sender, kind, folder, org_ids)
            for path in paths:
                typer.echo(f"  {path}")
            typer.echo(f"{len(paths)} {kind} digest(s) due now written to {folder}; none sent")
            return
        report = DeliveryReport()
        with _writing():
            made = send_due_digests(sender, kind, report, org_ids)
    finally:
        sender.close()
    typer.echo(
        f"{kind} digests: {len(made)} made now; sent {report.digests_sent}, "
        f"failed {report.digests_failed}"
    )
    if report.digests_failed:
        typer.secho(
            "digests that could not be sent stay in the outbox and are tried again "
            "(bidbell outbox shows why)",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(4)


@app.command()
def outbox(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="Put failed alerts and digests back in the queue first."
        ),
    ] = False,
) -> None:
    """What the outbox holds: alerts and digests pending, sending, sent and failed, what
    the pending ones wait for, refused addresses and the last errors."""
    from models.store.db import get_engine, migrate, session_scope
    from notifiers.outbox import outbox_status
    from notifiers.outbox import retry_failed as requeue

    s = get_settings()
    migrate(s.effective_database_url)
    now = utcnow()
    if retry_failed:
        with _writing(), session_scope(get_engine()) as session:
            typer.echo(f"{requeue(session)} failed alert(s) and digest(s) queued again")
    with session_scope(get_engine()) as session:
        st = outbox_status(session, now)
    if as_json:
        typer.echo(json.dumps(st, ensure_ascii=False, indent=2))
        return
    a, d = st["alerts"], st["digests"]
    typer.echo(
        f"alerts:  {a['pending']} pending, {a['sending']} sending, {a['sent']} sent, "
        f"{a['failed']} failed"
    )
    routes = ", ".join(f"{n} {r}" for r, n in sorted(st["pending_by_route"].items()))
    if routes:
        typer.echo(f"  pending by route: {routes}")
    if st["waiting_retry"]:
        typer.echo(f"  {st['waiting_retry']} waiting to be tried again")
    if st["sms_pending"]:
        why = (
            "quiet hours (21:00-08:00 UK): held until 08:00"
            if st["sms_quiet_hours"]
            else "no SMS gateway set (BIDBELL_SMS_URL)"
            if not s.sms_url
            else "due on the next run"
        )
        typer.echo(f"  {st['sms_pending']} SMS waiting: {why}")
    if st["leases_expired"]:
        typer.echo(f"  {st['leases_expired']} claimed by a sender that stopped; due again")
    typer.echo(
        f"digests: {d['pending']} pending, {d['sending']} sending, {d['sent']} sent, "
        f"{d['failed']} failed"
    )
    for t in st["refused_targets"]:
        told = "told" if t["told"] else "not told yet"
        typer.secho(
            f"refused: organisation {t['organisation_id']} {t['channel']} {t['target']}: "
            f"{t['reason']} ({told})",
            fg=typer.colors.YELLOW,
        )
    if st["last_errors"]:
        typer.echo("last errors:")
    for e in st["last_errors"]:
        typer.echo(
            f"  {e['at']} {e['what']} {e['channel']} {e['target']}: {e['error']} ({e['outcome']})"
        )


@app.command()
def run(
    source: Annotated[list[str] | None, typer.Option("--source", "-s")] = None,
) -> None:
    """The whole pipeline once, against the live sources: collect, store, match, send, feed."""
    from flows.runner import run_pipeline_cli

    with _writing():
        status = run_pipeline_cli(source or None)
    raise typer.Exit(status)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address of the web app.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the web app.")] = 8000,
    web: Annotated[bool, typer.Option(help="Start the web app too.")] = True,
) -> None:
    """Run Bidbell for real: every source on its schedule (sources.toml), instant alerts
    after each collection, digests at 07:00 (daily) and Monday 07:00 (weekly), nightly
    housekeeping, and the web app. Ctrl-C or SIGTERM stops it all."""
    from flows.serve import serve_all

    _known_sources()  # a broken sources file is reported plainly
    raise typer.Exit(serve_all(host, port, web))


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option(help="Keep the demo's database from an earlier run (show idempotency).")
    ] = False,
) -> None:
    """The whole pipeline once, offline, on the real captures served from 127.0.0.1."""
    from demo.run import run_demo

    raise typer.Exit(run_demo(keep=keep))


def main() -> None:
    # Quiet third-party noise before anything imports Prefect or Scrapy.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        # SQLite answers "database is locked" when another program (not a Bidbell command,
        # which waits its turn) holds it longer than the busy timeout: say so in one line.
        if "database is locked" in str(exc):
            where = get_settings().effective_database_url
            typer.secho(
                f"error: the database is locked by another process ({where})",
                fg=typer.colors.RED,
                err=True,
            )
            sys.exit(EXIT_BUSY)
        raise


if __name__ == "__main__":
    main()
