"""Who may approve a run, and what the action allows, decided from the snapshot taken when
it was requested and the people the configuration names now (so leaving a team, or a
shift ending, takes approval rights away at once)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Connection

from bot.escalation.targets import stored_overrides
from bot.oncall import who_is_on_call
from bot.rules.model import RulesConfig
from bot.runbooks.model import Action

OnCall = Callable[[str], str | None]


@dataclass(frozen=True)
class Spec:
    """The parts of an action definition that govern one run, frozen at request time."""

    approval: str
    approvers: tuple[str, ...]
    self_approve: bool
    approval_timeout: float
    timeout: float
    env: tuple[str, ...]
    max_concurrent: int
    cooldown: float
    auto: bool
    auto_max_per_hour: int

    @classmethod
    def of(cls, action: Action) -> Spec:
        return cls(
            approval=action.approval,
            approvers=tuple(action.approvers),
            self_approve=action.self_approve,
            approval_timeout=action.approval_timeout.total_seconds(),
            timeout=action.timeout.total_seconds(),
            env=tuple(action.env),
            max_concurrent=action.max_concurrent,
            cooldown=action.cooldown.total_seconds(),
            auto=action.auto,
            auto_max_per_hour=action.auto_max_per_hour,
        )

    @property
    def approvals_needed(self) -> int:
        return {"none": 0, "required": 1, "two": 2}[self.approval]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Spec:
        data = json.loads(text)
        data["approvers"] = tuple(data["approvers"])
        data["env"] = tuple(data["env"])
        return cls(**data)


def oncall_now(conn: Connection, rules: RulesConfig, now: datetime) -> OnCall:
    overrides = stored_overrides(conn, now)

    def who(schedule: str) -> str | None:
        found = rules.schedules.get(schedule)
        if found is None:
            return None
        shift = who_is_on_call(found, now, overrides.get(schedule, ()))
        return shift.user if shift else None

    return who


def allowed_by(approvers: tuple[str, ...], user: str, rules: RulesConfig, oncall: OnCall) -> str:
    """The approver entry that admits `user` ("" if none does)."""
    for entry in approvers:
        kind, _, name = entry.partition(":")
        if kind == "user" and name == user:
            return entry
        if kind == "team" and user in (rules.teams[name].members if name in rules.teams else {}):
            return entry
        if kind == "oncall" and oncall(name) == user:
            return entry
    return ""


def approval_refusal(
    spec: Spec,
    *,
    user: str,
    requested_by: str,
    already: list[str],
    rules: RulesConfig,
    oncall: OnCall,
) -> str | None:
    """Why `user` may not approve now, or None when they may."""
    if user == requested_by and not spec.self_approve:
        return f"{user} requested this run; someone else among {_list(spec)} must approve it"
    if user in already:
        return f"{user} already approved; it needs a second, different approver"
    if not allowed_by(spec.approvers, user, rules, oncall):
        return f"{user} may not approve this action (approvers: {_list(spec)})"
    return None


def _list(spec: Spec) -> str:
    return ", ".join(spec.approvers) or "nobody"
