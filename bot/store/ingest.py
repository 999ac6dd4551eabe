"""The ingest transaction: load what a batch can touch, plan, write, all in one commit.

This is the hot path, so it speaks to the DB-API cursor directly: SQLAlchemy's
per-parameter processing cost more than SQLite's own work. `Sql` hides the two
differences that matter (placeholders, timestamp encoding); the tables are still
defined once, in `tables.py`, and read elsewhere through SQLModel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from bot.incidents.grouping import AlertState, IncidentState, Item, Plan, State, plan
from bot.ingest.alert import STATUSES
from bot.store.sql import Sql, chunks, enqueue_updates

# A lookup rather than an enum call: this runs for every row a batch loads.
_STATES = {state.value: state for state in State}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


_INCIDENT_COLS = (
    "id, group_key, state, firing_count, alert_count, flap_count, resolved_at, title, route_id, "
    "muted_count, escalation, notify_only"
)


def incident_state(row: Sequence[Any], parse_ts: Callable[[Any], datetime | None]) -> IncidentState:
    """An incident from its `_INCIDENT_COLS` values (a database row, or the ingest
    process's answer, whose timestamps are already datetimes)."""
    return IncidentState(
        id=row[0],
        group_key=row[1],
        state=_STATES[row[2]],
        firing_count=row[3],
        alert_count=row[4],
        flap_count=row[5],
        resolved_at=parse_ts(row[6]),
        title=row[7],
        route_id=row[8],
        muted_count=row[9],
        escalation=row[10],
        notify_only=bool(row[11]),
    )


def incident_values(inc: IncidentState) -> tuple[Any, ...]:
    """The inverse of `incident_state`, timestamps left as datetimes."""
    return (
        inc.id,
        inc.group_key,
        inc.state.value,
        inc.firing_count,
        inc.alert_count,
        inc.flap_count,
        inc.resolved_at,
        inc.title,
        inc.route_id,
        inc.muted_count,
        inc.escalation,
        inc.notify_only,
    )


def _lock_groups(sql: Sql, keys: list[str]) -> None:
    """On PostgreSQL, replicas ingesting the same group take turns (sorted: no deadlock)."""
    if sql.sqlite:
        return  # BEGIN IMMEDIATE already made this the only writer
    sql.rows(
        "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h "
        "FROM unnest(CAST(? AS text[])) AS k ORDER BY h) AS s",
        (keys,),
    )


def _load(sql: Sql, items: list[Item]) -> tuple[dict[str, IncidentState], list[AlertState]]:
    keys = sorted({item.group_key for item in items})
    _lock_groups(sql, keys)
    current: dict[str, IncidentState] = {}
    for chunk in chunks(keys):
        query = (
            f"SELECT {_INCIDENT_COLS} FROM incidents WHERE id IN (SELECT max(id) FROM incidents "
            f"WHERE group_key IN ({sql.marks(len(chunk))}) GROUP BY group_key)"
        )
        for row in sql.rows(query, chunk):
            current[row[1]] = incident_state(row, sql.parse_ts)
    by_id = {inc.id: inc for inc in current.values()}
    current_ids = list(by_id) or [-1]
    fps = sorted({item.alert.fingerprint for item in items})
    found: list[Any] = []
    for chunk in chunks(fps):
        query = (
            "SELECT a.incident_id, a.fingerprint, a.status, a.starts_at, a.ends_at, "
            "a.content_hash, a.muted_by FROM alerts a JOIN incidents i ON i.id = a.incident_id "
            f"WHERE a.fingerprint IN ({sql.marks(len(chunk))}) "
            f"AND (i.state <> 'resolved' OR i.id IN ({sql.marks(len(current_ids))}))"
        )
        found.extend(sql.rows(query, [*chunk, *current_ids]))
    missing = sorted({row[0] for row in found} - by_id.keys())
    for chunk in chunks(missing):
        query = f"SELECT {_INCIDENT_COLS} FROM incidents WHERE id IN ({sql.marks(len(chunk))})"
        for row in sql.rows(query, chunk):
            by_id[row[0]] = incident_state(row, sql.parse_ts)
    rows = [
        AlertState(
            by_id[r[0]],
            r[1],
            STATUSES[r[2]],
            sql.parse_ts(r[3]),  # type: ignore[arg-type]
            sql.parse_ts(r[4]),
            r[5],
            r[6],
        )
        for r in found
    ]
    return current, rows


def _allocate(conn: Connection, count: int) -> range:
    """Gap-free INC numbers: the counter row is locked until commit, undone on rollback."""
    sql = Sql(conn)
    (row,) = sql.rows(
        "UPDATE counters SET value = value + ? WHERE name = 'incident' RETURNING value", (count,)
    )
    last = int(row[0])
    return range(last - count + 1, last + 1)


def _write(sql: Sql, result: Plan, now: datetime) -> None:
    ts_now = sql.ts(now)
    new = [inc for inc in result.incidents if inc.id is None]
    old = [inc for inc in result.incidents if inc.id is not None]
    if new:
        for inc, number in zip(new, _allocate(sql.conn, len(new)), strict=True):
            inc.id = number
        sql.many(
            "INSERT INTO incidents (id, group_key, route_id, title, severity, team, escalation, "
            "channel, notify_only, state, group_labels, created_at, updated_at, "
            "acknowledged_at, resolved_at, flap_count, firing_count, alert_count, muted_count) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [_new_incident(sql, inc, ts_now) for inc in new],
        )
    sql.many(
        "UPDATE incidents SET state = ?, firing_count = ?, alert_count = ?, flap_count = ?, "
        "muted_count = ?, resolved_at = ?, updated_at = ? WHERE id = ?",
        [
            (
                inc.state.value,
                inc.firing_count,
                inc.alert_count,
                inc.flap_count,
                inc.muted_count,
                sql.ts(inc.resolved_at),
                ts_now,
                inc.id,
            )
            for inc in old
        ],
    )
    sql.many(
        "INSERT INTO alerts (incident_id, fingerprint, status, labels, annotations, starts_at, "
        "ends_at, generator_url, source, content_hash, first_seen, last_changed, muted_by) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [_alert_row(sql, row, ts_now) for row in result.alerts if row.is_new],
    )
    sql.many(
        "UPDATE alerts SET status = ?, annotations = ?, starts_at = ?, ends_at = ?, "
        "generator_url = ?, content_hash = ?, last_changed = ?, muted_by = ? "
        "WHERE incident_id = ? AND fingerprint = ?",
        [_alert_update(sql, row, ts_now) for row in result.alerts if not row.is_new],
    )
    sql.many(
        "INSERT INTO timeline_events (incident_id, at, kind, actor, text, data) "
        "VALUES (?,?,?,?,?,?)",
        [(e.incident.id, ts_now, e.kind, "alerts", e.text, _json(e.data)) for e in result.events],
    )
    _escalations(sql, result, ts_now)
    enqueue_updates(sql, [inc.id for inc in result.incidents if inc.id is not None], ts_now)


def _escalations(sql: Sql, result: Plan, ts_now: Any) -> None:
    """Opening or reopening (flapping) starts escalation from step 1; resolving ends it."""
    start = {
        e.incident.id: (e.incident, e.kind)
        for e in result.events
        if e.kind in ("opened", "reopened") and e.incident.escalation and not e.incident.notify_only
    }
    ended = [(e.incident.id,) for e in result.events if e.kind == "resolved"]
    sql.many("DELETE FROM escalations WHERE incident_id = ?", [(i,) for i in start])
    sql.many(
        "INSERT INTO escalations (incident_id, policy, started_at, next_index, due_at, reason) "
        "VALUES (?, ?, ?, 0, ?, ?)",
        [(i, inc.escalation, ts_now, ts_now, kind) for i, (inc, kind) in start.items()],
    )
    sql.many("UPDATE escalations SET due_at = NULL WHERE incident_id = ?", ended)


def _new_incident(sql: Sql, inc: IncidentState, ts_now: Any) -> tuple[Any, ...]:
    route = inc.route
    assert route is not None
    return (
        inc.id,
        inc.group_key,
        route.route_id,
        inc.title,
        inc.severity,
        route.team,
        route.escalation,
        route.channel,
        route.notify_only,
        inc.state.value,
        _json(inc.group_labels),
        sql.ts(inc.created_at) or ts_now,
        ts_now,
        None,
        sql.ts(inc.resolved_at),
        inc.flap_count,
        inc.firing_count,
        inc.alert_count,
        inc.muted_count,
    )


def _alert_row(sql: Sql, row: AlertState, ts_now: Any) -> tuple[Any, ...]:
    alert = row.alert
    assert alert is not None
    return (
        row.incident.id,
        row.fingerprint,
        row.status.value,
        _json(alert.labels),
        _json(alert.annotations),
        sql.ts(row.starts_at),
        sql.ts(row.ends_at),
        alert.generator_url,
        alert.source,
        row.content_hash,
        ts_now,
        ts_now,
        row.muted_by,
    )


def _alert_update(sql: Sql, row: AlertState, ts_now: Any) -> tuple[Any, ...]:
    alert = row.alert
    assert alert is not None
    return (
        row.status.value,
        _json(alert.annotations),
        sql.ts(row.starts_at),
        sql.ts(row.ends_at),
        alert.generator_url,
        row.content_hash,
        ts_now,
        row.muted_by,
        row.incident.id,
        row.fingerprint,
    )


def apply_batch(conn: Connection, items: list[Item], now: datetime) -> Plan:
    sql = Sql(conn)
    current, rows = _load(sql, items)
    result = plan(items, current, rows, now)
    _write(sql, result, now)
    return result
