"""`GET /oncall/{schedule}.ics` from the real bot, read back with the icalendar parser."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from icalendar import Calendar

from bot.store.tables import oncall_overrides
from tests.helpers import Clock, running_bot

RULES = """
teams:
  ops: {members: {alice: {slack: U1}, bob: {slack: U2}, carol: {slack: U3}}}
schedules:
  primary:
    timezone: Europe/Berlin
    layers:
      - {rotation: weekly, start: 2026-11-02T09:00, handoff: "Mon 09:00", members: [alice, bob]}
"""


@pytest.fixture
def cal_dir(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "oncall.yaml").write_text(RULES, encoding="utf-8")
    return root


def events(body: bytes) -> list[tuple[str, datetime, datetime, str]]:
    cal = Calendar.from_ical(body)
    return [
        (str(e["summary"]), e.decoded("dtstart"), e.decoded("dtend"), str(e["uid"]))
        for e in cal.walk("VEVENT")
    ]


async def test_feed_has_one_event_per_shift_with_stable_uids(
    cal_dir: Path, database_url: str
) -> None:
    clock = Clock()  # Friday 2026-11-20 12:00 UTC
    async with (
        running_bot(cal_dir, database_url, clock=clock) as rb,
        aiohttp.ClientSession() as http,
    ):
        await rb.bot.store.write(
            lambda conn: conn.execute(
                oncall_overrides.insert().values(
                    schedule="primary",
                    user="carol",
                    starts_at=datetime(2026, 11, 25, 12, tzinfo=UTC),
                    ends_at=datetime(2026, 11, 25, 18, tzinfo=UTC),
                    created_by="carol",
                    created_at=clock.now,
                )
            )
        )
        async with http.get(f"{rb.url}/oncall/primary.ics?days=14") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/calendar"
            first = await resp.read()
        found = events(first)
        # 7 days back (whole shifts, not cut at the window) and 14 ahead
        assert [(s, a.isoformat(), b.isoformat()) for s, a, b, _ in found] == [
            ("On call: bob (primary)", "2026-11-09T08:00:00+00:00", "2026-11-16T08:00:00+00:00"),
            ("On call: alice (primary)", "2026-11-16T08:00:00+00:00", "2026-11-23T08:00:00+00:00"),
            ("On call: bob (primary)", "2026-11-23T08:00:00+00:00", "2026-11-25T12:00:00+00:00"),
            ("On call: carol (primary)", "2026-11-25T12:00:00+00:00", "2026-11-25T18:00:00+00:00"),
            ("On call: bob (primary)", "2026-11-25T18:00:00+00:00", "2026-11-30T08:00:00+00:00"),
            ("On call: alice (primary)", "2026-11-30T08:00:00+00:00", "2026-12-07T08:00:00+00:00"),
        ]
        assert found[1][3] == "primary-20261116T080000Z-alice@pagerbot"
        assert len({uid for *_, uid in found}) == len(found)
        clock.advance(hours=3)
        async with http.get(f"{rb.url}/oncall/primary.ics?days=14") as resp:
            again = events(await resp.read())
        assert [uid for *_, uid in again] == [uid for *_, uid in found]
        async with http.get(f"{rb.url}/oncall/primary.ics") as resp:
            default = events(await resp.read())
        assert default[0][1] == found[0][1] and default[-1][2] > datetime(2027, 2, 15, tzinfo=UTC)


async def test_unknown_schedule_and_bad_days(cal_dir: Path, sqlite_url: str) -> None:
    async with running_bot(cal_dir, sqlite_url) as rb, aiohttp.ClientSession() as http:
        async with http.get(f"{rb.url}/oncall/nope.ics") as resp:
            assert resp.status == 404
            assert await resp.json() == {"error": "no schedule named 'nope'"}
        async with http.get(f"{rb.url}/oncall/primary.ics?days=-3") as resp:
            assert resp.status == 400
            assert "days must be a whole number from 1 to 366" in (await resp.json())["error"]
