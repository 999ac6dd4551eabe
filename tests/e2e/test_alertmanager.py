"""End to end with the real Alertmanager 0.25: it receives alerts on its API v2, groups
them and delivers its webhook to the real bot, with a bearer token.

Alertmanager runs with the shortest timers it allows (group_wait 0s, group_interval and
repeat_interval 1s), so its repeat deliveries come every second; every wait below polls
with a deadline. The direct HTTP checks at the end need no Alertmanager and always run.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import orjson
import pytest
from sqlmodel import Session, col, func, select

from bot.ingest import fingerprint
from bot.store import queries
from bot.store.tables import AlertRow, Incident, OutboxEntry, TimelineEvent
from tests.helpers import RunningBot, running_bot

if TYPE_CHECKING:
    from tests.e2e.conftest import StartAlertmanager

T = TypeVar("T")
TOKEN = "e2e-0f1e2d3c4b5a"
WEBHOOK = "/webhooks/alertmanager"
# One group of the `payments` route, which groups by alertname and cluster.
GROUP = {"alertname": "CheckoutDown", "team": "payments", "cluster": "eu-1"}
PODS = ("checkout-7c9f-a", "checkout-7c9f-b", "checkout-7c9f-c")
MiB = 1024 * 1024


# --- helpers -------------------------------------------------------------------------------


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def postable(
    labels: dict[str, str],
    *,
    starts_at: datetime,
    ends_at: datetime | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An alert as Prometheus posts it to Alertmanager's `POST /api/v2/alerts`."""
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations or {},
        "startsAt": _ts(starts_at),
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
    }
    if ends_at is not None:
        alert["endsAt"] = _ts(ends_at)
    return alert


def group_alerts(starts_at: datetime, ends_at: datetime | None = None) -> list[dict[str, Any]]:
    """Three alerts of one group: same alertname and cluster, different pods."""
    return [
        postable(
            {**GROUP, "pod": pod, "severity": "critical"},
            starts_at=starts_at,
            ends_at=ends_at,
            annotations={"summary": "Checkout is down"},
        )
        for pod in PODS
    ]


async def poll(
    fetch: Callable[[], Awaitable[T]], ok: Callable[[T], bool], *, within: float = 30.0
) -> T:
    """Fetch until `ok(value)`; on timeout fail with the last value seen."""
    deadline = time.monotonic() + within
    while True:
        value = await fetch()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within}s; last value: {value!r}")
        await asyncio.sleep(0.05)


