"""Requests to /slack/events built and signed exactly as Slack signs them: `v0=` + hex
HMAC-SHA256(signing secret, `v0:{timestamp}:{raw body}`); slash commands form-encoded,
interactions form-encoded with one `payload` field holding JSON."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
_triggers = itertools.count(1)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(secret, ts, body),
    }


def new_trigger() -> str:
    return f"{next(_triggers)}.1234.abcdef{next(_triggers)}"


def slash_body(
    command: str,
    text: str,
    *,
    user_id: str,
    user_name: str = "",
    channel_id: str = "C000001",
    channel_name: str = "payments",
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/commands/T0/1/x",
) -> bytes:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": "T0",
            "team_domain": "standin",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or new_trigger(),
        }
    ).encode()


def block_action(
    action_id: str,
    *,
    user_id: str,
    value: str | None = None,
    selected: str | None = None,
    channel_id: str = "C000001",
    message_ts: str = "1700000001.000100",
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T0/1/x",
) -> dict[str, Any]:
    action: dict[str, Any] = {"action_id": action_id, "block_id": "b1", "action_ts": "1.2"}
    if selected is not None:
        action |= {"type": "static_select", "selected_option": {"value": selected}}
    else:
        action |= {"type": "button", "value": value or ""}
    return {
        **_interaction("block_actions", user_id, trigger_id),
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id},
        "channel": {"id": channel_id, "name": "payments"},
        "message": {"type": "message", "ts": message_ts, "text": "incident"},
        "response_url": response_url,
        "actions": [action],
    }


def view_submission(
    callback_id: str,
    *,
    user_id: str,
    private_metadata: str,
    values: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, Any]:
    """A modal's submission as Slack sends it: `values` by block id, then action id."""
    return {
        **_interaction("view_submission", user_id, None),
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
        },
    }


def _interaction(kind: str, user_id: str, trigger_id: str | None) -> dict[str, Any]:
    """What every interaction payload carries, whatever its kind."""
    return {
        "type": kind,
        "team": {"id": "T0", "domain": "standin"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0"},
        "api_app_id": "A1",
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id or new_trigger(),
    }


def interaction_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": orjson.dumps(payload).decode()}).encode()


class SlackSender:
    """Posts signed requests to a running bot's /slack/events, as Slack would."""

    def __init__(self, base_url: str, secret: str = SECRET) -> None:
        self.url = f"{base_url}/slack/events"
        self.secret = secret
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self._session.close()

    async def post(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any] | str]:
        sent = signed_headers(body, secret=secret or self.secret, timestamp=timestamp)
        sent.update(headers or {})
        async with self._session.post(self.url, data=body, headers=sent) as response:
            text = await response.text()
            if response.content_type == "application/json" and text:
                return response.status, orjson.loads(text)
            return response.status, text

    async def command(self, command: str, text: str, **kwargs: Any) -> dict[str, Any]:
        """A slash command; returns the immediate (ack) answer, which must be 200."""
        status, answer = await self.post(slash_body(command, text, **kwargs))
        assert status == 200, (status, answer)
        return answer if isinstance(answer, dict) else {"text": answer}

    async def press(self, action_id: str, **kwargs: Any) -> None:
        status, answer = await self.post(interaction_body(block_action(action_id, **kwargs)))
        assert status == 200, (status, answer)
