"""Parsers for Alertmanager's webhook (version 4) and its API v2 alert list.

Bodies are validated by pydantic straight from bytes (fast, and every error has a
location), then mapped to `Alert`. An error names the field that is wrong, so the
sender's operator can fix it from the 400 alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from bot.ingest.alert import STATUSES, Alert, AlertStatus, fingerprint

# Alertmanager writes "no end" as the zero time of Go.
_GO_ZERO_YEAR = 1
_FINGERPRINT = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
_LabelSet = Annotated[dict[Annotated[str, StringConstraints(min_length=1)], str], Field()]


class PayloadError(ValueError):
    """A body we cannot accept; the message names the field and what is wrong."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _WebhookAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: Annotated[_LabelSet, Field(min_length=1)]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: _FINGERPRINT | None = None


class _Webhook(_Lenient):
    version: Literal["4"]
    groupKey: str = ""
    status: Literal["firing", "resolved"] | None = None
    receiver: str = ""
    truncatedAlerts: int = 0
    alerts: list[_WebhookAlert]


class _PostableAlert(_Lenient):
    labels: Annotated[_LabelSet, Field(min_length=1)]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = ""


_webhook = TypeAdapter(_Webhook)
_postable = TypeAdapter(list[_PostableAlert])


def _error(exc: ValidationError) -> PayloadError:
    first = exc.errors(include_url=False)[0]
    path = ""
    for part in first["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "":  # an empty label name: labels[""][key]
            path += '[""]'
        elif part == "[key]":
            path += part
        else:
            path += f".{part}" if path else str(part)
    where = path or "body"
    more = exc.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return PayloadError(f"{where}: {first['msg']}{suffix}")


def _parse_json(adapter: TypeAdapter[Any], body: bytes) -> Any:
    if not body.strip():
        raise PayloadError("body: empty; expected JSON")
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise PayloadError(f"body: not valid JSON ({exc.errors()[0]['msg']})") from None
        raise _error(exc) from None


def _labels(labels: dict[str, str]) -> dict[str, str]:
    """As Alertmanager: a label with an empty value is no label (and not in the fingerprint)."""
    if all(labels.values()):
        return labels
    return {k: v for k, v in labels.items() if v}


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _end(ts: datetime | None) -> datetime | None:
    if ts is None or ts.year == _GO_ZERO_YEAR:
        return None
    return _utc(ts)


def parse_alertmanager_webhook(body: bytes) -> tuple[list[Alert], dict[str, Any]]:
    """Alertmanager's webhook: a snapshot of one whole group, not a delta."""
    hook = _parse_json(_webhook, body)
    alerts = [
        Alert(
            labels=_labels(a.labels),
            annotations=a.annotations,
            status=STATUSES[a.status],
            starts_at=_utc(a.startsAt),
            # Alertmanager owns the expiry of its alerts and tells us when they resolve.
            ends_at=_end(a.endsAt) if a.status == "resolved" else None,
            generator_url=a.generatorURL,
            fingerprint=a.fingerprint or fingerprint(_labels(a.labels)),
            source="alertmanager",
            sender_group_key=hook.groupKey or None,
        )
        for a in hook.alerts
    ]
    meta = {"receiver": hook.receiver, "truncated_alerts": hook.truncatedAlerts}
    return alerts, meta


def parse_api_v2_alerts(body: bytes, *, now: datetime, resolve_timeout: timedelta) -> list[Alert]:
    """Alertmanager's `POST /api/v2/alerts`, as Prometheus, Grafana, Loki and vmalert send.

    Same rules as Alertmanager: no `startsAt` means now; no `endsAt` means
    now + resolve_timeout; an `endsAt` in the past means resolved.
    """
    items = _parse_json(_postable, body)
    alerts = []
    for a in items:
        starts = _utc(a.startsAt) if a.startsAt else now
        ends = _end(a.endsAt) or now + resolve_timeout
        resolved = ends <= now
        labels = _labels(a.labels)
        if not labels:
            raise PayloadError("labels: every label is empty; an alert needs at least one")
        alerts.append(
            Alert(
                labels=labels,
                annotations=a.annotations,
                status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
                starts_at=min(starts, ends) if resolved else starts,
                ends_at=ends,
                generator_url=a.generatorURL,
                fingerprint=fingerprint(labels),
                source="api-v2",
            )
        )
    return alerts
