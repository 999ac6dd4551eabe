"""Argument parsing for `pagerbot postmortem` and `pagerbot report`; light to import
(the commands themselves load on use)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bot.settings import Settings

COMMANDS = ("postmortem", "report")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    pm = sub.add_parser(
        "postmortem",
        parents=[common],
        help="post-mortem draft of an incident, or --check a post-mortem for blaming language",
    )
    pm.add_argument("incident", nargs="?", metavar="INC", help="INC-7 or 7")
    pm.add_argument("--out", type=Path, metavar="FILE", help="write here (default stdout)")
    pm.add_argument(
        "--format", choices=("md", "html"), help="md (default) or html (default for *.html)"
    )
    pm.add_argument(
        "--check",
        type=Path,
        metavar="FILE",
        help="report blaming language line by line; exit 1 when any is found",
    )
    rep = sub.add_parser(
        "report", parents=[common], help="incident metrics: MTTA, MTTR, pages, noisy alerts"
    )
    rep.add_argument("--team", help="only incidents of this team")
    rep.add_argument("--from", dest="start", metavar="DATE", help="start (default 30 days ago)")
    rep.add_argument("--to", dest="end", metavar="DATE", help="end (default now)")
    rep.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "report":
        from bot.commands import report

        return asyncio.run(
            report.run(settings, team=args.team, start=args.start, end=args.end, as_json=args.json)
        )
    from bot.commands import postmortem

    if args.check is not None:
        if args.incident or args.out or args.format:
            raise ValueError("--check FILE takes no incident, --out or --format")
        return postmortem.check(settings, args.check)
    if not args.incident:
        raise ValueError("name an incident (INC-7 or 7), or use --check FILE")
    return asyncio.run(postmortem.draft(settings, args.incident, out=args.out, fmt=args.format))
