"""The chat sink used when no Slack token is set: readable lines on stdout."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.notify.base import EventView, IncidentView


class ConsoleNotifier:
    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    async def incident_changed(
        self, incident: IncidentView, events: list[EventView], message_ref: str | None
    ) -> str | None:
        out = self._out or sys.stdout
        verb = "posted" if message_ref is None else "updated"
        labels = " ".join(f"{k}={v}" for k, v in sorted(incident.group_labels.items()) if v)
        flaps = f" · flapped {incident.flap_count}x" if incident.flap_count else ""
        paging = " · notify only" if incident.notify_only else ""
        if incident.muted:
            paging += " · muted"
        lines = [
            f"[{incident.number}] {incident.state.upper()} {incident.title} ({verb})",
            f"    severity={incident.severity} team={incident.team or '-'} "
            f"channel={incident.channel or '-'} · {incident.firing_count} firing, "
            f"{incident.resolved_count} resolved{flaps}{paging}",
        ]
        if labels:
            lines.append(f"    {labels}")
        for event in events:
            lines.append(f"    └ {event.at:%Y-%m-%d %H:%M:%S}Z {event.actor}: {event.text}")
        out.write("\n".join(lines) + "\n")
        out.flush()
        return message_ref or f"console:{incident.id}"

    async def page(self, incident: IncidentView, user: str, contact: str | None, why: str) -> None:
        out = self._out or sys.stdout
        who = f"{user} ({contact})" if contact else user
        out.write(f"[page] {incident.number} → {who}: {incident.title} — {why}\n")
        out.flush()

    async def notify_user(self, user: str, text: str) -> None:
        out = self._out or sys.stdout
        out.write(f"[to {user}] {text}\n")
        out.flush()
