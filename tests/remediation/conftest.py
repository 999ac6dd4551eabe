"""A config whose runbook actions run small Python scripts that record what they got, and
a bot (store open, no web server) to raise incidents against."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Pagerbot
from bot.config import load_config
from bot.ingest import Alert, AlertStatus
from bot.ingest.alert import fingerprint
from bot.settings import Settings
from tests.chat.conftest import slack_standin  # noqa: F401  (the Slack stand-in fixture)
from tests.helpers import Clock

RECORDER = """
import json, os, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"argv": sys.argv[2:], "env": dict(os.environ), "cwd": os.getcwd()}))
    out.write("\\n")
print("recorded", len(sys.argv) - 2, "arguments")
print("to stderr", file=sys.stderr)
"""

# Starts a child in its own process group's session that writes a file after a delay:
# only killing the whole group stops it.
SPAWNER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import sys, time; time.sleep(float(sys.argv[2])); open(sys.argv[1], 'w').write('late')",
    sys.argv[2], sys.argv[3]])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(60)
"""

RULES = """
teams:
  payments:
    channel: "#payments"
    members: {alice: {slack: U1}, bob: {slack: U2}, carol: {slack: U3}}
  ops: {members: {dave: {slack: U4}, erin: {slack: U5}}}
schedules:
  ops-primary:
    timezone: UTC
    layers:
      - rotation: daily
        start: 2026-11-01T00:00
        handoff: "00:00"
        members: [dave]
defaults:
  group_by: [alertname]
routes:
  - match: {team: payments}
    group_by: [alertname, cluster]
    team: payments
"""


def _runbook(py: str, script: Path, out: Path, tmp: Path) -> str:
    rec = [f'"{py}"', f'"{script}"', f'"{out}"']
    base = ", ".join(rec)
    return f"""---
title: Recorded
match: {{alertname: Recorded}}
actions:
  - name: record
    description: records its arguments
    run: [{base}, "deployment/{{{{ labels.deployment }}}}", -n, "{{{{ labels.namespace }}}}",
          "{{{{ annotations.note }}}}", "{{{{ incident.ref }}}}"]
    params:
      {{deployment: "^[a-z0-9-]{{1,63}}$", namespace: "^[a-z0-9-]{{1,63}}$", note: "^.{{0,300}}$"}}
    approvers: [team:payments]
    env: [REMEDIATION_PASSED]
    timeout: 10s
  - name: record-two
    run: [{base}, two]
    approval: two
    approvers: [team:payments]
  - name: record-self
    run: [{base}, self]
    approvers: [team:payments]
    self_approve: true
  - name: record-oncall
    run: [{base}, oncall]
    approvers: [oncall:ops-primary, user:erin]
  - name: limited
    run: [{base}, limited]
    approval: none
    max_concurrent: 1
    cooldown: 10m
  - name: slow
    run: ["{py}", "{tmp / "spawner.py"}", "{tmp / "child.pid"}", "{tmp / "late.txt"}", "1.5"]
    approval: none
    timeout: 1s
---
# Recorded
"""


DIAG = """---
title: Diagnostics
match: {{alertname: Diag}}
actions:
  - name: diag
    run: ["{py}", "{script}", "{out}", diag]
    approval: none
    auto: true
    auto_max_per_hour: 2
    max_concurrent: 5
---
# Diagnostics
"""


@dataclass
class Env:
    root: Path
    out: Path
    clock: Clock
    bot: Pagerbot
    database_url: str

    def recorded(self) -> list[dict[str, object]]:
        import json

        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    async def incident(self, alertname: str = "Recorded", **labels: str) -> int:
        note = labels.pop("note", "checked by hand")
        merged = {"alertname": alertname, "team": "payments", "cluster": "eu-1"}
        merged.update({"deployment": "checkout", "namespace": "shop"} | labels)
        alert = Alert(
            labels=merged,
            annotations={"note": note, "summary": "latency"},
            status=AlertStatus.FIRING,
            starts_at=self.clock.now,
            ends_at=None,
            generator_url="",
            fingerprint=fingerprint(merged),
            source="test",
        )
        plan = await self.bot.ingest([alert])
        assert plan is not None
        number = plan.incidents[0].id
        assert number is not None
        return number


def write_config(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "rules.yaml").write_text(RULES, encoding="utf-8")
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER, encoding="utf-8")
    (tmp_path / "spawner.py").write_text(SPAWNER, encoding="utf-8")
    out = tmp_path / "argv.jsonl"
    py = sys.executable
    (root / "runbooks" / "recorded.md").write_text(
        _runbook(py, script, out, tmp_path), encoding="utf-8"
    )
    (root / "runbooks" / "diag.md").write_text(
        DIAG.format(py=py, script=script, out=out), encoding="utf-8"
    )
    return root, out


@pytest.fixture
def config_root(tmp_path: Path) -> tuple[Path, Path]:
    return write_config(tmp_path)


@pytest.fixture
async def env(
    tmp_path: Path, database_url: str, config_root: tuple[Path, Path]
) -> AsyncIterator[Env]:
    root, out = config_root
    clock = Clock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    settings = Settings(config_dir=root, database_url=database_url)
    bot = Pagerbot(settings, load_config(root), clock=clock)
    await bot.store.open()
    try:
        yield Env(root, out, clock, bot, database_url)
    finally:
        await bot.remediation.stop()
        await bot.store.close()
