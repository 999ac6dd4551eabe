"""Runbook front matter. Remediation actions touch production, so their definitions are
checked hard: argument lists only, and every templated value bound to a pattern."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import Field, field_validator, model_validator

from bot.durations import Duration
from bot.rules.matchers import Matcher, Op
from bot.rules.model import Matching, Name, Strict

TEMPLATES = ImmutableSandboxedEnvironment(autoescape=False)
_SOURCES = ("labels", "annotations")


def referenced_values(template: str) -> set[str]:
    """Names used as `labels.X`, `labels["X"]`, `annotations.X` in a template."""
    tree = TEMPLATES.parse(template)
    found: set[str] = set()
    bases: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        base = node.node
        if isinstance(base, nodes.Name) and base.name in _SOURCES:
            bases.add(id(base))
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add(node.arg.value)
            else:
                found.add("*")  # a computed key: cannot be bound to a pattern
    for name in tree.find_all(nodes.Name):
        if name.name in _SOURCES and id(name) not in bases:
            found.add("")  # the whole mapping, e.g. {{ labels }}: no pattern can bind it
    return found


class HttpRequest(Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")

    def templates(self) -> list[str]:
        out = [self.url, *self.headers.values()]

        def walk(value: Any) -> None:
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(self.json_)
        return out


class Action(Strict):
    name: Name
    description: str = ""
    run: list[str] | None = Field(
        default=None, min_length=1, description="argument list; never run through a shell"
    )
    http: HttpRequest | None = None
    params: dict[str, str] = Field(
        default_factory=dict, description="anchored regex per templated label/annotation"
    )
    approvers: list[str] = Field(default_factory=list)
    approval: Literal["required", "two", "none"] = "required"
    approval_timeout: Duration = Field(
        default=timedelta(minutes=15), description="a request not approved by then expires"
    )
    self_approve: bool = Field(
        default=False, description="the requester may count as one of the approvers"
    )
    timeout: Duration = timedelta(seconds=60)
    env: list[str] = Field(
        default_factory=list, description="environment variable names passed through"
    )
    max_concurrent: int = Field(default=1, ge=1)
    cooldown: Duration = timedelta(0)
    auto: bool = False
    auto_max_per_hour: int = Field(default=3, ge=1)

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"(team|user|oncall):[A-Za-z0-9][A-Za-z0-9_.\-]*", item):
                raise ValueError(
                    f"approver {item!r}: write team:NAME, user:NAME or oncall:SCHEDULE"
                )
        return value

    @field_validator("params")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            Matcher.make(name, Op.RE, pattern)
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"env {name!r} is not a variable name")
        return value

    def templates(self) -> list[str]:
        return list(self.run or []) + (self.http.templates() if self.http else [])

    @model_validator(mode="after")
    def _safe(self) -> Action:
        if (self.run is None) == (self.http is None):
            raise ValueError("an action needs exactly one of run (argument list) or http")
        if self.auto and self.approval != "none":
            raise ValueError("auto: true is only allowed with approval: none")
        if self.approval != "none" and not self.approvers:
            raise ValueError(f"approval: {self.approval} needs approvers")
        for template in self.templates():
            try:
                used = referenced_values(template)
            except TemplateSyntaxError as exc:
                raise ValueError(f"template {template!r}: {exc.message}") from None
            if "*" in used or "" in used:
                raise ValueError(
                    f"template {template!r}: use labels.NAME with a fixed name, so its value "
                    "can be checked against params"
                )
            unbound = sorted(used - self.params.keys())
            if unbound:
                raise ValueError(
                    f"template {template!r} uses {', '.join(unbound)} without a pattern in "
                    f'params (add e.g. params: {{{unbound[0]}: "^[a-z0-9-]{{1,63}}$"}})'
                )
        return self


class Runbook(Matching):
    title: str = Field(min_length=1)
    actions: list[Action] = Field(default_factory=list)
    owner: str | None = None

    @model_validator(mode="after")
    def _unique(self) -> Runbook:
        names = [a.name for a in self.actions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"action names must be unique: {', '.join(dupes)}")
        return self
