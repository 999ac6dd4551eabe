"""Routing, table-driven, including Alertmanager's own routing examples
(dispatch/route_test.go): `receiver` there is `escalation` here."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rules import Router, load_rules
from bot.rules.matchers import Matcher

AM_TREE = """
defaults: {escalation: notify-def, group_by: [alertname]}
routes:
  - match: {owner: team-A}
    escalation: notify-A
    routes:
      - match: {env: testing}
        escalation: notify-testing
        group_by: ["..."]
      - match: {env: production}
        escalation: notify-productionA
        continue: true
      - match_re: {env: "produ.*", job: ".*"}
        escalation: notify-productionB
        group_by: [job]
  - match_re: {owner: "team-(B|C)"}
    group_by: [foo, bar]
    escalation: notify-BC
  - match: {group_by: role}
    group_by: [role]
    routes:
      - match: {env: testing}
        escalation: notify-testing
        routes:
          - match: {wait: long}
            flap_window: 2m
"""


@pytest.fixture(scope="module")
def am_router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    root = tmp_path_factory.mktemp("am")
    (root / "rules").mkdir()
    (root / "rules" / "tree.yaml").write_text(AM_TREE)
    return Router(load_rules(root))


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"owner": "team-A"}, [("notify-A", ("alertname",))]),
        ({"owner": "team-A", "env": "unset"}, [("notify-A", ("alertname",))]),
        ({"owner": "team-C"}, [("notify-BC", ("foo", "bar"))]),
        ({"owner": "team-B"}, [("notify-BC", ("foo", "bar"))]),
        ({"owner": "team-BB"}, [("notify-def", ("alertname",))]),  # anchored regex
        ({"owner": "team-A", "env": "testing"}, [("notify-testing", ("...",))]),
        (
            {"owner": "team-A", "env": "production"},
            [("notify-productionA", ("alertname",)), ("notify-productionB", ("job",))],
        ),
        ({"group_by": "role"}, [("notify-def", ("role",))]),
        ({"group_by": "role", "env": "testing"}, [("notify-testing", ("role",))]),
        ({"group_by": "role", "env": "testing", "wait": "long"}, [("notify-testing", ("role",))]),
        ({"owner": "team-X"}, [("notify-def", ("alertname",))]),
        ({}, [("notify-def", ("alertname",))]),
    ],
    ids=lambda v: str(v),
)
def test_alertmanager_routing_examples(
    am_router: Router, labels: dict[str, str], expected: list[tuple[str, tuple[str, ...]]]
) -> None:
    got = [(d.escalation, d.group_by) for d in am_router.route(labels)]
    assert got == expected


def test_nested_child_inherits_and_overrides(am_router: Router) -> None:
    (deep,) = am_router.route({"group_by": "role", "env": "testing", "wait": "long"})
    assert deep.flap_window.total_seconds() == 120
    assert deep.route_id == '{}/{group_by="role"}/{env="testing"}/{wait="long"}'


def test_route_ids_depend_on_matchers_not_order(tmp_path: Path) -> None:
    def ids(text: str) -> list[str]:
        (tmp_path / "rules").mkdir(exist_ok=True)
        (tmp_path / "rules" / "r.yaml").write_text(text)
        return sorted(n.id for n in Router(load_rules(tmp_path)).walk())

    a = ids("routes:\n  - match: {a: x}\n  - match: {b: y}\n")
    b = ids("routes:\n  - match: {b: y}\n  - match: {a: x}\n")
    assert a == b == ['{}/{a="x"}', '{}/{b="y"}']


@pytest.mark.parametrize(
    ("text", "labels", "hit"),
    [
        ('team="payments"', {"team": "payments"}, True),
        ('team="payments"', {"team": "pay"}, False),
        ('team!="payments"', {"team": "pay"}, True),
        ('team!="payments"', {}, True),  # missing label is the empty string
        ('env=~"prod|stage"', {"env": "stage"}, True),
        ('env=~"prod|stage"', {"env": "production"}, False),  # anchored
        ('pod!~"canary-.*"', {"pod": "canary-1"}, False),
        ('pod!~"canary-.*"', {"pod": "web-1"}, True),
        ('msg="say \\"hi\\""', {"msg": 'say "hi"'}, True),
        ('empty=""', {}, True),
        ("bare=value", {"bare": "value"}, True),
    ],
)
def test_matcher_strings(text: str, labels: dict[str, str], hit: bool) -> None:
    assert Matcher.parse(text).matches(labels) is hit


@pytest.mark.parametrize("bad", ["", "team", '=~"x"', 'a=~"(x"', '1a="x"'])
def test_bad_matcher_strings_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Matcher.parse(bad)


def test_matchers_strings_route_with_negatives(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "routes:\n"
        "  - matchers: ['team=\"payments\"', 'severity!=\"info\"']\n"
        "    escalation: page\n"
        "  - matchers: ['team=\"payments\"']\n"
        "    escalation: quiet\n"
        "    severity: {P1: critical, P3: info}\n"
    )
    router = Router(load_rules(tmp_path))
    assert [d.escalation for d in router.route({"team": "payments", "severity": "P1"})] == ["page"]
    (quiet,) = router.route({"team": "payments", "severity": "info"})
    assert quiet.escalation == "quiet"
    (mapped,) = router.route({"team": "payments", "severity": "info", "x": "1"})
    assert mapped.severity({"severity": "P3"}) == "info"
    assert mapped.severity({"severity": "weird"}) == "weird"
    assert mapped.severity({}) == "unknown"


def _reference(routes: list[dict[str, object]], labels: dict[str, str]) -> list[int]:
    """Alertmanager's first-match-unless-continue, as a plain loop over the routes."""
    out = []
    for i, route in enumerate(routes):
        eq = route.get("match", {})
        assert isinstance(eq, dict)
        if all(labels.get(k, "") == v for k, v in eq.items()):
            out.append(i)
            if not route.get("continue"):
                break
    return out


LABEL_VALUES = st.sampled_from(["", "a", "b", "c"])


@given(
    routes=st.lists(
        st.fixed_dictionaries(
            {
                "match": st.dictionaries(
                    st.sampled_from(["team", "env", "sev"]), LABEL_VALUES, max_size=2
                ),
                "continue": st.booleans(),
            }
        ),
        min_size=8,
        max_size=40,
    ),
    labels=st.dictionaries(st.sampled_from(["team", "env", "sev", "other"]), LABEL_VALUES),
)
@settings(max_examples=300, deadline=None)
def test_indexed_siblings_route_exactly_like_a_plain_scan(
    routes: list[dict[str, object]], labels: dict[str, str]
) -> None:
    from bot.rules.model import RulesConfig

    config = RulesConfig.model_validate(
        {"routes": [{**r, "escalation": f"p{i}"} for i, r in enumerate(routes)]}
    )
    router = Router(config)
    assert router.roots.by_value or router.roots.scan  # the index is in use at this size
    got = [d.escalation for d in router.route(labels)]
    want = [f"p{i}" for i in _reference(routes, labels)] or [None]
    assert got == want
