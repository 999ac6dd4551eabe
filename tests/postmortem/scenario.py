"""A realistic incident built through the real bot with a hand-moved clock: alerts that
flap, an escalation, an ack, a note, a remediation run and a resolve."""

from __future__ import annotations

from functools import partial
from typing import Any

import aiohttp

from bot.incidents import actions
from bot.store import queries
from tests.helpers import Clock, RunningBot, am_alert, am_webhook

PUBLIC_URL = "https://pagerbot.example"
SLACK_PERMALINK = "https://example.slack.com/archives/C01PAY/p1700000000000200"
GROUP = '{}:{alertname="CheckoutLatencyHigh",cluster="eu-1"}'


def _alert(status: str, pod: str, starts: str, ends: str = "0001-01-01T00:00:00Z") -> Any:
    alert = am_alert(
        status,
        starts_at=starts,
        ends_at=ends,
        annotations={"summary": "Checkout p99 is 2.3 s <b>slow</b>"},
        alertname="CheckoutLatencyHigh",
        team="payments",
        cluster="eu-1",
        severity="critical",
        pod=pod,
        deployment="checkout",
    )
    alert["generatorURL"] = f"http://prometheus.example/graph?g0.expr=checkout_p99&pod={pod}"
    return alert


async def _post(http: aiohttp.ClientSession, rb: RunningBot, *alerts: Any) -> None:
    body = am_webhook(*alerts, group_key=GROUP)
    async with http.post(f"{rb.url}/webhooks/alertmanager", data=body) as resp:
        assert resp.status == 200, await resp.text()


async def _kinds(rb: RunningBot) -> list[str]:
    return [e.kind for e in await rb.bot.store.read(lambda s: queries.timeline(s, 1))]


async def build_incident(rb: RunningBot, clock: Clock) -> None:
    bot = rb.bot
    async with aiohttp.ClientSession() as http:
        # 12:00 two pods fire; the first started 90 s before the incident opened.
        await _post(
            http,
            rb,
            _alert("firing", "checkout-7f9c-a", "2026-11-20T11:58:30Z"),
            _alert("firing", "checkout-7f9c-b", "2026-11-20T11:59:10Z"),
        )
        await bot.escalation_tick()
        # 12:03 both resolve, 12:04 both fire again: within the 5m flap window.
        clock.advance(minutes=3)
        await _post(
            http,
            rb,
            _alert("resolved", "checkout-7f9c-a", "2026-11-20T11:58:30Z", "2026-11-20T12:02:50Z"),
            _alert("resolved", "checkout-7f9c-b", "2026-11-20T11:59:10Z", "2026-11-20T12:02:50Z"),
        )
        clock.advance(minutes=1)
        await _post(
            http,
            rb,
            _alert("firing", "checkout-7f9c-a", "2026-11-20T12:03:40Z"),
            _alert("firing", "checkout-7f9c-b", "2026-11-20T12:03:40Z"),
        )
        await bot.escalation_tick()
    # 12:14 nobody acknowledged: step 2 pages bob.
    clock.advance(minutes=10)
    await bot.escalation_tick()
    clock.advance(minutes=2)
    assert (await bot.act("ack", 1, "bob")).outcome.value == "done"
    clock.advance(minutes=2)
    await bot.act("note", 1, "alice", "CPU at 100% on all checkout pods since the 11:55 deploy")
    clock.advance(minutes=2)
    remediation = bot.remediation
    request = await remediation.request(1, "restart-checkout", "alice", trigger="slack")
    assert request.ok and request.run is not None, request.text
    clock.advance(seconds=40)
    assert (await remediation.approve(request.run.id, "bob")).ok
    clock.advance(seconds=50)
    finished = await remediation.execute(request.run.id)
    assert finished.ok, finished.text
    clock.advance(minutes=1)
    # A message in the incident thread marked as a note: it keeps its Slack permalink.
    await bot.store.write(
        partial(
            actions.note,
            number=1,
            user="U02BOB",
            text="p99 back under 300 ms after the restart",
            now=clock(),
            source=SLACK_PERMALINK,
        )
    )
    clock.advance(minutes=7, seconds=30)
    assert (await bot.act("resolve", 1, "bob")).outcome.value == "done"
    clock.advance(minutes=5)
    kinds = await _kinds(rb)
    assert kinds.count("paged") == 3 and kinds.count("reopened") == 1, kinds
