"""Block Kit for incidents: pure functions from views to blocks, inside Slack's limits.

Action ids are a contract with the button handlers: `incident:ack|resolve|escalate`
(value: incident id), `incident:silence` (a select of `<id>:<duration>`),
`remediate:<action>` (value: incident id), `feedback:actionable|noise` (value: id).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from bot.chat.escape import clip, clip_escaped, code, link, mrkdwn
from bot.notify.base import AlertView, Details, EventView, IncidentView, PersonView

Block = dict[str, Any]
USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75
FIELD_TEXT = 2000
ACTIONS_PER_BLOCK = 25
# Slack refuses messages whose blocks exceed ~13k characters (`msg_blocks_too_long`).
BLOCKS_BUDGET = 12_000
THREAD_TEXT = 3500
ALERTS_SHOWN = 10
SILENCE_CHOICES = ("1h", "4h", "24h")

_STATE_ICON = {"triggered": ":red_circle:", "acknowledged": ":large_yellow_circle:"}
_RESOLVED_ICON = ":large_green_circle:"
_KEY_LABELS = 8


def incident_text(incident: IncidentView) -> str:
    """The message's `text`: shown in notifications and by clients without blocks."""
    return clip_escaped(
        f"{incident.number} [{incident.state}] {incident.severity}: {incident.title}", 300
    )


def incident_blocks(
    incident: IncidentView, details: Details, *, shown: int = ALERTS_SHOWN
) -> list[Block]:
    """The incident message, shrinking its alert list until it fits the size budget."""
    while True:
        blocks = _incident_blocks(incident, details, shown)
        if shown == 0 or len(orjson.dumps(blocks)) <= BLOCKS_BUDGET:
            return blocks[:MAX_BLOCKS]
        shown //= 2


def _incident_blocks(incident: IncidentView, details: Details, shown: int) -> list[Block]:
    icon = _STATE_ICON.get(incident.state, _RESOLVED_ICON)
    header = f"{incident.number} · {incident.title}"
    blocks: list[Block] = [
        # plain_text is never parsed for mentions or links; only its length matters.
        {"type": "header", "text": _plain(header, HEADER_TEXT)},
        {"type": "section", "fields": _fields(incident, details, icon)},
    ]
    labels = _key_labels(incident, details.alerts)
    if labels:
        blocks.append(_section("*Labels* " + " ".join(labels)))
    if details.runbook is not None:
        title = details.runbook.title or details.runbook.name
        blocks.append(_section(":book: *Runbook:* " + link(details.runbook.url, title)))
    blocks.extend(_alert_sections(incident, details.alerts, shown))
    blocks.extend(_buttons(incident, details))
    return blocks


def _fields(incident: IncidentView, details: Details, icon: str) -> list[Block]:
    state = incident.state
    if incident.muted:
        state += " (muted)"
    counts = f"{incident.firing_count:,} firing · {incident.resolved_count:,} resolved"
    if incident.flap_count:
        counts += f" · flapped {incident.flap_count}x"
    started = int(incident.created_at.timestamp())
    fallback = f"{incident.created_at:%Y-%m-%d %H:%M} UTC"
    fields = [
        f"*State*\n{icon} {mrkdwn(state)}",
        f"*Severity*\n{clip_escaped(incident.severity, 100)}",
        f"*Team*\n{clip_escaped(incident.team or '-', 100)}",
        f"*Alerts*\n{counts}",
        f"*Started*\n<!date^{started}^{{date_short_pretty}} {{time}}|{fallback}>",
    ]
    if incident.notify_only:
        fields.append("*Paged*\nnobody (notify only)")
    elif details.paged:
        fields.append("*Paged*\n" + clip(", ".join(mention(p) for p in details.paged), 1900))
    return [{"type": "mrkdwn", "text": text} for text in fields]


def mention(person: PersonView) -> str:
    """`<@U…>` for an id from our own config; anything else is shown, escaped."""
    if person.slack and USER_ID.fullmatch(person.slack):
        return f"<@{person.slack}>"
    return mrkdwn(person.name)


def _key_labels(incident: IncidentView, alerts: Iterable[AlertView]) -> list[str]:
    """Grouping labels, then labels every shown alert shares."""
    labels = {k: v for k, v in incident.group_labels.items() if v}
    sample = [a.labels for a in alerts]
    if sample:
        common = set(sample[0].items()).intersection(*(set(s.items()) for s in sample[1:]))
        for name, value in sorted(common):
            labels.setdefault(name, value)
    return [code(f"{k}={v}", 120) for k, v in list(labels.items())[:_KEY_LABELS]]


