"""`/incident` subcommands and the incident buttons, once parsed: each checks who asks,
does the work through the bot's own services, and says what happened."""

from __future__ import annotations

import logging
from functools import partial

import orjson
from slack_sdk.errors import SlackClientError

from bot.chat.authz import Person, identify, may_respond, parse_responders
from bot.chat.context import Ctx, IncidentCommand, Refused, Reply, UsageError
from bot.chat.escape import clip_escaped, link, mrkdwn
from bot.chat.slack import parse_ref
from bot.chat.when import duration
from bot.durations import format_duration
from bot.incidents.actions import Outcome
from bot.postmortem import postmortem_markdown
from bot.postmortem.render import TemplateProblem
from bot.rules.matchers import Matcher, Op
from bot.silences import SilenceError
from bot.store import chat as db
from bot.store import queries
from bot.store.tables import Incident, NotifyCursor
from bot.store.timeline import record_event

_VERBS = {"ack": "acknowledged", "resolve": "resolved", "escalate": "escalated"}
_ICONS = {"ack": ":eyes:", "resolve": ":white_check_mark:", "escalate": ":arrow_double_up:"}
_LIST_LIMIT = 20
_STATUS_EVENTS = 6
_PREVIEW = 2500
FENCE = "`" * 3

log = logging.getLogger(__name__)


def person_of(ctx: Ctx) -> Person:
    return identify(ctx.bot.rules, ctx.caller.slack_id, ctx.caller.user_name)


def title(incident: Incident) -> str:
    return f"*INC-{incident.id}* {clip_escaped(incident.title, 150)}"


async def find(ctx: Ctx, ref: int | None) -> Incident:
    """The named incident, or the one open incident of the channel the command came from."""
    store = ctx.bot.store
    if ref is None:
        caller = ctx.caller
        found = await store.read(
            lambda s: db.open_incidents_in(s, caller.channel_id, caller.channel_name)
        )
        if not found:
            raise UsageError("which incident? No open incident here: name it, like INC-7")
        if len(found) > 1:
            named = ", ".join(f"INC-{n}" for n in found[:10])
            raise UsageError(f"which incident? {len(found)} are open here ({named}): name one")
        ref = found[0]
    number = ref
    incident = await store.read(lambda s: queries.incident(s, number))
    if incident is None:
        raise UsageError(f"there is no incident INC-{number}")
    return incident


async def require_responder(ctx: Ctx, incident: Incident, person: Person) -> None:
    paged = await ctx.bot.store.read(lambda s: db.paged_users(s, incident.id))
    responders = parse_responders(ctx.bot.settings.slack_responders)
    reason = may_respond(ctx.bot.rules, responders, person, incident.team, paged)
    if reason is not None:
        raise Refused(reason)


async def first_time(ctx: Ctx, what: str) -> bool:
    """False when Slack already delivered this very request (a retry or a redelivery)."""
    trigger = ctx.caller.trigger_id
    if not trigger:
        return True
    first, _ = await ctx.bot.store.write(
        partial(db.claim_request, key=f"{what}:{trigger}", now=ctx.bot.clock())
    )
    return first


async def forget(ctx: Ctx, what: str) -> None:
    if ctx.caller.trigger_id:
        key = f"{what}:{ctx.caller.trigger_id}"
        await ctx.bot.store.write(partial(db.release_request, key=key))


async def act(ctx: Ctx, command: IncidentCommand) -> Reply:
    """ack | resolve | escalate | note."""
    return await act_on(ctx, command.sub, await find(ctx, command.ref), command.text)


async def act_on(ctx: Ctx, action: str, incident: Incident, text: str = "") -> Reply:
    person = person_of(ctx)
    if action != "note":
        await require_responder(ctx, incident, person)
    if not await first_time(ctx, action):
        return Reply(f"Already done: Slack delivered this {action} twice. INC-{incident.id}")
    try:
        result = await ctx.bot.act(action, incident.id, person.name, text)
    except BaseException:
        await forget(ctx, action)
        raise
    if result.outcome is not Outcome.DONE:
        return Reply(mrkdwn(result.text))
    who = mrkdwn(person.name)
    if action == "note":
        return Reply(f":memo: {who} noted on {title(incident)}: {clip_escaped(text, 2500)}", True)
    return Reply(f"{_ICONS[action]} {title(incident)} {_VERBS[action]} by {who}", public=True)


async def new(ctx: Ctx, command: IncidentCommand) -> Reply:
    person = person_of(ctx)
    bot, caller = ctx.bot, ctx.caller
    team = _team_for(ctx, person)
    labels = {"severity": command.severity, **({"team": team} if team else {})}
    route = next(iter(bot.router.route(labels)), None)
    in_dm = caller.channel_name == "directmessage" or caller.channel_id.startswith("D")
    channel = (route.channel if route else None) or (None if in_dm else caller.channel_id or None)
    spec = db.ManualIncident(
        title=command.text,
        severity=command.severity,
        team=(route.team if route else None) or team,
        route=route,
        channel=channel,
        user=person.name,
    )
    key = f"new:{caller.trigger_id}" if caller.trigger_id else None
    number, _ = await bot.store.write(
        partial(db.open_incident, spec=spec, now=bot.clock(), key=key)
    )
    bot.dispatcher.wake()
    await bot.escalation_tick()  # page now, not at the next tick
    team_text = f" for team {mrkdwn(spec.team)}" if spec.team else ""
    return Reply(
        f":rotating_light: {mrkdwn(person.name)} opened *INC-{number}* "
        f"{clip_escaped(command.text, 200)} ({mrkdwn(command.severity)}){team_text}",
        public=True,
    )


