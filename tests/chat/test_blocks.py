"""Block Kit builders: escaping, action ids, and Slack's size limits."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from slack_sdk.models.blocks import Block

from bot.chat import blocks as kit
from bot.chat.escape import clip_escaped, link, mrkdwn, safe_url
from bot.notify.base import AlertView, Details, EventView, IncidentView, PersonView, RunbookView

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
INJECTIONS = [
    "<!channel>",
    "<!here|here>",
    "<@U123>",
    "<#C123>",
    "<http://evil.example|click>",
    "&lt;!channel&gt;",
    "a & b < c > d",
    "🔥 ünïcödé ‮rtl",
    "x" * 5000,
]


def incident(**changes: Any) -> IncidentView:
    base = IncidentView(
        id=42,
        title="CheckoutLatencyHigh",
        severity="critical",
        state="triggered",
        team="payments",
        channel="#payments",
        notify_only=False,
        firing_count=3,
        alert_count=4,
        flap_count=0,
        muted_count=0,
        group_labels={"alertname": "CheckoutLatencyHigh", "cluster": "eu-1"},
        created_at=T0,
        acknowledged_at=None,
        resolved_at=None,
    )
    return replace(base, **changes)


def alert(i: int, status: str = "firing", **labels: str) -> AlertView:
    return AlertView(
        fingerprint=f"{i:016x}",
        status=status,
        labels={"alertname": "CheckoutLatencyHigh", "cluster": "eu-1", "pod": f"p{i}", **labels},
        annotations={"summary": f"p99 is high on p{i}"},
        generator_url=f"http://prometheus.example/graph?g0.expr=up&i={i}",
        starts_at=T0,
    )


RUNBOOK = RunbookView(
    "checkout-latency-high",
    "Checkout latency high",
    "https://bot.example/runbooks/checkout-latency-high",
    ("restart-checkout", "flush-cache"),
)
DETAILS = Details(
    alerts=(alert(1), alert(2), alert(3)),
    paged=(PersonView("alice", "U01ALICE"), PersonView("bob", None)),
    runbook=RUNBOOK,
)


def valid(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parsed and re-serialised by slack_sdk's models, which check Slack's limits."""
    out = []
    for b in blocks:
        parsed = Block.parse(b)
        assert parsed is not None
        out.append(parsed.to_dict())
    assert len(out) <= kit.MAX_BLOCKS
    return out


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn string in the blocks (the ones Slack parses for mentions and links)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def elements(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def assert_inert(text: str) -> None:
    """No Slack control sequence but the ones we write ourselves."""
    for match in re.finditer(r"<([^>]*)>", text):
        inner = match.group(1)
        ours = inner.startswith(("http://", "https://", "!date^")) or re.fullmatch(
            r"@U[A-Z0-9]+", inner
        )
        assert ours, f"control sequence {match.group(0)!r} in {text!r}"
        if inner.startswith("http"):
            target = inner.split("|", 1)[0]
            assert "evil" not in urlsplit(target).netloc, target[:80]


def test_escape_makes_control_sequences_text() -> None:
    assert mrkdwn("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert mrkdwn("&lt;") == "&amp;lt;"
    cut = clip_escaped("&" * 10, 8)
    assert cut.endswith("…") and "&amp" not in cut.replace("&amp;", "")
    assert len(clip_escaped("<" * 5000, 3000)) <= 3000


def test_links_cannot_be_hidden_or_broken_out_of() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("http://a.example/x|y>z") == "http://a.example/x%7Cy%3Ez"
    made = link("http://a.example/?a=1&b=2", "<!here> graph")
    assert made == "<http://a.example/?a=1&amp;b=2|&lt;!here&gt; graph>"


def test_incident_message_has_the_contract_fields_and_buttons() -> None:
    blocks = valid(kit.incident_blocks(incident(), DETAILS))
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "INC-42 · CheckoutLatencyHigh"
    body = "\n".join(texts(blocks))
    for expected in (
        "critical",
        "triggered",
        "payments",
        "3 firing · 1 resolved",
        "<@U01ALICE>, bob",
        "`cluster=eu-1`",
        "<https://bot.example/runbooks/checkout-latency-high|Checkout latency high>",
        "<http://prometheus.example/graph?g0.expr=up&amp;i=1|graph>",
    ):
        assert expected in body
    buttons = {e["action_id"]: e for e in elements(blocks)}
    assert set(buttons) == {
        "incident:ack",
        "incident:resolve",
        "incident:escalate",
        "incident:silence",
        "remediate:restart-checkout",
        "remediate:flush-cache",
    }
    for action in ("incident:ack", "incident:resolve", "incident:escalate"):
        assert buttons[action]["value"] == "42"
    assert buttons["remediate:flush-cache"]["value"] == "42"
    silence = buttons["incident:silence"]
    assert silence["type"] == "static_select"
    assert [o["value"] for o in silence["options"]] == ["42:1h", "42:4h", "42:24h"]


def test_acknowledged_incident_offers_no_ack() -> None:
    blocks = valid(kit.incident_blocks(incident(state="acknowledged"), DETAILS))
    ids = {e["action_id"] for e in elements(blocks)}
    assert "incident:ack" not in ids and "incident:resolve" in ids


def test_resolved_incident_asks_for_noise_feedback() -> None:
    resolved = incident(state="resolved", firing_count=0, resolved_at=T0 + timedelta(hours=1))
    blocks = valid(kit.incident_blocks(resolved, DETAILS))
    buttons = {e["action_id"]: e["value"] for e in elements(blocks)}
    assert buttons == {"feedback:actionable": "42", "feedback:noise": "42"}
    assert ":large_green_circle: resolved" in "\n".join(texts(blocks))


@pytest.mark.parametrize("evil", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_strings_stay_inert_everywhere(evil: str) -> None:
    hostile = incident(
        title=evil,
        severity=evil,
        team=evil,
        group_labels={"alertname": evil, evil[:50]: evil},
    )
    details = Details(
        alerts=tuple(
            replace(
                alert(i),
                labels={"alertname": evil, "x": evil, evil[:40]: "v"},
                annotations={"summary": evil},
                generator_url=f"http://prometheus.example/{evil}",
            )
            for i in range(3)
        ),
        paged=(PersonView(evil, evil),),
        runbook=replace(RUNBOOK, title=evil),
    )
    blocks = valid(kit.incident_blocks(hostile, details))
    for text in texts(blocks):
        assert_inert(text)
    assert_inert(kit.incident_text(hostile))
    assert_inert(kit.page_text(hostile, PersonView(evil, evil), evil))
    for text in texts(kit.page_blocks(hostile, evil, "http://slack.example/p1", details)):
        assert_inert(text)
    event = EventView(1, T0, "note", evil, evil)
    reply = kit.thread_text([event])
    assert reply is not None
    assert_inert(reply)
    assert blocks[0]["text"]["type"] == "plain_text"  # never parsed for mentions
    assert len(blocks[0]["text"]["text"]) <= kit.HEADER_TEXT


def test_ten_thousand_alerts_fit_slacks_limits() -> None:
    big = incident(firing_count=10_000, alert_count=10_000)
    long_value = "v" * 2_000
    sample = tuple(alert(i, team=long_value, deployment=long_value) for i in range(25))
    details = replace(
        DETAILS,
        alerts=sample,
        runbook=replace(RUNBOOK, actions=tuple(f"action-{i}" for i in range(40))),
    )
    blocks = valid(kit.incident_blocks(big, details))
    assert len(orjson.dumps(blocks)) <= kit.BLOCKS_BUDGET
    for text in texts(blocks):
        assert len(text) <= kit.SECTION_TEXT
    body = "\n".join(texts(blocks))
    shown = body.count(":fire:")
    assert shown >= 1
    assert f"and {10_000 - shown:,} more firing" in body
    for element in elements(blocks):
        assert len(element.get("text", {}).get("text", "")) <= kit.BUTTON_TEXT
    assert len(elements(blocks)) == 4 + 40
    actions = [b for b in blocks if b["type"] == "actions"]
    assert all(len(b["elements"]) <= kit.ACTIONS_PER_BLOCK for b in actions)


def test_thread_reply_coalesces_a_storm_of_events() -> None:
    events = [EventView(i, T0, "alerts_firing", "alerts", f"alert {i} firing") for i in range(500)]
    reply = kit.thread_text(events)
    assert reply is not None
    assert len(reply) <= kit.THREAD_TEXT
    assert reply.startswith("`12:00:00Z` alert 0 firing")
    shown = reply.count(" firing")
    assert reply.endswith(f"…and {500 - shown:,} more events")


def test_paged_events_are_left_to_the_page_mention() -> None:
    assert kit.thread_text([EventView(1, T0, "paged", "escalation", "Paged alice")]) is None


def test_page_dm_links_the_incident_and_offers_buttons() -> None:
    blocks = valid(kit.page_blocks(incident(), "round 1 step 1", "https://x.slack.com/p1", DETAILS))
    body = "\n".join(texts(blocks))
    assert "<https://x.slack.com/p1|open the incident>" in body
    assert "INC-42" in body and "round 1 step 1" in body
    assert {e["action_id"] for e in elements(blocks)} == {
        "incident:ack",
        "incident:resolve",
        "incident:escalate",
    }
