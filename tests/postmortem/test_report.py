"""Incident metrics: MTTA, MTTR, pages, after-hours in each person's own time zone,
noisy alerts, on `pagerbot report` and on /metrics."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Connection

from bot.cli import main
from bot.reports import after_hours
from bot.store.tables import incident_feedback
from tests.helpers import Clock, am_alert, am_webhook, running_bot

RULES = """
teams:
  payments:
    members:
      alice: {slack: U01ALICE, tz: Europe/Berlin}
      bob: {slack: U02BOB, tz: America/New_York}
escalation_policies:
  payments:
    steps:
      - {notify: team:payments, after: 0m}
routes:
  - match: {team: payments}
    group_by: [alertname]
    team: payments
    escalation: payments
"""


@pytest.fixture
def team_config(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "teams.yaml").write_text(RULES, encoding="utf-8")
    return root


def test_after_hours_is_judged_in_the_persons_time_zone() -> None:
    # Friday 2026-11-20 22:30 UTC: 23:30 in Berlin, 17:30 in New York.
    at = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)
    assert after_hours(at, "Europe/Berlin")
    assert not after_hours(at, "America/New_York")
    # Saturday daytime is after hours everywhere.
    assert after_hours(datetime(2026, 11, 21, 12, 0, tzinfo=UTC), "UTC")
    # Summer time: 06:30 UTC on Monday 2026-07-06 is 08:30 in Berlin (CEST).
    assert not after_hours(datetime(2026, 7, 6, 6, 30, tzinfo=UTC), "Europe/Berlin")


async def test_report_figures_on_cli_and_metrics(
    team_config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock(datetime(2026, 11, 20, 22, 30, tzinfo=UTC))
    async with (
        running_bot(team_config, database_url, clock=clock) as rb,
        aiohttp.ClientSession() as http,
    ):
        for name in ("CheckoutDown", "DiskFull"):
            body = am_webhook(am_alert(alertname=name, team="payments"))
            async with http.post(f"{rb.url}/webhooks/alertmanager", data=body) as resp:
                assert resp.status == 200
        await rb.bot.escalation_tick()  # pages alice and bob, for each incident
        clock.advance(minutes=4)
        await rb.bot.act("ack", 1, "bob")
        await rb.bot.act("note", 1, "bob", "failing over the payment provider")
        clock.advance(minutes=6)
        await rb.bot.act("resolve", 1, "bob")
        await rb.bot.act("ack", 2, "alice")
        await rb.bot.act("resolve", 2, "alice")

        def vote(conn: Connection) -> None:
            conn.execute(
                incident_feedback.insert().values(
                    incident_id=2, user="alice", answer="noise", at=clock()
                )
            )

        await rb.bot.store.write(vote)
        report = await rb.bot.reports.refresh_report_metrics()
        async with http.get(f"{rb.url}/metrics") as resp:
            metrics = await resp.text()
    total = report.total
    assert (total.incidents, total.acknowledged, total.resolved) == (2, 2, 2)
    assert (total.pages, total.pages_per_incident, total.after_hours_pages) == (4, 2.0, 2)
    assert total.mtta_seconds == (240 + 600) / 2
    assert total.mttr_seconds == 600
    disk = next(n for n in report.noisiest if n.alertname == "DiskFull")
    assert (disk.pages, disk.acked_only, disk.acted_on, disk.marked_noise) == (2, 1, 0, 1)
    assert disk.has_runbook is False
    assert 'pagerbot_report_after_hours_pages{team="payments"} 2.0' in metrics
    assert 'pagerbot_report_mtta_seconds{team="all"} 420.0' in metrics
    assert (
        'pagerbot_report_time_to_acknowledge_seconds_bucket{le="300.0",team="all"} 1.0' in metrics
    )
    assert 'pagerbot_report_time_to_resolve_seconds_count{team="all"} 2.0' in metrics
    assert 'pagerbot_report_alert_pages{alertname="DiskFull"} 2.0' in metrics

    args = ["--config", str(team_config), "--database", database_url]
    period = ["--from", "2026-11-20", "--to", "2026-11-21"]
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["report", *period, "--json", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["incidents"], data["mtta_seconds"], data["after_hours_pages"]) == (2, 420, 2)
    assert data["by_team"]["payments"]["pages_per_incident"] == 2.0
    assert data["noisiest_alerts"][0]["alertname"] in ("CheckoutDown", "DiskFull")
    assert await asyncio.to_thread(main, ["report", *period, *args]) == 0
    table = capsys.readouterr().out
    assert "payments" in table and "7m 00s" in table and "DiskFull" in table
    assert await asyncio.to_thread(main, ["report", "--team", "nobody", *period, *args]) == 0
    assert "(no alerts in this period)" in capsys.readouterr().out


def test_report_refuses_an_empty_period(
    team_config: Path, capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    assert (
        main(["report", "--from", "2026-11-21", "--to", "2026-11-20", "--database", sqlite_url])
        == 2
    )
    assert "--from must be before --to" in capsys.readouterr().err
