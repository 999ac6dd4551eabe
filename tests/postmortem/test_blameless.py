"""The blameless check: finds blaming phrases and people named as causes, says why,
suggests a system-focused wording; the default draft passes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.postmortem.blameless import check_text

TEXT = """# Post-mortem
The outage was caused by human error.
Bob should have checked the replica lag; alice forgot to reset the flag.
It was the fault of the deploy script, and careless handling of secrets.
Latency rose because of bob.
```
ERROR human error in the logs is not prose
```
Alerting found the problem; the team restored service.
"""


def test_finds_blaming_phrases_line_by_line_with_suggestions() -> None:
    found = check_text(TEXT, people=["alice", "bob", "U02BOB"])
    assert [(f.line, f.phrase) for f in found] == [
        (2, "human error"),
        (3, "Bob should have"),
        (3, "alice forgot"),
        (4, "the fault of"),
        (4, "careless"),
        (5, "because of bob"),
    ]
    person = found[1]
    assert person.why == "names a team member as the subject of a cause"
    assert "system the subject" in person.suggestion
    assert found[0].format("pm.md").startswith('pm.md:2:26: "human error": names a person')


def test_without_people_only_phrases_are_flagged() -> None:
    found = check_text(TEXT)
    assert (3, "should have") in [(f.line, f.phrase) for f in found]
    assert all("bob" not in f.phrase.lower() for f in found)


def test_cli_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config"
    (config / "rules").mkdir(parents=True)
    (config / "rules" / "teams.yaml").write_text(
        "teams:\n  payments:\n    members: {carol: {slack: U03CAROL}}\n", encoding="utf-8"
    )
    bad = tmp_path / "bad.md"
    bad.write_text("Fine line.\nThe deploy broke because carol skipped a step.\n")
    assert main(["postmortem", "--check", str(bad), "--config", str(config)]) == 1
    out = capsys.readouterr()
    assert f"{bad}:2:" in out.out and '"because carol"' in out.out
    good = tmp_path / "good.md"
    good.write_text("The deploy pipeline allowed a change without review.\n")
    assert main(["postmortem", "--check", str(good), "--config", str(config)]) == 0
    assert "no blaming language found" in capsys.readouterr().err
    assert main(["postmortem", "--check", str(tmp_path / "missing.md")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_default_draft_is_blameless() -> None:
    golden = Path(__file__).with_name("golden") / "inc-1.md"
    assert check_text(golden.read_text(encoding="utf-8"), ["alice", "bob"]) == []
