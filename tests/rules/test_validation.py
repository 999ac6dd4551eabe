"""Every class of configuration mistake, with the exact `file:line: field: message` it yields.

Each case writes a few files into a fresh config folder next to a small valid base
(`rules/00-base.yaml`: team payments with alice and bob, schedule primary, escalation
policy payments) so that references resolve, and compares the problems reported by
`load_config`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from bot.config import load_config
from bot.rules import ConfigError

REPO = Path(__file__).resolve().parents[2]

BASE = """\
teams:
  payments:
    channel: "#payments"
    members:
      alice: {slack: U01ALICE, tz: Europe/Berlin}
      bob: {slack: U02BOB}
schedules:
  primary:
    timezone: UTC
    layers:
      - {rotation: weekly, start: 2026-01-05T09:00, handoff: "Mon 09:00", members: [alice, bob]}
escalation_policies:
  payments:
    steps:
      - {notify: schedule:primary}
      - {notify: team:payments, after: 10m}
"""

DUR = "write it like 30s, 10m, 1h30m or 2d"
MATCHER_FORMS = (
    'write it like team="payments", env=~"prod|stage", severity!="info" or pod!~"canary-.*"'
)
SECTIONS = (
    "unknown section (expected one of: defaults, teams, schedules, escalation_policies, "
    "routes, inhibit_rules, maintenance_windows, silences)"
)
IANA = "(use an IANA name like Europe/Berlin)"
NO_FRONT_MATTER = (
    "no front matter: start the file with --- and a YAML block (title, match, actions), then ---"
)
# The start of a runbook with one action named `act` (its line 5); a case adds lines 6+.
ACTION = "---\ntitle: T\nmatch: {alertname: X}\nactions:\n  - name: act\n"


class Like:
    """Compares equal to a problem string that starts with `prefix` and contains `part`."""

    def __init__(self, prefix: str, part: str = "") -> None:
        self.prefix, self.part = prefix, part

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith(self.prefix) and self.part in other

    def __hash__(self) -> int:
        return hash((self.prefix, self.part))

    def __repr__(self) -> str:
        return f"Like({self.prefix!r}, {self.part!r})"


def R(text: str) -> dict[str, str]:
    return {"rules/t.yaml": text}


def RB(text: str) -> dict[str, str]:
    return {"runbooks/rb.md": text}


def write(root: Path, files: dict[str, str], *, base: bool = True) -> Path:
    (root / "rules").mkdir(parents=True, exist_ok=True)
    (root / "runbooks").mkdir(exist_ok=True)
    if base:
        (root / "rules" / "00-base.yaml").write_text(BASE, encoding="utf-8")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def problems(root: Path) -> list[str]:
    try:
        load_config(root)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError must carry at least one problem"
        return [str(p) for p in exc.problems]
    return []


def p(files: dict[str, str], expected: list[str | Like], id: str) -> object:
    return pytest.param(files, expected, id=id)


S = "schedules:\n  s:\n    timezone: UTC\n    layers:\n"  # a layer list starts at line 5
ONE_LAYER = S + "      - {rotation: daily, start: 2026-01-05T09:00, members: [alice]}\n"

CASES = [
    # ------------------------------------------------------------ unknown keys, every depth
    p(
        R("routes:\n  - match: {team: x}\n    gruop_by: [a]\n"),
        ["rules/t.yaml:3: routes[0].gruop_by: unknown key"],
        "unknown-key-route",
    ),
    p(
        R(
            "routes:\n  - match: {team: x}\n    routes:\n      - match: {a: b}\n"
            "        contine: true\n"
        ),
        ["rules/t.yaml:5: routes[0].routes[0].contine: unknown key"],
        "unknown-key-child-route",
    ),
    p(
        R("defaults:\n  gruop_by: [a]\n"),
        ["rules/t.yaml:2: defaults.gruop_by: unknown key"],
        "unknown-key-defaults",
    ),
    p(
        R("teams:\n  ops:\n    chanel: '#ops'\n"),
        ["rules/t.yaml:3: teams.ops.chanel: unknown key"],
        "unknown-key-team",
    ),
    p(
        R("teams:\n  ops:\n    members:\n      zed: {slack: U9, timezone: UTC}\n"),
        ["rules/t.yaml:4: teams.ops.members.zed.timezone: unknown key"],
        "unknown-key-team-member",
    ),
    p(
        R("schedules:\n  s:\n    timezone: UTC\n    layer:\n      - {rotation: daily}\n"),
        [
            "rules/t.yaml:2: schedules.s.layers: Field required",
            "rules/t.yaml:4: schedules.s.layer: unknown key",
        ],
        "unknown-key-schedule",
    ),
    p(
        R(
            S + "      - rotation: daily\n        start: 2026-01-05T09:00\n"
            "        members: [alice]\n        handof: '08:00'\n"
        ),
        ["rules/t.yaml:8: schedules.s.layers[0].handof: unknown key"],
        "unknown-key-schedule-layer",
    ),
    p(
        R(
            S + "      - rotation: daily\n        start: 2026-01-05T09:00\n"
            "        members: [alice]\n        restrict:\n          days: [Sat]\n"
            "          until: '20:00'\n"
        ),
        ["rules/t.yaml:10: schedules.s.layers[0].restrict.until: unknown key"],
        "unknown-key-layer-restriction",
    ),
    p(
        R(
            ONE_LAYER + "    overrides:\n"
            "      - {user: bob, from: 2026-02-01T10:00, to: 2026-02-02T10:00, why: x}\n"
        ),
        ["rules/t.yaml:7: schedules.s.overrides[0].why: unknown key"],
        "unknown-key-override",
    ),
    p(
        R("escalation_policies:\n  p:\n    steps: [{notify: team:payments}]\n    repeats: 2\n"),
        ["rules/t.yaml:4: escalation_policies.p.repeats: unknown key"],
        "unknown-key-escalation-policy",
    ),
    p(
        R(
            "escalation_policies:\n  p:\n    steps:\n      - notify: team:payments\n"
            "        afer: 5m\n"
        ),
        ["rules/t.yaml:5: escalation_policies.p.steps[0].afer: unknown key"],
        "unknown-key-escalation-step",
    ),
    p(
        R(
            "escalation_policies:\n  p:\n    steps:\n      - notify: team:payments\n"
            "        during: {days: [Mon], hours: 8}\n"
        ),
        ["rules/t.yaml:5: escalation_policies.p.steps[0].during.hours: unknown key"],
        "unknown-key-escalation-step-during",
    ),
    p(
        R("inhibit_rules:\n  - source: {a: b}\n    target: {c: d}\n    equals: [x]\n"),
        ["rules/t.yaml:4: inhibit_rules[0].equals: unknown key"],
        "unknown-key-inhibit-rule",
    ),
    p(
        R(
            "maintenance_windows:\n  - match: {a: b}\n    from: 2026-01-01T00:00\n"
            "    to: 2026-01-02T00:00\n    tz: UTC\n"
        ),
        ["rules/t.yaml:5: maintenance_windows[0].tz: unknown key"],
        "unknown-key-maintenance-window",
    ),
    p(
        R(
            "maintenance_windows:\n  - match: {a: b}\n"
            "    every: {days: [Sun], from: '02:00', to: '04:00', tz: UTC}\n"
        ),
        ["rules/t.yaml:3: maintenance_windows[0].every.tz: unknown key"],
        "unknown-key-maintenance-recurrence",
    ),
    p(
        R(
            "silences:\n  - match: {a: b}\n    owner: alice\n    reason: x\n"
            "    ends: 2026-01-01T00:00\n    expires: 2026-01-01T00:00\n"
        ),
        ["rules/t.yaml:6: silences[0].expires: unknown key"],
        "unknown-key-silence",
    ),
    p(
        RB("---\ntitle: T\nmatch: {a: b}\nseverity: high\n---\n"),
        ["runbooks/rb.md:4: rb.severity: unknown key"],
        "unknown-key-runbook",
    ),
    p(
        RB(ACTION + "    run: [echo]\n    approval: none\n    timout: 5s\n---\n"),
        ["runbooks/rb.md:8: rb.actions[0].timout: unknown key"],
        "unknown-key-runbook-action",
    ),
    p(
        RB(ACTION + "    http:\n      url: https://x\n      verb: GET\n    approval: none\n---\n"),
        ["runbooks/rb.md:8: rb.actions[0].http.verb: unknown key"],
        "unknown-key-runbook-action-http",
    ),
    # ------------------------------------------------------------ unknown sections
    p(R("rutes: []\n"), [f"rules/t.yaml:1: rutes: {SECTIONS}"], "unknown-section"),
    p(
        R("routes: []\n\nescalation:\n  p: []\n"),
        [f"rules/t.yaml:3: escalation: {SECTIONS}"],
        "unknown-section-after-a-known-one",
    ),
    p(R("1: x\n"), [f"rules/t.yaml:1: 1: {SECTIONS}"], "unknown-section-number"),
    # ------------------------------------------------------------ wrong types
    p(
        R("routes:\n  - match: {team: x}\n    group_by: alertname\n"),
        ["rules/t.yaml:3: routes[0].group_by: Input should be a valid list"],
        "string-where-list-group-by",
    ),
    p(
        R("routes:\n  - matchers: 'team=\"x\"'\n"),
        ["rules/t.yaml:2: routes[0].matchers: Input should be a valid list"],
        "string-where-list-matchers",
    ),
    p(
        R("routes:\n  - match: {team: x}\n    routes: nope\n"),
        ["rules/t.yaml:3: routes[0].routes: Input should be a valid list"],
        "string-where-list-child-routes",
    ),
    p(
        R(S + "      - rotation: daily\n        start: 2026-01-05T09:00\n        members: alice\n"),
        ["rules/t.yaml:7: schedules.s.layers[0].members: Input should be a valid list"],
        "string-where-list-layer-members",
    ),
    p(
        R("routes:\n  match: {team: x}\n"),
        ["rules/t.yaml:1: routes: must be a list"],
        "mapping-where-list-section",
    ),
    p(R("routes:\n"), ["rules/t.yaml:1: routes: must be a list"], "null-where-list-section"),
    p(
        R("teams:\n  - payments\n"),
        ["rules/t.yaml:1: teams: must be a mapping"],
        "list-where-mapping-section",
    ),
    p(R("defaults: [a]\n"), ["rules/t.yaml:1: defaults: must be a mapping"], "list-defaults"),
    p(
        R("routes:\n  - match: [team, x]\n"),
        ["rules/t.yaml:2: routes[0].match: Input should be a valid dictionary"],
        "list-where-mapping-match",
    ),
    p(
        R("teams:\n  ops:\n    members: [alice]\n"),
        ["rules/t.yaml:3: teams.ops.members: Input should be a valid dictionary"],
        "list-where-mapping-members",
    ),
    p(
        R("routes:\n  - team=x\n"),
        ["rules/t.yaml:2: routes[0]: Input should be a valid dictionary or instance of Route"],
        "string-where-route",
    ),
    p(
        R("escalation_policies:\n  p: team:payments\n"),
        [
            "rules/t.yaml:2: escalation_policies.p: "
            "Input should be a valid dictionary or instance of EscalationPolicy"
        ],
        "string-where-escalation-policy",
    ),
    p(
        R("routes:\n  - match: {code: 500}\n"),
        ["rules/t.yaml:2: routes[0].match.code: Input should be a valid string"],
        "number-as-label-value",
    ),
    p(
        R("routes:\n  - match:\n      team: x\n      prod: true\n"),
        ["rules/t.yaml:4: routes[0].match.prod: Input should be a valid string"],
        "boolean-as-label-value",
    ),
    p(
        R("routes:\n  - match: {team: x}\n    notify_only: maybe\n"),
        [
            "rules/t.yaml:3: routes[0].notify_only: "
            "Input should be a valid boolean, unable to interpret input"
        ],
        "string-where-boolean",
    ),
    p(
        R("escalation_policies:\n  p:\n    steps: [{notify: team:payments}]\n    repeat: twice\n"),
        [
            "rules/t.yaml:4: escalation_policies.p.repeat: "
            "Input should be a valid integer, unable to parse string as an integer"
        ],
        "string-where-integer",
    ),
    p(
        R("escalation_policies:\n  p:\n    steps: [{notify: team:payments}]\n    repeat: -1\n"),
        [
            "rules/t.yaml:4: escalation_policies.p.repeat: "
            "Input should be greater than or equal to 0"
        ],
        "negative-repeat",
    ),
    p(
        R("routes:\n  - match: {a: b}\n    group_by: ['...', alertname]\n"),
        [
            "rules/t.yaml:3: routes[0].group_by: "
            "'...' groups by all labels and cannot be combined with names"
        ],
        "group-by-all-and-names",
    ),
    # ------------------------------------------------------------ durations
    p(
        R("routes:\n  - match: {team: x}\n    flap_window: soon\n"),
        [f"rules/t.yaml:3: routes[0].flap_window: invalid duration 'soon': {DUR}"],
        "duration-soon",
    ),
    p(
        R("routes:\n  - match: {team: x}\n    flap_window: 10\n"),
        ["rules/t.yaml:3: routes[0].flap_window: invalid duration 10: add a unit, like 10s or 10m"],
        "duration-10-without-unit",
    ),
    p(
        R("routes:\n  - match: {team: x}\n    flap_window: '10'\n"),
        [f"rules/t.yaml:3: routes[0].flap_window: invalid duration '10': {DUR}"],
        "duration-quoted-10",
    ),
    p(
        R("routes:\n  - match: {team: x}\n    flap_window: -5m\n"),
        [f"rules/t.yaml:3: routes[0].flap_window: invalid duration '-5m': {DUR}"],
        "duration-negative",
    ),
    p(
        R("routes:\n  - match: {team: x}\n    flap_window: 1.5h\n"),
        [f"rules/t.yaml:3: routes[0].flap_window: invalid duration '1.5h': {DUR}"],
        "duration-fraction",
    ),
    p(
        R("routes:\n  - match: {team: x}\n    flap_window: 1.5\n"),
        [
            "rules/t.yaml:3: routes[0].flap_window: "
            "invalid duration 1.5: add a unit, like 1.5s or 1.5m"
        ],
        "duration-float-without-unit",
    ),
    p(
        R("defaults:\n  resolve_timeout: 5 m\n"),
        [f"rules/t.yaml:2: defaults.resolve_timeout: invalid duration '5 m': {DUR}"],
        "duration-with-space",
    ),
    p(
        R("defaults:\n  resolve_timeout: ''\n"),
        [f"rules/t.yaml:2: defaults.resolve_timeout: invalid duration '': {DUR}"],
        "duration-empty",
    ),
    p(
        R("defaults:\n  resolve_timeout: [5m]\n"),
        ["rules/t.yaml:2: defaults.resolve_timeout: Input should be a valid timedelta"],
        "duration-list",
    ),
    p(
        R(
            "escalation_policies:\n  p:\n    steps:\n      - notify: team:payments\n"
            "      - notify: team:payments\n        after: soon\n"
        ),
        [f"rules/t.yaml:6: escalation_policies.p.steps[1].after: invalid duration 'soon': {DUR}"],
        "duration-step-after",
    ),
    p(
        R(
            S + "      - {rotation: custom, shift_length: 0s, start: 2026-01-05T09:00, "
            "members: [alice]}\n"
        ),
        ["rules/t.yaml:5: schedules.s.layers[0]: shift_length must be positive"],
        "duration-zero-shift-length",
    ),
    # ------------------------------------------------------------ regexes
    p(
        R("routes:\n  - match_re: {env: '(x'}\n"),
        [
            "rules/t.yaml:2: routes[0].match_re: "
            "bad regex '(x' for env: missing ), unterminated subpattern at position 0"
        ],
        "bad-regex-match-re",
    ),
    p(
        R("routes:\n  - matchers: ['env=~\"(x\"']\n"),
        [
            "rules/t.yaml:2: routes[0].matchers: "
            "bad regex '(x' for env: missing ), unterminated subpattern at position 0"
        ],
        "bad-regex-in-matcher-string",
    ),
    p(
        R("routes:\n  - matchers: ['pod!~\"[x\"']\n"),
        [
            "rules/t.yaml:2: routes[0].matchers: "
            "bad regex '[x' for pod: unterminated character set at position 0"
        ],
        "bad-regex-in-negative-matcher-string",
    ),
    p(
        R("routes:\n  - match: {a: b}\n    routes:\n      - match_re: {pod: '*'}\n"),
        [
            "rules/t.yaml:4: routes[0].routes[0].match_re: "
            "bad regex '*' for pod: nothing to repeat at position 0"
        ],
        "bad-regex-child-route",
    ),
    p(
        R(
            "maintenance_windows:\n  - match_re: {a: '['}\n"
            "    every: {from: '02:00', to: '03:00'}\n"
        ),
        [
            "rules/t.yaml:2: maintenance_windows[0].match_re: "
            "bad regex '[' for a: unterminated character set at position 0"
        ],
        "bad-regex-maintenance-window",
    ),
    p(
        RB("---\ntitle: T\nmatch_re: {a: '('}\n---\nbody\n"),
        [
            "runbooks/rb.md:3: rb.match_re: "
            "bad regex '(' for a: missing ), unterminated subpattern at position 0"
        ],
        "bad-regex-runbook-match",
    ),
    p(
        RB(
            ACTION
            + "    run: [echo, '{{ labels.x }}']\n    params: {x: '[a-z'}\n    approval: none\n"
            "---\n"
        ),
        [
            "runbooks/rb.md:7: rb.actions[0].params: "
            "bad regex '[a-z' for x: unterminated character set at position 0"
        ],
        "bad-regex-runbook-action-params",
    ),
    # ------------------------------------------------------------ malformed matcher strings
    p(
        R("routes:\n  - matchers: ['team == payments']\n"),
        [f"rules/t.yaml:2: routes[0].matchers: bad matcher 'team == payments': {MATCHER_FORMS}"],
        "matcher-double-equals",
    ),
    p(
        R("routes:\n  - matchers: [severity]\n"),
        [f"rules/t.yaml:2: routes[0].matchers: bad matcher 'severity': {MATCHER_FORMS}"],
        "matcher-without-operator",
    ),
    p(
        R("routes:\n  - matchers: ['1team=\"a\"']\n"),
        [f"rules/t.yaml:2: routes[0].matchers: bad matcher '1team=\"a\"': {MATCHER_FORMS}"],
        "matcher-bad-label-name",
    ),
    p(
        R("routes:\n  - matchers: ['team=\"a']\n"),
        [f"rules/t.yaml:2: routes[0].matchers: bad matcher 'team=\"a': {MATCHER_FORMS}"],
        "matcher-unclosed-quote",
    ),
    p(
        R("inhibit_rules:\n  - source: {a: b}\n"),
        ["rules/t.yaml:2: inhibit_rules[0]: an inhibit rule needs both source and target matchers"],
        "inhibit-rule-without-target",
    ),
    p(
        R(
            "silences:\n  - matchers: [x]\n    owner: alice\n    reason: r\n"
            "    ends: 2026-01-01T00:00\n"
        ),
        [f"rules/t.yaml:2: silences[0].matchers: bad matcher 'x': {MATCHER_FORMS}"],
        "matcher-in-silence",
    ),
    # ------------------------------------------------------------ time zones
    p(
        R(
            "schedules:\n  s:\n    timezone: Europe/Berln\n    layers:\n"
            "      - {rotation: daily, start: 2026-01-05T09:00, members: [alice]}\n"
        ),
        [f"rules/t.yaml:3: schedules.s.timezone: unknown time zone 'Europe/Berln' {IANA}"],
        "bad-time-zone-schedule",
    ),
    p(
        R("teams:\n  ops:\n    members:\n      zed:\n        tz: Mars/Olympus\n"),
        [f"rules/t.yaml:5: teams.ops.members.zed.tz: unknown time zone 'Mars/Olympus' {IANA}"],
        "bad-time-zone-member",
    ),
    p(
        R(
            "maintenance_windows:\n  - match: {a: b}\n    every: {from: '02:00', to: '03:00'}\n"
            "    timezone: CEST\n"
        ),
        [f"rules/t.yaml:4: maintenance_windows[0].timezone: unknown time zone 'CEST' {IANA}"],
        "bad-time-zone-maintenance-window",
    ),
    p(
        R(
            "silences:\n  - match: {a: b}\n    owner: alice\n    reason: r\n"
            "    ends: 2026-01-01T00:00\n    timezone: PST\n"
        ),
        [f"rules/t.yaml:6: silences[0].timezone: unknown time zone 'PST' {IANA}"],
        "bad-time-zone-silence",
    ),
    p(
        R(
            "escalation_policies:\n  p:\n    timezone: Berlin\n"
            "    steps: [{notify: team:payments}]\n"
        ),
        [f"rules/t.yaml:3: escalation_policies.p.timezone: unknown time zone 'Berlin' {IANA}"],
        "bad-time-zone-escalation-policy",
    ),
    p(
        R(
            "maintenance_windows:\n  - match: {a: b}\n    every: {from: '02:00', to: '03:00'}\n"
            "    timezone: ../../etc/passwd\n"
        ),
        [
            "rules/t.yaml:4: maintenance_windows[0].timezone: "
            f"unknown time zone '../../etc/passwd' {IANA}"
        ],
        "time-zone-path-traversal",
    ),
    # ------------------------------------------------------------ schedules
    p(
        R(
            S + "      - rotation: weekly\n        start: 2026-01-05T09:00\n"
            "        handoff: '09:00'\n        members: [alice]\n"
        ),
        ["rules/t.yaml:5: schedules.s.layers[0]: handoff '09:00': write it like \"Mon 09:00\""],
        "weekly-handoff-without-day",
    ),
    p(
        R(
            S + "      - rotation: daily\n        start: 2026-01-05T09:00\n"
            "        handoff: 'Mon 09:00'\n        members: [alice]\n"
        ),
        ["rules/t.yaml:5: schedules.s.layers[0]: handoff 'Mon 09:00': write it like \"08:00\""],
        "daily-handoff-with-day",
    ),
    p(
        R(
            S + "      - rotation: custom\n        shift_length: 12h\n"
            "        start: 2026-01-05T09:00\n        handoff: Mon 09:00\n"
            "        members: [alice]\n"
        ),
        ["rules/t.yaml:5: schedules.s.layers[0]: handoff 'Mon 09:00': write it like \"08:00\""],
        "custom-handoff-with-day",
    ),
    p(
        R(
            S + "      - rotation: custom\n        start: 2026-01-05T09:00\n"
            "        members: [alice]\n"
        ),
        ["rules/t.yaml:5: schedules.s.layers[0]: a custom rotation needs shift_length"],
        "custom-rotation-without-shift-length",
    ),
    p(
        R(
            S + "      - rotation: daily\n        shift_length: 12h\n"
            "        start: 2026-01-05T09:00\n        members: [alice]\n"
        ),
        [
            "rules/t.yaml:5: schedules.s.layers[0]: "
            "shift_length is only for custom rotations, not daily"
        ],
        "daily-rotation-with-shift-length",
    ),
    p(
        R(
            S + "      - rotation: monthly\n        start: 2026-01-05T09:00\n"
            "        members: [alice]\n"
        ),
        [
            "rules/t.yaml:5: schedules.s.layers[0].rotation: "
            "Input should be 'daily', 'weekly' or 'custom'"
        ],
        "unknown-rotation",
    ),
    p(
        R("schedules:\n  s:\n    timezone: UTC\n    layers: []\n"),
        [
            "rules/t.yaml:4: schedules.s.layers: "
            "List should have at least 1 item after validation, not 0"
        ],
        "schedule-without-layers",
    ),
    p(
        R(S + "      - {rotation: daily, start: 2026-13-05T09:00, members: [alice]}\n"),
        [
            "rules/t.yaml:5: schedules.s.layers[0].start: "
            "invalid date-time '2026-13-05T09:00': write it like 2026-01-05T09:00"
        ],
        "layer-start-not-a-date",
    ),
    p(
        R(
            S + "      - rotation: daily\n        start: 2026-01-05T09:00\n"
            "        members: [alice]\n        restrict: {days: [Monday], from: '8:00'}\n"
        ),
        [
            "rules/t.yaml:8: schedules.s.layers[0].restrict.days[0]: "
            "Input should be 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat' or 'Sun'",
            "rules/t.yaml:8: schedules.s.layers[0].restrict.from: "
            "invalid time '8:00': write HH:MM, like 08:00",
        ],
        "restriction-bad-day-and-time",
    ),
    p(
        R(
            S + "      - rotation: daily\n        start: 2026-01-05T09:00\n"
            "        members: [alice]\n        restrict: {from: '25:00'}\n"
        ),
        ["rules/t.yaml:8: schedules.s.layers[0].restrict.from: hour must be in 0..23"],
        "restriction-hour-25",
    ),
    p(
        R(
            ONE_LAYER + "    overrides:\n      - user: bob\n        from: 2026-02-02T10:00\n"
            "        to: 2026-02-01T10:00\n"
        ),
        ["rules/t.yaml:7: schedules.s.overrides[0]: an override must end after it starts"],
        "override-ends-before-it-starts",
    ),
    p(
        R(
            ONE_LAYER + "    overrides:\n"
            "      - {user: bob, from: 2026-02-01T10:00, to: 2026-02-01T10:00}\n"
        ),
        ["rules/t.yaml:7: schedules.s.overrides[0]: an override must end after it starts"],
        "override-of-zero-length",
    ),
    p(
        R(
            ONE_LAYER + "    overrides:\n      - user: bob\n        from: tomorrow\n"
            "        to: 2026-02-01T10:00\n"
        ),
        [
            "rules/t.yaml:8: schedules.s.overrides[0].from: "
            "invalid date-time 'tomorrow': write it like 2026-01-05T09:00"
        ],
        "override-from-not-a-date",
    ),
    # ------------------------------------------------------------ maintenance windows, silences
    p(
        R(
            "maintenance_windows:\n  - name: x\n    from: 2026-01-01T00:00\n"
            "    to: 2026-01-02T00:00\n"
        ),
        [
            "rules/t.yaml:2: maintenance_windows[0]: "
            "a maintenance window needs matchers (it would mute everything)"
        ],
        "maintenance-window-without-matchers",
    ),
    p(
        R(
            "maintenance_windows:\n  - name: x\n    match: {}\n"
            "    every: {from: '02:00', to: '03:00'}\n"
        ),
        [
            "rules/t.yaml:2: maintenance_windows[0]: "
            "a maintenance window needs matchers (it would mute everything)"
        ],
        "maintenance-window-with-empty-match",
    ),
    p(
        R("maintenance_windows:\n  - name: x\n    match: {a: b}\n"),
        [
            "rules/t.yaml:2: maintenance_windows[0]: "
            "a maintenance window needs from and to, or every"
        ],
        "maintenance-window-without-times",
    ),
    p(
        R("maintenance_windows:\n  - name: x\n    match: {a: b}\n    from: 2026-01-01T00:00\n"),
        [
            "rules/t.yaml:2: maintenance_windows[0]: "
            "a maintenance window needs from and to, or every"
        ],
        "maintenance-window-without-to",
    ),
    p(
        R(
            "maintenance_windows:\n  - name: x\n    match: {a: b}\n"
            "    from: 2026-01-02T00:00\n    to: 2026-01-01T00:00\n"
        ),
        ["rules/t.yaml:2: maintenance_windows[0]: a maintenance window must end after it starts"],
        "maintenance-window-ends-before-start",
    ),
    p(
        R("maintenance_windows:\n  - name: x\n    match: {a: b}\n    every: {from: '02:00'}\n"),
        ["rules/t.yaml:4: maintenance_windows[0].every.to: Field required"],
        "maintenance-recurrence-without-to",
    ),
    p(
        R("maintenance_windows:\n  - match: {a: b}\n    from: 2026-01-01\n    to: 2026-01-02\n"),
        [
            "rules/t.yaml:3: maintenance_windows[0].from: "
            "expected a date-time like 2026-01-05T09:00",
            "rules/t.yaml:4: maintenance_windows[0].to: expected a date-time like 2026-01-05T09:00",
        ],
        "maintenance-window-date-without-time",
    ),
    p(
        R("silences:\n  - owner: alice\n    reason: r\n    ends: 2026-01-01T00:00\n"),
        ["rules/t.yaml:2: silences[0]: a silence needs matchers (it would mute everything)"],
        "silence-without-matchers",
    ),
    p(
        R("silences:\n  - match: {a: b}\n"),
        [
            "rules/t.yaml:2: silences[0].owner: Field required",
            "rules/t.yaml:2: silences[0].reason: Field required",
            "rules/t.yaml:2: silences[0].ends: Field required",
        ],
        "silence-missing-fields",
    ),
    p(
        R(
            "silences:\n  - match: {a: b}\n    owner: alice\n    reason: ''\n"
            "    ends: 2026-01-01T00:00\n"
        ),
        ["rules/t.yaml:4: silences[0].reason: String should have at least 1 character"],
        "silence-empty-reason",
    ),
    # ------------------------------------------------------------ escalation policies
    p(
        R(
            "escalation_policies:\n  p:\n    steps:\n"
            "      - {notify: team:payments, after: 10m}\n"
            "      - {notify: team:payments, after: 5m}\n"
        ),
        ["rules/t.yaml:2: escalation_policies.p: steps must be in order of `after`"],
        "escalation-steps-out-of-order",
    ),
    p(
        R("escalation_policies:\n  p:\n    steps: []\n"),
        [
            "rules/t.yaml:3: escalation_policies.p.steps: "
            "List should have at least 1 item after validation, not 0"
        ],
        "escalation-without-steps",
    ),
    # ------------------------------------------------------------ references
    p(
        R("routes:\n  - match: {a: b}\n    team: paymnts\n"),
        ["rules/t.yaml:3: routes[0].team: no team named 'paymnts' (did you mean 'payments'?)"],
        "missing-team-in-route",
    ),
    p(
        R("routes:\n  - match: {a: b}\n    routes:\n      - match: {c: d}\n        team: ghost\n"),
        ["rules/t.yaml:5: routes[0].routes[0].team: no team named 'ghost'"],
        "missing-team-in-child-route",
    ),
    p(
        R("defaults:\n  team: ghost\n"),
        ["rules/t.yaml:2: defaults.team: no team named 'ghost'"],
        "missing-team-in-defaults",
    ),
    p(
        R("routes:\n  - match: {a: b}\n    escalation: payment\n"),
        [
            "rules/t.yaml:3: routes[0].escalation: "
            "no escalation policy named 'payment' (did you mean 'payments'?)"
        ],
        "missing-escalation-policy",
    ),
    p(
        R("routes:\n  - match: {a: b}\n    runbook: nope\n"),
        ["rules/t.yaml:3: routes[0].runbook: no runbook named 'nope' in runbooks/"],
        "missing-runbook",
    ),
    p(
        R("escalation_policies:\n  p:\n    steps:\n      - notify: schedule:primry\n"),
        [
            "rules/t.yaml:4: escalation_policies.p.steps[0].notify: "
            "no schedule named 'primry' (did you mean 'primary'?)"
        ],
        "missing-schedule-in-step",
    ),
    p(
        R(
            "escalation_policies:\n  p:\n    steps:\n      - notify: team:payments\n"
            "      - notify: user:zoe\n        after: 5m\n"
        ),
        ["rules/t.yaml:5: escalation_policies.p.steps[1].notify: no user named 'zoe'"],
        "missing-user-in-step",
    ),
    p(
        R("escalation_policies:\n  p:\n    steps:\n      - notify: team:payment\n"),
        [
            "rules/t.yaml:4: escalation_policies.p.steps[0].notify: "
            "no team named 'payment' (did you mean 'payments'?)"
        ],
        "missing-team-in-step",
    ),
    p(
        R(
            S + "      - rotation: daily\n        start: 2026-01-05T09:00\n"
            "        members:\n          - alice\n          - alicia\n"
        ),
        [
            "rules/t.yaml:9: schedules.s.layers[0].members[1]: "
            "'alicia' is not a member of any team (did you mean 'alice'?)"
        ],
        "schedule-member-not-in-any-team",
    ),
    p(
        R(
            ONE_LAYER + "    overrides:\n      - user: mallory\n"
            "        from: 2026-02-01T10:00\n        to: 2026-02-02T10:00\n"
        ),
        ["rules/t.yaml:7: schedules.s.overrides[0].user: 'mallory' is not a member of any team"],
        "override-user-not-in-any-team",
    ),
    p(
        R(
            "silences:\n  - match: {a: b}\n    reason: r\n    ends: 2026-01-01T00:00\n"
            "    owner: eve\n"
        ),
        ["rules/t.yaml:5: silences[0].owner: 'eve' is not a member of any team"],
        "silence-owner-not-in-any-team",
    ),
    p(
        RB(ACTION + "    run: [echo]\n    approvers: [team:payments, team:paymnts]\n---\n"),
        ["runbooks/rb.md:7: rb.actions[0].approvers[1]: no team named 'paymnts'"],
        "approver-missing-team",
    ),
    p(
        RB(
            ACTION
            + "    run: [echo]\n    approvers:\n      - oncall:primary\n      - oncall:second\n"
            "---\n"
        ),
        ["runbooks/rb.md:9: rb.actions[0].approvers[1]: no schedule named 'second'"],
        "approver-missing-oncall-schedule",
    ),
    p(
        RB(ACTION + "    run: [echo]\n    approvers: [user:zoe]\n---\n"),
        ["runbooks/rb.md:7: rb.actions[0].approvers[0]: no user named 'zoe'"],
        "approver-missing-user",
    ),
    p(
        RB(ACTION + "    run: [echo]\n    approvers: [payments]\n---\n"),
        [
            "runbooks/rb.md:7: rb.actions[0].approvers: "
            "approver 'payments': write team:NAME, user:NAME or oncall:SCHEDULE"
        ],
        "approver-without-kind",
    ),
    # ------------------------------------------------------------ unreachable routes
    p(
        R("routes:\n  - match: {team: a}\n  - match: {team: b}\n  - match: {team: a}\n"),
        [
            "rules/t.yaml:4: routes[2]: never matched: routes[0] has the same matchers and does "
            "not continue"
        ],
        "never-matched-same-matchers",
    ),
    p(
        R("routes:\n  - match: {team: a}\n  - matchers: ['team=\"a\"']\n"),
        [
            "rules/t.yaml:3: routes[1]: never matched: routes[0] has the same matchers and does "
            "not continue"
        ],
        "never-matched-same-matchers-other-form",
    ),
    p(
        R("routes:\n  - group_by: [x]\n  - match: {team: b}\n  - match: {team: c}\n"),
        [
            "rules/t.yaml:3: routes[1]: never matched: routes[0] before it matches every alert "
            "and does not continue",
            "rules/t.yaml:4: routes[2]: never matched: routes[0] before it matches every alert "
            "and does not continue",
        ],
        "never-matched-after-catch-all",
    ),
    p(
        R(
            "routes:\n  - match: {team: a}\n    routes:\n      - match: {x: y}\n        routes:\n"
            "          - notify_only: true\n          - match: {severity: info}\n"
        ),
        [
            "rules/t.yaml:7: routes[0].routes[0].routes[1]: never matched: "
            "routes[0].routes[0].routes[0] before it matches every alert and does not continue"
        ],
        "never-matched-after-nested-catch-all",
    ),
    p(
        R("routes:\n  - match: {team: a}\n    continue: true\n  - match: {team: a}\n"),
        [],
        "same-matchers-after-continue-is-fine",
    ),
    p(
        R("routes:\n  - group_by: [x]\n    continue: true\n  - match: {team: b}\n"),
        [],
        "catch-all-with-continue-is-fine",
    ),
    # ------------------------------------------------------------ duplicates across files
    p(
        {
            "rules/a.yaml": "teams:\n  ops: {}\n",
            "rules/b.yaml": "# c\nteams:\n  x: {}\n  ops: {}\n",
        },
        ["rules/b.yaml:4: teams.ops: defined twice (first at rules/a.yaml:2)"],
        "team-defined-twice-across-files",
    ),
    p(
        R("\nescalation_policies:\n  payments: [{notify: team:payments}]\n"),
        [
            "rules/t.yaml:3: escalation_policies.payments: "
            "defined twice (first at rules/00-base.yaml:13)"
        ],
        "escalation-policy-defined-twice",
    ),
    p(
        R(
            "schedules:\n  primary: {timezone: UTC, layers: "
            "[{rotation: daily, start: 2026-01-05T09:00, members: [alice]}]}\n"
        ),
        ["rules/t.yaml:2: schedules.primary: defined twice (first at rules/00-base.yaml:8)"],
        "schedule-defined-twice",
    ),
    p(
        R("teams:\n  ops:\n    members:\n      alice: {slack: U9}\n"),
        [
            "rules/t.yaml:4: teams.ops.members.alice: 'alice' has Slack id 'U9' here but "
            "'U01ALICE' in team 'payments': one person, one id"
        ],
        "user-with-two-slack-ids",
    ),
    p(
        R("teams:\n  ops:\n    members:\n      alice: {slack: U01ALICE}\n"),
        [],
        "user-in-two-teams-with-same-slack-id-is-fine",
    ),
    # ------------------------------------------------------------ YAML syntax, file shapes
    p(
        R("routes:\n\t- match: {team: a}\n"),
        ["rules/t.yaml:2: invalid YAML: found character '\\t' that cannot start any token"],
        "yaml-tab",
    ),
    p(
        R("teams:\n  ops:\n    channel: x\n   members: {}\n"),
        ["rules/t.yaml:4: invalid YAML: expected <block end>, but found '<block mapping start>'"],
        "yaml-bad-indentation",
    ),
    p(
        R("teams:\n  ops: {}\n  ops: {}\n"),
        [Like('rules/t.yaml:3: invalid YAML: found duplicate key "ops"')],
        "yaml-duplicate-key",
    ),
    p(
        R("routes:\n  - match: {team: a}\n  - match: [team\n  - match: {team: c}\n"),
        [Like("rules/t.yaml:4: invalid YAML: ")],
        "yaml-unclosed-flow-sequence",
    ),
    p(
        R("- routes: []\n"),
        ["rules/t.yaml:1: the top level must be a mapping of sections"],
        "top-list",
    ),
    p(R("hello\n"), ["rules/t.yaml:1: the top level must be a mapping of sections"], "top-scalar"),
    p(R(""), [], "empty-file-is-fine"),
    p(R("# nothing yet\n"), [], "comment-only-file-is-fine"),
    p(
        {"rules/sub/t.yml": "routes:\n  - gruop: 1\n"},
        ["rules/sub/t.yml:2: routes[0].gruop: unknown key"],
        "yml-in-subfolder",
    ),
    p(
        R("x-common: &c {group_by: [a]}\n"),
        [f"rules/t.yaml:1: x-common: {SECTIONS}"],
        "anchor-holder-is-an-unknown-section",
    ),
    p(
        R("routes:\n  - &r {match: {a: b}}\n  - <<: *r\n    match: {c: d}\n    gruop: 1\n"),
        ["rules/t.yaml:5: routes[1].gruop: unknown key"],
        "merge-key-keeps-lines",
    ),
    p(
        R("routes:\r\n  - match: {a: b}\r\n\r\n    foo: 1\r\n"),
        ["rules/t.yaml:4: routes[0].foo: unknown key"],
        "crlf-line-endings",
    ),
    p(
        R("\ufeffroutes:\n  - match: {a: b}\n    foo: 1\n"),
        ["rules/t.yaml:3: routes[0].foo: unknown key"],
        "byte-order-mark",
    ),
    # ------------------------------------------------------------ runbooks
    p(
        RB("# Title\n\nbody\n"),
        [f"runbooks/rb.md:1: {NO_FRONT_MATTER}"],
        "runbook-without-front-matter",
    ),
    p(RB(""), [f"runbooks/rb.md:1: {NO_FRONT_MATTER}"], "runbook-empty-file"),
    p(
        RB("---\ntitle: T\n# body\n"),
        [f"runbooks/rb.md:1: {NO_FRONT_MATTER}"],
        "runbook-unclosed-front-matter",
    ),
    p(
        RB("---\n- a\n---\n"),
        ["runbooks/rb.md:2: front matter must be a mapping"],
        "runbook-front-matter-list",
    ),
    p(
        RB("---\ntitle: T\nactions:\n  - name: a\n   run: [x]\n---\n"),
        ["runbooks/rb.md:5: invalid YAML: expected <block end>, but found '<block mapping start>'"],
        "runbook-front-matter-bad-yaml",
    ),
    p(
        RB("---\nmatch: {a: b}\n---\n"),
        ["runbooks/rb.md:2: rb.title: Field required"],
        "runbook-without-title",
    ),
    p(
        RB(
            ACTION
            + "    run: [kubectl, delete, pod, '{{ labels.pod }}']\n    approval: none\n---\n"
        ),
        [
            "runbooks/rb.md:5: rb.actions[0]: template '{{ labels.pod }}' uses pod without a "
            'pattern in params (add e.g. params: {pod: "^[a-z0-9-]{1,63}$"})'
        ],
        "runbook-template-label-without-params",
    ),
    p(
        RB(
            ACTION + "    http: {url: 'https://x/{{ annotations.doc }}'}\n    approval: none\n---\n"
        ),
        [
            "runbooks/rb.md:5: rb.actions[0]: template 'https://x/{{ annotations.doc }}' uses doc "
            'without a pattern in params (add e.g. params: {doc: "^[a-z0-9-]{1,63}$"})'
        ],
        "runbook-template-annotation-without-params",
    ),
    p(
        RB(
            ACTION
            + "    http:\n      url: https://x\n      json: {pod: ['{{ labels[\"pod\"] }}']}\n"
            "    approval: none\n---\n"
        ),
        [
            "runbooks/rb.md:5: rb.actions[0]: template '{{ labels[\"pod\"] }}' uses pod without a "
            'pattern in params (add e.g. params: {pod: "^[a-z0-9-]{1,63}$"})'
        ],
        "runbook-template-in-http-json-without-params",
    ),
    p(
        RB(ACTION + "    run: [echo, '{{ labels }}']\n    approval: none\n---\n"),
        [
            "runbooks/rb.md:5: rb.actions[0]: template '{{ labels }}': use labels.NAME with a "
            "fixed name, so its value can be checked against params"
        ],
        "runbook-template-whole-labels",
    ),
    p(
        RB(
            ACTION
            + "    run: [echo, '{{ labels[x] }}']\n    params: {x: '.*'}\n    approval: none\n---\n"
        ),
        [
            "runbooks/rb.md:5: rb.actions[0]: template '{{ labels[x] }}': use labels.NAME with a "
            "fixed name, so its value can be checked against params"
        ],
        "runbook-template-computed-key",
    ),
    p(
        RB(ACTION + "    run: [echo, '{{ labels.x ']\n    approval: none\n---\n"),
        [
            "runbooks/rb.md:5: rb.actions[0]: template '{{ labels.x ': unexpected end of "
            "template, expected 'end of print statement'."
        ],
        "runbook-template-syntax-error",
    ),
    p(
        RB(ACTION + "    run: [echo]\n    http: {url: 'https://x'}\n    approval: none\n---\n"),
        [
            "runbooks/rb.md:5: rb.actions[0]: an action needs exactly one of run (argument list) "
            "or http"
        ],
        "runbook-action-run-and-http",
    ),
    p(
        RB(ACTION + "    approval: none\n---\n"),
        [
            "runbooks/rb.md:5: rb.actions[0]: an action needs exactly one of run (argument list) "
            "or http"
        ],
        "runbook-action-neither-run-nor-http",
    ),
    p(
        RB(ACTION + "    run: 'rm -rf /tmp/x'\n    approval: none\n---\n"),
        ["runbooks/rb.md:6: rb.actions[0].run: Input should be a valid list"],
        "runbook-action-shell-string",
    ),
    p(
        RB(ACTION + "    run: [echo]\n    auto: true\n    approvers: [team:payments]\n---\n"),
        ["runbooks/rb.md:5: rb.actions[0]: auto: true is only allowed with approval: none"],
        "runbook-auto-without-approval-none",
    ),
    p(
        RB(ACTION + "    run: [echo]\n---\n"),
        ["runbooks/rb.md:5: rb.actions[0]: approval: required needs approvers"],
        "runbook-approval-required-without-approvers",
    ),
    p(
        RB(ACTION + "    run: [echo]\n    approval: two\n---\n"),
        ["runbooks/rb.md:5: rb.actions[0]: approval: two needs approvers"],
        "runbook-approval-two-without-approvers",
    ),
    p(
        RB(
            ACTION + "    run: [echo]\n    approval: none\n  - name: act\n    run: [ls]\n"
            "    approval: none\n---\n"
        ),
        ["runbooks/rb.md:2: rb: action names must be unique: act"],
        "runbook-duplicate-action-names",
    ),
    p(
        RB(ACTION + "    run: [echo]\n    approval: none\n    env: ['A-B']\n---\n"),
        ["runbooks/rb.md:8: rb.actions[0].env: env 'A-B' is not a variable name"],
        "runbook-bad-env-name",
    ),
    p(
        RB(
            ACTION + "    run: [kubectl, rollout, restart, 'deployment/{{ labels.deployment }}']\n"
            "    params: {deployment: '^[a-z0-9-]{1,63}$'}\n"
            "    approvers: [team:payments, oncall:primary, user:bob]\n    approval: two\n"
            "---\n# Body\n\n---\n\nmore body after a rule\n"
        ),
        [],
        "runbook-valid",
    ),
]


@pytest.mark.parametrize(("files", "expected"), CASES)
def test_problem(tmp_path: Path, files: dict[str, str], expected: list[str | Like]) -> None:
    assert problems(write(tmp_path, files)) == expected


# Found by review: each once crashed or pointed at the wrong place.
REGRESSIONS = [
    pytest.param(
        R("defaults:\n  resolve_timeout: 1000000000d\n"),
        [Like("rules/t.yaml:2: defaults.resolve_timeout: ", "1000000000d")],
        id="duration-too-large-crashes",
    ),
    pytest.param(
        R(
            "maintenance_windows:\n  - match: {a: b}\n    from: 2026-12-01T22:00+01:00\n"
            "    to: 2026-12-02T02:00\n"
        ),
        [Like("rules/t.yaml:2: maintenance_windows[0]")],
        id="maintenance-window-mixed-offsets-crashes",
    ),
    pytest.param(
        R(
            ONE_LAYER + "    overrides:\n"
            "      - {user: bob, from: 2026-02-01T10:00Z, to: 2026-02-02T10:00}\n"
        ),
        [Like("rules/t.yaml:7: schedules.s.overrides[0]")],
        id="override-mixed-offsets-crashes",
    ),
    pytest.param(
        R("routes:\n  - match: {team: x}\n    flap_window: true\n"),
        [Like("rules/t.yaml:3: routes[0].flap_window: invalid duration")],
        id="duration-true-is-accepted-as-one-second",
    ),
    pytest.param(
        R(
            "escalation_policies:\n  p:\n    - notify: team:payments\n"
            "    - notify: team:payments\n      after: soon\n"
        ),
        [f"rules/t.yaml:5: escalation_policies.p.steps[1].after: invalid duration 'soon': {DUR}"],
        id="bare-list-policy-wrong-line",
    ),
    pytest.param(
        R("escalation_policies:\n  p:\n    - notify: team:payments\n    - notify: team:nobody\n"),
        ["rules/t.yaml:4: escalation_policies.p.steps[1].notify: no team named 'nobody'"],
        id="bare-list-policy-crossref-wrong-line",
    ),
    pytest.param(
        R("inhibit_rules:\n  - source_re: {a: '*'}\n    target: {c: d}\n"),
        [Like("rules/t.yaml:2: inhibit_rules[0].source_re: bad regex '*' for a")],
        id="inhibit-source-re-reported-as-match-re",
    ),
    pytest.param(
        R("inhibit_rules:\n  - source: {a: b}\n    target_matchers: [c]\n"),
        [Like("rules/t.yaml:3: inhibit_rules[0].target_matchers: bad matcher 'c'")],
        id="inhibit-target-matchers-reported-as-matchers",
    ),
    pytest.param(
        R(
            S + "      - rotation: daily\n        start: 2026-01-05T09:00\n"
            "        handoff: '25:00'\n        members: [alice]\n"
        ),
        [Like("rules/t.yaml:", "'25:00'")],
        id="daily-handoff-25-00-accepted",
    ),
    pytest.param(
        R(
            S + "      - rotation: weekly\n        start: 2026-01-05T09:00\n"
            "        handoff: 'Mon 99:99'\n        members: [alice]\n"
        ),
        [Like("rules/t.yaml:", "'Mon 99:99'")],
        id="weekly-handoff-99-99-accepted",
    ),
    pytest.param(
        R(
            "silences:\n  - match: {a: b}\n    owner: alice\n    reason: r\n"
            "    starts: 2026-02-01T00:00\n    ends: 2026-01-01T00:00\n"
        ),
        [Like("rules/t.yaml:2: silences[0]", "end")],
        id="silence-ending-before-it-starts-accepted",
    ),
    pytest.param(
        R(
            "maintenance_windows:\n  - match: {a: b}\n    from: 2026-02-30T10:00:00\n"
            "    to: 2026-03-02T10:00:00\n"
        ),
        [Like("rules/t.yaml:3: ")],
        id="impossible-date-reported-at-line-1",
    ),
    pytest.param(
        R("routes:\n  - match: {team: b\n\n\n\n# end\n"),
        [Like("rules/t.yaml:2: invalid YAML")],
        id="unclosed-flow-mapping-reported-past-the-end",
    ),
    pytest.param(
        R("routes:\n  - matchers:\n      - 'team=\"a\"'\n      - 'env!~\"[x\"'\n"),
        [Like("rules/t.yaml:4: routes[0].matchers[1]: bad regex '[x' for env")],
        id="bad-matcher-in-block-list-points-at-the-list",
    ),
    pytest.param(
        R("routes:\n  - matchers: ['a=\"1\"', 'b=\"2\"']\n  - matchers: ['b=\"2\"', 'a=\"1\"']\n"),
        [
            "rules/t.yaml:3: routes[1]: never matched: routes[0] has the same matchers and "
            "does not continue"
        ],
        id="never-matched-missed-when-matchers-permuted",
    ),
    pytest.param(
        {"rules/t.yaml": "teams:\n  1.5: {}\n"},
        [Like("rules/t.yaml:2: teams.1.5")],
        id="float-team-name-reported-in-another-file",
    ),
    pytest.param(
        {"rules/t.yaml": "teams:\n  ~: {}\n"},
        [Like("rules/t.yaml:2: teams")],
        id="null-team-name-reported-in-another-file",
    ),
    pytest.param(
        R("teams:\n  pay ments: {}\n"),
        [Like("rules/t.yaml:2: teams.pay ments: ")],
        id="bad-team-name-message",
    ),
    pytest.param(
        R("escalation_policies:\n  p:\n    steps:\n      - {notify: payments}\n"),
        [Like("rules/t.yaml:4: escalation_policies.p.steps[0].notify: ", "team:NAME")],
        id="step-notify-without-kind-message",
    ),
    pytest.param(
        RB("---\n---\nbody\n"),
        [Like("runbooks/rb.md:")],
        id="runbook-empty-front-matter-silently-ignored",
    ),
    pytest.param(
        RB("---\n# title: T\n---\nbody\n"),
        [Like("runbooks/rb.md:")],
        id="runbook-comment-only-front-matter-silently-ignored",
    ),
    pytest.param(
        RB("\ufeff---\ntitle: T\nfoo: 1\n---\n"),
        ["runbooks/rb.md:3: rb.foo: unknown key"],
        id="runbook-with-byte-order-mark-has-no-front-matter",
    ),
    pytest.param(
        RB(
            ACTION + "    description: |\n      Step one\n      ---\n      Step two\n"
            "    run: [echo]\n    approval: none\n---\nbody\n"
        ),
        [],
        id="runbook-indented-dashes-end-front-matter",
    ),
]


@pytest.mark.parametrize(("files", "expected"), REGRESSIONS)
def test_regression(tmp_path: Path, files: dict[str, str], expected: list[str | Like]) -> None:
    assert problems(write(tmp_path, files)) == expected


# ---------------------------------------------------------------- the whole folder


def test_example_config_loads_without_problems() -> None:
    config = load_config(REPO)
    assert set(config.rules.teams) == {"payments", "platform"}
    assert set(config.runbooks.by_name) == {"checkout-latency-high", "disk-filling-up"}


def test_problems_in_several_files_are_all_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "rules/a.yaml": "routes:\n  - match: {a: b}\n    gruop_by: [x]\n",
            "rules/b.yaml": "# b\ndefaults:\n  flap_window: soon\n",
            "rules/c.yaml": "inhibit_rules:\n  - source: {a: b}\n    target: {c: d}\n    eq: [x]\n",
            "runbooks/one.md": "no front matter\n",
            "runbooks/two.md": "---\ntitle: T\nfoo: 1\n---\n",
        },
    )
    assert sorted(problems(tmp_path)) == [
        "rules/a.yaml:3: routes[0].gruop_by: unknown key",
        f"rules/b.yaml:3: defaults.flap_window: invalid duration 'soon': {DUR}",
        "rules/c.yaml:4: inhibit_rules[0].eq: unknown key",
        f"runbooks/one.md:1: {NO_FRONT_MATTER}",
        "runbooks/two.md:3: two.foo: unknown key",
    ]


def test_cross_reference_problems_in_several_files_are_all_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "rules/a.yaml": "routes:\n  - match: {a: b}\n    team: ghost\n",
            "rules/b.yaml": (
                "silences:\n  - {match: {a: b}, owner: eve, reason: r, ends: 2026-01-01T00:00}\n"
            ),
            "rules/c.yaml": "teams:\n  ops:\n    members:\n      bob: {slack: U99}\n",
            "runbooks/rb.md": (
                "---\ntitle: T\nactions:\n  - {name: a, run: [x], approvers: ['oncall:nope']}\n"
                "---\n"
            ),
        },
    )
    assert sorted(problems(tmp_path)) == [
        "rules/a.yaml:3: routes[0].team: no team named 'ghost'",
        "rules/b.yaml:2: silences[0].owner: 'eve' is not a member of any team",
        "rules/c.yaml:4: teams.ops.members.bob: 'bob' has Slack id 'U99' here but 'U02BOB' in "
        "team 'payments': one person, one id",
        "runbooks/rb.md:4: rb.actions[0].approvers[0]: no schedule named 'nope'",
    ]


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"rules/a.yaml": "rutes: []\n"}, id="unknown-section"),
        pytest.param({"rules/a.yaml": "routes: [\n"}, id="invalid-yaml"),
        pytest.param({"rules/a.yaml": "teams:\n  payments: {}\n"}, id="defined-twice"),
        pytest.param({"rules/a.yaml": "- a\n"}, id="top-level-list"),
    ],
)
def test_structural_problem_does_not_hide_other_files(
    tmp_path: Path, files: dict[str, str]
) -> None:
    write(tmp_path, {**files, "rules/b.yaml": "defaults:\n  flap_window: soon\n"})
    found = problems(tmp_path)
    assert any(p.startswith("rules/a.yaml:") for p in found)
    assert f"rules/b.yaml:2: defaults.flap_window: invalid duration 'soon': {DUR}" in found


DEEP = """\
# third file: its routes are routes[3] and on
routes:
  - match: {team: c}
    routes:
      - match: {env: prod}
        routes:
          - match: {severity: critical}
            routes:
              - match: {pod: x}
                flap_window: 10
              - match: {pod: y}
                gruop_by: [a]
