"""Templates: the sandbox refuses escapes, an operator's template wins, HTML escapes
alert text, the CLI writes whole files or none, and the incident page shows the record."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import aiohttp
import pytest

from bot.cli import main
from bot.postmortem import postmortem_markdown
from bot.postmortem.render import TemplateProblem
from tests.helpers import Clock, RunningBot, am_alert, am_webhook, running_bot
from tests.postmortem.scenario import PUBLIC_URL


async def _one_incident(rb: RunningBot, clock: Clock) -> None:
    alert = am_alert(
        alertname="CheckoutLatencyHigh",
        team="payments",
        cluster="eu-1",
        deployment="checkout",
        annotations={"summary": "p99 <script>alert(1)</script> & more"},
    )
    alert["generatorURL"] = "javascript:alert(1)"
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{rb.url}/webhooks/alertmanager", data=am_webhook(alert)) as resp,
    ):
        assert resp.status == 200
    await rb.bot.escalation_tick()
    clock.advance(minutes=3)
    await rb.bot.act("ack", 1, "alice")
    await rb.bot.act("note", 1, "U02BOB", "see [this](javascript:x) | table")


def _override(config: Path, text: str, name: str = "postmortem.md.j2") -> None:
    folder = config / "runbooks" / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ timeline._session }}",
        "{% for e in timeline %}{{ e.__class__.__init__.__globals__ }}{% endfor %}",
    ],
)
async def test_sandbox_refuses_attribute_escapes(
    pm_config: Path, sqlite_url: str, escape: str
) -> None:
    clock = Clock()
    _override(pm_config, f"# {{{{ ref }}}}\n{escape}\n")
    async with running_bot(pm_config, sqlite_url, clock=clock) as rb:
        await _one_incident(rb, clock)
        with pytest.raises(TemplateProblem) as caught:
            await postmortem_markdown(rb.bot, 1)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{rb.url}/incidents/1/postmortem") as resp,
        ):
            assert resp.status == 500
            error = (await resp.json())["error"]
    message = str(caught.value)
    assert "postmortem.md.j2" in message
    assert "refused by the template sandbox" in message or "undefined" in message.lower()
    assert "template" in error and "postmortem.md.j2" in error
    assert "unsafe" in message or "_session" in message


async def test_operator_template_is_used_and_cli_writes_whole_files(
    pm_config: Path, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    _override(
        pm_config,
        "Custom {{ ref }} ack {{ measure.acknowledge.text }}:"
        "{% for e in timeline %} {{ e.label }}{% endfor %}\n",
    )
    async with running_bot(pm_config, sqlite_url, clock=clock) as rb:
        await _one_incident(rb, clock)
        text = await postmortem_markdown(rb.bot, 1)
    assert text == "Custom INC-1 ack 3m 00s: opened alerts firing paged acknowledged note"

    args = ["--config", str(pm_config), "--database", sqlite_url]
    out = tmp_path / "pm.md"
    assert await asyncio.to_thread(main, ["postmortem", "INC-1", "--out", str(out), *args]) == 0
    assert out.read_text(encoding="utf-8").startswith("Custom INC-1 ack 3m 00s:")

    _override(pm_config, "{{ ''.__class__.__mro__ }}\n")
    broken = tmp_path / "broken.md"
    assert await asyncio.to_thread(main, ["postmortem", "1", "--out", str(broken), *args]) == 2
    assert "refused by the template sandbox" in capsys.readouterr().err
    assert sorted(p.name for p in os.scandir(tmp_path) if "broken" in p.name) == []

    _override(pm_config, "{% for %}\n")
    assert await asyncio.to_thread(main, ["postmortem", "1", *args]) == 2
    assert "postmortem.md.j2:1: template syntax error" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["postmortem", "9", *args]) == 2
    assert "no incident INC-9" in capsys.readouterr().err


async def test_html_escapes_alert_text_and_drops_unsafe_links(
    pm_config: Path, database_url: str
) -> None:
    clock = Clock()
    async with (
        running_bot(pm_config, database_url, clock=clock, public_url=PUBLIC_URL) as rb,
        aiohttp.ClientSession() as http,
    ):
        await _one_incident(rb, clock)
        async with http.get(f"{rb.url}/incidents/1/postmortem?format=html") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/html")
            page = await resp.text()
        async with http.get(f"{rb.url}/incidents/INC-1") as resp:
            assert resp.status == 200
            record = await resp.text()
        async with http.get(f"{rb.url}/incidents/1/postmortem?format=pdf") as resp:
            assert resp.status == 400
        async with http.get(f"{rb.url}/incidents/42") as resp:
            assert resp.status == 404
        md = await postmortem_markdown(rb.bot, 1)
    for html in (page, record):
        assert "p99 &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
        assert "<script>" not in html
        assert "javascript:" not in html.replace("javascript:x", "")
        assert 'href="javascript' not in html
    assert 'id="event-1"' in record and "Acknowledged by alice" in record
    assert "<td>bob</td><td>see [this](javascript:x) | table</td>" in record
    assert r"p99 \<script\>alert(1)\</script\> & more" in md
    assert r"see \[this\](javascript:x) \| table" in md
    assert re.search(r"(?<!\\)\]\(javascript", md) is None
