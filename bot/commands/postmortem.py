"""`pagerbot postmortem INC [--out FILE] [--format md|html]` and `--check FILE`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.commands.store_access import database_exists, opened
from bot.config import Config, load_config
from bot.postmortem.blameless import check_text
from bot.postmortem.draft import DraftContext
from bot.postmortem.render import Format, TemplateProblem
from bot.postmortem.service import render_session, write_file
from bot.rules import ConfigError
from bot.settings import Settings
from bot.store.queries import parse_incident_ref


def optional_config(settings: Settings) -> Config | None:
    """The config when it loads; a draft or a check still works without one."""
    try:
        return load_config(settings.config_dir)
    except ConfigError as exc:
        print(
            f"pagerbot postmortem: config in {settings.config_dir} not loaded "
            f"({len(exc.problems)} problem(s)); names and runbooks are left out",
            file=sys.stderr,
        )
        return None


def format_for(out: Path | None, fmt: str | None) -> Format:
    chosen = fmt or ("html" if out is not None and out.suffix in (".html", ".htm") else "md")
    if chosen not in ("md", "html"):
        raise ValueError(f"unknown format {chosen!r}: use md or html")
    return "html" if chosen == "html" else "md"


async def draft(settings: Settings, ref: str, *, out: Path | None, fmt: str | None) -> int:
    number = parse_incident_ref(ref)
    chosen = format_for(out, fmt)
    if not database_exists(settings):
        raise ValueError(f"no database at {settings.database_url}")
    config = optional_config(settings)
    ctx = DraftContext(
        now=datetime.now(UTC),
        base_url=settings.base_url,
        rules=config.rules if config else None,
        runbooks=config.runbooks if config else None,
        router=config.router if config else None,
        config_dir=settings.config_dir,
    )
    try:
        async with opened(settings) as store:
            if out is not None:
                await write_file(store, number, ctx, chosen, out)
                print(f"INC-{number}: post-mortem draft written to {out}", file=sys.stderr)
                return 0
            text = await store.read(lambda s: render_session(s, number, ctx, chosen))
    except LookupError as exc:
        raise ValueError(str(exc).strip("'\"")) from None
    except TemplateProblem as exc:
        raise ValueError(f"post-mortem template: {exc}") from None
    sys.stdout.write(text)
    return 0


def check(settings: Settings, path: Path) -> int:
    """Exit 1 when blaming language is found, 0 when the file reads blameless."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    config = optional_config(settings) if (settings.config_dir / "rules").is_dir() else None
    people: list[str] = []
    for name, member in (config.rules.users() if config else {}).items():
        people += [name, *([member.slack] if member.slack else [])]
    findings = check_text(text, people)
    for finding in findings:
        print(finding.format(str(path)))
    if findings:
        print(
            f"{path}: {len(findings)} blaming phrase(s); reword them to describe systems "
            "and conditions",
            file=sys.stderr,
        )
        return 1
    print(f"{path}: no blaming language found", file=sys.stderr)
    return 0
