"""Notes from the incident thread: a message marked with the note reaction (:memo: by
default) joins the incident's timeline, with a permalink back to it as evidence.

Responders talk in the thread during an incident; marking the message that matters is
faster than retyping it as `/incident note`, and the post-mortem links to the original.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.authz import identify
from bot.incidents import actions
from bot.store.tables import notify_cursors, timeline

if TYPE_CHECKING:
    from bot.app import Pagerbot

log = logging.getLogger(__name__)


def incident_of_thread(session: Any, channel: str, thread_ts: str) -> int | None:
    """The incident whose message opens this thread; None until its post is committed."""
    ref = f"{channel}:{thread_ts}"
    row = session.execute(
        sa.select(notify_cursors.c.incident_id).where(notify_cursors.c.message_ref == ref)
    ).first()
    return int(row[0]) if row else None


def _already_noted(conn: Any, number: int, permalink: str) -> bool:
    """Slack redelivers events and people react twice: one note per message."""
    rows = conn.execute(
        sa.select(timeline.c.data).where(
            timeline.c.incident_id == number, timeline.c.kind == "note"
        )
    )
    return any(f'"source":"{permalink}"' in (data or "") for (data,) in rows)


async def note_from_reaction(bot: Pagerbot, client: AsyncWebClient, event: dict[str, Any]) -> bool:
    """Record the marked message as a note; False when it is not an incident thread's."""
    item = event.get("item") or {}
    if event.get("reaction") != bot.settings.slack_note_reaction or item.get("type") != "message":
        return False
    channel, ts = str(item.get("channel", "")), str(item.get("ts", ""))
    try:
        found = await client.conversations_replies(channel=channel, ts=ts, limit=1, inclusive=True)
        messages = found.get("messages") or []
        if not messages:
            return False
        message = messages[0]
        thread_ts = str(message.get("thread_ts") or message.get("ts") or ts)
        link = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackClientError as exc:
        log.warning("could not read the message marked as a note: %s", exc)
        return False
    number = await bot.store.read(lambda s: incident_of_thread(s, channel, thread_ts))
    if number is None:
        return False
    permalink = str(link.get("permalink") or "")
    marker = identify(bot.rules, str(event.get("user", ""))).name
    author = message.get("user")
    said = identify(bot.rules, str(author)).name if author else None
    text = str(message.get("text") or "").strip()
    if said and said != marker:
        text = f"{said}: {text}"
    now = bot.clock()

    def record(conn: Any) -> bool:
        if _already_noted(conn, number, permalink):
            return False
        actions.note(conn, number, marker, text, now, source=permalink)
        return True

    added = bool(await bot.store.write(record))
    if added:
        bot.dispatcher.wake()
    return added


def register(app: AsyncApp, bot: Pagerbot) -> None:
    async def on_reaction(event: dict[str, Any], client: AsyncWebClient) -> None:
        await note_from_reaction(bot, client, event)

    app.event("reaction_added")(on_reaction)
