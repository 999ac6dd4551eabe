"""Durations written like Alertmanager's (`30s`, `10m`, `1h30m`, `1d`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_RE = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?"
    r"(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$"
)
_UNITS_MS = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1_000,
    "ms": 1,
}
# Far beyond any useful timeout, yet small enough that a policy repeated 100 times still
# lands on a representable date.
_MAX_TEXT = "10y"
_MAX_MS = 10 * _UNITS_MS["y"]


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`; raise ValueError with the accepted form on anything else."""
    match = _RE.match(text.strip()) if text.strip() not in ("", "0") else None
    if text.strip() == "0":
        return timedelta(0)
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"invalid duration {text!r}: write it like 30s, 10m, 1h30m or 2d")
    ms = sum(int(v) * _UNITS_MS[k] for k, v in match.groupdict().items() if v)
    if ms > _MAX_MS:
        raise ValueError(f"invalid duration {text!r}: at most {_MAX_TEXT}")
    return timedelta(milliseconds=ms)


def format_duration(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: write it like 30s, 10m, 1h30m or 2d")
    if isinstance(value, int | float):
        raise ValueError(f"invalid duration {value!r}: add a unit, like {value}s or {value}m")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration),
    WithJsonSchema(
        {"type": "string", "pattern": r"^(\d+(y|w|d|h|m|s|ms))+$|^0$", "examples": ["30s", "1h30m"]}
    ),
]
