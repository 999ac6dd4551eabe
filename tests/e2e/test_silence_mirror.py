"""Silences made in Pagerbot are mirrored in the real Alertmanager 0.25 through its API v2
when PAGERBOT_ALERTMANAGER_URL is set, and expired there with it: the two never disagree."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from bot.cli import main
from tests.e2e.test_alertmanager import TOKEN, poll, postable
from tests.helpers import running_bot

if TYPE_CHECKING:
    from tests.e2e.conftest import Alertmanager, StartAlertmanager


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


async def am_silences(am: Alertmanager) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{am.url}/api/v2/silences") as resp:
        assert resp.status == 200
        result: list[dict[str, Any]] = await resp.json()
        return result


@pytest.mark.alertmanager
async def test_silence_is_created_enforced_and_expired_in_alertmanager(
    config_dir: Path,
    sqlite_url: str,
    tmp_path: Path,
    alertmanager: StartAlertmanager,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    async with running_bot(config_dir, sqlite_url, webhook_token=TOKEN) as rb:
        am = await alertmanager(rb, token=TOKEN)
        monkeypatch.setenv("PAGERBOT_ALERTMANAGER_URL", am.url)
        code, out, err = await cli(
            capsys,
            *("silence", "add", "--database", db, "alertname=DiskFull", "host=~db.*"),
            *("--for", "2h", "--reason", "disk swap", "--owner", "alice", "--by", "bob"),
        )
        assert code == 0, err
        assert out.startswith("silence 1 created: ")

        (mirrored,) = await am_silences(am)
        assert mirrored["status"]["state"] == "active"
        assert sorted(
            (m["name"], m["value"], m["isRegex"], m.get("isEqual", True))
            for m in mirrored["matchers"]
        ) == [("alertname", "DiskFull", False, True), ("host", "db.*", True, True)]
        assert mirrored["createdBy"] == "bob"
        assert "disk swap" in mirrored["comment"] and "owner: alice" in mirrored["comment"]
        ends = datetime.fromisoformat(mirrored["endsAt"].replace("Z", "+00:00"))
        assert timedelta(hours=1, minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=2)

        code, out, _ = await cli(capsys, "silence", "list", "--database", db, "--json")
        (listed,) = json.loads(out)
        assert listed["alertmanager_id"] == mirrored["id"]

        # Alertmanager itself now suppresses a matching alert, and only a matching one.
        start = datetime.now(UTC) - timedelta(minutes=1)
        await am.push(
            [
                postable({"alertname": "DiskFull", "host": "db1"}, starts_at=start),
                postable({"alertname": "DiskFull", "host": "web1"}, starts_at=start),
            ]
        )
        alerts = await poll(am.alerts, lambda found: len(found) == 2)
        state = {a["labels"]["host"]: a["status"] for a in alerts}
        assert state["db1"]["state"] == "suppressed"
        assert state["db1"]["silencedBy"] == [mirrored["id"]]
        assert state["web1"]["state"] == "active"

        code, out, err = await cli(capsys, "silence", "expire", "--database", db, "1")
        assert code == 0, err
        (expired,) = await am_silences(am)
        assert expired["id"] == mirrored["id"]
        assert expired["status"]["state"] == "expired"
        alerts = await poll(
            am.alerts, lambda found: all(a["status"]["state"] == "active" for a in found)
        )
        assert {a["labels"]["host"] for a in alerts} == {"db1", "web1"}


@pytest.mark.alertmanager
async def test_alertmanager_refusing_or_unreachable_creates_nothing(
    config_dir: Path,
    sqlite_url: str,
    tmp_path: Path,
    alertmanager: StartAlertmanager,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    free_port: int,
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    add = ("silence", "add", "--database", db, "--reason", "r", "--owner", "alice")
    monkeypatch.setenv("PAGERBOT_ALERTMANAGER_URL", f"http://127.0.0.1:{free_port}")
    code, _, err = await cli(capsys, *add, "alertname=A", "--for", "1h")
    assert code == 2 and "Alertmanager unreachable" in err
    code, out, _ = await cli(capsys, "silence", "list", "--database", db, "--json")
    assert json.loads(out) == []

    async with running_bot(config_dir, sqlite_url, webhook_token=TOKEN) as rb:
        am = await alertmanager(rb, token=TOKEN)
        monkeypatch.setenv("PAGERBOT_ALERTMANAGER_URL", am.url)
        # A regex Alertmanager's Go engine rejects while Python accepts (lookahead).
        code, _, err = await cli(capsys, *add, "host=~(?=db).*", "--for", "1h")
        assert code == 2 and "Alertmanager refused the silence" in err
        assert await am_silences(am) == []
        code, out, _ = await cli(capsys, "silence", "list", "--database", db, "--json")
        assert json.loads(out) == []