def _as_async(fn: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """A plain function as something `poll` can await."""

    async def fetch() -> T:
        return fn()

    return fetch


async def read(rb: RunningBot, fn: Callable[[Session], T]) -> T:
    return await rb.bot.store.read(fn)


async def all_incidents(rb: RunningBot) -> Sequence[Incident]:
    return await read(rb, lambda s: queries.incidents(s))


async def incident(rb: RunningBot, number: int = 1) -> Incident | None:
    return await read(rb, lambda s: queries.incident(s, number))


async def timeline(rb: RunningBot, number: int = 1) -> Sequence[TimelineEvent]:
    return await read(rb, lambda s: queries.timeline(s, number))


async def alert_rows(rb: RunningBot, number: int = 1) -> Sequence[AlertRow]:
    return await read(rb, lambda s: queries.incident_alerts(s, number))


async def outbox_counts(rb: RunningBot) -> tuple[int, int]:
    """(all outbox entries ever written, those not delivered yet)."""

    def count(s: Session) -> tuple[int, int]:
        total = s.exec(select(func.count()).select_from(OutboxEntry)).one()
        pending = s.exec(
            select(func.count()).select_from(OutboxEntry).where(col(OutboxEntry.done_at).is_(None))
        ).one()
        return total, pending

    return await read(rb, count)


async def wait_incident(rb: RunningBot, number: int = 1, **expected: Any) -> Incident:
    def matches(inc: Incident | None) -> bool:
        return inc is not None and all(getattr(inc, k) == v for k, v in expected.items())

    found = await poll(lambda: incident(rb, number), matches)
    assert found is not None
    return found


async def wait_console(rb: RunningBot, *needles: str) -> str:
    async def text() -> str:
        return rb.console.getvalue()

    return await poll(text, lambda out: all(n in out for n in needles))


async def wait_outbox_drained(rb: RunningBot) -> None:
    await poll(lambda: outbox_counts(rb), lambda counts: counts[1] == 0)


def bot_metric(rb: RunningBot, name: str, **labels: str) -> float:
    return rb.bot.metrics.registry.get_sample_value(name, labels) or 0.0


# --- 1-3: Alertmanager → webhook → one incident, on SQLite and PostgreSQL ------------------


@pytest.mark.alertmanager
async def test_alerts_reach_the_bot_through_the_webhook_as_one_incident(
    config_dir: Path, database_url: str, alertmanager: StartAlertmanager
) -> None:
    async with running_bot(config_dir, database_url, webhook_token=TOKEN) as rb:
        am = await alertmanager(rb, token=TOKEN)
        await am.push(group_alerts(datetime.now(UTC) - timedelta(minutes=1)))

        inc = await wait_incident(rb, alert_count=3)
        assert len(await all_incidents(rb)) == 1
        assert (inc.state, inc.firing_count, inc.team, inc.channel) == (
            "triggered",
            3,
            "payments",
            "#payments",
        )
        assert (inc.title, inc.severity) == ("Checkout is down", "critical")
        assert orjson.loads(inc.group_labels) == {"alertname": "CheckoutDown", "cluster": "eu-1"}
        rows = await alert_rows(rb)
        assert sorted(orjson.loads(r.labels)["pod"] for r in rows) == list(PODS)
        # Through Alertmanager's webhook (not the bot's own API v2), with the right token.
        assert {r.source for r in rows} == {"alertmanager"}
        assert {r.status for r in rows} == {"firing"}
        assert bot_metric(rb, "pagerbot_alerts_received_total", source="alertmanager") >= 3
        assert bot_metric(rb, "pagerbot_alerts_received_total", source="api-v2") == 0
        assert bot_metric(rb, "pagerbot_webhook_rejected_total", reason="unauthorized") == 0
        assert await am.metric("alertmanager_notifications_total", integration="webhook") >= 1
        assert (
            await am.metric("alertmanager_notifications_failed_total", integration="webhook") == 0
        )

        out = await wait_console(rb, "3 firing, 0 resolved")
        assert "[INC-1] TRIGGERED Checkout is down (posted)" in out
        assert "channel=#payments" in out and "alertname=CheckoutDown cluster=eu-1" in out
        assert "Incident opened: Checkout is down" in out
        assert "[INC-2]" not in out


@pytest.mark.alertmanager
async def test_repeat_deliveries_create_no_second_incident_and_no_second_post(
    config_dir: Path, database_url: str, alertmanager: StartAlertmanager
) -> None:
    async with running_bot(config_dir, database_url, webhook_token=TOKEN) as rb:
        am = await alertmanager(rb, token=TOKEN)
        await am.push(group_alerts(datetime.now(UTC) - timedelta(minutes=1)))
        await wait_incident(rb, alert_count=3)
        await wait_console(rb, "3 firing, 0 resolved")
        await wait_outbox_drained(rb)
        console_before = rb.console.getvalue()
        events_before = [(e.id, e.kind, e.text) for e in await timeline(rb)]
        outbox_before = await outbox_counts(rb)
        deduplicated = bot_metric(rb, "pagerbot_alerts_deduplicated_total")
        sent = await am.metric("alertmanager_notifications_total", integration="webhook")

        # Alertmanager re-sends the same 3-alert snapshot every second: let two more arrive.
        await poll(
            lambda: am.metric("alertmanager_notifications_total", integration="webhook"),
            lambda n: n >= sent + 2,
        )
        await poll(
            _as_async(lambda: bot_metric(rb, "pagerbot_alerts_deduplicated_total")),
            lambda n: n >= deduplicated + 2 * len(PODS),
        )

        incidents = await all_incidents(rb)
        assert [(i.id, i.alert_count, i.firing_count) for i in incidents] == [(1, 3, 3)]
        events = await timeline(rb)
        assert [(e.id, e.kind, e.text) for e in events] == events_before
        assert [e.kind for e in events].count("opened") == 1
        assert await outbox_counts(rb) == outbox_before  # nothing queued for the chat
        out = rb.console.getvalue()
        assert out == console_before
        assert out.count("(posted)") == 1 and out.count("[INC-1] TRIGGERED") >= 1
        assert "[INC-2]" not in out
        assert (
            await am.metric("alertmanager_notifications_failed_total", integration="webhook") == 0
        )


@pytest.mark.alertmanager
async def test_alerts_pushed_again_with_a_past_end_resolve_the_incident(
    config_dir: Path, database_url: str, alertmanager: StartAlertmanager
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=2)
    async with running_bot(config_dir, database_url, webhook_token=TOKEN) as rb:
        am = await alertmanager(rb, token=TOKEN)
        await am.push(group_alerts(started))
        await wait_incident(rb, alert_count=3, firing_count=3)

        # Same alerts, same start, an end just passed: Alertmanager merges and resolves them.
        ended = datetime.now(UTC) - timedelta(seconds=1)
        await am.push(group_alerts(started, ends_at=ended))

        inc = await wait_incident(rb, state="resolved")
        assert (inc.alert_count, inc.firing_count) == (3, 0)
        assert inc.resolved_at is not None
        assert len(await all_incidents(rb)) == 1
        kinds = [e.kind for e in await timeline(rb)]
        assert kinds.count("opened") == 1
        assert kinds.count("resolved") == 1
        assert kinds.index("opened") < kinds.index("resolved")
        resolved_events = [e for e in await timeline(rb) if e.kind == "alerts_resolved"]
        assert sum(orjson.loads(e.data)["count"] for e in resolved_events) == 3
        rows = await alert_rows(rb)
        assert {r.status for r in rows} == {"resolved"}
        assert {r.ends_at for r in rows} == {ended}  # Alertmanager passed our endsAt through
        assert {r.starts_at for r in rows} == {started}

        out = await wait_console(rb, "[INC-1] RESOLVED Checkout is down (updated)")
        assert "0 firing, 3 resolved" in out
        assert "Resolved: all alerts resolved" in out
        assert out.count("(posted)") == 1


# --- 4: fingerprints ------------------------------------------------------------------------

LABEL_SETS: list[dict[str, str]] = [
    # prometheus/common's test vector, plus an alertname so Alertmanager takes it.
    {"alertname": "FpVector", "name": "garland, briggs", "fear": "love is not enough"},
    {
        "alertname": "FpUnicode",
        "city": "Zürich",
        "cjk": "日本語のアラート",
        "emoji": "🔥💥",  # 4-byte UTF-8
        "combining": "e\u0301",  # é as e + combining accent, not NFC-normalised
        "rtl": "\u202eevil\u202c",
        "bom": "\ufeffx",
    },
    {
        "alertname": "FpEmptyish",
        "space": " ",
        "zero": "0",
        "nul": "\u0000",
        "newline": "a\nb",
        "quote": "\"\\'",
        "separator_like": "\u00ff\u00fe",  # U+00FF is c3 bf in UTF-8, never a bare 0xff
    },
    {
        # Byte order: digits < upper case < "_" < lower case; a prefix sorts first.
        "alertname": "FpSortOrder",
        "Z": "1",
        "a": "2",
        "_": "3",
        "A_": "4",
        "a_b": "5",
        "ab": "6",
        "a0": "7",
        "aB": "8",
        "AB": "9",
        "_z": "10",
        "z_": "11",
        "a_": "12",
    },
    {"alertname": "FpMany", **{f"label_{i:03d}": f"value-{i * 7919}" for i in range(60)}},
    {"alertname": "FpLongValue", "blob": "x" * 4096, "b": "y"},
]
# Prometheus' rule: an empty label value is the same as no label, and Alertmanager drops it.
EMPTY_VALUES: dict[str, str] = {"alertname": "FpEmptyValue", "instance": "db1", "empty": ""}


@pytest.mark.alertmanager
async def test_fingerprints_match_alertmanager(
    config_dir: Path, database_url: str, alertmanager: StartAlertmanager
) -> None:
    starts = datetime.now(UTC) - timedelta(minutes=1)
    sets = [*LABEL_SETS, EMPTY_VALUES]
    async with running_bot(config_dir, database_url, webhook_token=TOKEN) as rb:
        am = await alertmanager(rb, token=TOKEN)
        await am.push([postable(labels, starts_at=starts) for labels in sets])

        held = await poll(am.alerts, lambda alerts: len(alerts) == len(sets))
        by_name = {a["labels"]["alertname"]: a for a in held}
        for labels in sets:
            reported = by_name[labels["alertname"]]
            without_empty = {k: v for k, v in labels.items() if v != ""}
            assert reported["labels"] == without_empty
            assert reported["fingerprint"] == fingerprint(reported["labels"]), labels["alertname"]
        for labels in LABEL_SETS:  # no empty values: the pushed set is the set
            assert by_name[labels["alertname"]]["fingerprint"] == fingerprint(labels)

        # Each label set is its own group (routed by alertname): one incident each.
        await poll(lambda: all_incidents(rb), lambda found: len(found) == len(sets))
        stored = await read(rb, lambda s: s.exec(select(AlertRow)).all())
        assert len(stored) == len(sets)
        for row in stored:
            labels = orjson.loads(row.labels)
            assert row.fingerprint == by_name[labels["alertname"]]["fingerprint"]
            assert row.fingerprint == fingerprint(labels)
        assert (
            await am.metric("alertmanager_notifications_failed_total", integration="webhook") == 0
        )


@pytest.mark.alertmanager
@pytest.mark.parametrize(
    "labels",
    [
        *[pytest.param(labels, id=labels["alertname"]) for labels in LABEL_SETS],
        pytest.param(EMPTY_VALUES, id=EMPTY_VALUES["alertname"]),
    ],
)
async def test_bots_own_api_v2_gives_the_fingerprint_alertmanager_gives(
    config_dir: Path, sqlite_url: str, alertmanager: StartAlertmanager, labels: dict[str, str]
) -> None:
    """A sender may post to the bot's API v2 directly or through Alertmanager: one alert
    must get one id and one label set either way, or the two never deduplicate."""
    body = [postable(labels, starts_at=datetime.now(UTC) - timedelta(minutes=1))]
    async with (
        running_bot(config_dir, sqlite_url, webhook_token=TOKEN) as rb,
        aiohttp.ClientSession() as http,
    ):
        # A token the bot refuses: this Alertmanager only computes, it delivers nothing.
        am = await alertmanager(rb, token="unused")
        await am.push(body)
        (held,) = await poll(am.alerts, lambda alerts: len(alerts) == 1)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(
            f"{rb.url}/api/v2/alerts", data=orjson.dumps(body), headers=headers
        ) as resp:
            assert resp.status == 200
        (row,) = await read(rb, lambda s: s.exec(select(AlertRow)).all())
        assert row.source == "api-v2"
        assert (row.fingerprint, orjson.loads(row.labels)) == (
            held["fingerprint"],
            held["labels"],
        )


# --- 5: a wrong token ----------------------------------------------------------------------


@pytest.mark.alertmanager
async def test_wrong_token_is_refused_and_nothing_is_stored(
    config_dir: Path, sqlite_url: str, alertmanager: StartAlertmanager
) -> None:
    async with running_bot(config_dir, sqlite_url, webhook_token=TOKEN) as rb:
        am = await alertmanager(rb, token="wrong-" + TOKEN)
        assert (
            await am.metric("alertmanager_notifications_failed_total", integration="webhook") == 0
        )
        await am.push(group_alerts(datetime.now(UTC) - timedelta(minutes=1)))

        # A 4xx fails the notification once per flush (every group_interval): see two.
        await poll(
            lambda: am.metric("alertmanager_notifications_failed_total", integration="webhook"),
            lambda failed: failed >= 2,
        )
        assert "401" in am.log()
        assert bot_metric(rb, "pagerbot_webhook_rejected_total", reason="unauthorized") >= 2
        assert bot_metric(rb, "pagerbot_alerts_received_total", source="alertmanager") == 0
        assert await all_incidents(rb) == []
        assert await read(rb, lambda s: s.exec(select(AlertRow)).all()) == []
        assert rb.console.getvalue() == ""


# --- a whole 10,000-alert group through Alertmanager ----------------------------------------


@pytest.mark.alertmanager
async def test_alertmanager_delivers_a_10000_alert_group(
    config_dir: Path, sqlite_url: str, alertmanager: StartAlertmanager
) -> None:
    """~4.4 MB per webhook: over aiohttp's default 1 MiB limit, which would answer 413 and
    leave Alertmanager retrying that group forever."""
    starts = datetime.now(UTC) - timedelta(minutes=1)
    alerts = [
        postable(
            {**GROUP, "pod": f"checkout-{i:05d}", "namespace": "shop", "severity": "critical"},
            starts_at=starts,
            annotations={"summary": "Checkout is down", "description": f"pod {i} not ready"},
        )
        for i in range(10_000)
    ]
    async with running_bot(config_dir, sqlite_url, webhook_token=TOKEN) as rb:
        am = await alertmanager(rb, token=TOKEN)
        for start in range(0, len(alerts), 1000):
            await am.push(alerts[start : start + 1000])
        inc = await wait_incident(rb, alert_count=10_000)
        assert (inc.firing_count, inc.state) == (10_000, "triggered")
        assert len(await all_incidents(rb)) == 1
        assert (
            await am.metric("alertmanager_notifications_failed_total", integration="webhook") == 0
        )
        assert bot_metric(rb, "pagerbot_webhook_rejected_total", reason="too_large") == 0


# --- 6: the bot's answers, straight over HTTP -----------------------------------------------


def _webhook(alerts: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}/{team="payments"}:{alertname="CheckoutDown", cluster="eu-1"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "pagerbot",
        "groupLabels": {"alertname": "CheckoutDown", "cluster": "eu-1"},
        "commonLabels": dict(GROUP),
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }
    body.update(overrides)
    return body


def _am_alert(i: int, **changes: Any) -> dict[str, Any]:
    """One alert as Alertmanager's webhook carries it (about 440 bytes)."""
    labels = {
        **GROUP,
        "instance": f"10.12.{i // 250}.{i % 250}:8080",
        "job": "checkout",
        "namespace": "shop",
        "pod": f"checkout-5d8f7b9c6-{i:05d}",
        "severity": "critical",
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": "Checkout is down",
            "description": f"Pod checkout-5d8f7b9c6-{i:05d} has not been ready for 5 minutes.",
        },
        "startsAt": "2026-11-20T11:59:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up%3D%3D0&g0.tab=1",
        "fingerprint": fingerprint(labels),
    }
    alert.update(changes)
    return alert


