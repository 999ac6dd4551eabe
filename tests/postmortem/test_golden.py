"""The rendered post-mortem of a realistic incident, compared with a reviewed file.

After an intended change to the draft, regenerate the golden file and review its diff:

    PAGERBOT_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/postmortem/test_golden.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import aiohttp

from bot.postmortem import postmortem_markdown
from tests.helpers import Clock, running_bot
from tests.postmortem.scenario import PUBLIC_URL, build_incident

GOLDEN = Path(__file__).with_name("golden") / "inc-1.md"


def compare_golden(actual: str, golden: Path) -> None:
    if os.environ.get("PAGERBOT_UPDATE_GOLDEN"):
        golden.write_text(actual, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(golden),
                tofile="rendered",
            )
        )
        raise AssertionError(
            f"the post-mortem differs from {golden.name} "
            f"(PAGERBOT_UPDATE_GOLDEN=1 regenerates it):\n{diff}"
        )


async def test_postmortem_of_a_flapping_escalated_remediated_incident(
    pm_config: Path, database_url: str
) -> None:
    clock = Clock()
    async with running_bot(pm_config, database_url, clock=clock, public_url=PUBLIC_URL) as rb:
        await build_incident(rb, clock)
        text = await postmortem_markdown(rb.bot, 1)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{rb.url}/incidents/1/postmortem") as resp,
        ):
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/markdown")
            served = await resp.text()
    compare_golden(text, GOLDEN)
    assert served == text
