"""The Slack sink of the outbox: one message per incident, updated in place, its events
in the thread, pages as a thread mention plus a direct message.

Never twice: every post carries a deterministic key in its message metadata. When an
earlier attempt of the same delivery may have reached Slack (a lost answer, a 5xx, a
crash mid-call), the key is looked up in the channel or thread before posting again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.chat import blocks as kit
from bot.chat.escape import clip_escaped
from bot.chat.pacing import Pacer
from bot.notify.base import DeliveryError, Details, EventView, IncidentView, PersonView
from bot.settings import Settings

log = logging.getLogger(__name__)

EVENT_TYPE = "pagerbot_message"
_REF = re.compile(r"^([CDG][A-Z0-9]+):(\d+\.\d+)$")
_PAGE_SIZE = 200


def parse_ref(ref: str | None) -> tuple[str, str] | None:
    """(channel id, ts) of a ref this sink made; None for none or another sink's ref."""
    found = _REF.match(ref or "")
    return (found.group(1), found.group(2)) if found else None


class SlackNotifier:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        default_channel: str | None = None,
        pacer: Pacer | None = None,
        directory: Callable[[str], str | None] | None = None,
        history_pages: int = 5,
    ) -> None:
        """`directory` maps a person's name in rules/ to a Slack id (for `notify_user`)."""
        self.client = client
        self.default_channel = default_channel
        self.pacer = pacer or Pacer()
        self._directory = directory
        self._history_pages = history_pages
        self._ids: dict[str, str] = {}

    # ------------------------------------------------------------------ Notifier

    async def incident_changed(
        self, incident: IncidentView, events: list[EventView], message_ref: str | None
    ) -> str | None:
        return await self.deliver_update(incident, events, message_ref, Details())

    async def page(self, incident: IncidentView, user: str, contact: str | None, why: str) -> None:
        await self.deliver_page(incident, PersonView(user, contact), why, None, Details())

    async def notify_user(self, user: str, text: str) -> None:
        slack_id = self._slack_id(user)
        if slack_id is None:
            log.warning("no Slack id for %s; message not sent: %s", user, text)
            return
        dm = await self._open_dm(slack_id)
        await self._call(
            dm,
            self.client.chat_postMessage,
            paced=True,
            channel=dm,
            text=clip_escaped(text, kit.SECTION_TEXT),
            unfurl_links=False,
        )

    # ------------------------------------------------------------------ OutboxSink

    async def deliver_update(
        self,
        incident: IncidentView,
        events: list[EventView],
        message_ref: str | None,
        details: Details,
    ) -> str | None:
        channel = incident.channel or self.default_channel
        target = parse_ref(message_ref)
        if target is None and channel is None:
            log.warning("%s has no channel and no default is set: not posted", incident.number)
            return message_ref
        text = kit.incident_text(incident)
        blocks = kit.incident_blocks(incident, details)
        retry = details.attempt > 1
        posted_now = False
        if target is not None:
            try:
                await self._call(
                    target[0],
                    self.client.chat_update,
                    paced=True,
                    channel=target[0],
                    ts=target[1],
                    text=text,
                    blocks=blocks,
                )
            except _Gone:
                target = None
        if target is None:
            assert channel is not None
            key = f"inc:{incident.marker}"
            target = await self._post_once(channel, key, None, retry, text=text, blocks=blocks)
            posted_now = True
        ref = f"{target[0]}:{target[1]}"
        reply = kit.thread_text(events)
        if reply is not None and events:
            key = f"inc:{incident.marker}:ev:{events[-1].id}"
            try:
                await self._post_once(target[0], key, target[1], retry, text=reply)
            except DeliveryError as exc:
                exc.message_ref = ref if posted_now else None
                raise
        return ref

    async def deliver_page(
        self,
        incident: IncidentView,
        person: PersonView,
        why: str,
        message_ref: str | None,
        details: Details,
    ) -> None:
        target = parse_ref(message_ref)
        retry = details.attempt > 1
        marker = f"inc:{incident.marker}:page:{details.entry_id}"
        if target is not None:
            text = kit.page_text(incident, person, why)
            await self._post_once(target[0], marker, target[1], retry, text=text)
        slack_id = person.slack if person.slack and kit.USER_ID.fullmatch(person.slack) else None
        if slack_id is None:
            log.warning("%s: %s has no Slack id; paged in the thread only", incident.number, person)
            return
        permalink = await self._permalink(target) if target else None
        dm = await self._open_dm(slack_id)
        await self._post_once(
            dm,
            marker + ":dm",
            None,
            retry,
            text=f"You are paged: {kit.incident_text(incident)}",
            blocks=kit.page_blocks(incident, why, permalink, details),
        )

    # ------------------------------------------------------------------ Slack calls

    async def _post_once(
        self, channel: str, key: str, thread_ts: str | None, look_first: bool, **message: Any
    ) -> tuple[str, str]:
        """Posts unless a message with this key is already there; (channel id, ts)."""
        if look_first:
            found = await self._find(channel, key, thread_ts)
            if found is not None:
                log.info("found %s already posted in %s; not posting again", key, channel)
                return found
        response = await self._call(
            channel,
            self.client.chat_postMessage,
            paced=True,
            channel=channel,
            thread_ts=thread_ts,
            metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key}},
            unfurl_links=False,
            unfurl_media=False,
            **message,
        )
        channel_id = str(response["channel"])
        self._learn(channel, channel_id)
        return channel_id, str(response["ts"])

    async def _find(self, channel: str, key: str, thread_ts: str | None) -> tuple[str, str] | None:
        channel_id = await self._channel_id(channel)
        if channel_id is None:
            return None
        cursor: str | None = None
        for _ in range(self._history_pages):
            args: dict[str, Any] = {
                "channel": channel_id,
                "include_all_metadata": True,
                "limit": _PAGE_SIZE,
                "cursor": cursor,
            }
            if thread_ts is None:
                page = await self._call(channel_id, self.client.conversations_history, **args)
            else:
                page = await self._call(
                    channel_id, self.client.conversations_replies, ts=thread_ts, **args
                )
            for message in page.get("messages") or []:
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if meta.get("event_type") == EVENT_TYPE and payload.get("key") == key:
                    return channel_id, str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return None

    async def _channel_id(self, channel: str) -> str | None:
        """Ids are used as they are; a #name is looked up once (history wants ids)."""
        name = channel.lstrip("#")
        if re.fullmatch(r"[CDG][A-Z0-9]+", name):
            return name
        if name in self._ids:
            return self._ids[name]
        cursor: str | None = None
        for _ in range(50):
            page = await self._call(
                name,
                self.client.conversations_list,
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )
            for found in page.get("channels") or []:
                self._ids[str(found.get("name"))] = str(found["id"])
            if name in self._ids:
                return self._ids[name]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return None

    async def _open_dm(self, user_id: str) -> str:
        response = await self._call(user_id, self.client.conversations_open, users=user_id)
        return str(response["channel"]["id"])

    async def _permalink(self, target: tuple[str, str]) -> str | None:
        try:
            response = await self._call(
                target[0], self.client.chat_getPermalink, channel=target[0], message_ts=target[1]
            )
        except DeliveryError as exc:
            log.info("no permalink for %s: %s", target, exc)
            return None
        return str(response.get("permalink") or "") or None

    def _learn(self, channel: str, channel_id: str) -> None:
        name = channel.lstrip("#")
        if self._ids.get(name) != channel_id:
            self._ids[name] = channel_id
            self.pacer.alias(name, channel_id)

    def _slack_id(self, user: str) -> str | None:
        if kit.USER_ID.fullmatch(user):
            return user
        return self._directory(user) if self._directory else None

    async def _call(
        self,
        where: str,
        method: Callable[..., Awaitable[AsyncSlackResponse]],
        /,
        *,
        paced: bool = False,
        **kwargs: Any,
    ) -> AsyncSlackResponse:
        """One Web API call, its failure turned into when and whether to retry."""
        channel = where.lstrip("#")
        key = self._ids.get(channel, channel)
        if paced:
            await self.pacer.slot(key)
        name = getattr(method, "__name__", "call")
        try:
            return await method(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                seconds = _retry_after(exc.response.headers)
                self.pacer.hold(key, seconds)
                raise DeliveryError(f"{name}: rate limited", retry_after=seconds) from exc
            error = exc.response.get("error") if status < 500 else f"HTTP {status}"
            if error == "message_not_found" and name == "chat_update":
                raise _Gone(error) from exc
            raise DeliveryError(f"{name}: {error}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"{name}: {type(exc).__name__}: {exc}") from exc
        finally:
            if paced:
                self.pacer.finished(key)


class _Gone(DeliveryError):
    """The incident message was deleted in Slack: post a new one."""


def _retry_after(headers: Any) -> float:
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            try:
                return max(float(value), 1.0)
            except ValueError:
                break
    return 1.0


def from_settings(
    settings: Settings, directory: Callable[[str], str | None] | None = None
) -> SlackNotifier | None:
    """The Slack sink when a bot token is set. No client-side retries: a retried post is
    only safe after looking for the first one, which the outbox does."""
    if settings.slack_bot_token is None:
        return None
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,
        retry_handlers=[],
    )
    return SlackNotifier(
        client, default_channel=settings.slack_default_channel, directory=directory
    )