def _team_for(ctx: Ctx, person: Person) -> str | None:
    """The team whose channel this is, else the caller's first team."""
    caller, teams = ctx.caller, ctx.bot.rules.teams
    here = {caller.channel_id, f"#{caller.channel_name}", caller.channel_name} - {"", "#"}
    for name, team in teams.items():
        if team.channel and team.channel in here:
            return name
    for name, team in teams.items():
        if person.member in team.members:
            return name
    return None


async def listing(ctx: Ctx, command: IncidentCommand) -> Reply:
    rows = await ctx.bot.store.read(
        lambda s: queries.incidents(s, open_only=not command.all, limit=_LIST_LIMIT)
    )
    if not rows:
        return Reply("No open incidents. :tada:" if not command.all else "No incidents yet.")
    lines = [
        f"{title(r)} · {r.state} · {mrkdwn(r.severity)} · team {mrkdwn(r.team or '-')} · "
        f"{r.firing_count}/{r.alert_count} firing"
        for r in rows
    ]
    head = "Open incidents" if not command.all else f"The latest {len(rows)} incidents"
    return Reply(f"*{head}*\n" + "\n".join(lines))


async def status(ctx: Ctx, command: IncidentCommand) -> Reply:
    incident = await find(ctx, command.ref)
    number = incident.id
    events = await ctx.bot.store.read(lambda s: queries.timeline(s, number))
    lines = [
        f"{title(incident)}",
        f"*{incident.state}* · severity {mrkdwn(incident.severity)} · team "
        f"{mrkdwn(incident.team or '-')} · {incident.firing_count} firing, "
        f"{incident.alert_count - incident.firing_count} resolved · opened "
        f"{incident.created_at:%Y-%m-%d %H:%M} UTC",
    ]
    for event in list(events)[-_STATUS_EVENTS:]:
        lines.append(f"• {event.at:%H:%M} {mrkdwn(event.actor)}: {clip_escaped(event.text, 300)}")
    return Reply("\n".join(lines))


async def silence(ctx: Ctx, command: IncidentCommand) -> Reply:
    assert command.duration is not None
    return await silence_incident(
        ctx, await find(ctx, command.ref), format_duration(command.duration)
    )


async def silence_incident(ctx: Ctx, incident: Incident, length: str) -> Reply:
    """Silences the alerts of the incident's group (its group labels) for `length`."""
    person = person_of(ctx)
    await require_responder(ctx, incident, person)
    labels: dict[str, str] = orjson.loads(incident.group_labels)
    if not labels:
        raise UsageError(f"INC-{incident.id} has no group labels to silence by")
    if not await first_time(ctx, "silence"):
        return Reply(f"Already done: Slack delivered this silence twice. INC-{incident.id}")
    bot = ctx.bot
    now = bot.clock()
    ends = now + duration(length)
    try:
        silence_id = await bot.silences.add(
            matchers=[Matcher.make(k, Op.EQ, v) for k, v in sorted(labels.items())],
            ends_at=ends,
            owner=person.name,
            reason=f"INC-{incident.id} silenced from Slack",
            created_by=person.name,
        )
    except SilenceError as exc:
        await forget(ctx, "silence")
        raise UsageError(str(exc)) from None
    except BaseException:
        await forget(ctx, "silence")
        raise
    matchers = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    text = f"Silenced for {length} by {person.name} (silence {silence_id}: {matchers})"
    await bot.store.write(
        partial(
            record_event,
            number=incident.id,
            now=now,
            kind="silenced",
            actor=person.name,
            text=text,
            data={"silence": silence_id, "until": ends.isoformat(), "labels": labels},
        )
    )
    bot.dispatcher.wake()
    await bot.remute()  # mute the stored alerts now, not at the next pass
    return Reply(
        f":mute: {title(incident)} silenced for {mrkdwn(length)} by {mrkdwn(person.name)} "
        f"(silence {silence_id}, until {ends:%Y-%m-%d %H:%M} UTC)",
        public=True,
    )


async def postmortem(ctx: Ctx, command: IncidentCommand) -> Reply:
    """The draft goes to the incident's thread as a file (where the responders look the
    morning after); the asker also gets links to the rendered draft and its first lines."""
    incident = await find(ctx, command.ref)
    try:
        draft = await postmortem_markdown(ctx.bot, incident.id)
    except TemplateProblem as exc:
        return Reply(f":warning: The post-mortem template is broken: {mrkdwn(str(exc))}")
    url = f"{ctx.bot.settings.base_url}/incidents/{incident.id}/postmortem"
    links = f"{link(url, 'Markdown')} · {link(url + '?format=html', 'page')}"
    preview = clip_escaped(draft.replace(FENCE, "'" * 3), _PREVIEW)
    posted = await _upload_to_thread(ctx, incident, draft)
    return Reply(
        f":page_facing_up: Post-mortem draft of {title(incident)}: {links}\n{FENCE}{preview}{FENCE}"
        f"\n{posted}"
    )


async def _upload_to_thread(ctx: Ctx, incident: Incident, draft: str) -> str:
    ref = await ctx.bot.store.read(lambda s: s.get(NotifyCursor, incident.id))
    thread = parse_ref(ref.message_ref if ref else None)
    if thread is None:
        return "The incident has no Slack message yet, so the draft was not posted."
    channel, ts = thread
    try:
        await ctx.client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            content=draft,
            filename=f"INC-{incident.id}-postmortem.md",
            title=f"Post-mortem draft of INC-{incident.id}",
        )
    except SlackClientError as exc:
        log.warning("post-mortem upload for INC-%d failed: %s", incident.id, exc)
        return f"Posting it to the incident's thread failed ({mrkdwn(str(exc))[:200]})."
    return "Posted to the incident's thread as a file."