def _with(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = orjson.loads(orjson.dumps(body))
    target = copy
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


_DELETE = object()
_GOOD = _webhook([_am_alert(0), _am_alert(1)])
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("endpoint", "body", "error_starts"),
    [
        pytest.param(WEBHOOK, b'{"version": "4", "alerts": [', "body: not valid JSON", id="cut"),
        pytest.param(WEBHOOK, b"version=4", "body: not valid JSON", id="not-json"),
        pytest.param(WEBHOOK, b"", "body: empty", id="empty"),
        pytest.param(WEBHOOK, b"[]", "body:", id="json-not-object"),
        pytest.param(
            WEBHOOK,
            orjson.dumps(_with(_GOOD, ("version",), _DELETE)),
            "version: Field required",
            id="missing-version",
        ),
        pytest.param(
            WEBHOOK,
            orjson.dumps(_with(_GOOD, ("version",), "3")),
            "version:",
            id="wrong-version",
        ),
        pytest.param(
            WEBHOOK,
            orjson.dumps(_with(_GOOD, ("alerts", 0, "startsAt"), "yesterday at noon")),
            "alerts[0].startsAt:",
            id="startsAt-not-a-timestamp",
        ),
        pytest.param(
            WEBHOOK,
            orjson.dumps(_with(_GOOD, ("alerts", 1, "labels", "severity"), 5)),
            "alerts[1].labels.severity:",
            id="label-value-not-a-string",
        ),
        pytest.param(
            WEBHOOK,
            orjson.dumps(_with(_GOOD, ("alerts", 1, "status"), "burning")),
            "alerts[1].status:",
            id="bad-status",
        ),
        pytest.param(
            WEBHOOK,
            orjson.dumps(_with(_GOOD, ("alerts",), {"0": _am_alert(0)})),
            "alerts:",
            id="alerts-not-a-list",
        ),
        pytest.param(
            "/api/v2/alerts",
            orjson.dumps([{"labels": {"alertname": "A"}}, {"labels": {"alertname": ["A"]}}]),
            "[1].labels.alertname:",
            id="api-v2-label-value",
        ),
        pytest.param(
            "/api/v2/alerts",
            orjson.dumps([{"labels": {"alertname": "A"}, "endsAt": "soon"}]),
            "[0].endsAt:",
            id="api-v2-endsAt",
        ),
    ],
)
async def test_malformed_bodies_get_400_naming_the_problem(
    config_dir: Path, sqlite_url: str, endpoint: str, body: bytes, error_starts: str
) -> None:
    async with (
        running_bot(config_dir, sqlite_url, webhook_token=TOKEN) as rb,
        aiohttp.ClientSession() as http,
        http.post(f"{rb.url}{endpoint}", data=body, headers=AUTH) as resp,
    ):
        assert resp.status == 400
        assert resp.content_type == "application/json"
        answer = await resp.json()
        assert set(answer) == {"error"}
        assert answer["error"].startswith(error_starts), answer["error"]
        assert await all_incidents(rb) == []
        assert bot_metric(rb, "pagerbot_webhook_rejected_total", reason="bad_payload") == 1


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        pytest.param(None, "missing bearer token", id="missing"),
        pytest.param(f"Bearer {TOKEN}x", "wrong bearer token", id="wrong"),
        pytest.param(f"Bearer {TOKEN[:-1]}", "wrong bearer token", id="prefix"),
        pytest.param(f"Basic {TOKEN}", "wrong bearer token", id="wrong-scheme"),
        pytest.param("Bearer", "wrong bearer token", id="empty-token"),
    ],
)
@pytest.mark.parametrize("endpoint", [WEBHOOK, "/api/v2/alerts"])
async def test_missing_or_wrong_token_gets_401_and_stores_nothing(
    config_dir: Path, sqlite_url: str, endpoint: str, authorization: str | None, reason: str
) -> None:
    body = orjson.dumps(_GOOD if endpoint == WEBHOOK else [{"labels": {"alertname": "A"}}])
    headers = {} if authorization is None else {"Authorization": authorization}
    async with (
        running_bot(config_dir, sqlite_url, webhook_token=TOKEN) as rb,
        aiohttp.ClientSession() as http,
    ):
        async with http.post(f"{rb.url}{endpoint}", data=body, headers=headers) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert await resp.json() == {"error": reason}
        assert await all_incidents(rb) == []
        # The same request with the token is taken: the 401 was about the token alone.
        async with http.post(f"{rb.url}{endpoint}", data=body, headers=AUTH) as resp:
            assert resp.status == 200
        assert len(await all_incidents(rb)) == 1


