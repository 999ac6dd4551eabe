"""`GET /runbooks/{name}`: the page behind the runbook link in every incident message."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.helpers import running_bot

RUNBOOK = """---
title: Checkout <latency> high
match: {alertname: CheckoutLatencyHigh}
owner: payments
actions:
  - name: restart-checkout
    description: Rolling restart
    run: [kubectl, rollout, restart, "deployment/{{ labels.deployment }}"]
    params: {deployment: "^[a-z0-9-]{1,63}$"}
    approvers: [team:payments]
---
# Checkout latency high

1. Open the **Checkout** dashboard.
<script>alert("owned")</script>
[bad link](javascript:alert(1))

| signal | threshold |
| --- | --- |
| p99 | 800 ms |
"""


async def test_runbook_renders_as_a_safe_page(config_dir: Path, sqlite_url: str) -> None:
    (config_dir / "runbooks" / "checkout.md").write_text(RUNBOOK, encoding="utf-8")
    async with (
        running_bot(config_dir, sqlite_url) as rb,
        aiohttp.ClientSession() as http,
        http.get(f"{rb.url}/runbooks/checkout") as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/html"
        page = await resp.text()
    assert "<title>Checkout &lt;latency&gt; high · runbook</title>" in page
    assert "<h1>Checkout latency high</h1>" in page
    assert "<strong>Checkout</strong>" in page
    assert "<td>p99</td>" in page  # tables are rendered
    # Raw HTML in the Markdown is shown as text, never run; javascript: links are dropped.
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert 'href="javascript:' not in page
    # What the runbook serves and what it can do, for the responder deciding what to press.
    assert "Serves alerts matching\n<code>alertname=&#34;CheckoutLatencyHigh&#34;</code>" in page
    assert "<code>restart-checkout</code>" in page
    assert "<td>required by team:payments</td>\n<td>1m</td>" in page


async def test_unknown_runbook_is_a_404_naming_the_known_ones(
    config_dir: Path, sqlite_url: str
) -> None:
    (config_dir / "runbooks" / "checkout.md").write_text(RUNBOOK, encoding="utf-8")
    async with running_bot(config_dir, sqlite_url) as rb, aiohttp.ClientSession() as http:
        async with http.get(f"{rb.url}/runbooks/nope") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == "no runbook 'nope'; known runbooks: checkout"
        async with http.get(f"{rb.url}/runbooks/checkout.md") as resp:
            assert resp.status == 200  # the file name works too
