"""Who may do what from Slack. Identity is the Slack user id of the verified request,
mapped to a member of `teams` by their `slack` id; nothing typed in a message counts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.rules.model import RulesConfig

RESPONDER_KINDS = ("team", "paged", "anyone")


@dataclass(frozen=True, slots=True)
class Person:
    slack_id: str
    member: str | None  # the name in `teams`, when the Slack id is one of ours
    user_name: str = ""

    @property
    def name(self) -> str:
        """For the timeline: the member name, else the Slack handle, else the id."""
        return self.member or self.user_name or self.slack_id


def identify(rules: RulesConfig, slack_id: str, user_name: str = "") -> Person:
    for name, member in rules.users().items():
        if member.slack and member.slack == slack_id:
            return Person(slack_id, name, user_name)
    return Person(slack_id, None, user_name)


def member_by_slack_id(rules: RulesConfig, slack_id: str) -> str | None:
    return identify(rules, slack_id).member


def parse_responders(text: str) -> frozenset[str]:
    kinds = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = kinds - set(RESPONDER_KINDS)
    if unknown or not kinds:
        raise ValueError(
            f"slack_responders {text!r}: use a comma list of {', '.join(RESPONDER_KINDS)}"
        )
    return kinds


def may_respond(
    rules: RulesConfig,
    responders: Collection[str],
    person: Person,
    team: str | None,
    paged: Collection[str],
) -> str | None:
    """None when `person` may ack, resolve, escalate or silence the incident; otherwise
    the reason, said to them."""
    if "anyone" in responders:
        return None
    if "paged" in responders and person.member is not None and person.member in paged:
        return None
    if "team" in responders:
        owner = rules.teams.get(team or "")
        if owner is not None and person.member in owner.members:
            return None
        if owner is None and person.member is not None:
            return None  # no owning team: any member of any team may respond
    allowed = [
        {"team": f"members of team {team}" if team else "team members", "paged": "people paged"}[k]
        for k in sorted(responders)
    ]
    who = f"your Slack account ({person.slack_id}) is not a member in the config"
    if person.member is not None:
        who = f"{person.member} is not among them"
    return f"only {' or '.join(allowed)} may do that; {who}"


def may_change_oncall(person: Person) -> str | None:
    """On-call changes come from members only: the config says who they are."""
    if person.member is None:
        return (
            f"your Slack account ({person.slack_id}) is not a member of any team in the "
            "config, so it cannot change on-call"
        )
    return None
