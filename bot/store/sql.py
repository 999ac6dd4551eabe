"""Raw DB-API statements for the hot paths: SQLAlchemy's per-parameter processing cost
more than SQLite's own work. `Sql` hides the two differences that matter between the
databases (placeholders, timestamp encoding)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

_CHUNK = 2000  # bound parameters per IN list, well under SQLite's and PostgreSQL's limits


class Sql:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.ph = "?" if self.sqlite else "%s"

    def marks(self, count: int) -> str:
        return ",".join([self.ph] * count)

    def ts(self, value: datetime | None) -> Any:
        """Encode as SQLAlchemy's DateTime does, so SQLModel reads what we write."""
        if value is None:
            return None
        naive = (value if value.tzinfo is UTC else value.astimezone(UTC)).replace(tzinfo=None)
        # SQLAlchemy's SQLite format is exactly isoformat's, at a fraction of strftime's cost.
        return naive.isoformat(" ", "microseconds") if self.sqlite else naive

    def parse_ts(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.conn.exec_driver_sql(sql.replace("?", self.ph), self._clean(params)))

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        if params:
            self.conn.exec_driver_sql(sql.replace("?", self.ph), [self._clean(p) for p in params])

    def _clean(self, params: Sequence[Any]) -> tuple[Any, ...]:
        """PostgreSQL text cannot hold NUL, which alert text may carry: store U+FFFD."""
        if self.sqlite:
            return tuple(params)
        return tuple(
            p.replace("\x00", "\ufffd") if isinstance(p, str) and "\x00" in p else p for p in params
        )


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def enqueue_updates(sql: Sql, incident_ids: list[int], ts_now: Any) -> None:
    """One pending chat update per incident: a storm coalesces into a single update."""
    if not incident_ids:
        return
    pending: set[int] = set()
    for chunk in chunks(sorted(incident_ids)):
        query = (
            f"SELECT incident_id FROM outbox WHERE incident_id IN ({sql.marks(len(chunk))}) "
            "AND done_at IS NULL AND kind = 'update'"
        )
        pending.update(row[0] for row in sql.rows(query, chunk))
    sql.many(
        "INSERT INTO outbox (incident_id, kind, created_at, due_at, attempts) "
        "VALUES (?, 'update', ?, ?, 0)",
        [(i, ts_now, ts_now) for i in dict.fromkeys(incident_ids) if i not in pending],
    )