"""

DEEP_REFS = """\
# third file: its routes are routes[3] and on
routes:
  - match: {team: c}
    routes:
      - match: {env: prod}
        routes:
          - match: {severity: critical}
            routes:
              - match: {pod: x}
                escalation: nobody
              - match: {pod: y}
                team: ghost
              - match: {pod: x}
"""


@pytest.mark.parametrize(
    ("third", "expected"),
    [
        pytest.param(
            DEEP,
            [
                "rules/30-c.yaml:10: routes[3].routes[0].routes[0].routes[0].flap_window: "
                "invalid duration 10: add a unit, like 10s or 10m",
                "rules/30-c.yaml:12: routes[3].routes[0].routes[0].routes[1].gruop_by: unknown key",
            ],
            id="schema",
        ),
        pytest.param(
            DEEP_REFS,
            [
                "rules/30-c.yaml:10: routes[3].routes[0].routes[0].routes[0].escalation: "
                "no escalation policy named 'nobody'",
                "rules/30-c.yaml:12: routes[3].routes[0].routes[0].routes[1].team: "
                "no team named 'ghost'",
                "rules/30-c.yaml:13: routes[3].routes[0].routes[0].routes[2]: never matched: "
                "routes[3].routes[0].routes[0].routes[0] has the same matchers and does not "
                "continue",
            ],
            id="cross-references",
        ),
    ],
)
def test_lines_deep_in_the_third_file(tmp_path: Path, third: str, expected: list[str]) -> None:
    write(
        tmp_path,
        {
            "rules/10-a.yaml": "routes:\n  - match: {team: a}\n",
            "rules/20-b.yaml": "\n\n\nroutes:\n  - match: {team: b}\n  - match: {team: bb}\n",
            "rules/30-c.yaml": third,
        },
    )
    assert problems(tmp_path) == expected


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    write(tmp_path, {})
    (tmp_path / "rules" / "t.yaml").write_bytes(b"routes:\n  - match: {a: caf\xe9}\n")
    assert problems(tmp_path) == [
        Like("rules/t.yaml:1: cannot read: 'utf-8' codec can't decode byte 0xe9")
    ]


def test_problem_without_field_has_no_empty_field_separator(tmp_path: Path) -> None:
    write(tmp_path, R("- a\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("rules/t.yaml", 1, "")
    assert str(problem) == "rules/t.yaml:1: the top level must be a mapping of sections"
    assert str(caught.value) == str(problem)


def test_regex_that_warns_is_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, R("routes:\n  - match_re: {env: '[[a]'}\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        problems(tmp_path)


# ---------------------------------------------------------------- the CLI


def check(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "check", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BROKEN = {
    "rules/a.yaml": (
        "routes:\n  - match: {a: b}\n    gruop_by: [x]\n  - match: {a: c}\n    flap_window: soon\n"
    ),
    "runbooks/rb.md": "no front matter\n",
}
BROKEN_LINES = [
    "rules/a.yaml:3: routes[0].gruop_by: unknown key",
    f"rules/a.yaml:5: routes[1].flap_window: invalid duration 'soon': {DUR}",
    f"runbooks/rb.md:1: {NO_FRONT_MATTER}",
]


def test_cli_check_example_config_is_ok() -> None:
    result = check("--config", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: ")
    assert result.stdout.strip() == (
        "ok: 3 routes, 2 teams, 3 schedules, 2 escalation policies, 2 runbooks"
    )


def test_cli_check_prints_one_line_per_problem(tmp_path: Path) -> None:
    result = check("--config", str(write(tmp_path, BROKEN, base=False)))
    assert result.returncode == 1
    assert result.stdout.splitlines() == BROKEN_LINES
    assert "ok:" not in result.stdout


def test_cli_check_json(tmp_path: Path) -> None:
    result = check("--config", str(write(tmp_path, BROKEN, base=False)), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["problems"][0] == {
        "file": "rules/a.yaml",
        "line": 3,
        "field": "routes[0].gruop_by",
        "message": "unknown key",
    }
    assert [
        f"{p['file']}:{p['line']}: {p['field'] + ': ' if p['field'] else ''}{p['message']}"
        for p in report["problems"]
    ] == BROKEN_LINES


def test_cli_check_json_ok() -> None:
    result = check("--config", str(REPO), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"ok": True, "problems": []}
