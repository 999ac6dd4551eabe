"""Folding alert churn: a storm of alert events reads as one line with counts and links,
a short run stays as it is, and people's actions are never folded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.postmortem.timeline import EventRow, Linker, Timeline

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LINKER = Linker("https://pb.example", 3)


def _ev(i: int, kind: str, actor: str = "alerts", **data: Any) -> EventRow:
    return EventRow(i, T0 + timedelta(seconds=i), kind, actor, f"{kind} {i}", data)


def _timeline(final: int | None = None) -> Timeline:
    return Timeline(None, 3, linker=LINKER, names={"U1": "alice"}, final_resolution=final)  # type: ignore[arg-type]


def test_a_storm_folds_into_one_line_and_actions_stay() -> None:
    alert = {"alertname": "DiskFull", "generator_url": "http://prom.example/g?x=1"}
    events = [_ev(1, "opened")]
    for i in range(2, 2002, 2):
        events.append(_ev(i, "alerts_firing", alerts=[alert]))
        events.append(_ev(i + 1, "alerts_resolved", alerts=[alert]))
    events.append(_ev(3000, "acknowledged", "U1"))
    events.append(_ev(3001, "remediation_custom_step", "U1", permalink="https://x.slack.com/a/p1"))
    events.append(_ev(3002, "resolved", by="alerts"))
    entries = list(_timeline(final=3002)._entries(iter(events)))
    assert [e.kind for e in entries] == [
        "opened",
        "alert_activity",
        "acknowledged",
        "remediation_custom_step",
        "resolved",
    ]
    storm = entries[1]
    assert storm.events == 2000 and storm.until == T0 + timedelta(seconds=2001)
    assert "1000x alerts firing, 1000x alerts resolved" in storm.text
    assert "DiskFull (2000)" in storm.text
    assert [link.url for link in storm.links] == ["http://prom.example/g?x=1"]
    assert entries[2].actor == "alice"
    custom = entries[3]
    assert custom.label == "remediation custom step"
    assert [(x.label, x.url) for x in custom.links] == [
        ("Slack message", "https://x.slack.com/a/p1")
    ]
    assert entries[4].links[0].url == "https://pb.example/incidents/3?after=3001#event-3002"


def test_short_runs_are_not_folded() -> None:
    events = [
        _ev(1, "opened"),
        _ev(2, "alerts_firing"),
        _ev(3, "alerts_resolved"),
        _ev(4, "note", "U1"),
    ]
    entries = list(_timeline()._entries(iter(events)))
    assert [e.kind for e in entries] == ["opened", "alerts_firing", "alerts_resolved", "note"]
    assert not any(e.folded for e in entries)
