"""The one alert type every source is parsed into."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


# By value: a dict lookup is much cheaper than calling the enum, once per alert.
STATUSES = {status.value: status for status in AlertStatus}


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set, so one alert has one id everywhere.

    FNV-1a 64 over the label pairs sorted by name, each name and value followed by
    the byte 0xff (prometheus/common `labelSetToFingerprint`).
    """
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), labels[name].encode()):
            for byte in part:
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


@dataclass(slots=True)
class Alert:
    """One alert as every stage after ingest sees it.

    `ends_at` is None while the sender gives no end (Alertmanager sends
    0001-01-01 for "none"); a firing alert with an `ends_at` resolves by itself
    once that instant passes without a refresh, as in Alertmanager.
    """

    labels: dict[str, str]
    annotations: dict[str, str]
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str
    source: str
    sender_group_key: str | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")
