from datetime import UTC, datetime, timedelta

import pytest

from bot.ingest import (
    AlertStatus,
    PayloadError,
    fingerprint,
    parse_alertmanager_webhook,
    parse_api_v2_alerts,
)
from tests.helpers import am_alert, am_webhook

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_webhook_maps_every_field() -> None:
    body = am_webhook(
        am_alert(alertname="HighLatency", cluster="eu-1", annotations={"summary": "slow"}),
        group_key='{}/{team="payments"}:{alertname="HighLatency"}',
    )
    alerts, meta = parse_alertmanager_webhook(body)
    (alert,) = alerts
    assert alert.labels == {"alertname": "HighLatency", "cluster": "eu-1"}
    assert alert.annotations == {"summary": "slow"}
    assert alert.status is AlertStatus.FIRING
    # 9-digit fractions are accepted (to the microsecond)
    assert alert.starts_at == datetime(2026, 11, 20, 11, 59, 0, 123456, tzinfo=UTC)
    assert alert.ends_at is None  # Go's zero time means "no end"
    assert alert.generator_url.startswith("http://prometheus.example/")
    assert alert.fingerprint == fingerprint(alert.labels)
    assert alert.source == "alertmanager"
    assert alert.sender_group_key == '{}/{team="payments"}:{alertname="HighLatency"}'
    assert meta == {"receiver": "pagerbot", "truncated_alerts": 0}


def test_webhook_prefers_the_senders_fingerprint() -> None:
    raw = am_alert(alertname="A")
    raw["fingerprint"] = "0123456789abcdef"
    alerts, _ = parse_alertmanager_webhook(am_webhook(raw))
    assert alerts[0].fingerprint == "0123456789abcdef"


def test_webhook_resolved_alert_keeps_its_end() -> None:
    alerts, _ = parse_alertmanager_webhook(
        am_webhook(am_alert("resolved", ends_at="2026-11-20T12:00:01Z", alertname="A"))
    )
    assert alerts[0].status is AlertStatus.RESOLVED
    assert alerts[0].ends_at == datetime(2026, 11, 20, 12, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: empty"),
        (b"{nope", "body: not valid JSON"),
        (b"[]", "body: Input should be an object"),
        (b'{"alerts": []}', "version: Field required"),
        (b'{"version": "3", "alerts": []}', "version: Input should be '4'"),
        (b'{"version": "4"}', "alerts: Field required"),
        (
            b'{"version":"4","alerts":[{"status":"firing","labels":{"a":1},"startsAt":"2026-01-01T00:00:00Z"}]}',
            "alerts[0].labels.a: Input should be a valid string",
        ),
        (
            b'{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"startsAt":"yesterday"}]}',
            "alerts[0].startsAt:",
        ),
        (
            b'{"version":"4","alerts":[{"status":"burning","labels":{"a":"1"},"startsAt":"2026-01-01T00:00:00Z"}]}',
            "alerts[0].status:",
        ),
        (
            b'{"version":"4","alerts":[{"status":"firing","labels":{},"startsAt":"2026-01-01T00:00:00Z"}]}',
            "alerts[0].labels:",
        ),
        (
            b'{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"xyz"}]}',
            "alerts[0].fingerprint:",
        ),
        (
            b'{"version":"4","alerts":[{"status":"firing","labels":{"":"x"},"startsAt":"2026-01-01T00:00:00Z"}]}',
            'alerts[0].labels[""][key]: String should have at least 1 character',
        ),
    ],
)
def test_webhook_errors_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_alertmanager_webhook(body)
    assert str(caught.value).startswith(message), str(caught.value)


def test_api_v2_defaults_follow_alertmanager() -> None:
    body = b'[{"labels": {"alertname": "A"}}]'
    (alert,) = parse_api_v2_alerts(body, now=NOW, resolve_timeout=timedelta(minutes=5))
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == NOW
    assert alert.ends_at == NOW + timedelta(minutes=5)
    assert alert.source == "api-v2"


def test_api_v2_end_in_the_past_means_resolved() -> None:
    body = (
        b'[{"labels": {"alertname": "A"}, "startsAt": "2026-11-20T11:00:00Z",'
        b' "endsAt": "2026-11-20T11:30:00Z"}]'
    )
    (alert,) = parse_api_v2_alerts(body, now=NOW, resolve_timeout=timedelta(minutes=5))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == datetime(2026, 11, 20, 11, 30, tzinfo=UTC)


def test_api_v2_errors_name_the_item() -> None:
    with pytest.raises(PayloadError, match=r"^\[1\]\.labels: Field required"):
        parse_api_v2_alerts(
            b'[{"labels": {"a": "b"}}, {"annotations": {}}]',
            now=NOW,
            resolve_timeout=timedelta(minutes=5),
        )


def test_empty_label_values_are_dropped_as_alertmanager_does() -> None:
    body = b'[{"labels": {"alertname": "A", "empty": ""}}]'
    (alert,) = parse_api_v2_alerts(body, now=NOW, resolve_timeout=timedelta(minutes=5))
    assert alert.labels == {"alertname": "A"}
    assert alert.fingerprint == fingerprint({"alertname": "A"})
    with pytest.raises(PayloadError, match="every label is empty"):
        parse_api_v2_alerts(
            b'[{"labels": {"a": ""}}]', now=NOW, resolve_timeout=timedelta(minutes=5)
        )
