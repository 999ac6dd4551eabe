"""Remediation in Slack: action button → confirmation showing the exact rendering →
approval request in the incident thread → run → output in the thread.

Identity is the verified Slack user id mapped to a member of `teams`; an unknown
account is `slack:<id>`, which no approver entry admits."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.authz import identify
from bot.chat.context import Ctx, IncidentCommand, Reply
from bot.chat.escape import clip_escaped, link, mrkdwn
from bot.chat.slack import parse_ref
from bot.remediation import Decision, RemediationError, RenderError, RunView
from bot.store.tables import NotifyCursor

if TYPE_CHECKING:
    from bot.app import Pagerbot

log = logging.getLogger(__name__)
BUTTON = re.compile(r"^remediate:(?P<name>.+)$")
OUTPUT_SHOWN = 2500  # characters of output in the thread; `pagerbot remediate show` has it all
_ICONS = {
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "timed_out": ":hourglass:",
    "interrupted": ":warning:",
    "denied": ":no_entry_sign:",
    "expired": ":zzz:",
    "refused": ":no_entry:",
    "running": ":gear:",
}


def identity(bot: Pagerbot, body: dict[str, Any]) -> str:
    slack_id = str((body.get("user") or {}).get("id") or body.get("user_id") or "")
    person = identify(bot.rules, slack_id)
    return person.member or f"slack:{slack_id}"


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        out["style"] = style
    return out


def _block(text: str, limit: int = 2800) -> str:
    return "```" + clip_escaped(text.replace("```", "'''"), limit) + "```"


def confirmation(number: int, name: str, shown: str, description: str) -> list[dict[str, Any]]:
    value = f"{number}:{name}:{fingerprint(shown)}"
    about = f" — {mrkdwn(description)}" if description else ""
    return [
        _section(f"Run *{mrkdwn(name)}* for INC-{number}{about}? Exactly this will run:"),
        _section(_block(shown)),
        {
            "type": "actions",
            "block_id": "remediation:confirm",
            "elements": [
                _button("Request", "remediation:confirm", value, "primary"),
                _button("Cancel", "remediation:cancel", value),
            ],
        },
    ]


def approval_blocks(run: RunView, *, open_: bool) -> list[dict[str, Any]]:
    approvers = ", ".join(run.spec.approvers)
    need = "two different approvers" if run.spec.approvals_needed == 2 else "one approver"
    done = ", ".join(run.approved_by) or "nobody yet"
    head = (
        f":raising_hand: {mrkdwn(run.requested_by)} asks to run *{mrkdwn(run.action)}* "
        f"(run #{run.id}); needs {need} from {mrkdwn(approvers)}. Approved by: {mrkdwn(done)}."
    )
    if not open_:
        head = f"{_ICONS.get(run.state, '')} *{mrkdwn(run.action)}* (run #{run.id}): {run.state}"
        head += f" · requested by {mrkdwn(run.requested_by)} · approved by {mrkdwn(done)}"
    blocks = [_section(head), _section(_block(run.rendered.describe()))]
    if open_:
        value = str(run.id)
        blocks.append(
            {
                "type": "actions",
                "block_id": "remediation:decide",
                "elements": [
                    _button("Approve", "remediation:approve", value, "primary"),
                    _button("Deny", "remediation:deny", value, "danger"),
                ],
            }
        )
    return blocks


def result_text(run: RunView, base_url: str) -> str:
    icon = _ICONS.get(run.state, "")
    exit_text = "no exit status" if run.exit_code is None else f"exit {run.exit_code}"
    lines = [
        f"{icon} *{mrkdwn(run.action)}* (run #{run.id}) {run.state.replace('_', ' ')}: "
        f"{exit_text} · {run.output_bytes} bytes of output · sha256 `{run.digest}`"
    ]
    if run.reason:
        lines.append(mrkdwn(run.reason))
    output = run.output or ""
    if output:
        tail = output[-OUTPUT_SHOWN:]
        cut = len(output) < run.output_bytes or len(tail) < len(output)
        lines.append(_block(tail, OUTPUT_SHOWN + 200))
        if cut:
            lines.append(f"(last part only; `pagerbot remediate show {run.id}` prints it all)")
    page = f"{base_url}/incidents/{run.incident_id}#run-{run.id}"
    lines.append(link(page, f"Output and audit of run #{run.id}"))
    return "\n".join(lines)


DENY_VIEW = "remediation:deny_reason"


def deny_view(run_id: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": DENY_VIEW,
        "private_metadata": run_id,
        "title": {"type": "plain_text", "text": f"Deny run #{run_id}"[:24]},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why? (recorded on the timeline)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 1000,
                },
            }
        ],
    }


class SlackRemediation:
    """The handlers, and the observer that tells the thread how each run went."""

    def __init__(self, bot: Pagerbot, client: AsyncWebClient) -> None:
        self.bot = bot
        self.client = client

    async def thread_of(self, number: int) -> tuple[str, str] | None:
        def read(session: Any) -> str | None:
            cursor = session.get(NotifyCursor, number)
            return cursor.message_ref if cursor else None

        return parse_ref(await self.bot.store.read(read))

    async def tell(self, body: dict[str, Any], text: str) -> None:
        channel = str((body.get("channel") or {}).get("id") or body.get("channel_id") or "")
        user = str((body.get("user") or {}).get("id") or body.get("user_id") or "")
        if channel and user:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    async def pressed(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        name = BUTTON.match(str(action.get("action_id", "")))
        value = str(action.get("value", ""))
        if name is None or not value.isdigit():
            await self.tell(body, ":warning: this button names no incident")
            return
        await self.offer(body, int(value), name["name"])

    async def offer(self, body: dict[str, Any], number: int, name: str) -> None:
        """The confirmation, or the refusal (which is recorded: it may be an attack)."""
        user = identity(self.bot, body)
        try:
            prepared = await self.bot.remediation.prepare(number, name)
        except RemediationError as exc:
            await self.tell(body, f":warning: {mrkdwn(str(exc))}")
            return
        except RenderError:
            refused = await self.bot.remediation.request(number, name, user, trigger="slack")
            await self.tell(body, f":no_entry: {mrkdwn(refused.text)}")
            return
        shown = prepared.rendered.describe()
        blocks = confirmation(number, name, shown, prepared.action.description)
        channel = str((body.get("channel") or {}).get("id") or body.get("channel_id") or "")
        slack_id = str((body.get("user") or {}).get("id") or body.get("user_id") or "")
        await self.client.chat_postEphemeral(
            channel=channel, user=slack_id, text=f"Run {name}?", blocks=blocks
        )

    async def confirmed(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        number, _, rest = str(action.get("value", "")).partition(":")
        name, _, seen = rest.rpartition(":")
        if not number.isdigit() or not name:
            await self.tell(body, ":warning: this button carries no action")
            return
        try:
            prepared = await self.bot.remediation.prepare(int(number), name)
            changed = fingerprint(prepared.rendered.describe()) != seen
        except (RemediationError, RenderError) as exc:
            await self.tell(body, f":no_entry: {mrkdwn(str(exc))}")
            return
        if changed:
            await self.tell(body, ":warning: the rendering changed since it was shown; press again")
            return
        user = identity(self.bot, body)
        decision = await self.bot.remediation.request(int(number), name, user, trigger="slack")
        await self.requested(body, decision)

    async def requested(self, body: dict[str, Any], decision: Decision) -> None:
        run = decision.run
        if not decision.ok or run is None:
            await self.tell(body, f":no_entry: {mrkdwn(decision.text)}")
            return
        if decision.ready:
            self.bot.remediation.launch(run.id)
            return
        target = await self.thread_of(run.incident_id)
        channel = target[0] if target else str((body.get("channel") or {}).get("id", ""))
        posted = await self.client.chat_postMessage(
            channel=channel,
            thread_ts=target[1] if target else None,
            text=f"{run.requested_by} asks to run {run.action} (run #{run.id})",
            blocks=approval_blocks(run, open_=True),
        )
        await self.bot.store.write(lambda conn: _set_chat_ref(conn, run.id, posted))

    async def approve(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        run_id = str(action.get("value", ""))
        if not run_id.isdigit():
            return
        decision = await self.bot.remediation.approve(int(run_id), identity(self.bot, body))
        if not decision.ok:
            await self.tell(body, f":no_entry: {mrkdwn(decision.text)}")
        elif decision.ready and decision.run is not None:
            self.bot.remediation.launch(decision.run.id)

    async def deny(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Ask why in a dialog: the denial's reason belongs in the audit trail."""
        await ack()
        run_id = str(action.get("value", ""))
        if not run_id.isdigit():
            return
        try:
            await self.client.views_open(
                trigger_id=body.get("trigger_id", ""), view=deny_view(run_id)
            )
        except SlackClientError as exc:
            log.warning("deny dialog for run %s did not open: %s", run_id, exc)
            await self._deny(body, run_id, "denied in Slack (the reason dialog did not open)")

    async def deny_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        """Decided before the ack (a quick write), so a refusal shows in the dialog itself."""
        run_id = str(view.get("private_metadata", ""))
        values = (view.get("state") or {}).get("values") or {}
        reason = str(((values.get("reason") or {}).get("reason") or {}).get("value") or "").strip()
        if not run_id.isdigit():
            await ack()
            return
        user = identity(self.bot, body)
        decision = await self.bot.remediation.deny(int(run_id), user, reason or "no reason given")
        if decision.ok:
            await ack()
        else:
            await ack(response_action="errors", errors={"reason": decision.text[:150]})

    async def _deny(self, body: dict[str, Any], run_id: str, reason: str) -> None:
        decision = await self.bot.remediation.deny(int(run_id), identity(self.bot, body), reason)
        if not decision.ok:
            await self.tell(body, f":no_entry: {mrkdwn(decision.text)}")

    async def observe(self, run: RunView, decision: Decision) -> None:
        """Keep the approval message current; post the outcome with its output."""
        ref = parse_ref(run.chat_ref)
        if ref is not None:
            await self.client.chat_update(
                channel=ref[0],
                ts=ref[1],
                text=f"{run.action} (run #{run.id}): {run.state}",
                blocks=approval_blocks(run, open_=run.state == "requested"),
            )
        if run.finished_at is None or run.state in ("denied", "expired"):
            return  # the timeline tells the thread about those; nothing more to show
        target = await self.thread_of(run.incident_id) or ref
        if target is not None:
            await self.client.chat_postMessage(
                channel=target[0],
                thread_ts=target[1],
                text=result_text(run, self.bot.settings.base_url),
            )


