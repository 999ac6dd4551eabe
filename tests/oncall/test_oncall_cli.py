"""`pagerbot oncall`: who is on call (YAML and database overrides, layers, gaps), the
fairness report with pages from a real bot's timeline, and accepting a handoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.tables import oncall_overrides
from tests.escalation.conftest import fire, pages
from tests.helpers import Clock, eventually, running_bot

RULES = """
teams:
  ops:
    members:
      alice: {slack: U1, tz: Europe/Berlin}
      bob: {slack: U2, tz: America/New_York}
      carol: {slack: U3, tz: Europe/Berlin}
schedules:
  primary:
    timezone: Europe/Berlin
    layers:
      - {rotation: weekly, start: 2026-11-02T09:00, handoff: "Mon 09:00", members: [alice, bob]}
      - rotation: daily
        start: 2026-11-01T08:00
        handoff: "08:00"
        restrict: {days: [Sat, Sun], from: "08:00", to: "20:00"}
        members: [carol]
    overrides:
      - {user: carol, from: 2026-11-25T12:00, to: 2026-11-25T18:00}
  report:
    timezone: UTC
    layers:
      - rotation: daily
        start: 2026-11-01T00:00
        restrict: {days: [Mon, Tue, Wed, Thu, Fri], from: "09:00", to: "17:00"}
        members: [bob]
escalation_policies:
  ops: {steps: [{notify: schedule:primary}]}
routes:
  - {match: {team: ops}, team: ops, escalation: ops}
