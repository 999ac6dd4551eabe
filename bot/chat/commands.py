"""Slash command text → what to do, then who does it. Parsing is pure: every form (and
every mistake) is testable with plain strings; `run_incident` / `run_oncall` hand the
parsed command to its handler and turn mistakes into a reply with the usage."""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Awaitable, Callable

from bot.chat import incident_handlers as inc
from bot.chat import oncall_handlers as onc
from bot.chat.context import (
    DEFAULT_SEVERITY,
    Ctx,
    IncidentCommand,
    OncallCommand,
    Refused,
    Reply,
    UsageError,
)
from bot.chat.escape import mrkdwn
from bot.chat.when import duration, is_duration
from bot.remediation import slack as remediation_slack
from bot.store import StoreUnavailable
from bot.store.queries import parse_incident_ref

log = logging.getLogger(__name__)

SEVERITIES = {
    "critical",
    "high",
    "error",
    "warning",
    "warn",
    "medium",
    "low",
    "info",
    *(f"p{n}" for n in range(1, 6)),
    *(f"sev{n}" for n in range(1, 6)),
}
_REF = re.compile(r"^(?:INC-|#)?\d+$", re.IGNORECASE)
_PREFIXED_REF = re.compile(r"^(?:INC-|#)\d+$", re.IGNORECASE)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")

INCIDENT_USAGE = """\
`{cmd} new <title> [severity]` open an incident by hand (severity: critical, warning, info…)
`{cmd} list [all]` open incidents (or the latest, resolved too)
`{cmd} status [INC-7]` state, counts and the latest of the timeline
`{cmd} ack [INC-7]` · `{cmd} resolve [INC-7]` · `{cmd} escalate [INC-7]`
`{cmd} note [INC-7] <text>` add a note to the timeline (write `INC-7`, not `7`, before a note)
`{cmd} silence <duration> [INC-7]` silence the incident's alerts, e.g. `silence 1h`
`{cmd} postmortem [INC-7]` the post-mortem draft
`{cmd} run <action> [INC-7]` a remediation action of the incident's runbook (shows what \
would run, then asks for approval)
`{cmd} help` this text
In a channel with one open incident, the incident can be left out."""

ONCALL_USAGE = """\
`{cmd} who [schedule]` who is on call now
`{cmd} schedule <name>` the next shifts of a schedule
`{cmd} override @user <from> <to>|<duration> [schedule]` put someone on call, \
e.g. `override @bob now 8h` or `override @bob 2026-12-24T18:00 2026-12-26T09:00`
`{cmd} cover <from> <to>|<duration> [schedule]` ask your teammates to take over; \
the first to accept gets the override
`{cmd} help` this text
Times: `now`, `18:00` (the next 18:00), `2026-12-24`, `2026-12-24T18:00`; \
without an offset they are in the schedule's time zone."""


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()  # an unmatched quote: take the words as they are


def parse_incident(text: str) -> IncidentCommand:
    words = _split(text)
    if not words:
        return IncidentCommand("help")
    sub, args = words[0].lower(), words[1:]
    if sub in ("help", "-h", "--help"):
        return IncidentCommand("help")
    if sub == "new":
        return _parse_new(args)
    if sub == "list":
        if args not in ([], ["all"]):
            raise UsageError("`list` takes nothing, or `all`")
        return IncidentCommand("list", all=bool(args))
    if sub in ("ack", "resolve", "status", "escalate", "postmortem"):
        if len(args) > 1 or (args and not _REF.match(args[0])):
            raise UsageError(f"`{sub}` takes an incident like INC-7, or nothing in its channel")
        return IncidentCommand(sub, ref=parse_incident_ref(args[0]) if args else None)
    if sub == "note":
        return _parse_note(text)
    if sub == "silence":
        return _parse_silence(args)
    if sub == "run":
        return _parse_run(args)
    raise UsageError(f"unknown subcommand {words[0]!r}")


def _parse_new(args: list[str]) -> IncidentCommand:
    severity = DEFAULT_SEVERITY
    if len(args) > 1 and args[-1].lower() in SEVERITIES:
        severity = args.pop().lower()
    title = " ".join(args).strip()
    if not title:
        raise UsageError("`new` needs a title, e.g. `new Checkout is down critical`")
    if len(title) > 200:
        raise UsageError(f"the title is {len(title)} characters; keep it under 200")
    return IncidentCommand("new", text=title, severity=severity)


def _parse_note(text: str) -> IncidentCommand:
    rest = text.strip()[4:].strip()  # the note as typed: no shell-style unquoting
    first, _, remainder = rest.partition(" ")
    ref = None
    if _PREFIXED_REF.match(first):
        ref, rest = parse_incident_ref(first), remainder.strip()
    if not rest:
        raise UsageError("`note` needs text, e.g. `note INC-7 rolled back the deploy`")
    return IncidentCommand("note", ref=ref, text=rest)


