"""Secrets and environment in one object, read once at start and passed in (never at import)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGERBOT_", extra="ignore")

    config_dir: Path = Path(".")
    database_url: str = "sqlite:///pagerbot.db"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    webhook_token: SecretStr | None = None
    allow_unauthenticated_webhooks: bool = Field(
        default=False,
        description="serve webhooks without a token on a non-loopback address (not advised)",
    )
    # A 10,000-alert Alertmanager group is ~4.4 MB; a 413 makes it retry that group forever.
    max_body_bytes: int = 64 * MiB
    log_level: str = "INFO"
    ingest_process: bool = Field(
        default=True,
        description="group commits and the frequent writes (outbox, escalation) in a "
        "second process (a second core); false keeps them on the writer thread",
    )
    config_poll_seconds: float = Field(
        default=2.0,
        description="how often rules/ and runbooks/ are checked for edits; 0 = only on SIGHUP",
    )
    alertmanager_url: str | None = Field(
        default=None, description="silences made in Pagerbot are mirrored there (API v2)"
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "PAGERBOT_SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "PAGERBOT_SLACK_SIGNING_SECRET"),
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "PAGERBOT_SLACK_APP_TOKEN")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        validation_alias=AliasChoices("SLACK_API_URL", "PAGERBOT_SLACK_API_URL"),
    )
    slack_default_channel: str | None = Field(
        default=None, description="where incidents go whose route and team name no channel"
    )
    slack_timeout_seconds: int = Field(
        default=10, description="a Slack call slower than this is retried (never duplicated)"
    )
    slack_incident_command: str = Field(
        default="/incident", description="name of the incident slash command in your Slack app"
    )
    slack_oncall_command: str = Field(
        default="/oncall", description="name of the on-call slash command in your Slack app"
    )
    slack_responders: str = Field(
        default="team,paged",
        description="who may ack/resolve/escalate/silence from Slack: any of team (members of "
        "the owning team), paged (anyone paged for the incident), anyone",
    )
    slack_note_reaction: str = Field(
        default="memo",
        description="reaction (name without colons) that turns a message in an incident's "
        "thread into a timeline note",
    )
    slack_reply_within: float = Field(
        default=2.0,
        description="seconds a slash command waits for its answer before acking with "
        "'working on it' and answering through response_url (Slack allows 3)",
    )

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def listens_beyond_loopback(self) -> bool:
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host != "localhost"
