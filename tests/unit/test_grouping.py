"""Dedup and grouping verdicts, on plain objects (the store tests cover the same through SQL)."""

from datetime import UTC, datetime, timedelta

from bot.incidents.grouping import (
    AlertState,
    IncidentState,
    Item,
    Planner,
    State,
    Verdict,
    content_hash,
)
from bot.ingest import Alert, AlertStatus, fingerprint
from bot.rules.router import RouteDecision

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ROUTE = RouteDecision(
    "{}", ("alertname",), "payments", "payments", "#p", False, timedelta(minutes=5)
)


def alert(
    name: str = "A", status: str = "firing", *, starts: datetime | None = None, **labels: str
) -> Alert:
    labels = {"alertname": name, **labels}
    return Alert(
        labels,
        {"summary": f"{name} is bad"},
        AlertStatus(status),
        starts or NOW - timedelta(minutes=1),
        None,
        "",
        fingerprint(labels),
        "test",
    )


def item(a: Alert) -> Item:
    return Item(a, ROUTE.group_key(a.labels), ROUTE)


def run(
    items: list[Item],
    current: dict[str, IncidentState] | None = None,
    rows: list[AlertState] | None = None,
    now: datetime = NOW,
):
    planner = Planner(current or {}, rows or [], now)
    verdicts = [planner.add(i) for i in items]
    return verdicts, planner.finish()


def test_alerts_of_one_group_open_one_incident() -> None:
    verdicts, plan = run([item(alert(pod="a")), item(alert(pod="b")), item(alert("B"))])
    assert verdicts == [Verdict.NEW] * 3
    assert len(plan.incidents) == 2
    by_key = {i.group_key: i for i in plan.incidents}
    a = by_key[ROUTE.group_key({"alertname": "A"})]
    assert (a.alert_count, a.firing_count, a.state) == (2, 2, State.TRIGGERED)
    assert a.title == "A is bad"
    assert [e.kind for e in plan.events if e.incident is a] == ["opened", "alerts_firing"]


def test_the_same_alert_twice_in_one_batch_is_a_duplicate() -> None:
    verdicts, plan = run([item(alert()), item(alert())])
    assert verdicts == [Verdict.NEW, Verdict.DUPLICATE]
    assert plan.incidents[0].alert_count == 1


def _stored(
    state: State = State.TRIGGERED,
    resolved_at: datetime | None = None,
    status: AlertStatus = AlertStatus.FIRING,
) -> tuple[dict[str, IncidentState], AlertState]:
    a = alert()
    firing = 1 if status is AlertStatus.FIRING else 0
    incident = IncidentState(
        7, ROUTE.group_key(a.labels), ROUTE.route_id, state, firing, 1, 0, resolved_at
    )
    row = AlertState(incident, a.fingerprint, status, a.starts_at, None, content_hash(a))
    return {incident.group_key: incident}, row


def test_redelivery_of_a_stored_alert_changes_nothing() -> None:
    current, row = _stored()
    verdicts, plan = run([item(alert())], current, [row])
    assert verdicts == [Verdict.DUPLICATE]
    assert plan.incidents == [] and plan.events == [] and plan.alerts == []


def test_changed_annotations_update_without_events() -> None:
    current, row = _stored()
    changed = alert()
    changed.annotations["summary"] = "worse"
    verdicts, plan = run([item(changed)], current, [row])
    assert verdicts == [Verdict.UPDATED]
    assert plan.alerts == [row] and plan.events == []


def test_all_alerts_resolved_resolves_the_incident() -> None:
    current, row = _stored()
    verdicts, plan = run([item(alert(status="resolved"))], current, [row])
    assert verdicts == [Verdict.RESOLVED]
    incident = plan.incidents[0]
    assert incident.state is State.RESOLVED and incident.resolved_at == NOW
    assert [e.kind for e in plan.events] == ["alerts_resolved", "resolved"]


def test_one_of_two_resolving_keeps_the_incident_open() -> None:
    current, row = _stored()
    other = alert(pod="b")
    second = AlertState(
        row.incident, other.fingerprint, AlertStatus.FIRING, other.starts_at, None, "x"
    )
    row.incident.firing_count = row.incident.alert_count = 2
    _, plan = run([item(alert(status="resolved"))], current, [row, second])
    assert plan.incidents[0].state is State.TRIGGERED
    assert plan.incidents[0].firing_count == 1


def test_firing_again_within_flap_window_reopens() -> None:
    current, row = _stored(State.RESOLVED, NOW - timedelta(minutes=2), AlertStatus.RESOLVED)
    verdicts, plan = run([item(alert(starts=NOW))], current, [row])
    assert verdicts == [Verdict.REFIRED]
    incident = plan.incidents[0]
    assert incident.id == 7 and incident.state is State.TRIGGERED
    assert incident.flap_count == 1 and incident.resolved_at is None
    assert [e.kind for e in plan.events] == ["reopened", "alerts_firing"]
    assert "flapping" in plan.events[0].text


def test_firing_again_after_flap_window_opens_a_new_incident() -> None:
    current, row = _stored(State.RESOLVED, NOW - timedelta(minutes=6), AlertStatus.RESOLVED)
    verdicts, plan = run([item(alert(starts=NOW))], current, [row])
    assert verdicts == [Verdict.NEW]
    (incident,) = plan.incidents
    assert incident.id is None and incident.flap_count == 0


def test_late_redelivery_of_an_old_firing_is_stale() -> None:
    """A retried snapshot from before the resolution must not reopen the incident."""
    current, row = _stored(State.RESOLVED, NOW - timedelta(minutes=1), AlertStatus.RESOLVED)
    verdicts, plan = run([item(alert())], current, [row])  # same startsAt as stored
    assert verdicts == [Verdict.STALE]
    assert plan.incidents == []


def test_resolved_alert_never_seen_firing_is_ignored() -> None:
    verdicts, plan = run([item(alert(status="resolved"))])
    assert verdicts == [Verdict.UNKNOWN_RESOLVED]
    assert plan.incidents == []


def test_firing_alert_stays_in_its_open_incident_when_its_group_key_changes() -> None:
    """A group_by edit must not page again for an alert that is already paged."""
    _, row = _stored()
    regrouped = RouteDecision(
        ROUTE.route_id, ("alertname", "pod"), None, None, None, False, timedelta(minutes=5)
    )
    a = alert()
    verdicts, plan = run([Item(a, regrouped.group_key(a.labels), regrouped)], {}, [row])
    assert verdicts == [Verdict.DUPLICATE]
    assert plan.incidents == []


def test_an_alert_continuing_through_two_routes_is_in_two_incidents() -> None:
    sre = RouteDecision("{}/{sre}", ("alertname",), "sre", None, None, False, timedelta(minutes=5))
    a = alert()
    both = [item(a), Item(a, sre.group_key(a.labels), sre)]
    verdicts, plan = run(both)
    assert verdicts == [Verdict.NEW, Verdict.NEW]
    assert sorted(i.route_id for i in plan.incidents) == ["{}", "{}/{sre}"]
    # Resolving it resolves it in both, whatever route it would take now.
    current = {i.group_key: i for i in plan.incidents}
    for i, inc in enumerate(plan.incidents):
        inc.id = i + 1
    rows = plan.alerts
    for r in rows:
        r.is_new = r.dirty = False
    verdicts, plan = run(
        [item(alert(status="resolved"))], current, rows, NOW + timedelta(minutes=1)
    )
    assert verdicts == [Verdict.RESOLVED]
    assert {i.state for i in plan.incidents} == {State.RESOLVED}
    assert len(plan.incidents) == 2
