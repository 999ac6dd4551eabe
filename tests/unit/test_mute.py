"""Silences, maintenance windows (time zones, DST, recurrence) and inhibition."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.rules import load_rules
from bot.rules.matchers import Matcher
from bot.rules.mute import Muter, SilenceIndex, SilenceRule


def config(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text(text)
    return load_rules(tmp_path)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def silence(
    ref: str,
    *matchers: str,
    ends: datetime,
    starts: datetime | None = None,
) -> SilenceRule:
    return SilenceRule(
        ref,
        tuple(Matcher.parse(m) for m in matchers),
        starts or utc(2026, 1, 1),
        ends,
        "alice",
        "deploy",
    )


def test_silence_mutes_only_while_active_and_only_matching() -> None:
    s = silence("silence:1", 'alertname="A"', 'env=~"prod.*"', ends=utc(2026, 11, 20, 13))
    muter = Muter(load_rules(Path("/nonexistent")), [s])
    labels = {"alertname": "A", "env": "prod-eu"}
    mute = muter.mute("fp", labels, utc(2026, 11, 20, 12))
    assert mute is not None and mute.ref == "silence:1"
    assert "alice: deploy" in mute.text
    assert muter.mute("fp", labels, utc(2026, 11, 20, 13)) is None  # ends is exclusive
    assert muter.mute("fp", {"alertname": "A", "env": "dev"}, utc(2026, 11, 20, 12)) is None


def test_silence_index_finds_the_one_among_many() -> None:
    end = utc(2027, 1, 1)
    many = [silence(f"silence:{i}", f'alertname="A{i}"', ends=end) for i in range(10_000)]
    many.append(silence("silence:neg", 'alertname!="nothing"', 'team="x"', ends=end))
    many += [silence(f"silence:re{i}", f'pod=~"web-{i}-.*"', ends=end) for i in range(50)]
    many.append(silence("silence:flags", 'pod=~"(?i)API-.*"', ends=end))  # cannot be joined
    index = SilenceIndex(many)
    now = utc(2026, 6, 1)
    hit = index.match({"alertname": "A7777", "team": "y"}, now)
    assert hit is not None and hit.ref == "silence:7777"
    scanned = index.match({"alertname": "other", "team": "x"}, now)
    assert scanned is not None and scanned.ref == "silence:neg"
    assert index.match({"alertname": "other", "team": "y"}, now) is None
    regex = index.match({"alertname": "other", "pod": "web-42-abc"}, now)
    assert regex is not None and regex.ref == "silence:re42"
    assert index.match({"alertname": "other", "pod": "web-420"}, now) is None
    flags = index.match({"alertname": "other", "pod": "api-1"}, now)
    assert flags is not None and flags.ref == "silence:flags"
    assert index.next_change(now) == end


def test_static_silence_from_yaml_uses_its_timezone(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        """
teams: {ops: {members: {alice: {slack: U1}}}}
silences:
  - {match: {alertname: Noisy}, owner: alice, reason: known issue,
     ends: 2026-12-01T09:00, timezone: Europe/Berlin}
""",
    )
    muter = Muter(cfg)
    assert muter.mute("fp", {"alertname": "Noisy"}, utc(2026, 12, 1, 7, 59)) is not None
    assert muter.mute("fp", {"alertname": "Noisy"}, utc(2026, 12, 1, 8, 0)) is None


WINDOWS = """
maintenance_windows:
  - name: staging-upgrade
    match: {cluster: staging}
    from: 2026-12-01T22:00
    to: 2026-12-02T02:00
    timezone: America/New_York
  - name: sunday-backups
    match: {service: backup}
    every: {days: [Sun], from: "02:00", to: "04:00"}
    timezone: Europe/Berlin
  - name: nightly
    match: {service: batch}
    every: {days: [Mon], from: "23:00", to: "01:00"}
    timezone: Australia/Sydney
