"""`pagerbot remediate` and `pagerbot audit`, in-process through `bot.cli.main`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.app import Pagerbot
from bot.cli import main
from bot.config import load_config
from bot.ingest import Alert, AlertStatus
from bot.ingest.alert import fingerprint
from bot.settings import Settings
from tests.helpers import Clock
from tests.remediation.conftest import write_config


def _incident(root: Path, url: str, **labels: str) -> int:
    async def make() -> int:
        bot = Pagerbot(Settings(config_dir=root, database_url=url), load_config(root))
        await bot.store.open()
        try:
            merged = {"alertname": "Recorded", "team": "payments", "cluster": "eu-1"}
            merged |= {"deployment": "checkout", "namespace": "shop"} | labels
            alert = Alert(
                labels=merged,
                annotations={"note": "from the cli test"},
                status=AlertStatus.FIRING,
                starts_at=Clock().now,
                ends_at=None,
                generator_url="",
                fingerprint=fingerprint(merged),
                source="test",
            )
            plan = await bot.ingest([alert])
            assert plan is not None and plan.incidents[0].id is not None
            return plan.incidents[0].id
        finally:
            await bot.remediation.stop()
            await bot.store.close()

    return asyncio.run(make())


@pytest.fixture
def setup(tmp_path: Path, database_url: str) -> tuple[list[str], Path, int, int]:
    root, out = write_config(tmp_path)
    good = _incident(root, database_url)
    bad = _incident(root, database_url, cluster="us-1", namespace="shop; rm -rf /")
    return ["--config", str(root), "--database", database_url], out, good, bad


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dry_run_prints_the_exact_argv_or_the_refusal(
    capsys: pytest.CaptureFixture[str], setup: tuple[list[str], Path, int, int]
) -> None:
    common, out, good, bad = setup
    code, text, _ = run(capsys, "remediate", *common, "--dry-run", f"INC-{good}", "record")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == f"INC-{good} record (runbook recorded)"
    argv = json.loads(lines[2].removeprefix("argv "))
    assert argv[3:] == ["deployment/checkout", "-n", "shop", "from the cli test", f"INC-{good}"]
    code, text, _ = run(capsys, "remediate", *common, "--dry-run", str(bad), "record")
    assert code == 1
    assert text.startswith("refused: parameter namespace: value 'shop; rm -rf /' does not match")
    code, _, err = run(capsys, "remediate", *common, "--dry-run", str(good), "nope")
    assert code == 2 and "has no action 'nope' (runbook recorded offers: record," in err
    assert not out.exists()  # nothing ran
    code, text, _ = run(capsys, "audit", *common)
    assert text == "no remediation activity\n"  # a dry run records nothing


def test_request_approve_run_and_audit(
    capsys: pytest.CaptureFixture[str], setup: tuple[list[str], Path, int, int]
) -> None:
    common, out, good, _ = setup
    code, text, _ = run(capsys, "remediate", *common, str(good), "record", "--as", "alice")
    assert code == 0 and text.startswith("run #1 needs 1 approval from team:payments by ")
    code, text, _ = run(capsys, "remediate", *common, "approve", "1", "--as", "alice")
    assert code == 1 and "refused: alice requested this run" in text
    code, text, _ = run(capsys, "remediate", *common, "approve", "#1", "--as", "bob")
    assert code == 0
    assert "bob approved record (run #1" in text
    assert "record (run #1, INC-1) succeeded: exit 0" in text
    assert "recorded 5 arguments" in text
    assert json.loads(out.read_text())["argv"][-1] == f"INC-{good}"
    code, text, _ = run(capsys, "remediate", *common, "show", "1")
    assert code == 0 and "approved by  bob" in text and "sha256 " in text

    code, text, _ = run(capsys, "audit", *common, "--incident", f"INC-{good}")
    events = [line.split()[4] for line in text.splitlines()]
    assert events == ["requested", "approval_refused", "approved", "started", "finished"]
    code, text, _ = run(capsys, "audit", *common, "--json")
    items = json.loads(text)
    assert [i["actor"] for i in items] == ["alice", "alice", "bob", "pagerbot", "pagerbot"]
    assert items[3]["data"]["approved_by"] == ["bob"]
    assert items[3]["data"]["requested_by"] == "alice"
    assert len(items[4]["data"]["digest"]) == 64 and items[4]["data"]["exit_code"] == 0


def test_deny_needs_a_reason(
    capsys: pytest.CaptureFixture[str], setup: tuple[list[str], Path, int, int]
) -> None:
    common, out, good, _ = setup
    run(capsys, "remediate", *common, str(good), "record", "--as", "alice")
    code, _, err = run(capsys, "remediate", *common, "deny", "1", "--as", "bob")
    assert code == 2 and "deny needs --reason" in err
    code, text, _ = run(
        capsys, "remediate", *common, "deny", "1", "--as", "bob", "--reason", "peak traffic"
    )
    assert code == 0 and text.startswith("bob denied record (run #1")
    code, text, _ = run(capsys, "remediate", *common, "approve", "1", "--as", "carol")
    assert code == 1 and "run #1 is denied" in text
    assert not out.exists()
