"""The HTTP face of the real bot: answers, durability before 200, metrics, chat output."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
import pytest

from bot.notify import ConsoleNotifier, EventView, IncidentView
from bot.store import queries
from tests.helpers import Clock, am_alert, am_webhook, eventually, running_bot


async def test_200_means_committed_and_console_shows_the_incident(
    config_dir: Path, database_url: str
) -> None:
    async with running_bot(config_dir, database_url) as rb, aiohttp.ClientSession() as http:
        body = am_webhook(
            am_alert(
                alertname="CheckoutDown",
                team="payments",
                cluster="eu-1",
                pod="a",
                severity="critical",
                annotations={"summary": "Checkout is down"},
            ),
            am_alert(alertname="CheckoutDown", team="payments", cluster="eu-1", pod="b"),
        )
        async with http.post(f"{rb.url}/webhooks/alertmanager", data=body) as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ok", "alerts": 2}
        # No waiting: the 200 came after the commit.
        incident = await rb.bot.store.read(lambda s: queries.incident(s, 1))
        assert incident is not None
        assert (incident.alert_count, incident.team, incident.channel) == (
            2,
            "payments",
            "#payments",
        )
        out = await eventually(lambda: "[INC-1]" in rb.console.getvalue() and rb.console.getvalue())
        assert "[INC-1] TRIGGERED Checkout is down" in out
        assert "2 firing, 0 resolved" in out


async def test_store_down_answers_503_and_readyz_says_why(config_dir: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:1/unreachable"
    async with running_bot(config_dir, url) as rb, aiohttp.ClientSession() as http:
        async with http.post(
            f"{rb.url}/webhooks/alertmanager", data=am_webhook(am_alert(alertname="A"))
        ) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
            assert "not open" in (await resp.json())["error"]
        async with http.get(f"{rb.url}/readyz") as resp:
            assert resp.status == 503
            detail = await resp.json()
            assert detail["ready"] is False
            assert detail["checks"]["database"].startswith("unavailable")
        async with http.get(f"{rb.url}/healthz") as resp:
            assert resp.status == 200


async def test_readyz_and_metrics(config_dir: Path, sqlite_url: str) -> None:
    async with running_bot(config_dir, sqlite_url) as rb, aiohttp.ClientSession() as http:
        async with http.get(f"{rb.url}/readyz") as resp:
            assert resp.status == 200
            assert await resp.json() == {
                "ready": True,
                "checks": {"database": "ok", "config": "ok"},
            }
        body = am_webhook(am_alert(alertname="A"))
        for _ in range(3):
            async with http.post(f"{rb.url}/webhooks/alertmanager", data=body) as resp:
                assert resp.status == 200
        async with http.post(f"{rb.url}/webhooks/alertmanager", data=b"{") as resp:
            assert resp.status == 400
        async with http.get(f"{rb.url}/metrics") as resp:
            text = await resp.text()
        assert 'pagerbot_alerts_received_total{source="alertmanager"} 3.0' in text
        assert "pagerbot_alerts_deduplicated_total 2.0" in text
        assert "pagerbot_incidents_opened_total 1.0" in text
        assert 'pagerbot_webhook_rejected_total{reason="bad_payload"} 1.0' in text
        assert (
            'pagerbot_http_request_duration_seconds_count{method="POST",'
            'path="/webhooks/alertmanager",status="200"} 3.0'
        ) in text
        assert "pagerbot_config_last_reload_success 1.0" in text


async def test_api_v2_alert_without_refresh_resolves_after_its_end(
    config_dir: Path, database_url: str
) -> None:
    clock = Clock()
    async with (
        running_bot(config_dir, database_url, clock=clock) as rb,
        aiohttp.ClientSession() as http,
    ):
        body = orjson.dumps([{"labels": {"alertname": "DiskFull", "instance": "db1"}}])
        async with http.post(f"{rb.url}/api/v2/alerts", data=body) as resp:
            assert resp.status == 200
        assert await rb.bot.expire_alerts() == 0
        clock.advance(minutes=4)
        async with http.post(f"{rb.url}/api/v2/alerts", data=body) as resp:  # a refresh
            assert resp.status == 200
        clock.advance(minutes=4)
        assert await rb.bot.expire_alerts() == 0  # refreshed 4 minutes ago: still firing
        clock.advance(minutes=1, seconds=1)
        assert await rb.bot.expire_alerts() == 1
        incident = await rb.bot.store.read(lambda s: queries.incident(s, 1))
        assert incident is not None and incident.state == "resolved"
        assert incident.resolved_at == clock.now
        assert clock.now - incident.created_at == timedelta(minutes=9, seconds=1)


class FlakyChat:
    """A chat sink that is down for its first call, then prints like the console."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.console = io.StringIO()
        self._sink = ConsoleNotifier(self.console)

    async def incident_changed(
        self, incident: IncidentView, events: list[EventView], ref: str | None
    ) -> str | None:
        self.calls.append(incident.number)
        if len(self.calls) == 1:
            raise ConnectionError("chat down")
        return await self._sink.incident_changed(incident, events, ref)


async def test_failed_delivery_is_retried_and_delivered_once(
    config_dir: Path, sqlite_url: str
) -> None:
    clock, chat = Clock(), FlakyChat()
    async with (
        running_bot(config_dir, sqlite_url, clock=clock, notifier=chat) as rb,
        aiohttp.ClientSession() as http,
    ):
        await rb.bot.dispatcher.stop()  # drive deliveries by hand
        async with http.post(
            f"{rb.url}/webhooks/alertmanager", data=am_webhook(am_alert(alertname="A"))
        ) as resp:
            assert resp.status == 200
        assert await rb.bot.dispatcher.deliver_due() == 1  # fails, backs off
        assert await rb.bot.dispatcher.deliver_due() == 0  # not due yet
        clock.advance(seconds=5)
        assert await rb.bot.dispatcher.deliver_due() == 1
        assert await rb.bot.dispatcher.deliver_due() == 0
        assert chat.calls == ["INC-1", "INC-1"]
        assert chat.console.getvalue().count("[INC-1]") == 1
        assert "Incident opened" in chat.console.getvalue()


async def test_stopping_lets_running_periodic_work_finish(
    config_dir: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A stop (SIGTERM) that lands during periodic work lets it finish instead of
    cancelling it halfway with an error in the log."""
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow_job() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    async with running_bot(config_dir, sqlite_url) as rb:
        rb.bot.scheduler.add_job(rb.bot._guard(slow_job), "date", id="slow_job")
        await asyncio.wait_for(started.wait(), 5)
    assert finished.is_set()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_periodic_jobs_of_one_interval_start_apart(config_dir: Path, sqlite_url: str) -> None:
    """The jobs sharing an interval (the checkpoint, the remute and the expiry of
    remediations every 10 s) used to start in the same instant: together they took most
    of a core for a tenth of a second, and the webhooks of that moment waited."""
    before = datetime.now(UTC)
    async with running_bot(config_dir, sqlite_url) as rb:
        jobs = rb.bot.scheduler.get_jobs()
    by_interval: dict[float, list[datetime]] = {}
    for job in jobs:
        seconds = job.trigger.interval.total_seconds()
        assert job.next_run_time - before >= timedelta(seconds=seconds)  # none runs early
        assert job.next_run_time - before < timedelta(seconds=2 * seconds + 1)
        by_interval.setdefault(seconds, []).append(job.next_run_time)
    shared = [sorted(times) for times in by_interval.values() if len(times) > 1]
    assert shared, by_interval
    for times in shared:
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= timedelta(seconds=0.5), times
