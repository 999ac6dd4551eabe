"""Loads every YAML file under rules/ into one `RulesConfig`.

Problems are reported as `file:line: field: message` with the line taken from the
YAML parser, so an operator can jump straight to the mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.rules.model import RulesConfig

MAPPING_SECTIONS = ("defaults", "teams", "schedules", "escalation_policies")
LIST_SECTIONS = ("routes", "inhibit_rules", "maintenance_windows", "silences")
# Keys the model adds that the YAML may leave out: an escalation policy written as a bare
# list of steps is read as {steps: [...]}.
IMPLIED_KEYS = frozenset({"steps"})


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(slots=True)
class _Origin:
    file: str
    parent: Any  # the ruamel container holding the entry
    key: Any  # its key (mapping) or index (sequence) in `parent`
    offset: int = 0  # lines before the YAML starts (front matter)


class Locator:
    """Maps a field path like ("routes", 3, "group_by") back to file and line."""

    def __init__(self) -> None:
        self.origins: dict[tuple[Any, Any], _Origin] = {}
        self.roots: dict[Any, Problem] = {}  # whole-document problems: where to point

    def add(self, head: tuple[Any, Any], origin: _Origin) -> None:
        self.origins[head] = origin

    def problem(self, loc: tuple[Any, ...], message: str) -> Problem:
        field = _field(loc)
        if len(loc) >= 2 and (loc[0], loc[1]) in self.origins:
            origin = self.origins[(loc[0], loc[1])]
            return Problem(origin.file, _locate(origin, loc[2:]) + origin.offset, field, message)
        if loc and loc[0] in self.roots:
            root = self.roots[loc[0]]
            return Problem(root.file, root.line, field, message)
        any_origin = next(iter(self.origins.values()), None)
        return Problem(any_origin.file if any_origin else "rules/", 1, field, message)

    def from_validation(self, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[Problem]:
        out = []
        for err in exc.errors(include_url=False):
            message = str(err["msg"]).removeprefix("Value error, ")
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            if loc and loc[-1] == "[key]":  # a mapping key, like a team's name
                loc = loc[:-1]
                if err["type"] == "string_type":
                    message = f"name {err['input']!r} must be text, like payments"
            out.append(self.problem((*prefix, *loc), message))
        return out


def _line_of(parent: Any, key: Any) -> int:
    try:
        if isinstance(parent, CommentedMap):
            return int(parent.lc.key(key)[0]) + 1
        if isinstance(parent, CommentedSeq):
            return int(parent.lc.item(key)[0]) + 1
    except (KeyError, IndexError, TypeError):
        pass
    return int(getattr(getattr(parent, "lc", None), "line", 0) or 0) + 1


def _locate(origin: _Origin, rest: tuple[Any, ...]) -> int:
    """The line of the deepest node of `rest` that exists below the origin entry."""
    parent, key = origin.parent, origin.key
    line = _line_of(parent, key)
    for part in rest:
        try:
            node = parent[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, CommentedSeq) and part in IMPLIED_KEYS:
            continue
        if not isinstance(node, CommentedMap | CommentedSeq):
            break
        try:
            node[part]
        except (KeyError, IndexError, TypeError):
            break
        parent, key = node, part
        line = _line_of(parent, key)
    return line


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Constructor(RoundTripConstructor):
    """Keeps an impossible date such as 2026-02-30T10:00:00 as its text, so the field that
    holds it reports the problem (with its name and line) instead of the whole file."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError:
            return str(node.value)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def _error_line(exc: MarkedYAMLError, text: str) -> int:
    """Where the problem is; at the end of the stream (an unclosed `{` or quote) the
    place that opened it says more than the end of the file."""
    mark = exc.problem_mark or exc.context_mark
    at_end = exc.problem_mark is not None and exc.problem_mark.index >= len(text.rstrip())
    if exc.context_mark is not None and at_end:
        mark = exc.context_mark
    return mark.line + 1 if mark else 1


def parse_yaml(text: str, rel: str, problems: list[Problem], offset: int = 0) -> Any:
    """Round-trip parse (keeps line numbers); a problem is reported, never raised."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        line = _error_line(exc, text)
        problems.append(Problem(rel, line + offset, "", f"invalid YAML: {exc.problem or exc}"))
    except YAMLError as exc:
        problems.append(Problem(rel, 1 + offset, "", f"invalid YAML: {exc}"))
    except (ValueError, TypeError, RecursionError) as exc:
        # ruamel raises these for a few malformed scalars (e.g. impossible dates).
        problems.append(Problem(rel, 1 + offset, "", f"invalid YAML: {exc}"))
    return None


def _read(path: Path, rel: str, problems: list[Problem]) -> CommentedMap | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(rel, 1, "", f"cannot read: {exc}"))
        return None
    data = parse_yaml(text, rel, problems)
    if data is None:
        return None
    if not isinstance(data, CommentedMap):
        problems.append(Problem(rel, 1, "", "the top level must be a mapping of sections"))
        return None
    return data


def rule_files(config_dir: Path) -> list[Path]:
    rules = config_dir / "rules"
    return sorted([*rules.rglob("*.yaml"), *rules.rglob("*.yml")])


def load_rules(config_dir: Path) -> RulesConfig:
    """Load and validate rules/ alone; raise ConfigError listing every problem found."""
    return load_rules_located(config_dir)[0]


def load_rules_located(config_dir: Path) -> tuple[RulesConfig, Locator]:
    """Load rules/ and keep where each entry came from, for later cross-checks."""
    problems: list[Problem] = []
    merged: dict[str, Any] = {}
    locator = Locator()
    origins = locator.origins
    for path in rule_files(config_dir):
        rel = str(path.relative_to(config_dir))
        data = _read(path, rel, problems)
        if data is None:
            continue
        for section, value in data.items():
            line = _line_of(data, section)
            locator.roots.setdefault(section, Problem(rel, line, "", ""))
            if section in LIST_SECTIONS:
                if not isinstance(value, CommentedSeq):
                    problems.append(Problem(rel, line, section, "must be a list"))
                    continue
                items = merged.setdefault(section, [])
                for i, item in enumerate(value):
                    origins[(section, len(items))] = _Origin(rel, value, i)
                    items.append(item)
            elif section in MAPPING_SECTIONS:
                if not isinstance(value, CommentedMap):
                    problems.append(Problem(rel, line, section, "must be a mapping"))
                    continue
                target = merged.setdefault(section, {})
                for key, item in value.items():
                    if section != "defaults" and key in target:
                        first = origins[(section, key)]
                        where = f"{first.file}:{_line_of(first.parent, first.key)}"
                        problems.append(
                            Problem(
                                rel,
                                _line_of(value, key),
                                f"{section}.{key}",
                                f"defined twice (first at {where})",
                            )
                        )
                        continue
                    origins[(section, key)] = _Origin(rel, value, key)
                    if not isinstance(key, str):  # pydantic reports the key 1.5 as "1.5"
                        origins.setdefault((section, str(key)), _Origin(rel, value, key))
                    target[key] = item
            else:
                known = ", ".join((*MAPPING_SECTIONS, *LIST_SECTIONS))
                problems.append(
                    Problem(rel, line, str(section), f"unknown section (expected one of: {known})")
                )
    try:
        config = RulesConfig.model_validate(merged)
    except ValidationError as exc:
        # Validated even after a file failed, so one run reports every file's problems.
        raise ConfigError(problems + locator.from_validation(exc)) from None
    if problems:
        raise ConfigError(problems)
    return config, locator
