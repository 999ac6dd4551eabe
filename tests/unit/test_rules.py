"""Config loading (with file:line problems) and routing."""

from pathlib import Path

import pytest

from bot.rules import ConfigError, RouteDecision, Router, load_rules

REPO = Path(__file__).resolve().parents[2]


def write(root: Path, name: str, text: str) -> None:
    (root / "rules").mkdir(parents=True, exist_ok=True)
    (root / "rules" / name).write_text(text, encoding="utf-8")


def problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_rules(root)
    return [str(p) for p in caught.value.problems]


def one(router: Router, labels: dict[str, str]) -> RouteDecision:
    (decision,) = router.route(labels)
    return decision


def test_example_config_loads_and_routes() -> None:
    router = Router(load_rules(REPO))
    payments = one(
        router, {"alertname": "CheckoutLatencyHigh", "team": "payments", "cluster": "eu-1"}
    )
    assert payments.team == "payments" and payments.escalation == "payments"
    assert payments.channel == "#payments-alerts"  # from the team
    assert payments.group_by == ("alertname", "cluster")
    info = one(router, {"alertname": "X", "team": "payments", "severity": "info"})
    assert info.notify_only and info.group_by == ("alertname", "cluster")  # inherited
    other = one(router, {"alertname": "Y"})
    assert other.route_id == "{}" and other.team == "platform"


def test_group_key_is_route_plus_group_labels() -> None:
    router = Router(load_rules(REPO))
    labels = {"alertname": "A", "team": "payments", "cluster": "eu-1", "pod": "x"}
    key = one(router, labels).group_key(labels)
    assert key == '{}/{team="payments"}:{alertname="A",cluster="eu-1"}'
    assert key == one(router, {**labels, "pod": "y"}).group_key({**labels, "pod": "y"})


def test_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "routes:\n  - match: {team: x}\n    gruop_by: [alertname]\n")
    assert problems(tmp_path) == ["rules/a.yaml:3: routes[0].gruop_by: unknown key"]


def test_error_in_second_file_keeps_its_own_lines(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "routes:\n  - match: {team: a}\n")
    write(tmp_path, "b.yaml", "# comment\nroutes:\n  - match: {team: b}\n    flap_window: soon\n")
    (problem,) = problems(tmp_path)
    assert problem.startswith("rules/b.yaml:4: routes[1].flap_window: invalid duration 'soon'")


def test_bad_regex_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "routes:\n  - match_re: {pod: '(unclosed'}\n")
    (problem,) = problems(tmp_path)
    assert problem.startswith("rules/a.yaml:2: routes[0].match_re: bad regex '(unclosed' for pod")


def test_invalid_yaml_points_at_the_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "routes:\n  - match: {team: a\n  - x\n")
    (problem,) = problems(tmp_path)
    assert problem.startswith("rules/a.yaml:") and "invalid YAML" in problem


def test_team_defined_twice_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "teams:\n  payments: {channel: '#a'}\n")
    write(tmp_path, "b.yaml", "teams:\n\n  payments: {channel: '#b'}\n")
    assert problems(tmp_path) == [
        "rules/b.yaml:3: teams.payments: defined twice (first at rules/a.yaml:2)"
    ]


def test_unknown_section(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "rutes: []\n")
    (problem,) = problems(tmp_path)
    assert problem.startswith("rules/a.yaml:1: rutes: unknown section")


def test_first_match_wins_and_parent_matches_when_no_child_does(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        """
routes:
  - match: {team: a}
    escalation: a
    routes:
      - match: {severity: critical}
        escalation: a-critical
  - match: {team: a}
    escalation: never
  - match_re: {team: "b|c"}
    escalation: bc
""",
    )
    router = Router(load_rules(tmp_path))
    assert one(router, {"team": "a", "severity": "critical"}).escalation == "a-critical"
    assert one(router, {"team": "a", "severity": "warning"}).escalation == "a"
    assert one(router, {"team": "c"}).escalation == "bc"
    assert one(router, {"team": "cc"}).escalation is None  # regexes are anchored
