"""`pagerbot check`: validate rules/ and runbooks/ like a linter, for CI and editors."""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import load_config
from bot.rules import ConfigError, Problem


def run(config_dir: Path, *, as_json: bool) -> int:
    problems: list[Problem] = []
    summary = ""
    try:
        config = load_config(config_dir)
    except ConfigError as exc:
        problems = exc.problems
    else:
        rules = config.rules
        summary = (
            f"ok: {len(config.router.walk())} routes, {len(rules.teams)} teams, "
            f"{len(rules.schedules)} schedules, {len(rules.escalation_policies)} escalation "
            f"policies, {len(config.runbooks.by_name)} runbooks"
        )
    if as_json:
        print(
            json.dumps(
                {
                    "ok": not problems,
                    "problems": [
                        {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                        for p in problems
                    ],
                },
                indent=2,
            )
        )
    else:
        for problem in problems:
            print(problem)
        if summary:
            print(summary)
    return 1 if problems else 0
