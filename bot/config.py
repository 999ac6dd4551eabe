"""The whole behaviour configuration: rules/ and runbooks/, loaded and cross-checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.rules import ConfigError, Problem, Router, RulesConfig
from bot.rules.crossref import check_approvers, check_rules
from bot.rules.loader import Locator, load_rules_located
from bot.runbooks.loader import Runbooks, load_runbooks


@dataclass(frozen=True)
class Config:
    rules: RulesConfig
    runbooks: Runbooks
    router: Router
    locator: Locator

    def where(self, loc: tuple[object, ...]) -> str:
        """`file:line` of a config path such as ("routes", 0, "routes", 1)."""
        problem = self.locator.problem(loc, "")
        return f"{problem.file}:{problem.line}"


def load_config(config_dir: Path) -> Config:
    """Everything under rules/ and runbooks/, or ConfigError with every problem found."""
    problems: list[Problem] = []
    try:
        rules, locator = load_rules_located(config_dir)
    except ConfigError as exc:
        problems.extend(exc.problems)
        rules, locator = None, None
    runbooks = load_runbooks(config_dir, problems)
    if rules is not None and locator is not None:
        for loc, message in check_rules(rules, set(runbooks.by_name)):
            problems.append(locator.problem(loc, message))
        for name, book in runbooks.by_name.items():
            for a, action in enumerate(book.meta.actions):
                for i, message in check_approvers(action.approvers, rules):
                    loc = (name, "actions", a, "approvers", i)
                    problems.append(runbooks.locator.problem(loc, message))
    if problems:
        raise ConfigError(problems)
    assert rules is not None and locator is not None
    return Config(rules, runbooks, Router(rules), locator)
