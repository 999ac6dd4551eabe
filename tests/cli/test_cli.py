"""The command line, run in-process through `bot.cli.main` (the same code as the script)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.schema import schema

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_route_explains_the_example_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "route",
        "--config",
        str(REPO),
        "--database",
        f"sqlite:///{tmp_path / 'none.db'}",
        "team=payments",
        "alertname=CheckoutLatencyHigh",
        "cluster=eu-1",
        "severity=critical",
        "--at",
        "2026-11-20T12:00:00Z",
    )
    assert code == 0
    assert 'route       {}/{team="payments"}' in out
    assert "rules/routes.yaml:" in out  # where the route is written
    assert (
        'group key   {}/{team="payments"}:{alertname="CheckoutLatencyHigh",cluster="eu-1"}' in out
    )
    assert "runbook     checkout-latency-high (runbooks/checkout-latency-high.md)" in out
    assert "round 1 step 3 after  20m: team:payments → alice, bob, carol" in out
    assert "no database yet" in out
    assert not (tmp_path / "none.db").exists()  # a dry run creates nothing


def test_route_json_shows_maintenance_and_inhibition(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "route",
        "--config",
        str(REPO),
        "--json",
        "--database",
        f"sqlite:///{tmp_path / 'none.db'}",
        "alertname=X",
        "cluster=staging",
        "severity=warning",
        "--at",
        "2026-12-01T23:00:00Z",
    )
    assert code == 0
    (result,) = json.loads(out)["routes"]
    assert result["default"] is True and result["team"] == "platform"
    assert result["muted"]["by"] == "maintenance:maintenance_windows[0]"
    assert result["inhibitable_by"][0]["source"] == '{alertname="DatacenterDown"}'
    assert [s["after"] for s in result["page_path"]] == ["0s", "15m"]


def test_route_file_lists_default_alerts_and_unused_routes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    payloads = tmp_path / "alerts.json"
    payloads.write_text(
        json.dumps(
            [
                {"labels": {"alertname": "A", "team": "payments"}},
                {"labels": {"alertname": "Lonely"}},
            ]
        )
    )
    args = [
        "route",
        "--config",
        str(REPO),
        "--database",
        f"sqlite:///{tmp_path / 'x.db'}",
        "--file",
        str(payloads),
    ]
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert "1 alert(s) matched no route (took defaults)\n  alertname=Lonely" in out
    assert '{namespace=~"kube-.*|monitoring"} (rules/routes.yaml:' in out
    assert '{severity="info"}' in out  # the child route nothing reached
    code, out, _ = run(capsys, *args, "--strict", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["default_route"] == [{"alertname": "Lonely"}]
    assert len(report["unused_routes"]) == 2


def test_silence_add_list_expire_and_route_sees_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'bot.db'}"
    code, out, _ = run(
        capsys,
        "silence",
        "add",
        "--database",
        db,
        "alertname=DiskFull",
        "host=~db.*",
        "--for",
        "2h",
        "--reason",
        "disk swap",
        "--owner",
        "alice",
        "--by",
        "bob",
    )
    assert code == 0 and out.startswith("silence 1 created: ")
    code, out, _ = run(capsys, "silence", "list", "--database", db, "--json")
    (item,) = json.loads(out)
    assert item["matchers"] == ['alertname="DiskFull"', 'host=~"db.*"']
    assert (item["owner"], item["created_by"], item["expired"]) == ("alice", "bob", False)
    code, out, _ = run(
        capsys, "route", "--config", str(REPO), "--database", db, "alertname=DiskFull", "host=db1"
    )
    assert "muted       silenced by silence:1 (alice: disk swap)" in out
    code, out, _ = run(capsys, "silence", "expire", "--database", db, "1")
    assert code == 0
    code, out, _ = run(capsys, "silence", "list", "--database", db)
    assert out.strip() == "no silences"
    code, _, err = run(capsys, "silence", "expire", "--database", db, "1")
    assert code == 2 and "already expired" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alertname=A", "--reason", "r", "--owner", "o"], "exactly one of --for"),
        (["alertname=A", "--for", "soon", "--reason", "r", "--owner", "o"], "invalid duration"),
        (["nonsense", "--for", "1h", "--reason", "r", "--owner", "o"], "bad matcher"),
        (["alertname=A", "--for", "100d", "--reason", "r", "--owner", "o"], "at most 90 days"),
        (["alertname=A", "--for", "1h", "--reason", " ", "--owner", "o"], "needs a reason"),
    ],
)
def test_silence_add_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = run(
        capsys, "silence", "add", "--database", f"sqlite:///{tmp_path / 'bot.db'}", *args
    )
    assert code == 2 and message in err


def test_published_schema_is_current_and_describes_the_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    printed = json.loads(out)
    assert printed == schema()
    published = json.loads((REPO / "docs" / "rules.schema.json").read_text())
    assert published == printed, "docs/rules.schema.json is stale: pagerbot schema > it"
    assert set(printed["properties"]) == {
        "defaults",
        "teams",
        "schedules",
        "escalation_policies",
        "routes",
        "inhibit_rules",
        "maintenance_windows",
        "silences",
    }
    assert printed["additionalProperties"] is False