"""


@pytest.fixture
async def world(tmp_path: Path) -> tuple[Path, str]:
    """Config, and a database a real bot wrote: a handoff to alice on Monday 16th, a
    night page to her on Wednesday, and a stored override for bob on Friday."""
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "oncall.yaml").write_text(RULES, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    clock = Clock(datetime(2026, 11, 16, 8, 0, 30, tzinfo=UTC))
    async with running_bot(root, url, clock=clock) as rb:
        await rb.bot.handoff_tick()
        await eventually(lambda: "[to alice] You are on call" in rb.console.getvalue())
        clock.now = datetime(2026, 11, 18, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
        await fire(rb.url, alertname="Down", team="ops", starts_at="2026-11-18T22:29:00Z")
        await eventually(lambda: pages(rb.bot))
        await rb.bot.store.write(
            lambda conn: conn.execute(
                oncall_overrides.insert().values(
                    schedule="primary",
                    user="bob",
                    starts_at=datetime(2026, 11, 20, 14, tzinfo=UTC),
                    ends_at=datetime(2026, 11, 20, 16, tzinfo=UTC),
                    created_by="bob",
                    created_at=clock.now,
                )
            )
        )
    return root, url


def run(capsys: pytest.CaptureFixture[str], world: tuple[Path, str], *args: str) -> tuple[int, str]:
    code = main(["oncall", *args, "--config", str(world[0]), "--database", world[1]])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_who_per_schedule_and_layer_with_both_kinds_of_override(
    capsys: pytest.CaptureFixture[str], world: tuple[Path, str]
) -> None:
    code, out = run(capsys, world, "primary", "--at", "2026-11-20T12:00:00Z")
    assert code == 0, out
    assert out.splitlines() == [
        "primary (Europe/Berlin) at Fri 2026-11-20 13:00",
        "  on call: alice (layer 0, Mon 2026-11-16 09:00 → Fri 2026-11-20 15:00)",
        "  layer 0 (weekly): alice (Mon 2026-11-16 09:00 → Mon 2026-11-23 09:00)",
        "  layer 1 (daily): -",
        "  override: bob Fri 2026-11-20 15:00 → Fri 2026-11-20 17:00 [database]",
        "  override: carol Wed 2026-11-25 12:00 → Wed 2026-11-25 18:00 [yaml]",
        "  next handoff: Fri 2026-11-20 15:00",
        "  gaps in the next 14 days: none",
    ]
    code, out = run(capsys, world, "primary", "--at", "2026-11-20T15:00:00Z")
    assert "  on call: bob (override, Fri 2026-11-20 15:00 → Fri 2026-11-20 17:00)" in out


def test_who_json_and_gaps(capsys: pytest.CaptureFixture[str], world: tuple[Path, str]) -> None:
    code, out = run(capsys, world, "--at", "2026-11-20T16:59:00Z", "--json")
    assert code == 0, out
    found = {s["schedule"]: s for s in json.loads(out)["schedules"]}
    assert set(found) == {"primary", "report"}
    assert found["primary"]["on_call"] == {
        "user": "alice",
        "start": "2026-11-20T16:00:00Z",
        "end": "2026-11-21T07:00:00Z",
        "layer": 0,
        "source": "layer 0",
    }
    assert found["report"]["on_call"]["user"] == "bob"
    assert found["report"]["next_handoff"] == "2026-11-20T17:00:00Z"
    assert found["report"]["gaps"][0] == {
        "start": "2026-11-20T17:00:00Z",
        "end": "2026-11-23T09:00:00Z",
    }
    assert found["primary"]["gaps"] == []


def test_a_schedule_named_report_is_asked_for_with_the_option(
    capsys: pytest.CaptureFixture[str], world: tuple[Path, str]
) -> None:
    code, out = run(capsys, world, "--schedule", "report", "--at", "2026-11-21T12:00:00Z")
    assert code == 0, out
    assert out.startswith("report (UTC) at Sat 2026-11-21 12:00\n  on call: NOBODY")
    assert "  GAP: nobody Sat 2026-11-21 12:00 → Mon 2026-11-23 09:00" in out
    code, out = run(capsys, world, "report")
    assert code == 2 and "report needs --from and --to" in out


def test_unknown_schedule_names_the_known_ones(
    capsys: pytest.CaptureFixture[str], world: tuple[Path, str]
) -> None:
    code, out = run(capsys, world, "primray")
    assert code == 2
    assert "no schedule named 'primray' (schedules: primary, report)" in out


def test_report_hours_nights_weekends_and_pages(
    capsys: pytest.CaptureFixture[str], world: tuple[Path, str]
) -> None:
    window = ("--from", "2026-11-16T08:00:00Z", "--to", "2026-11-23T08:00:00Z")
    code, out = run(capsys, world, "report", "--schedule", "primary", *window, "--json")
    assert code == 0, out
    people = json.loads(out)["people"]
    # alice: the week, less carol's two weekend days (24h) and bob's stored override (2h);
    # seven Berlin nights of 9h; the weekend hours outside 08:00-20:00 (2 x 12h).
    assert people["alice"] == {
        "hours": 142.0,
        "night_hours": 63.0,
        "weekend_hours": 24.0,
        "shifts": 4,  # cut by the override and the two weekend days
        "pages": 1,
        "night_pages": 1,
        "schedules": ["primary"],
    }
    assert (people["carol"]["hours"], people["carol"]["weekend_hours"]) == (24.0, 24.0)
    assert (people["bob"]["hours"], people["bob"]["night_hours"], people["bob"]["pages"]) == (
        2.0,
        0.0,
        0,
    )
    code, out = run(capsys, world, "report", "--schedule", "primary", *window)
    assert code == 0
    assert "alice" in out and "142.0" in out and "63.0" in out


def test_accept_the_handoff_from_the_command_line(
    capsys: pytest.CaptureFixture[str], world: tuple[Path, str]
) -> None:
    code, out = run(capsys, world, "accept", "primary", "--as", "bob")
    assert code == 1 and "went to alice, not bob" in out
    code, out = run(capsys, world, "accept", "primary", "--as", "alice")
    assert code == 0 and "alice accepted the primary handoff" in out
    code, out = run(capsys, world, "accept", "primary", "--as", "alice")
    assert code == 0 and "already accepted" in out
