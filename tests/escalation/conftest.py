"""A config with a three-step policy, a repeat, an ack timeout and a working-hours step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import sqlalchemy as sa

from bot.app import Pagerbot
from bot.store import queries
from bot.store.tables import outbox, timeline
from tests.helpers import am_alert, am_webhook

RULES = """
teams:
  payments:
    channel: "#payments"
    members:
      alice: {slack: U1, tz: Europe/Berlin}
      bob: {slack: U2, tz: America/New_York}
      carol: {slack: U3}
schedules:
  primary:
    timezone: UTC
    layers: [{rotation: daily, start: 2026-11-01T00:00, handoff: "00:00", members: [alice]}]
  secondary:
    timezone: UTC
    layers: [{rotation: daily, start: 2026-11-01T00:00, handoff: "00:00", members: [bob]}]
escalation_policies:
  payments:
    steps:
      - {notify: schedule:primary, after: 0m}
      - {notify: schedule:secondary, after: 10m}
      - {notify: user:carol, after: 20m}
    repeat: 1
  sticky:
    steps: [{notify: schedule:primary}]
    ack_timeout: 30m
  office:
    timezone: Europe/Berlin
    steps:
      - {notify: user:alice, during: {days: [Mon, Tue, Wed, Thu, Fri], from: "09:00", to: "17:00"}}
defaults:
  group_by: [alertname]
  flap_window: 5m
routes:
  - {match: {policy: payments}, team: payments, escalation: payments}
  - {match: {policy: sticky}, team: payments, escalation: sticky}
  - {match: {policy: office}, team: payments, escalation: office}
"""


@pytest.fixture
def oncall_dir(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "oncall.yaml").write_text(RULES, encoding="utf-8")
    return root


async def fire(url: str, *, status: str = "firing", **labels: Any) -> None:
    starts = labels.pop("starts_at", "2026-11-20T11:59:00.123456789Z")
    body = am_webhook(am_alert(status, starts_at=starts, **labels))
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/webhooks/alertmanager", data=body) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def pages(bot: Pagerbot, incident: int | None = None) -> list[dict[str, Any]]:
    """Every page recorded in the timeline: who, when, why."""

    def run(session: Any) -> list[dict[str, Any]]:
        query = sa.select(timeline).where(timeline.c.kind == "paged").order_by(timeline.c.id)
        if incident is not None:
            query = query.where(timeline.c.incident_id == incident)
        out = []
        for row in session.execute(query):
            data = orjson.loads(row.data)
            for user in data["users"]:
                out.append(
                    {
                        "incident": row.incident_id,
                        "user": user,
                        "at": row.at,
                        "round": data["round"],
                        "step": data["step"],
                        "notify": data["notify"],
                        "text": row.text,
                    }
                )
        return out

    return await bot.store.read(run)


async def outbox_pages(bot: Pagerbot) -> list[tuple[int, str]]:
    def run(session: Any) -> list[tuple[int, str]]:
        rows = session.execute(sa.select(outbox).where(outbox.c.kind == "page"))
        return [(r.incident_id, orjson.loads(r.payload)["user"]) for r in rows]

    return await bot.store.read(run)


def who(found: list[dict[str, Any]]) -> list[str]:
    return [p["user"] for p in found]


async def more_pages_than(bot: Pagerbot, n: int) -> list[dict[str, Any]] | None:
    found = await pages(bot)
    return found if len(found) > n else None


async def event_kinds(bot: Pagerbot) -> list[str]:
    def run(session: Any) -> list[str]:
        return list(session.execute(sa.select(timeline.c.kind).order_by(timeline.c.id)).scalars())

    return await bot.store.read(run)


async def state(bot: Pagerbot, number: int) -> str:
    def run(session: Any) -> str:
        return str(queries.incident(session, number).state)

    return await bot.store.read(run)


async def outbox_drained(bot: Pagerbot) -> bool:
    """Every queued chat delivery is done (a hand-moved clock must not outrun leases)."""

    def run(session: Any) -> int:
        query = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.done_at.is_(None))
        return int(session.execute(query).scalar_one())

    return await bot.store.read(run) == 0
