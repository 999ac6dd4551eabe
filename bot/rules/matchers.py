"""Label matchers, as Alertmanager writes them: `team="payments"`, `env=~"prod|stage"`,
`severity!="info"`, `pod!~"canary-.*"`. Regexes are anchored, as in Alertmanager."""

from __future__ import annotations

import enum
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

_MATCHER = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)\s*(?P<op>=~|!~|!=|=)\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]*)\s*$'
)


def compile_regex(value: str) -> re.Pattern[str]:
    with warnings.catch_warnings():
        # "Possible nested set" and the like: valid today, and a warning turned into an
        # error (python -W error) must not crash a config load.
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(value)


class Op(enum.StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = None

    @classmethod
    def make(cls, name: str, op: Op, value: str) -> Matcher:
        pattern = None
        if op in (Op.RE, Op.NRE):
            try:
                pattern = compile_regex(value)
            except (re.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"bad regex {value!r} for {name}: {exc}") from None
        return cls(name, op, value, pattern)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`name="value"` and friends; raise ValueError saying what form is accepted."""
        found = _MATCHER.match(text)
        if found is None:
            raise ValueError(
                f'bad matcher {text!r}: write it like team="payments", env=~"prod|stage", '
                'severity!="info" or pod!~"canary-.*"'
            )
        value = found["value"]
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        return cls.make(found["name"], Op(found["op"]), value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        # A missing label matches as the empty string, as in Alertmanager.
        got = labels.get(self.name, "")
        if self.op is Op.EQ:
            return got == self.value
        if self.op is Op.NE:
            return got != self.value
        assert self.pattern is not None
        hit = self.pattern.fullmatch(got) is not None
        return hit if self.op is Op.RE else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op.value}"{escaped}"'


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    # A plain loop: every route and mute decision runs this, and all() over a generator
    # costs a third more.
    for matcher in matchers:  # noqa: SIM110
        if not matcher.matches(labels):
            return False
    return True


def render(matchers: tuple[Matcher, ...]) -> str:
    return "{" + ",".join(str(m) for m in matchers) + "}"


def check_matcher_strings(texts: list[str]) -> list[str]:
    """Parse each; a bad one in a longer list is reported with its index, so the error
    points at its own line."""
    for i, text in enumerate(texts):
        try:
            Matcher.parse(text)
        except ValueError as exc:
            if len(texts) == 1:
                raise
            error = PydanticCustomError("value_error", "{message}", {"message": str(exc)})
            raise ValidationError.from_exception_data(
                "matchers", [InitErrorDetails(type=error, loc=(i,), input=text)]
            ) from None
    return texts
