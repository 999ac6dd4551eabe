"""`pagerbot check`: validate rules/ and runbooks/ like a linter, for CI and editors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bot.config import load_config
from bot.oncall import lint as coverage
from bot.rules import ConfigError, Problem


def run(config_dir: Path, *, as_json: bool, now: datetime | None = None) -> int:
    problems: list[Problem] = []
    warnings: list[Problem] = []
    summary = ""
    try:
        config = load_config(config_dir)
    except ConfigError as exc:
        problems = exc.problems
    else:
        for finding in coverage.lint(config.rules, config.router, now or datetime.now(UTC)):
            found = config.locator.problem(finding.loc, finding.message)
            (warnings if finding.warning else problems).append(found)
        rules = config.rules
        summary = (
            f"ok: {len(config.router.walk())} routes, {len(rules.teams)} teams, "
            f"{len(rules.schedules)} schedules, {len(rules.escalation_policies)} escalation "
            f"policies, {len(config.runbooks.by_name)} runbooks"
        )
    if as_json:
        report: dict[str, object] = {"ok": not problems, "problems": _dicts(problems)}
        if warnings:
            report["warnings"] = _dicts(warnings)
        print(json.dumps(report, indent=2))
    else:
        for problem in problems:
            print(problem)
        for warning in warnings:
            print(f"{warning.file}:{warning.line}: warning: {warning.field}: {warning.message}")
        if summary and not problems:
            print(summary)
    return 1 if problems else 0


def _dicts(problems: list[Problem]) -> list[dict[str, object]]:
    return [
        {"file": p.file, "line": p.line, "field": p.field, "message": p.message} for p in problems
    ]
