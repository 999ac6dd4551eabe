"""Turns an action definition and an incident into the exact argument list or HTTP request
that will be shown, approved and run. Alert data reaches it only through values that
matched their `params` pattern; anything else refuses the whole action."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.runbooks.model import Action

MAX_VALUE = 4096  # characters per parameter value, whatever its pattern allows
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SOURCES = ("labels", "annotations")
_SECRET = "\x00env:{}\x00"  # placeholder for an environment value, filled in only at run time
_SECRET_RE = re.compile("\x00env:([A-Za-z_][A-Za-z0-9_]*)\x00")


class RenderError(ValueError):
    """The action cannot be rendered for this incident; the message names the parameter."""


@dataclass(frozen=True)
class Rendered:
    """What runs. Environment values in HTTP headers stay placeholders until run time, so
    secrets are never shown, stored or logged."""

    kind: Literal["run", "http"]
    argv: tuple[str, ...] = ()
    method: str = ""
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def to_json(self) -> str:
        if self.kind == "run":
            return json.dumps({"kind": "run", "argv": list(self.argv)})
        return json.dumps(
            {
                "kind": "http",
                "method": self.method,
                "url": self.url,
                "headers": self.headers,
                "body": self.body,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Rendered:
        data = json.loads(text)
        if data["kind"] == "run":
            return cls("run", argv=tuple(data["argv"]))
        return cls(
            "http",
            method=data["method"],
            url=data["url"],
            headers=dict(data["headers"]),
            body=data["body"],
        )

    def describe(self) -> str:
        """Exactly what will happen, in a form a person can check before approving."""
        if self.kind == "run":
            return f"exec {shlex.join(self.argv)}\nargv {json.dumps(list(self.argv))}"
        lines = [f"{self.method} {self.url}"]
        lines += [f"{k}: {_show_secrets(v)}" for k, v in self.headers.items()]
        if self.body is not None:
            lines.append(json.dumps(self.body, indent=2, ensure_ascii=False))
        return "\n".join(lines)

    def headers_with_secrets(self, environ: Mapping[str, str]) -> dict[str, str]:
        def fill(found: re.Match[str]) -> str:
            return environ.get(found[1], "")

        return {k: _SECRET_RE.sub(fill, v) for k, v in self.headers.items()}


def _show_secrets(value: str) -> str:
    return _SECRET_RE.sub(lambda m: f"${{{m[1]}}}", value)


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def references(env: ImmutableSandboxedEnvironment, template: str) -> set[tuple[str, str]]:
    """(source, name) pairs such as ("labels", "namespace") that a template reads."""
    found: set[tuple[str, str]] = set()
    for node in env.parse(template).find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        base = node.node
        if not (isinstance(base, nodes.Name) and base.name in _SOURCES):
            continue
        if isinstance(node, nodes.Getattr):
            found.add((base.name, node.attr))
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add((base.name, node.arg.value))
    return found


def check_value(name: str, value: str, pattern: str) -> None:
    """Refuse a value that could change the command's meaning, naming the parameter."""
    shown = value if len(value) <= 60 else value[:57] + "..."
    if len(value) > MAX_VALUE:
        raise RenderError(f"parameter {name}: value is {len(value)} characters (max {MAX_VALUE})")
    if _CONTROL.search(value):
        raise RenderError(f"parameter {name}: value {shown!r} contains a control character")
    if value.startswith("-"):
        raise RenderError(
            f"parameter {name}: value {shown!r} starts with '-' and could be read as an option"
        )
    if re.fullmatch(pattern, value) is None:
        raise RenderError(f"parameter {name}: value {shown!r} does not match {pattern}")


def incident_context(number: int, state: str, team: str | None) -> dict[str, Any]:
    """Only fields the configuration decides: titles and severities come from alert text."""
    return {"id": number, "ref": f"INC-{number}", "state": state, "team": team or ""}


def render(
    action: Action,
    *,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    incident: Mapping[str, Any],
) -> Rendered:
    env = _environment()
    sources = {"labels": labels, "annotations": annotations}
    checked: dict[str, dict[str, str]] = {"labels": {}, "annotations": {}}
    for template in action.templates():
        for source, name in sorted(references(env, template)):
            pattern = action.params.get(name)
            if pattern is None:
                raise RenderError(f"template {template!r}: {source}.{name} has no pattern")
            value = sources[source].get(name)
            if value is None:
                raise RenderError(
                    f"parameter {name}: the incident has no {source[:-1]} {name!r} "
                    "(or its alerts disagree on it)"
                )
            check_value(name, value, pattern)
            checked[source][name] = value
    secrets = {name: _SECRET.format(name) for name in action.env}
    context = {**checked, "incident": dict(incident)}

    def one(template: str, *, allow_secrets: bool = False) -> str:
        try:
            extra = {"env": secrets} if allow_secrets else {}
            return env.from_string(template).render(**context, **extra)
        except TemplateError as exc:
            raise RenderError(f"template {template!r}: {exc}") from None

    if action.run is not None:
        argv = tuple(one(t) for t in action.run)
        if not argv[0]:
            raise RenderError("the command (first element of run) renders empty")
        return Rendered("run", argv=argv)
    assert action.http is not None
    url = one(action.http.url)
    if not re.match(r"https?://[^/\s]+", url):
        raise RenderError(f"url {url!r} is not an http(s) URL")
    headers = {k: one(v, allow_secrets=True) for k, v in action.http.headers.items()}
    return Rendered(
        "http",
        method=action.http.method,
        url=url,
        headers=headers,
        body=_walk(action.http.json_, one),
    )


def _walk(value: Any, one: Any) -> Any:
    if isinstance(value, str):
        return one(value)
    if isinstance(value, dict):
        return {k: _walk(v, one) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, one) for v in value]
    return value


def common(maps: list[dict[str, str]]) -> dict[str, str]:
    """Pairs every map agrees on, like Alertmanager's commonLabels: an action acts on what
    the whole incident shares, never on one alert picked at random."""
    if not maps:
        return {}
    out = dict(maps[0])
    for other in maps[1:]:
        out = {k: v for k, v in out.items() if other.get(k) == v}
    return out
