"""The life of a run, one write transaction per step:

    requested → approved → running → succeeded | failed | timed_out | interrupted
    requested → denied | expired;   approved → refused (a limit was hit at start)

Each step checks the state it starts from under a row lock, so a double click, a Slack
retry or a second replica cannot approve twice or run twice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from bot.remediation.audit import AuditEvent, record
from bot.remediation.limits import breaker, limit_refusal, lock_action
from bot.remediation.policy import Spec, allowed_by, approval_refusal, oncall_now
from bot.remediation.render import Rendered
from bot.remediation.runner import Outcome
from bot.remediation.runs import Decision, RunView, load, update
from bot.rules.model import RulesConfig
from bot.store.tables import incidents, remediation_runs

ACTIVE = ("approved", "running")
FINAL = ("succeeded", "failed", "timed_out", "interrupted", "denied", "expired", "refused")


def _commit(conn: Connection, now: datetime, decision: Decision) -> Decision:
    for event in decision.audit:
        record(conn, event, now)
    return decision


def _event(run: RunView, kind: str, actor: str, text: str, **data: Any) -> AuditEvent:
    return AuditEvent(run.incident_id, run.id, kind, actor, text, {"action": run.action, **data})


def refuse_request(
    conn: Connection, *, number: int, action: str, user: str, reason: str, now: datetime
) -> Decision:
    """A request that never became a run (bad parameter, limit, not allowed) is still audited."""
    event = AuditEvent(
        number,
        None,
        "refused",
        user,
        f"{action} refused: {reason}",
        {
            "action": action,
            "reason": reason,
        },
    )
    return _commit(conn, now, Decision(False, reason, audit=(event,)))


def request(
    conn: Connection,
    *,
    number: int,
    runbook: str,
    action: str,
    spec: Spec,
    rendered: Rendered,
    trigger: str,
    user: str,
    now: datetime,
    rules: RulesConfig,
) -> Decision:
    def refuse(reason: str) -> Decision:
        return refuse_request(conn, number=number, action=action, user=user, reason=reason, now=now)

    incident = conn.execute(sa.select(incidents).where(incidents.c.id == number)).first()
    if incident is None:
        return Decision(False, f"no incident INC-{number}")
    if incident.state == "resolved":
        return refuse(f"INC-{number} is resolved")
    lock_action(conn, runbook, action)
    pending = conn.execute(
        sa.select(remediation_runs.c.id).where(
            (remediation_runs.c.incident_id == number)
            & (remediation_runs.c.action == action)
            & (remediation_runs.c.state == "requested")
        )
    ).first()
    if pending is not None:
        return Decision(False, f"{action} is already waiting for approval as run #{pending.id}")
    if (
        spec.approval == "none"
        and spec.approvers
        and trigger != "auto"
        and not allowed_by(spec.approvers, user, rules, oncall_now(conn, rules, now))
    ):
        return refuse(f"{user} may not run {action} (approvers: {', '.join(spec.approvers)})")
    if trigger == "auto":
        tripped = breaker(conn, runbook, action, spec, now)
        if tripped:
            event = AuditEvent(
                number, None, "auto_stopped", "pagerbot", tripped, {"action": action}
            )
            return _commit(conn, now, Decision(False, tripped, audit=(event,)))
    limited = limit_refusal(conn, runbook, action, spec, now)
    if limited:
        return refuse(limited)
    needed = spec.approvals_needed
    run_id = conn.execute(
        remediation_runs.insert()
        .values(
            incident_id=number,
            runbook=runbook,
            action=action,
            kind=rendered.kind,
            spec=spec.to_json(),
            rendered=rendered.to_json(),
            state="requested" if needed else "approved",
            trigger=trigger,
            requested_by=user,
            requested_at=now,
            approvals_needed=needed,
            approved_by="[]",
            expires_at=now + timedelta(seconds=spec.approval_timeout) if needed else None,
            heartbeat_at=now,
            output_bytes=0,
        )
        .returning(remediation_runs.c.id)
    ).scalar_one()
    run = load(conn, run_id)
    assert run is not None
    wait = (
        f"needs {needed} approval{'s' if needed > 1 else ''} from {', '.join(spec.approvers)}"
        f" by {run.expires_at:%H:%M}Z"
        if needed
        else "no approval needed"
    )
    event = _event(
        run,
        "requested",
        user,
        f"{user} requested {run.label}: {rendered.describe().splitlines()[0]} ({wait})",
        rendered=json.loads(rendered.to_json()),
        trigger=trigger,
        approval=spec.approval,
        approvers=list(spec.approvers),
    )
    return _commit(conn, now, Decision(True, f"run #{run.id} {wait}", run, not needed, (event,)))


def _expire(conn: Connection, run: RunView, now: datetime) -> Decision:
    run = update(conn, run.id, state="expired", finished_at=now)
    assert run.expires_at is not None
    text = f"{run.label} expired: not approved by {run.expires_at:%H:%M}Z"
    event = _event(run, "expired", "pagerbot", text, approved_by=list(run.approved_by))
    return _commit(conn, now, Decision(False, text, run, audit=(event,)))


def _requested(conn: Connection, run_id: int) -> RunView | Decision:
    """The run while it still awaits approval; otherwise the refusal that says why not."""
    run = load(conn, run_id)
    if run is None:
        return Decision(False, f"no run #{run_id}")
    if run.state != "requested":
        return Decision(False, f"run #{run_id} is {run.state}", run)
    return run


def approve(
    conn: Connection, *, run_id: int, user: str, now: datetime, rules: RulesConfig
) -> Decision:
    run = _requested(conn, run_id)
    if isinstance(run, Decision):
        return run
    if run.expires_at is not None and now >= run.expires_at:
        return _expire(conn, run, now)
    refusal = approval_refusal(
        run.spec,
        user=user,
        requested_by=run.requested_by,
        already=list(run.approved_by),
        rules=rules,
        oncall=oncall_now(conn, rules, now),
    )
    if refusal:
        event = _event(run, "approval_refused", user, f"approval of {run.label} refused: {refusal}")
        return _commit(conn, now, Decision(False, refusal, run, audit=(event,)))
    approvers = [*run.approved_by, user]
    done = len(approvers) >= run.spec.approvals_needed
    run = update(
        conn,
        run.id,
        approved_by=json.dumps(approvers),
        state="approved" if done else "requested",
        heartbeat_at=now,
    )
    more = "" if done else f"; needs {run.spec.approvals_needed - len(approvers)} more"
    text = f"{user} approved {run.label}{more}"
    event = _event(run, "approved", user, text, approved_by=approvers, complete=done)
    return _commit(conn, now, Decision(True, text, run, done, (event,)))


def deny(
    conn: Connection, *, run_id: int, user: str, reason: str, now: datetime, rules: RulesConfig
) -> Decision:
    """The requester may withdraw; otherwise only someone who could approve may deny."""
    run = _requested(conn, run_id)
    if isinstance(run, Decision):
        return run
    oncall = oncall_now(conn, rules, now)
    if user != run.requested_by and not allowed_by(run.spec.approvers, user, rules, oncall):
        return Decision(False, f"{user} may not deny this action", run)
    reason = reason.strip()[:500] or "no reason given"
    run = update(conn, run.id, state="denied", decided_by=user, reason=reason, finished_at=now)
    text = f"{user} denied {run.label}: {reason}"
    event = _event(run, "denied", user, text, reason=reason, approved_by=list(run.approved_by))
    return _commit(conn, now, Decision(True, text, run, audit=(event,)))


def start(conn: Connection, *, run_id: int, runner: str, now: datetime) -> Decision:
    run = load(conn, run_id)
    if run is None or run.state != "approved":
        return Decision(False, f"run #{run_id} is {run.state if run else 'unknown'}", run)
    lock_action(conn, run.runbook, run.action)
    limited = limit_refusal(conn, run.runbook, run.action, run.spec, now, exclude=run.id)
    if limited:
        run = update(conn, run.id, state="refused", reason=limited, finished_at=now)
        event = _event(run, "refused", "pagerbot", f"{run.label} not started: {limited}")
        return _commit(conn, now, Decision(False, limited, run, audit=(event,)))
    run = update(conn, run.id, state="running", runner=runner, started_at=now, heartbeat_at=now)
    approvers = ", ".join(run.approved_by) or "no approval needed"
    event = _event(
        run,
        "started",
        "pagerbot",
        f"{run.label} started (requested by {run.requested_by}; approved by {approvers})",
        requested_by=run.requested_by,
        approved_by=list(run.approved_by),
        rendered=json.loads(run.rendered.to_json()),
        runner=runner,
    )
    return _commit(conn, now, Decision(True, event.text, run, True, (event,)))


def finish(conn: Connection, *, run_id: int, outcome: Outcome, now: datetime) -> Decision:
    """Records how it ended, even if a sweep marked it interrupted meanwhile: it did end."""
    if load(conn, run_id) is None:
        return Decision(False, f"no run #{run_id}")
    run = update(
        conn,
        run_id,
        state=outcome.status,
        finished_at=now,
        exit_code=outcome.exit_code,
        output=outcome.output,
        output_bytes=outcome.output_bytes,
        digest=outcome.digest,
        reason=outcome.error,
    )
    exit_text = "no exit status" if outcome.exit_code is None else f"exit {outcome.exit_code}"
    error = f" ({outcome.error})" if outcome.error else ""
    text = (
        f"{run.label} {outcome.status.replace('_', ' ')}: {exit_text}{error}; "
        f"output {outcome.output_bytes} bytes, sha256 {outcome.digest}"
    )
    event = _event(
        run,
        "finished",
        "pagerbot",
        text,
        status=outcome.status,
        exit_code=outcome.exit_code,
        output_bytes=outcome.output_bytes,
        truncated=outcome.truncated,
        digest=outcome.digest,
        error=outcome.error,
        approved_by=list(run.approved_by),
    )
    return _commit(conn, now, Decision(outcome.status == "succeeded", text, run, audit=(event,)))


def heartbeat(conn: Connection, run_ids: list[int], now: datetime) -> None:
    if run_ids:
        conn.execute(
            remediation_runs.update()
            .where(remediation_runs.c.id.in_(run_ids) & (remediation_runs.c.state == "running"))
            .values(heartbeat_at=now)
        )


def expire_due(conn: Connection, now: datetime) -> list[Decision]:
    rows = conn.execute(
        sa.select(remediation_runs.c.id).where(
            (remediation_runs.c.state == "requested") & (remediation_runs.c.expires_at <= now)
        )
    ).all()
    out = []
    for row in rows:
        run = load(conn, row.id)
        if run is not None and run.state == "requested":
            out.append(_expire(conn, run, now))
    return out


def interrupt(
    conn: Connection,
    *,
    now: datetime,
    previous: str | None,
    me: str,
    stale_before: datetime,
) -> list[Decision]:
    """Runs whose process is gone: those of an earlier life of this bot (runner prefix
    `previous`, not `me`), and any whose heartbeat stopped. They are never re-run."""
    r = remediation_runs.c
    gone = r.heartbeat_at < stale_before
    if previous is not None:
        # Approved but never started: approval and start happen moments apart in one process.
        gone = gone | (r.runner.startswith(previous, autoescape=True) & (r.runner != me))
        gone = gone | ((r.state == "approved") & r.runner.is_(None))
    rows = conn.execute(sa.select(r.id).where(r.state.in_(ACTIVE) & gone)).all()
    out = []
    for row in rows:
        run = load(conn, row.id)
        if run is not None and run.state in ACTIVE:
            reason = (
                f"the bot restarted while it was {run.state}"
                if previous is not None
                else f"its runner stopped reporting while it was {run.state}"
            )
            out.append(_interrupt(conn, run, reason, now))
    return out


def interrupt_one(conn: Connection, *, run_id: int, reason: str, now: datetime) -> Decision:
    run = load(conn, run_id)
    if run is None or run.state not in ACTIVE:
        return Decision(False, f"run #{run_id} is {run.state if run else 'unknown'}", run)
    return _interrupt(conn, run, reason, now)


def _interrupt(conn: Connection, run: RunView, reason: str, now: datetime) -> Decision:
    was = run.state
    run = update(conn, run.id, state="interrupted", reason=reason, finished_at=now)
    text = f"{run.label} interrupted: {reason}; it will not run again without a new request"
    event = _event(run, "interrupted", "pagerbot", text, was=was, reason=reason)
    return _commit(conn, now, Decision(False, text, run, audit=(event,)))
