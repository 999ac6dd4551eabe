"""`pagerbot report [--team T] [--from DATE] [--to DATE] [--json]`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.commands.postmortem import optional_config
from bot.commands.store_access import database_exists, opened
from bot.postmortem.durations import human
from bot.reports import Report, build
from bot.settings import Settings

DEFAULT_PERIOD = timedelta(days=30)


def parse_when(text: str, *, name: str) -> datetime:
    """`2026-11-01` (midnight UTC) or an ISO 8601 time (UTC unless it has an offset)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{name}: {text!r} is not a date like 2026-11-01 or 2026-11-01T08:00"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _secs(value: float | None) -> str:
    return "—" if value is None else human(timedelta(seconds=value))


def table(report: Report) -> str:
    lines = [
        f"Incidents from {report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC"
        + (f", team {report.team}" if report.team else ""),
        "",
        f"{'team':<14}{'incidents':>10}{'acked':>7}{'MTTA':>10}{'MTTR':>10}"
        f"{'pages':>7}{'pages/inc':>10}{'after-hours':>12}",
    ]
    for team, f in [("all", report.total), *sorted(report.by_team.items())]:
        per = "—" if f.pages_per_incident is None else f"{f.pages_per_incident:.2f}"
        lines.append(
            f"{team:<14}{f.incidents:>10}{f.acknowledged:>7}{_secs(f.mtta_seconds):>10}"
            f"{_secs(f.mttr_seconds):>10}{f.pages:>7}{per:>10}{f.after_hours_pages:>12}"
        )
    lines += [
        "",
        "Noisiest alerts",
        f"{'alert':<32}{'incidents':>10}{'pages':>7}{'acked only':>11}{'acted on':>9}"
        f"{'noise':>7}{'self-resolved':>14}  runbook",
    ]
    for n in report.noisiest:
        noise = "n/a" if n.marked_noise is None else str(n.marked_noise)
        lines.append(
            f"{n.alertname[:31]:<32}{n.incidents:>10}{n.pages:>7}{n.acked_only:>11}"
            f"{n.acted_on:>9}{noise:>7}{n.self_resolved:>14}  {'yes' if n.has_runbook else 'NO'}"
        )
    if not report.noisiest:
        lines.append("(no alerts in this period)")
    lines += ["", *(f"note: {note}" for note in report.notes)]
    return "\n".join(lines)


async def run(
    settings: Settings,
    *,
    team: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
    now: datetime | None = None,
) -> int:
    now = now or datetime.now(UTC)
    until = parse_when(end, name="--to") if end else now
    since = parse_when(start, name="--from") if start else until - DEFAULT_PERIOD
    if since >= until:
        raise ValueError("--from must be before --to")
    if not database_exists(settings):
        raise ValueError(f"no database at {settings.database_url}")
    config = optional_config(settings)
    async with opened(settings) as store:
        report = await store.read(lambda s: build(s, config, start=since, end=until, team=team))
    print(json.dumps(report.as_dict(), indent=2) if as_json else table(report))
    return 0