async def _chunks(data: bytes, size: int = 1024) -> Any:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_over_the_configured_limit_gets_413_with_a_json_error(
    config_dir: Path, sqlite_url: str, chunked: bool
) -> None:
    limit = 4096
    small = orjson.dumps(_webhook([_am_alert(0)]))
    big = orjson.dumps(_webhook([_am_alert(i) for i in range(20)]))
    assert len(small) < limit < len(big)
    async with (
        running_bot(config_dir, sqlite_url, webhook_token=TOKEN, max_body_bytes=limit) as rb,
        aiohttp.ClientSession() as http,
    ):
        data: Any = _chunks(big) if chunked else big
        async with http.post(f"{rb.url}{WEBHOOK}", data=data, headers=AUTH) as resp:
            assert resp.status == 413
            assert resp.content_type == "application/json"
            answer = await resp.json()
            assert str(limit) in answer["error"]
            assert "PAGERBOT_MAX_BODY_BYTES" in answer["error"]
        assert await all_incidents(rb) == []
        assert bot_metric(rb, "pagerbot_webhook_rejected_total", reason="too_large") == 1
        async with http.post(f"{rb.url}{WEBHOOK}", data=small, headers=AUTH) as resp:
            assert resp.status == 200  # under the limit: taken
        assert len(await all_incidents(rb)) == 1


