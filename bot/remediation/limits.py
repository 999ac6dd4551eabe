"""Limits that protect the target of an action, counted over every incident:
max_concurrent, cooldown, and the circuit breaker of automatic runs."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection

from bot.remediation.policy import Spec
from bot.store.tables import remediation_runs


def lock_action(conn: Connection, runbook: str, action: str) -> None:
    """Serialise limit checks of one action across replicas (SQLite's writer already is)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"{runbook}/{action}"}
        )


def limit_refusal(
    conn: Connection, runbook: str, action: str, spec: Spec, now: datetime, exclude: int = 0
) -> str | None:
    """max_concurrent and cooldown, counted over every incident: they protect the target."""
    same = (
        (remediation_runs.c.runbook == runbook)
        & (remediation_runs.c.action == action)
        & (remediation_runs.c.id != exclude)
    )
    running = conn.execute(
        sa.select(sa.func.count())
        .select_from(remediation_runs)
        .where(same & (remediation_runs.c.state == "running"))
    ).scalar_one()
    if running >= spec.max_concurrent:
        return (
            f"{action} is already running {running} time(s) (max_concurrent {spec.max_concurrent})"
        )
    if spec.cooldown > 0:
        last = conn.execute(
            sa.select(sa.func.max(remediation_runs.c.started_at)).where(same)
        ).scalar_one()
        if last is not None:
            last = last.replace(tzinfo=now.tzinfo) if last.tzinfo is None else last
            ready_at = last + timedelta(seconds=spec.cooldown)
            if now < ready_at:
                return (
                    f"{action} is cooling down until {ready_at:%H:%M:%S}Z "
                    f"(cooldown {timedelta(seconds=spec.cooldown)} since its last start)"
                )
    return None


def breaker(conn: Connection, runbook: str, action: str, spec: Spec, now: datetime) -> str:
    """Automatic runs stop after auto_max_per_hour in any hour: a flapping alert must not
    turn a diagnostic into a loop."""
    r = remediation_runs.c
    recent = conn.execute(
        sa.select(sa.func.count())
        .select_from(remediation_runs)
        .where(
            (r.runbook == runbook)
            & (r.action == action)
            & (r.trigger == "auto")
            & (r.requested_at > now - timedelta(hours=1))
        )
    ).scalar_one()
    if recent < spec.auto_max_per_hour:
        return ""
    return (
        f"automatic {action} stopped: it ran {recent} times in the last hour "
        f"(auto_max_per_hour {spec.auto_max_per_hour}); run it by hand if it is still needed"
    )
