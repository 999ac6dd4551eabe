"""Overrides written back into the schedule's YAML (comments kept), or into the database
when the config folder is read-only."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.config import load_config
from bot.oncall.writeback import OverrideError, add_override, add_to_yaml
from bot.store import Store
from bot.store.tables import oncall_overrides

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 12, 24, 17, tzinfo=UTC)
END = datetime(2026, 12, 26, 8, tzinfo=UTC)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    root = tmp_path / "cfg"
    shutil.copytree(REPO / "rules", root / "rules")
    shutil.copytree(REPO / "runbooks", root / "runbooks")
    return root


def test_override_is_appended_with_comments_and_layout_kept(example: Path) -> None:
    path = example / "rules" / "oncall.yaml"
    before = path.read_text()
    written = add_to_yaml(load_config(example), example, "payments-primary", "carol", START, END)
    assert written.file == "rules/oncall.yaml" and not written.stored
    after = path.read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    # Local times in the schedule's zone (Europe/Berlin, UTC+1 in December).
    assert added == [
        "    overrides:",
        "      - {user: carol, from: 2026-12-24T18:00, to: 2026-12-26T09:00}",
    ]
    assert "# wall-clock handoff, stable across DST" in after
    (override,) = load_config(example).rules.schedules["payments-primary"].overrides
    assert (override.user, override.from_, override.to) == (
        "carol",
        datetime(2026, 12, 24, 18),
        datetime(2026, 12, 26, 9),
    )


def test_second_override_goes_into_the_existing_list(example: Path) -> None:
    add_to_yaml(load_config(example), example, "payments-primary", "carol", START, END)
    add_to_yaml(
        load_config(example), example, "payments-primary", "alice", END, END.replace(day=27)
    )
    overrides = load_config(example).rules.schedules["payments-primary"].overrides
    assert [o.user for o in overrides] == ["carol", "alice"]


@pytest.mark.parametrize(
    ("schedule", "user", "start", "end", "message"),
    [
        ("nope", "carol", START, END, "no schedule named 'nope'"),
        ("payments-primary", "mallory", START, END, "'mallory' is not a member of any team"),
        ("payments-primary", "carol", END, START, "must end after it starts"),
    ],
)
def test_invalid_override_is_refused_and_nothing_written(
    example: Path, schedule: str, user: str, start: datetime, end: datetime, message: str
) -> None:
    path = example / "rules" / "oncall.yaml"
    before = path.read_text()
    with pytest.raises(OverrideError, match=message):
        add_to_yaml(load_config(example), example, schedule, user, start, end)
    assert path.read_text() == before


@pytest.fixture
def read_only(example: Path) -> Iterator[Path]:
    """The rules folder on a read-only mount, as a Kubernetes ConfigMap would be."""
    rules = example / "rules"
    saved = example / "saved-rules"
    shutil.copytree(rules, saved)
    result = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(rules)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a read-only folder here: {result.stderr.decode().strip()}")
    try:
        shutil.copytree(saved, rules, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(rules)], check=True)
        yield example
    finally:
        subprocess.run(["umount", str(rules)], check=False)


async def test_read_only_config_falls_back_to_the_database(
    read_only: Path, sqlite_url: str
) -> None:
    store = Store(sqlite_url)
    await store.open()
    try:
        before = (read_only / "rules" / "oncall.yaml").read_text()
        written = await add_override(
            load_config(read_only),
            read_only,
            store,
            schedule="payments-primary",
            user="carol",
            start=START,
            end=END,
            created_by="alice",
        )
        assert written.stored and written.file is None
        assert (read_only / "rules" / "oncall.yaml").read_text() == before
        rows = await store.read(lambda s: s.exec(sa.select(oncall_overrides)).all())  # type: ignore[call-overload]
        assert [(r.schedule, r.user, r.starts_at, r.ends_at, r.created_by) for r in rows] == [
            ("payments-primary", "carol", START, END, "alice")
        ]
        with pytest.raises(OverrideError, match="not a member"):
            await add_override(
                load_config(read_only),
                read_only,
                store,
                schedule="payments-primary",
                user="mallory",
                start=START,
                end=END,
                created_by="alice",
            )
    finally:
        await store.close()


async def test_writable_config_gets_the_yaml(example: Path, sqlite_url: str) -> None:
    store = Store(sqlite_url)
    await store.open()
    try:
        written = await add_override(
            load_config(example),
            example,
            store,
            schedule="payments-primary",
            user="carol",
            start=START,
            end=END,
            created_by="alice",
        )
        assert written.file == "rules/oncall.yaml" and not written.stored
    finally:
        await store.close()
