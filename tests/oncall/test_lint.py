"""Coverage lint in `pagerbot check`: gaps ahead, people outside the team or without a
Slack id fail the check; overrides for people in no layer are only said."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.commands import check
from bot.config import load_config
from bot.oncall.lint import lint

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
GOOD = """
teams:
  ops: {members: {alice: {slack: U1}, bob: {slack: U2}}}
  web: {members: {walt: {slack: U9}}}
schedules:
  primary:
    timezone: UTC
    layers:
      - {rotation: weekly, start: 2026-11-02T09:00, handoff: "Mon 09:00", members: [alice, bob]}
escalation_policies:
  ops: {steps: [{notify: schedule:primary}]}
routes:
  - {match: {team: ops}, team: ops, escalation: ops}
"""


def folder(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rules").mkdir(parents=True, exist_ok=True)
    (tmp_path / "rules" / "oncall.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def findings(tmp_path: Path, text: str) -> list[tuple[str, str, bool]]:
    config = load_config(folder(tmp_path, text))
    return [
        (config.where(f.loc), f.message, f.warning) for f in lint(config.rules, config.router, NOW)
    ]


def test_full_coverage_by_team_members_with_slack_ids_is_clean(tmp_path: Path) -> None:
    assert findings(tmp_path, GOOD) == []


def test_gap_in_the_next_90_days(tmp_path: Path) -> None:
    text = GOOD.replace(
        "members: [alice, bob]}",
        "members: [alice, bob], restrict: {days: [Mon, Tue, Wed, Thu, Fri]}}",
    )
    ((where, message, warning),) = findings(tmp_path, text)
    assert where == "rules/oncall.yaml:8" and not warning
    assert message.startswith(
        "nobody is on call for 624h in the next 90 days (13 gaps; first 2026-11-21 00:00 to "
        "2026-11-23 00:00 UTC)"
    )


def test_layers_starting_later_leave_a_gap_now(tmp_path: Path) -> None:
    text = GOOD.replace("start: 2026-11-02T09:00", "start: 2026-12-07T09:00")
    ((_, message, _),) = findings(tmp_path, text)
    assert "first 2026-11-20 12:00 to 2026-12-07 09:00 UTC" in message


def test_member_outside_the_team_the_schedule_pages_for(tmp_path: Path) -> None:
    text = GOOD.replace("members: [alice, bob]", "members: [alice, walt]")
    ((where, message, warning),) = findings(tmp_path, text)
    assert (where, warning) == ("rules/oncall.yaml:9", False)
    assert message == "'walt' is not in team ops, which this schedule pages for"


def test_member_without_a_slack_id(tmp_path: Path) -> None:
    text = GOOD.replace("bob: {slack: U2}", "bob: {tz: UTC}")
    ((_, message, warning),) = findings(tmp_path, text)
    assert message == "'bob' has no Slack id: a page could not reach them" and not warning


def test_override_for_someone_in_no_layer_is_a_warning(tmp_path: Path) -> None:
    text = GOOD.replace(
        "escalation_policies:",
        "    overrides: [{user: walt, from: 2026-11-21T00:00, to: 2026-11-22T00:00}]\n"
        "escalation_policies:",
    )
    ((where, message, warning),) = findings(tmp_path, text)
    assert warning and where == "rules/oncall.yaml:10"
    assert message.startswith("'walt' is in no layer of this schedule")


def test_check_fails_on_errors_and_prints_warnings_without_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warn = GOOD.replace("  primary:", "  report:").replace("schedule:primary", "schedule:report")
    assert check.run(folder(tmp_path / "w", warn), as_json=False, now=NOW) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("rules/oncall.yaml:6: warning: schedules.report: `pagerbot oncall")
    assert "--schedule report" in out[0]
    assert out[1].startswith("ok: ")
    assert check.run(folder(tmp_path / "w", warn), as_json=True, now=NOW) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["problems"] == []
    assert report["warnings"][0]["field"] == "schedules.report"
    bad = GOOD.replace("bob: {slack: U2}", "bob: {}")
    assert check.run(folder(tmp_path / "e", bad), as_json=False, now=NOW) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "rules/oncall.yaml:9: schedules.primary.layers[0].members[1]: 'bob' has no Slack id: "
        "a page could not reach them"
    ]