def _parse_silence(args: list[str]) -> IncidentCommand:
    ref, length = None, None
    for token in args:
        if length is None and is_duration(token):
            length = duration(token)
        elif ref is None and _REF.match(token):
            ref = parse_incident_ref(token)
        else:
            raise UsageError(f"unexpected {token!r}: write `silence 1h` or `silence 1h INC-7`")
    if length is None:
        raise UsageError("`silence` needs a duration, e.g. `silence 1h`")
    return IncidentCommand("silence", ref=ref, duration=length)


def _parse_run(args: list[str]) -> IncidentCommand:
    if len(args) not in (1, 2) or (len(args) == 2 and not _REF.match(args[1])):
        raise UsageError("`run` takes an action name and maybe an incident: `run restart INC-7`")
    return IncidentCommand(
        "run", ref=parse_incident_ref(args[1]) if len(args) == 2 else None, text=args[0]
    )


def parse_oncall(text: str) -> OncallCommand:
    words = _split(text)
    if not words:
        return OncallCommand("who")
    sub, args = words[0].lower(), words[1:]
    if sub in ("help", "-h", "--help"):
        return OncallCommand("help")
    if sub == "who":
        if len(args) > 1:
            raise UsageError("`who` takes at most a schedule name")
        return OncallCommand("who", schedule=args[0] if args else None)
    if sub == "schedule":
        if len(args) != 1:
            raise UsageError("`schedule` takes a schedule name, e.g. `schedule payments-primary`")
        return OncallCommand("schedule", schedule=args[0])
    if sub == "override":
        if len(args) not in (3, 4):
            raise UsageError("`override` takes @user <from> <to>|<duration> [schedule]")
        return OncallCommand(
            "override",
            user=parse_user(args[0]),
            window=(args[1], args[2]),
            schedule=args[3] if len(args) == 4 else None,
        )
    if sub == "cover":
        if len(args) not in (2, 3):
            raise UsageError("`cover` takes <from> <to>|<duration> [schedule]")
        return OncallCommand(
            "cover", window=(args[0], args[1]), schedule=args[2] if len(args) == 3 else None
        )
    raise UsageError(f"unknown subcommand {words[0]!r}")


def parse_user(token: str) -> str:
    """`<@U123|bob>` (Slack's escaped mention) → `U123`; `@bob` or `bob` → `bob`."""
    found = _MENTION.match(token)
    if found:
        return found[1]
    name = token.removeprefix("@")
    if not name:
        raise UsageError("name a person, like `@bob`")
    return name


IncidentHandler = Callable[[Ctx, IncidentCommand], Awaitable[Reply]]
OncallHandler = Callable[[Ctx, OncallCommand], Awaitable[Reply]]

INCIDENT_HANDLERS: dict[str, IncidentHandler] = {
    "new": inc.new,
    "list": inc.listing,
    "status": inc.status,
    "ack": inc.act,
    "resolve": inc.act,
    "escalate": inc.act,
    "note": inc.act,
    "silence": inc.silence,
    "postmortem": inc.postmortem,
    "run": remediation_slack.incident_run,
}
ONCALL_HANDLERS: dict[str, OncallHandler] = {
    "who": onc.who,
    "schedule": onc.schedule,
    "override": onc.override,
    "cover": onc.cover,
}


async def guarded(work: Awaitable[Reply], usage: str = "") -> Reply:
    """Every failure becomes a reply to the person who asked: what was wrong, and how
    to write it (usage) when they can fix it."""
    try:
        return await work
    except UsageError as exc:
        return Reply(f":warning: {mrkdwn(str(exc))}" + (f"\n{usage}" if usage else ""))
    except Refused as exc:
        return Reply(f":no_entry: {mrkdwn(str(exc))}")
    except StoreUnavailable:
        return Reply(":warning: The database is unavailable right now; try again in a minute.")
    except Exception as exc:
        log.exception("Slack request failed")
        return Reply(
            f":warning: That failed ({mrkdwn(type(exc).__name__)}); the bot's log says more."
        )


async def _incident(ctx: Ctx, text: str, usage: str) -> Reply:
    command = parse_incident(text)
    if command.sub == "help":
        return Reply(usage)
    return await INCIDENT_HANDLERS[command.sub](ctx, command)


async def _oncall(ctx: Ctx, text: str, usage: str) -> Reply:
    command = parse_oncall(text)
    if command.sub == "help":
        return Reply(usage)
    return await ONCALL_HANDLERS[command.sub](ctx, command)


async def run_incident(ctx: Ctx, text: str) -> Reply:
    usage = INCIDENT_USAGE.format(cmd=ctx.bot.settings.slack_incident_command)
    return await guarded(_incident(ctx, text, usage), usage)


async def run_oncall(ctx: Ctx, text: str) -> Reply:
    usage = ONCALL_USAGE.format(cmd=ctx.bot.settings.slack_oncall_command)
    return await guarded(_oncall(ctx, text, usage), usage)
