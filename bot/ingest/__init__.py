"""Turns each source's payload into one `Alert` type; nothing past here knows the source."""

from bot.ingest.alert import Alert, AlertStatus, fingerprint
from bot.ingest.parse import PayloadError, parse_alertmanager_webhook, parse_api_v2_alerts

__all__ = [
    "Alert",
    "AlertStatus",
    "PayloadError",
    "fingerprint",
    "parse_alertmanager_webhook",
    "parse_api_v2_alerts",
]
