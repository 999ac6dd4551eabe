"""Adding an override by writing it into the schedule's YAML file, comments and layout
kept (ruamel.yaml round trip), validated before anything is written; when the config
folder cannot be written (a read-only mount, a ConfigMap), the override is stored in the
database instead. Both kinds count everywhere."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from bot.config import Config, load_config
from bot.rules import ConfigError
from bot.store import Store
from bot.store.tables import oncall_overrides


class OverrideError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Written:
    file: str | None  # the YAML file written, or None when stored in the database
    stored: bool


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _local(value: datetime, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def writable(folder: Path) -> bool:
    """Really writable: a read-only mount says no even to root."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".pagerbot-", delete=True):
            return True
    except OSError:
        return False


def render_with_override(
    path: Path, schedule: str, user: str, start: datetime, end: datetime, tz: str
) -> str:
    text = path.read_text(encoding="utf-8")
    _, sequence, offset = load_yaml_guess_indent(text)
    sequence, offset = sequence or 2, offset or 0
    yaml = _yaml()
    # Keep the file's own indentation, so the diff is just the new lines.
    yaml.indent(mapping=max(sequence - offset, 2), sequence=sequence, offset=offset)
    data = yaml.load(text)
    entry = data["schedules"][schedule]
    overrides = entry.get("overrides")
    if overrides is None:
        overrides = CommentedSeq()
        entry["overrides"] = overrides
    item = CommentedMap([("user", user), ("from", _local(start, tz)), ("to", _local(end, tz))])
    item.fa.set_flow_style()
    overrides.append(item)
    out = StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def add_to_yaml(
    config: Config, config_dir: Path, schedule: str, user: str, start: datetime, end: datetime
) -> Written:
    """Write the override into the file that defines the schedule; raise OverrideError if
    the result would not validate, or OSError if the folder cannot be written."""
    sched = config.rules.schedules.get(schedule)
    if sched is None:
        raise OverrideError(f"no schedule named {schedule!r}")
    if user not in config.rules.users():
        raise OverrideError(f"{user!r} is not a member of any team")
    if end <= start:
        raise OverrideError("an override must end after it starts")
    origin = config.locator.origins[("schedules", schedule)]
    path = config_dir / origin.file
    text = render_with_override(path, schedule, user, start, end, sched.timezone)
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch)
        for folder in ("rules", "runbooks"):
            if (config_dir / folder).is_dir():
                shutil.copytree(config_dir / folder, trial / folder)
        (trial / origin.file).write_text(text, encoding="utf-8")
        try:
            load_config(trial)
        except ConfigError as exc:
            raise OverrideError("; ".join(str(p) for p in exc.problems)) from None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pagerbot-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new, never half
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Written(origin.file, stored=False)


async def add_override(
    config: Config,
    config_dir: Path,
    store: Store,
    *,
    schedule: str,
    user: str,
    start: datetime,
    end: datetime,
    created_by: str,
) -> Written:
    """YAML when the folder can be written (reviewed in git like the rest), else the
    database; validation is the same either way."""
    origin = config.locator.origins.get(("schedules", schedule))
    folder = (config_dir / origin.file).parent if origin else config_dir
    if origin is not None and await asyncio.to_thread(writable, folder):
        try:
            return await asyncio.to_thread(
                add_to_yaml, config, config_dir, schedule, user, start, end
            )
        except PermissionError:
            pass  # e.g. the file itself is read-only: fall back like a read-only folder
    if schedule not in config.rules.schedules:
        raise OverrideError(f"no schedule named {schedule!r}")
    if user not in config.rules.users():
        raise OverrideError(f"{user!r} is not a member of any team")
    if end <= start:
        raise OverrideError("an override must end after it starts")
    now = store.clock()
    await store.write(
        lambda conn: conn.execute(
            oncall_overrides.insert().values(
                schedule=schedule,
                user=user,
                starts_at=start,
                ends_at=end,
                created_by=created_by,
                created_at=now,
            )
        )
    )
    return Written(None, stored=True)
