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

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def listens_beyond_loopback(self) -> bool:
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host != "localhost"
