"""The alerts of an incident grouped by name: a 10,000-alert storm reads as a few lines
with the label values that varied, not 10,000 rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlmodel import Session

from bot.postmortem.timeline import safe_url
from bot.store.paging import keyset
from bot.store.tables import alerts

_VALUES = 5  # distinct values shown per varying label


@dataclass
class AlertGroup:
    name: str
    count: int = 0
    firing: int = 0
    first_start: datetime | None = None
    first_seen: datetime | None = None
    last_end: datetime | None = None
    generator_url: str | None = None
    summary: str = ""
    common: dict[str, str] = field(default_factory=dict)
    varying: dict[str, list[str]] = field(default_factory=dict)
    more_values: dict[str, bool] = field(default_factory=dict)

    def add(self, row: Any, labels: dict[str, str], annotations: dict[str, Any]) -> None:
        if self.count == 0:
            self.common = {k: v for k, v in labels.items() if k != "alertname"}
            self.generator_url = safe_url(row.generator_url)
            self.summary = str(annotations.get("summary") or "")
        else:
            for key in [k for k, v in self.common.items() if labels.get(k) != v]:
                self._vary(key, self.common.pop(key))
        for key, value in labels.items():
            if key != "alertname" and key not in self.common:
                self._vary(key, value)
        self.count += 1
        self.firing += row.status == "firing"
        if self.first_start is None or row.starts_at < self.first_start:
            self.first_start = row.starts_at
        if self.first_seen is None or row.first_seen < self.first_seen:
            self.first_seen = row.first_seen
        end = row.ends_at
        if end is not None and (self.last_end is None or end > self.last_end):
            self.last_end = end

    def _vary(self, key: str, value: str) -> None:
        values = self.varying.setdefault(key, [])
        if value in values:
            return
        if len(values) < _VALUES:
            values.append(value)
        else:
            self.more_values[key] = True

    @property
    def varying_text(self) -> str:
        return "; ".join(
            f"{k}: {', '.join(v)}{' …' if self.more_values.get(k) else ''}"
            for k, v in sorted(self.varying.items())
        )

    @property
    def common_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.common.items()))


def alert_groups(
    session: Session, number: int
) -> tuple[list[AlertGroup], int, dict[str, str] | None]:
    """Groups by alertname (largest first), the alert count, and the first alert's labels
    (to find the runbook)."""
    groups: dict[str, AlertGroup] = {}
    total, first_labels = 0, None
    first_start: datetime | None = None
    query = sa.select(alerts).where(alerts.c.incident_id == number)
    for row in keyset(session, query, alerts.c.fingerprint):
        labels = _mapping(row.labels)
        name = labels.get("alertname") or "(no alertname)"
        group = groups.get(name)
        if group is None:
            group = groups[name] = AlertGroup(name)
        group.add(row, labels, _mapping(row.annotations))
        total += 1
        if first_start is None or row.starts_at < first_start:
            first_start, first_labels = row.starts_at, labels
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.name))
    return ordered, total, first_labels


def _mapping(text: str) -> dict[str, str]:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
