"""`pagerbot remediate` and `pagerbot audit`: runbook actions from the command line.

Trust model: the CLI is for operators who already hold the database URL, and so could
write any row themselves. It acts as your login name (or `--as USER`) and applies the same
approval rules as Slack; what it cannot give is proof of identity, which Slack does.
An approval that completes the quorum runs the action here, in this process."""

from __future__ import annotations

import getpass
import json
from typing import Any

import orjson

from bot.commands.store_access import database_exists, opened
from bot.config import load_config
from bot.remediation import Decision, Remediation, RemediationError, RenderError, RunView
from bot.remediation.audit import trail
from bot.settings import Settings
from bot.store.queries import parse_incident_ref

USAGE = (
    "write: remediate [--dry-run] INC ACTION | remediate approve RUN | "
    "remediate deny RUN --reason TEXT | remediate show RUN"
)


def _run_id(text: str) -> int:
    cleaned = text.strip().lstrip("#")
    if not cleaned.isdigit():
        raise ValueError(f"not a run id: {text!r} (write 12 or #12)")
    return int(cleaned)


async def run(
    settings: Settings, words: list[str], *, dry_run: bool, user: str | None, reason: str
) -> int:
    who = user or getpass.getuser()
    verb = words[0] if words else ""
    if verb in ("approve", "deny", "show") and len(words) == 2:
        return await _on_run(settings, verb, _run_id(words[1]), who, reason)
    if len(words) != 2:
        raise ValueError(USAGE)
    number = parse_incident_ref(words[0])
    config = load_config(settings.config_dir)
    async with opened(settings) as store:
        service = Remediation(store, lambda: config, role="cli")
        if dry_run:
            try:
                prepared = await service.prepare(number, words[1])
            except RenderError as exc:
                print(f"refused: {exc}")
                return 1
            print(f"INC-{number} {prepared.action.name} (runbook {prepared.runbook.name})")
            print(prepared.rendered.describe())
            return 0
        decision = await service.request(number, words[1], who, trigger="cli")
        return await _report(service, decision)


async def _on_run(settings: Settings, verb: str, run_id: int, who: str, reason: str) -> int:
    config = load_config(settings.config_dir)
    async with opened(settings) as store:
        service = Remediation(store, lambda: config, role="cli")
        if verb == "show":
            found = await service.get(run_id)
            if found is None:
                raise RemediationError(f"no run #{run_id}")
            _show(found)
            return 0
        if verb == "deny":
            if not reason:
                raise ValueError("deny needs --reason TEXT: the reason is part of the record")
            decision = await service.deny(run_id, who, reason)
        else:
            decision = await service.approve(run_id, who)
        return await _report(service, decision)


async def _report(service: Remediation, decision: Decision) -> int:
    print(decision.text if decision.ok else f"refused: {decision.text}")
    if not (decision.ready and decision.run is not None):
        return 0 if decision.ok else 1
    print(f"running {decision.run.label} here")
    finished = await service.execute(decision.run.id)
    print(finished.text)
    if finished.run is not None and finished.run.output:
        print(finished.run.output, end="" if finished.run.output.endswith("\n") else "\n")
    return 0 if finished.ok else 1


def _show(run: RunView) -> None:
    print(f"run #{run.id} INC-{run.incident_id} {run.action} [{run.state}]")
    print(f"requested by {run.requested_by} at {run.requested_at:%Y-%m-%d %H:%M:%S}Z")
    print(f"approved by  {', '.join(run.approved_by) or '-'}")
    if run.reason:
        print(f"reason       {run.reason}")
    print(run.rendered.describe())
    if run.exit_code is not None or run.digest:
        print(f"exit {run.exit_code}  output {run.output_bytes} bytes  sha256 {run.digest}")
    if run.output:
        print(run.output, end="" if run.output.endswith("\n") else "\n")


async def audit(settings: Settings, ref: str | None, *, as_json: bool) -> int:
    number = parse_incident_ref(ref) if ref else None
    if not database_exists(settings):
        print("no remediation activity (no database yet)")
        return 0
    async with opened(settings) as store:
        events = await store.read(lambda s: trail(s, number))
    items: list[dict[str, Any]] = [
        {
            "at": e.at.isoformat(),
            "incident": f"INC-{e.incident_id}",
            "event": e.kind,
            "actor": e.actor,
            "text": e.text,
            "data": orjson.loads(e.data),
        }
        for e in events
    ]
    if as_json:
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return 0
    if not items:
        print("no remediation activity")
    for item in items:
        run = item["data"].get("run")
        tag = f"run #{run}" if run else "-"
        event = item["event"].removeprefix("remediation_")
        text = item["text"].replace("\n", " | ")
        print(
            f"{item['at'][:19]}Z  {item['incident']:<7} {tag:<8} {event:<16} "
            f"{item['actor']:<10} {text}"
        )
    return 0