def _set_chat_ref(conn: Any, run_id: int, posted: Any) -> None:
    from bot.store.tables import remediation_runs

    ref = f"{posted['channel']}:{posted['ts']}"
    conn.execute(
        remediation_runs.update().where(remediation_runs.c.id == run_id).values(chat_ref=ref)
    )


def register(app: AsyncApp, bot: Pagerbot) -> None:
    handlers = SlackRemediation(bot, app.client)
    app.action(BUTTON)(handlers.pressed)
    app.action("remediation:confirm")(handlers.confirmed)
    app.action("remediation:cancel")(_cancel)
    app.action("remediation:approve")(handlers.approve)
    app.action("remediation:deny")(handlers.deny)
    app.view(DENY_VIEW)(handlers.deny_submitted)
    bot.remediation.observers.append(handlers.observe)


async def _cancel(ack: AsyncAck) -> None:
    await ack()  # nothing was requested; the ephemeral confirmation fades on its own


async def incident_run(ctx: Ctx, command: IncidentCommand) -> Reply:
    """`/incident run <action> [INC-7]`: the same confirmation as the button, to the caller.
    The command parser gives the action name as `command.text`."""
    from bot.chat.incident_handlers import find

    incident = await find(ctx, command.ref)
    try:
        await ctx.bot.remediation.prepare(incident.id, command.text)
    except RemediationError as exc:
        return Reply(f":warning: {mrkdwn(str(exc))}")
    except RenderError:
        pass  # offer() records the refusal and tells the caller why
    body = {"user": {"id": ctx.caller.slack_id}, "channel": {"id": ctx.caller.channel_id}}
    await SlackRemediation(ctx.bot, ctx.client).offer(body, incident.id, command.text)
    return Reply(f"Remediation {mrkdwn(command.text)} for INC-{incident.id}: see above.")
