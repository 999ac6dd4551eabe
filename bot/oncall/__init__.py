"""On-call: who covers an instant, and the overrides people add.

`rotation` (with `layers` and `localtime`) is pure time arithmetic, exhaustively tested
across DST changes; `fairness` and `report` sum the load per person; `status`, `ical`,
`handoff` and `lint` present it; `writeback` stores overrides.
"""

from bot.oncall.fairness import Fairness, hours_report
from bot.oncall.rotation import (
    AnyOverride,
    DbOverride,
    Shift,
    final_shifts,
    gaps,
    layer_on_call,
    layer_shifts,
    next_handoff,
    who_is_on_call,
)

__all__ = [
    "AnyOverride",
    "DbOverride",
    "Fairness",
    "Shift",
    "final_shifts",
    "gaps",
    "hours_report",
    "layer_on_call",
    "layer_shifts",
    "next_handoff",
    "who_is_on_call",
]
