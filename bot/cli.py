"""The command line: `pagerbot serve`, `check`, `route`, `schema`, `silence`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.commands import postmortem_cli
from bot.settings import Settings


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="DIR",
        type=Path,
        help="folder holding rules/ and runbooks/ (default $PAGERBOT_CONFIG_DIR or .)",
    )
    common.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///file.db or postgresql://… (default $PAGERBOT_DATABASE_URL)",
    )
    parser = argparse.ArgumentParser(prog="pagerbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="run the service until SIGTERM/SIGINT")
    serve.add_argument("--host", help="listen address (default $PAGERBOT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default $PAGERBOT_PORT or 8080)")

    check = sub.add_parser(
        "check", parents=[common], help="validate rules/ and runbooks/; exit 1 on any problem"
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")

    route = sub.add_parser("route", parents=[common], help="dry run of routing for an alert")
    route.add_argument("labels", nargs="*", metavar="LABEL=VALUE")
    route.add_argument("--file", type=Path, help="route every alert of a JSON file")
    route.add_argument("--at", help="evaluate at this time (ISO 8601; default now)")
    route.add_argument("--json", action="store_true", help="machine-readable output")
    route.add_argument(
        "--strict",
        action="store_true",
        help="with --file: exit 1 if an alert took the default route or a route matched nothing",
    )

    sub.add_parser("schema", help="print the JSON Schema of rules/*.yaml")

    oncall = sub.add_parser(
        "oncall",
        parents=[common],
        help="who is on call; `oncall report --from --to`; `oncall accept SCHEDULE`",
    )
    oncall.add_argument("words", nargs="*", metavar="SCHEDULE | report | accept SCHEDULE")
    oncall.add_argument("--schedule", help="a schedule by name, even one named report or accept")
    oncall.add_argument("--at", help="who is on call at this time (ISO 8601; default now)")
    oncall.add_argument("--from", dest="start", help="report: start (ISO 8601, UTC if no offset)")
    oncall.add_argument("--to", dest="end", help="report: end (ISO 8601)")
    oncall.add_argument("--as", dest="user", help="accept: who accepts (default: your login)")
    oncall.add_argument("--json", action="store_true", help="machine-readable output")

    incident = sub.add_parser("incident", help="incidents without Slack: list, show, ack, …")
    isub = incident.add_subparsers(dest="action", required=True)
    il = isub.add_parser("list", parents=[common], help="recent incidents")
    il.add_argument("--open", action="store_true", help="only those not resolved")
    il.add_argument("--json", action="store_true")
    ish = isub.add_parser("show", parents=[common], help="an incident and its timeline")
    ish.add_argument("incident", metavar="INC", help="INC-7 or 7")
    ish.add_argument("--json", action="store_true")
    for name, text in (
        ("ack", "acknowledge: stop escalation"),
        ("resolve", "resolve by hand"),
        ("escalate", "page the next step now"),
        ("note", "add a note"),
    ):
        p = isub.add_parser(name, parents=[common], help=text)
        p.add_argument("incident", metavar="INC", help="INC-7 or 7")
        if name == "note":
            p.add_argument("text")
        p.add_argument("--as", dest="user", help="who does it (default: your login)")

    silence = sub.add_parser("silence", help="run-time silences: add, list, expire")
    ssub = silence.add_subparsers(dest="action", required=True)
    add = ssub.add_parser("add", parents=[common], help="silence matching alerts")
    add.add_argument(
        "matchers",
        nargs="+",
        metavar="MATCHER",
        help="alertname=X, env=~prod.*, severity!=info, pod!~canary-.*",
    )
    add.add_argument("--for", dest="duration", help="how long, like 2h or 30m")
    add.add_argument("--until", help="end time, ISO 8601 (UTC unless it has an offset)")
    add.add_argument("--reason", required=True, help="why; shown wherever the silence mutes")
    add.add_argument("--owner", required=True, help="who answers for it (a team member)")
    add.add_argument("--by", dest="created_by", help="who made it (default: your login)")
    ls = ssub.add_parser("list", parents=[common], help="silences in force")
    ls.add_argument("--all", action="store_true", help="expired ones too")
    ls.add_argument("--json", action="store_true")
    ex = ssub.add_parser("expire", parents=[common], help="end a silence now")
    ex.add_argument("id", type=int)

    rem = sub.add_parser(
        "remediate",
        parents=[common],
        help="runbook actions: request, --dry-run, approve RUN, deny RUN, show RUN",
    )
    rem.add_argument("words", nargs="+", metavar="INC ACTION | approve RUN | deny RUN | show RUN")
    rem.add_argument("--dry-run", action="store_true", help="render only: print what would run")
    rem.add_argument("--as", dest="user", help="who does it (default: your login)")
    rem.add_argument("--reason", default="", help="why (required for deny)")
    aud = sub.add_parser("audit", parents=[common], help="remediation audit trail")
    aud.add_argument("--incident", metavar="INC", help="only this incident")
    aud.add_argument("--json", action="store_true")
    postmortem_cli.add_parsers(sub, common)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    for name, key in (
        ("config", "config_dir"),
        ("database", "database_url"),
        ("host", "host"),
        ("port", "port"),
    ):
        value = getattr(args, name, None)
        if value is not None:
            overrides[key] = value
    return Settings(**overrides)  # type: ignore[arg-type]


def _at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        from bot.commands import serve

        return asyncio.run(serve.run(settings))
    if args.command == "check":
        from bot.commands import check

        return check.run(settings.config_dir, as_json=args.json)
    if args.command == "schema":
        from bot.commands import schema

        return schema.run()
    if args.command == "route":
        from bot.commands import route_cli

        return asyncio.run(route_cli.run(settings, args, _at(args.at)))
    if args.command == "incident":
        from bot.commands import incident

        if args.action == "list":
            return asyncio.run(incident.listing(settings, open_only=args.open, as_json=args.json))
        if args.action == "show":
            return asyncio.run(incident.show(settings, args.incident, as_json=args.json))
        return asyncio.run(
            incident.act(
                settings, args.action, args.incident, user=args.user, text=getattr(args, "text", "")
            )
        )
    if args.command == "silence":
        from bot.commands import silence

        if args.action == "add":
            return asyncio.run(
                silence.add(
                    settings,
                    matchers=args.matchers,
                    duration=args.duration,
                    until=args.until,
                    reason=args.reason,
                    owner=args.owner,
                    created_by=args.created_by,
                )
            )
        if args.action == "list":
            return asyncio.run(silence.listing(settings, include_ended=args.all, as_json=args.json))
        return asyncio.run(silence.expire(settings, args.id))
    if args.command in ("remediate", "audit"):
        from bot.commands import remediate

        if args.command == "audit":
            return asyncio.run(remediate.audit(settings, args.incident, as_json=args.json))
        return asyncio.run(
            remediate.run(
                settings, args.words, dry_run=args.dry_run, user=args.user, reason=args.reason
            )
        )
    if args.command in postmortem_cli.COMMANDS:
        return postmortem_cli.run(args, settings)
    if args.command == "oncall":
        from bot.commands import oncall

        return asyncio.run(oncall.run(settings, args))
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _settings(args)
    logging.basicConfig(
        level=os.environ.get("PAGERBOT_LOG_LEVEL", settings.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from bot.commands.route import UsageError
    from bot.commands.silence import ERRORS
    from bot.store import StoreUnavailable

    try:
        return _run(args, settings)
    except (UsageError, ValueError, StoreUnavailable, *ERRORS) as exc:
        print(f"pagerbot {args.command}: {exc}", file=sys.stderr)
        return 2