async def test_a_10000_alert_group_is_accepted_under_the_default_limit(
    config_dir: Path, database_url: str
) -> None:
    body = orjson.dumps(_webhook([_am_alert(i) for i in range(10_000)]))
    assert 4 * MiB < len(body) < 6 * MiB  # realistic: ~440 bytes an alert, as measured
    async with (
        running_bot(config_dir, database_url, webhook_token=TOKEN) as rb,
        aiohttp.ClientSession() as http,
    ):
        # BytesIO: aiohttp warns that a multi-megabyte bytes body blocks the loop.
        data = io.BytesIO(body)
        async with http.post(f"{rb.url}{WEBHOOK}", data=data, headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"status": "ok", "alerts": 10_000}
        # No wall-clock assertion: a commit slower than the store's ingest_timeout (8 s,
        # inside Alertmanager's 10 s) answers 503, so this 200 came in time by construction.
        incidents = await all_incidents(rb)
        assert [(i.alert_count, i.firing_count) for i in incidents] == [(10_000, 10_000)]
        stored = await read(rb, lambda s: s.exec(select(func.count()).select_from(AlertRow)).one())
        assert stored == 10_000


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param(
            "postgres",
            marks=[pytest.mark.postgres],
        ),
    ],
)
async def test_a_nul_in_a_group_label_is_stored_on_every_backend(
    config_dir: Path, sqlite_url: str, backend: str, request: pytest.FixtureRequest
) -> None:
    """Alertmanager takes any UTF-8 label value, U+0000 included, and delivers it."""
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("postgres_url")
    alert = _am_alert(0)
    alert["labels"]["alertname"] = "Checkout\u0000Down"
    alert["fingerprint"] = fingerprint(alert["labels"])
    async with (
        running_bot(config_dir, url, webhook_token=TOKEN) as rb,
        aiohttp.ClientSession() as http,
    ):
        body = orjson.dumps(_webhook([alert]))
        async with http.post(f"{rb.url}{WEBHOOK}", data=body, headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
        (inc,) = await all_incidents(rb)
        assert orjson.loads(inc.group_labels)["alertname"] == "Checkout\u0000Down"
