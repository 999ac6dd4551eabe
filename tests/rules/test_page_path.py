"""`pagerbot route`'s page path: who each escalation step would page, and when, for an
incident opened at `--at`, resolved through the real schedules and overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.commands.route import Explainer, render_text
from bot.config import load_config
from bot.oncall.rotation import DbOverride

REPO = Path(__file__).resolve().parents[2]
PAYMENTS = {"team": "payments", "alertname": "CheckoutLatencyHigh", "cluster": "eu-1"}


def page_path(at: datetime, overrides: dict[str, list[DbOverride]] | None = None) -> Any:
    explainer = Explainer(load_config(REPO), at, [], None, "http://bot", overrides or {})
    (route,) = explainer.explain(PAYMENTS)["routes"]
    return route["page_path"]


def test_schedule_steps_name_who_is_on_call_at_each_step() -> None:
    # Monday 2026-11-30 13:00 Berlin: week 47 of primary (from 2026-01-05: alice, bob,
    # carol) is carol's; week 46 of secondary (from 2026-01-12) is bob's.
    path = page_path(datetime(2026, 11, 30, 12, tzinfo=UTC))
    first = [(s["round"], s["step"], s["after"], s["notify"], s["who"]) for s in path[:3]]
    assert first == [
        (1, 1, "0s", "schedule:payments-primary", ["carol"]),
        (1, 2, "10m", "schedule:payments-secondary", ["bob"]),
        (1, 3, "20m", "team:payments", ["alice", "bob", "carol"]),
    ]
    assert [s["at"] for s in path[:2]] == [
        "2026-11-30T12:00:00+00:00",
        "2026-11-30T12:10:00+00:00",
    ]
    assert len(path) == 9  # three rounds (repeat: 2)


def test_weekend_layer_and_stored_override_change_who_is_paged() -> None:
    saturday = datetime(2026, 11, 21, 12, tzinfo=UTC)
    assert page_path(saturday)[0]["who"] == ["bob"]  # the weekend daytime layer
    override = DbOverride("alice", saturday - timedelta(hours=1), saturday + timedelta(hours=1))
    path = page_path(saturday, {"payments-primary": [override]})
    assert path[0]["who"] == ["alice"]
    assert path[3]["who"] == ["alice"]  # round 2, 30m later: still covered
    assert path[6]["who"] == ["bob"]  # round 3, 1h later: the override has ended


def test_step_outside_its_window_waits_for_it(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "teams:\n  ops: {members: {dave: {}, erin: {}}}\n"
        "escalation_policies:\n  ops:\n    timezone: Europe/London\n    steps:\n"
        "      - {notify: user:dave}\n"
        "      - {notify: user:erin, after: 5m, during: {days: [Mon], from: '09:00'}}\n"
        "defaults: {team: ops, escalation: ops}\n"
    )
    sunday = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    explainer = Explainer(load_config(tmp_path), sunday, [], None, "http://bot")
    result = explainer.explain({"alertname": "X"})
    (route,) = result["routes"]
    assert [(s["who"], s["at"]) for s in route["page_path"]] == [
        (["dave"], "2026-11-29T23:00:00+00:00"),
        (["erin"], "2026-11-30T09:00:00+00:00"),  # Monday 09:00 London
    ]
    assert "user:erin → erin  (at 2026-11-30 09:00Z)" in render_text(result)


def test_gap_in_coverage_says_nobody(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "teams:\n  ops: {members: {dave: {}}}\n"
        "schedules:\n  day:\n    timezone: UTC\n    layers:\n"
        "      - rotation: daily\n        start: 2026-01-01T08:00\n        members: [dave]\n"
        "        restrict: {from: '08:00', to: '18:00'}\n"
        "escalation_policies:\n  ops: [{notify: schedule:day}]\n"
        "defaults: {team: ops, escalation: ops}\n"
    )
    night = datetime(2026, 3, 3, 22, tzinfo=UTC)
    result = Explainer(load_config(tmp_path), night, [], None, "http://bot").explain({"a": "b"})
    assert result["routes"][0]["page_path"][0]["who"] == []
    assert "schedule:day → nobody (gap in coverage)" in render_text(result)
