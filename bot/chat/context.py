"""What every handler gets and returns: the verified caller, the parsed command, a reply."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.app import Pagerbot

DEFAULT_SEVERITY = "critical"


class UsageError(ValueError):
    """A command that cannot be understood: the reply names the problem and shows usage."""


class Refused(Exception):
    """The caller may not do this; the message says why."""


@dataclass(frozen=True, slots=True)
class Reply:
    """`public` replies change shared state and show in the channel; the rest only to
    the person who asked."""

    text: str
    public: bool = False

    def slash_body(self) -> dict[str, Any]:
        return {"text": self.text, "response_type": "in_channel" if self.public else "ephemeral"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who and where, always from the verified request body, never from message text."""

    slack_id: str
    user_name: str = ""
    channel_id: str = ""
    channel_name: str = ""
    trigger_id: str | None = None
    thread_ts: str | None = None

    @classmethod
    def of_command(cls, body: dict[str, Any]) -> Caller:
        return cls(
            slack_id=str(body.get("user_id", "")),
            user_name=str(body.get("user_name", "")),
            channel_id=str(body.get("channel_id", "")),
            channel_name=str(body.get("channel_name", "")),
            trigger_id=body.get("trigger_id"),
        )

    @classmethod
    def of_action(cls, body: dict[str, Any]) -> Caller:
        user = body.get("user") or {}
        channel = body.get("channel") or {}
        message = body.get("message") or {}
        return cls(
            slack_id=str(user.get("id", "")),
            user_name=str(user.get("username") or user.get("name") or ""),
            channel_id=str(channel.get("id", "")),
            channel_name=str(channel.get("name", "")),
            trigger_id=body.get("trigger_id"),
            thread_ts=message.get("thread_ts"),
        )


@dataclass(frozen=True, slots=True)
class IncidentCommand:
    sub: str
    ref: int | None = None
    text: str = ""
    severity: str = DEFAULT_SEVERITY
    duration: timedelta | None = None
    all: bool = False


@dataclass(frozen=True, slots=True)
class OncallCommand:
    sub: str
    schedule: str | None = None
    user: str | None = None  # a Slack id (from a mention) or a member name
    window: tuple[str, str] | None = None  # raw <from>, <to>|<duration>
    extra: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Ctx:
    """A handler's world: the bot, the Slack client, and who is asking from where."""

    bot: Pagerbot
    client: AsyncWebClient
    caller: Caller