def _alert_sections(
    incident: IncidentView, alerts: tuple[AlertView, ...], shown: int
) -> list[Block]:
    firing = [a for a in alerts if a.status == "firing"]
    listed = (firing or list(alerts))[:shown]
    if not listed:
        return []
    lines = [_alert_line(incident, a) for a in listed]
    blocks = []
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > SECTION_TEXT:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    blocks.append(_section("\n".join(chunk)))
    total = incident.firing_count if firing else incident.alert_count
    more = total - len(listed)
    if more > 0:
        what = "firing" if firing else "alerts"
        blocks.append(_context(f"and {more:,} more {what}"))
    return blocks


def _alert_line(incident: IncidentView, alert: AlertView) -> str:
    icon = ":fire:" if alert.status == "firing" else ":white_check_mark:"
    name = alert.labels.get("alertname") or alert.fingerprint
    extra = [
        f"{k}={v}"
        for k, v in sorted(alert.labels.items())
        if k != "alertname" and incident.group_labels.get(k) != v
    ]
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    line = f"{icon} *{clip_escaped(name, 100)}*"
    if extra:
        line += " " + code(" ".join(extra), 150)
    if summary:
        line += " — " + clip_escaped(summary.replace("\n", " "), 150)
    if alert.generator_url:
        line += " " + link(alert.generator_url, "graph")
    return line


def _buttons(incident: IncidentView, details: Details) -> list[Block]:
    value = str(incident.id)
    if incident.state == "resolved":
        return [
            _section("Was this incident actionable? Your answer tunes the alert-quality report."),
            {
                "type": "actions",
                "block_id": "feedback",
                "elements": [
                    _button("Actionable", "feedback:actionable", value, "primary"),
                    _button("Noise", "feedback:noise", value),
                ],
            },
        ]
    elements: list[Block] = []
    if incident.state == "triggered":
        elements.append(_button("Acknowledge", "incident:ack", value, "primary"))
    elements.append(_button("Resolve", "incident:resolve", value))
    elements.append(_button("Escalate", "incident:escalate", value, "danger"))
    elements.append(
        {
            "type": "static_select",
            "action_id": "incident:silence",
            "placeholder": _plain("Silence…", BUTTON_TEXT),
            "options": [
                {"text": _plain(f"Silence {d}", BUTTON_TEXT), "value": f"{value}:{d}"}
                for d in SILENCE_CHOICES
            ],
        }
    )
    blocks: list[Block] = [{"type": "actions", "block_id": "incident", "elements": elements}]
    actions = details.runbook.actions if details.runbook else ()
    for start in range(0, len(actions), ACTIONS_PER_BLOCK):
        chunk = actions[start : start + ACTIONS_PER_BLOCK]
        blocks.append(
            {
                "type": "actions",
                "block_id": f"remediate:{start}",
                "elements": [
                    _button(f":wrench: {name}", clip(f"remediate:{name}", 255), value)
                    for name in chunk
                ],
            }
        )
    return blocks


def page_blocks(
    incident: IncidentView, why: str, permalink: str | None, details: Details
) -> list[Block]:
    """The direct message to a paged person: what, why, where, and the buttons."""
    where = f" · {link(permalink, 'open the incident')}" if permalink else ""
    text = (
        f":rotating_light: You are paged for *{mrkdwn(incident.number)}*: "
        f"{clip_escaped(incident.title, 500)}\n"
        f"Severity {clip_escaped(incident.severity, 50)} · "
        f"{incident.firing_count:,} firing · {clip_escaped(why, 500)}{where}"
    )
    blocks = [_section(text)]
    if details.runbook is not None:
        title = details.runbook.title or details.runbook.name
        blocks.append(_section(":book: " + link(details.runbook.url, title)))
    if incident.state != "resolved":
        value = str(incident.id)
        elements = [_button("Acknowledge", "incident:ack", value, "primary")]
        elements += [
            _button("Resolve", "incident:resolve", value),
            _button("Escalate", "incident:escalate", value, "danger"),
        ]
        blocks.append({"type": "actions", "block_id": "incident", "elements": elements})
    return blocks


def page_text(incident: IncidentView, person: PersonView, why: str) -> str:
    """The mention in the incident thread."""
    return f"{mrkdwn(incident.number)}: paging {mention(person)} — {clip_escaped(why, 500)}"


def thread_text(events: list[EventView]) -> str | None:
    """Events since the last delivery, coalesced into one thread reply."""
    shown = [e for e in events if e.kind != "paged"]
    if not shown:
        return None
    lines: list[str] = []
    used = 0
    for i, event in enumerate(shown):
        line = f"`{event.at:%H:%M:%S}Z` {clip_escaped(event.text, 600)}"
        if used + len(line) + 40 > THREAD_TEXT:
            lines.append(f"…and {len(shown) - i:,} more events")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}]}


def _plain(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(text, BUTTON_TEXT),
        "value": value,
    }
    if style:
        button["style"] = style
    return button