"""


@pytest.mark.parametrize(
    ("labels", "instant", "muted"),
    [
        # one-off, New York (UTC-5 in December): 22:00 local = 03:00 UTC next day
        ({"cluster": "staging"}, utc(2026, 12, 2, 2, 59), False),
        ({"cluster": "staging"}, utc(2026, 12, 2, 3, 0), True),
        ({"cluster": "staging"}, utc(2026, 12, 2, 6, 59), True),
        ({"cluster": "staging"}, utc(2026, 12, 2, 7, 0), False),
        ({"cluster": "prod"}, utc(2026, 12, 2, 4, 0), False),
        # recurring Sunday 02:00-04:00 Berlin: winter (UTC+1)
        ({"service": "backup"}, utc(2026, 11, 22, 1, 0), True),
        ({"service": "backup"}, utc(2026, 11, 22, 0, 59), False),
        ({"service": "backup"}, utc(2026, 11, 22, 3, 0), False),
        # summer (UTC+2): the same wall clock is an hour earlier in UTC
        ({"service": "backup"}, utc(2026, 7, 5, 0, 0), True),
        ({"service": "backup"}, utc(2026, 7, 5, 2, 0), False),
        # spring forward, Sun 29 Mar 2026: 02:00-03:00 does not exist; 03:00-04:00 CEST is
        ({"service": "backup"}, utc(2026, 3, 29, 0, 30), False),  # 01:30 CET
        ({"service": "backup"}, utc(2026, 3, 29, 1, 30), True),  # 03:30 CEST
        ({"service": "backup"}, utc(2026, 3, 29, 2, 0), False),  # 04:00 CEST
        # fall back, Sun 25 Oct 2026: 02:00-03:00 happens twice, both are in the window
        ({"service": "backup"}, utc(2026, 10, 25, 0, 30), True),  # 02:30 CEST
        ({"service": "backup"}, utc(2026, 10, 25, 1, 30), True),  # 02:30 CET
        ({"service": "backup"}, utc(2026, 10, 25, 2, 30), True),  # 03:30 CET
        ({"service": "backup"}, utc(2026, 10, 25, 3, 0), False),  # 04:00 CET
        # Monday 23:00 to Tuesday 01:00 Sydney (UTC+11 in December): past midnight
        ({"service": "batch"}, utc(2026, 12, 7, 12, 30), True),  # Mon 23:30
        ({"service": "batch"}, utc(2026, 12, 7, 13, 30), True),  # Tue 00:30
        ({"service": "batch"}, utc(2026, 12, 7, 14, 0), False),  # Tue 01:00
        ({"service": "batch"}, utc(2026, 12, 8, 12, 30), False),  # Tue 23:30
    ],
)
def test_maintenance_windows(
    tmp_path: Path, labels: dict[str, str], instant: datetime, muted: bool
) -> None:
    muter = Muter(config(tmp_path, WINDOWS))
    mute = muter.mute("fp", labels, instant)
    assert (mute is not None) is muted, (labels, instant.isoformat(), mute)
    if mute is not None:
        assert mute.ref.startswith("maintenance:")


INHIBIT = """
inhibit_rules:
  - source: {alertname: DatacenterDown}
    target: {severity: warning}
    equal: [datacenter]
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity=~"critical|warning"']
    equal: [service]
"""


def test_inhibition_follows_alertmanager(tmp_path: Path) -> None:
    muter = Muter(config(tmp_path, INHIBIT))
    now = utc(2026, 1, 1)
    dc_down = {"alertname": "DatacenterDown", "datacenter": "fra", "severity": "page"}
    warn_fra = {"alertname": "DiskSlow", "datacenter": "fra", "severity": "warning"}
    warn_ams = {"alertname": "DiskSlow", "datacenter": "ams", "severity": "warning"}
    assert muter.mute("w1", warn_fra, now) is None
    muter.inhibitor.observe("dc", dc_down, True)
    mute = muter.mute("w1", warn_fra, now)
    assert mute is not None and mute.ref == "inhibited:dc" and "DatacenterDown" in mute.text
    assert muter.mute("w2", warn_ams, now) is None  # equal label differs
    muter.inhibitor.observe("dc", dc_down, False)  # source resolved
    assert muter.mute("w1", warn_fra, now) is None


def test_an_alert_matching_both_sides_is_not_muted_by_its_peers(tmp_path: Path) -> None:
    muter = Muter(config(tmp_path, INHIBIT))
    now = utc(2026, 1, 1)
    a = {"alertname": "A", "severity": "critical", "service": "api"}
    b = {"alertname": "B", "severity": "critical", "service": "api"}
    warn = {"alertname": "C", "severity": "warning", "service": "api"}
    muter.inhibitor.observe("a", a, True)
    muter.inhibitor.observe("b", b, True)
    assert muter.mute("a", a, now) is None  # itself, and b matches both sides too
    assert muter.mute("b", b, now) is None
    mute = muter.mute("c", warn, now)
    assert mute is not None and mute.ref in ("inhibited:a", "inhibited:b")


def test_silence_is_named_before_maintenance_and_inhibition(tmp_path: Path) -> None:
    cfg = config(tmp_path, WINDOWS + INHIBIT)
    s = silence("silence:9", 'service="backup"', ends=utc(2027, 1, 1))
    muter = Muter(cfg, [s])
    mute = muter.mute("x", {"service": "backup"}, utc(2026, 11, 22, 1, 0))
    assert mute is not None and mute.ref == "silence:9"


def test_a_rebuild_keeps_what_ingest_saw_while_the_store_was_read(tmp_path: Path) -> None:
    muter = Muter(config(tmp_path, INHIBIT))
    now = utc(2026, 1, 1)
    inhibitor = muter.inhibitor
    dc = {"alertname": "DatacenterDown", "datacenter": "fra", "severity": "page"}
    warn = {"alertname": "DiskSlow", "datacenter": "fra", "severity": "warning"}
    inhibitor.observe("dc", dc, True)
    # The same stored sources again: nothing changed, so nothing needs re-muting.
    inhibitor.begin_rebuild()
    assert inhibitor.finish_rebuild([("dc", dc)]) is False
    # The store still lists dc as firing, but ingest saw it resolve during the read
    # (the live index changed then, so the rebuild itself changes nothing more).
    inhibitor.begin_rebuild()
    inhibitor.observe("dc", dc, False)
    assert inhibitor.finish_rebuild([("dc", dc)]) is False
    assert muter.mute("w", warn, now) is None
    # A source only the store knows (another replica took it): the index changes.
    inhibitor.begin_rebuild()
    assert inhibitor.finish_rebuild([("dc", dc)]) is True
    assert muter.mute("w", warn, now) is not None
    inhibitor.observe("dc", dc, False)
    # A read that fails leaves the index as ingest kept it.
    inhibitor.observe("dc", dc, True)
    inhibitor.begin_rebuild()
    inhibitor.abandon_rebuild()
    mute = muter.mute("w", warn, now)
    assert mute is not None and mute.ref == "inhibited:dc"
    assert inhibitor.is_source(dc) and not inhibitor.is_source(warn)


def test_mutes_nothing_only_when_no_silence_window_or_inhibition_source_is_live(
    tmp_path: Path,
) -> None:
    """The remute reads only muted alerts when this holds, so it must never hold while
    something could mute an alert."""
    cfg = config(tmp_path, WINDOWS + INHIBIT)
    quiet = utc(2026, 12, 9, 12)  # a Wednesday noon: no window is open
    assert Muter(cfg).mutes_nothing(quiet)
    assert not Muter(cfg).mutes_nothing(utc(2026, 11, 22, 1, 0))  # Sunday's backup window
    later = silence("silence:1", 'alertname="A"', starts=utc(2026, 12, 10), ends=utc(2027, 1, 1))
    muter = Muter(cfg, [later])
    assert muter.mutes_nothing(quiet)  # not started yet
    assert not muter.mutes_nothing(utc(2026, 12, 10))
    assert muter.mutes_nothing(utc(2027, 1, 1))  # ended
    muter = Muter(cfg)
    dc_down = {"alertname": "DatacenterDown", "datacenter": "fra", "severity": "page"}
    muter.inhibitor.observe("dc", dc_down, True)
    assert not muter.mutes_nothing(quiet)
    muter.inhibitor.observe("dc", dc_down, False)
    assert muter.mutes_nothing(quiet)
    muter.inhibitor.observe("other", {"alertname": "DiskSlow", "severity": "warning"}, True)
    assert muter.mutes_nothing(quiet)  # a target alone inhibits nothing
