"""Request → approve → run, against the real store and real commands."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson
import pytest

from bot.remediation.audit import trail
from bot.store import queries
from tests.helpers import eventually
from tests.remediation.conftest import Env

HOSTILE = "; rm -rf / $(touch PWNED) `touch PWNED2` --all-namespaces ünï☃ \"'|&>x"


def _exists(path: Path) -> bool:
    return path.exists()


async def _kinds(env: Env, number: int) -> list[str]:
    events = await env.bot.store.read(lambda s: trail(s, number))
    return [e.kind.removeprefix("remediation_") for e in events]


async def test_hostile_annotation_reaches_the_command_as_one_inert_argument(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REMEDIATION_PASSED", "yes")
    monkeypatch.setenv("PAGERBOT_SECRET_THING", "never")
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="bot.remediation.audit")
    number = await env.incident(note=HOSTILE)
    service = env.bot.remediation

    asked = await service.request(number, "record", "alice", trigger="cli")
    assert asked.ok and asked.run is not None and not asked.ready
    approved = await service.approve(asked.run.id, "bob")
    assert approved.ok and approved.ready
    finished = await service.execute(asked.run.id)

    assert finished.ok and finished.run is not None
    assert finished.run.state == "succeeded" and finished.run.exit_code == 0
    [call] = env.recorded()
    assert call["argv"] == ["deployment/checkout", "-n", "shop", HOSTILE, f"INC-{number}"]
    assert not _exists(tmp_path / "PWNED") and not _exists(tmp_path / "PWNED2")
    assert not _exists(tmp_path / "x")
    child_env = call["env"]
    assert isinstance(child_env, dict)
    assert child_env.get("REMEDIATION_PASSED") == "yes"
    assert "PAGERBOT_SECRET_THING" not in child_env and "HOME" not in child_env
    assert child_env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert call["cwd"] != str(tmp_path) and not _exists(Path(str(call["cwd"])))
    assert sorted((finished.run.output or "").splitlines()) == [
        "recorded 5 arguments",
        "to stderr",
    ]
    assert len(finished.run.digest or "") == 64
    assert await _kinds(env, number) == ["requested", "approved", "started", "finished"]
    logged = [orjson.loads(r.getMessage()) for r in caplog.records]
    assert [line["event"] for line in logged] == [
        "remediation_requested",
        "remediation_approved",
        "remediation_started",
        "remediation_finished",
    ]
    assert logged[2]["approved_by"] == ["bob"] and logged[2]["requested_by"] == "alice"
    assert logged[3]["digest"] == finished.run.digest


async def test_hostile_label_is_refused_and_the_refusal_audited(env: Env) -> None:
    number = await env.incident(deployment="checkout; rm -rf /")
    refused = await env.bot.remediation.request(number, "record", "alice", trigger="cli")
    assert not refused.ok and refused.run is None
    assert refused.text.startswith("parameter deployment: ")
    events = await env.bot.store.read(lambda s: trail(s, number))
    assert [e.kind for e in events] == ["remediation_refused"]
    assert "parameter deployment" in events[0].text and events[0].actor == "alice"
    assert env.recorded() == []


async def test_requester_cannot_approve_their_own_request(env: Env) -> None:
    number = await env.incident()
    asked = await env.bot.remediation.request(number, "record", "alice", trigger="slack")
    assert asked.run is not None
    own = await env.bot.remediation.approve(asked.run.id, "alice")
    assert not own.ok and "alice requested this run" in own.text
    run = await env.bot.remediation.get(asked.run.id)
    assert run is not None and run.state == "requested" and run.approved_by == ()
    assert await _kinds(env, number) == ["requested", "approval_refused"]


async def test_self_approval_allowed_only_where_the_action_says_so(env: Env) -> None:
    number = await env.incident()
    asked = await env.bot.remediation.request(number, "record-self", "alice", trigger="cli")
    assert asked.run is not None
    own = await env.bot.remediation.approve(asked.run.id, "alice")
    assert own.ok and own.ready


async def test_non_approvers_are_refused(env: Env) -> None:
    number = await env.incident()
    asked = await env.bot.remediation.request(number, "record", "alice", trigger="slack")
    assert asked.run is not None
    for stranger in ("dave", "slack:U999", "payments"):
        refused = await env.bot.remediation.approve(asked.run.id, stranger)
        assert not refused.ok and "may not approve" in refused.text
    denied = await env.bot.remediation.deny(asked.run.id, "dave", "no")
    assert not denied.ok
    run = await env.bot.remediation.get(asked.run.id)
    assert run is not None and run.state == "requested"


async def test_oncall_and_user_approvers(env: Env) -> None:
    number = await env.incident()
    service = env.bot.remediation
    asked = await service.request(number, "record-oncall", "alice", trigger="cli")
    assert asked.run is not None
    assert not (await service.approve(asked.run.id, "bob")).ok  # payments, not on call
    assert (await service.approve(asked.run.id, "dave")).ready  # on call for ops-primary
    other = await env.incident(cluster="us-1")
    again = await service.request(other, "record-oncall", "alice", trigger="cli")
    assert again.run is not None
    assert (await service.approve(again.run.id, "erin")).ready  # user:erin


async def test_expired_request_cannot_be_approved(env: Env) -> None:
    number = await env.incident()
    asked = await env.bot.remediation.request(number, "record", "alice", trigger="slack")
    assert asked.run is not None
    env.clock.advance(minutes=15)
    late = await env.bot.remediation.approve(asked.run.id, "bob")
    assert not late.ok and "expired" in late.text
    run = await env.bot.remediation.get(asked.run.id)
    assert run is not None and run.state == "expired"
    assert not (await env.bot.remediation.approve(asked.run.id, "carol")).ok
    assert await _kinds(env, number) == ["requested", "expired"]


async def test_unapproved_requests_expire_on_the_sweep(env: Env) -> None:
    number = await env.incident()
    asked = await env.bot.remediation.request(number, "record", "alice", trigger="slack")
    assert asked.run is not None
    env.clock.advance(minutes=14)
    await env.bot.remediation.expire_remediations()
    assert (await env.bot.remediation.get(asked.run.id)).state == "requested"  # type: ignore[union-attr]
    env.clock.advance(minutes=1)
    await env.bot.remediation.expire_remediations()
    assert (await env.bot.remediation.get(asked.run.id)).state == "expired"  # type: ignore[union-attr]


async def test_two_approver_action_needs_two_distinct_people(env: Env) -> None:
    number = await env.incident()
    service = env.bot.remediation
    asked = await service.request(number, "record-two", "alice", trigger="cli")
    assert asked.run is not None and "needs 2 approvals" in asked.text
    first = await service.approve(asked.run.id, "bob")
    assert first.ok and not first.ready and "needs 1 more" in first.text
    twice = await service.approve(asked.run.id, "bob")
    assert not twice.ok and "second, different approver" in twice.text
    assert not (await service.approve(asked.run.id, "alice")).ok
    second = await service.approve(asked.run.id, "carol")
    assert second.ok and second.ready
    finished = await service.execute(asked.run.id)
    assert finished.run is not None and finished.run.approved_by == ("bob", "carol")
    assert env.recorded()[0]["argv"] == ["two"]


async def test_denial_records_the_reason_and_ends_the_request(env: Env) -> None:
    number = await env.incident()
    service = env.bot.remediation
    asked = await service.request(number, "record", "alice", trigger="slack")
    assert asked.run is not None
    denied = await service.deny(asked.run.id, "bob", "not during the sale")
    assert denied.ok and denied.run is not None and denied.run.state == "denied"
    assert not (await service.approve(asked.run.id, "carol")).ok
    events = await env.bot.store.read(lambda s: trail(s, number))
    assert orjson.loads(events[-1].data)["reason"] == "not during the sale"
    assert events[-1].actor == "bob"


async def test_a_second_request_while_one_waits_is_refused(env: Env) -> None:
    number = await env.incident()
    first = await env.bot.remediation.request(number, "record", "alice", trigger="slack")
    again = await env.bot.remediation.request(number, "record", "bob", trigger="slack")
    assert first.ok and not again.ok and "already waiting for approval" in again.text


async def test_concurrency_and_cooldown_limits(env: Env) -> None:
    service = env.bot.remediation
    number = await env.incident()
    other = await env.incident(cluster="us-1")
    first = await service.request(number, "limited", "alice", trigger="cli")
    assert first.ready and first.run is not None
    second = await service.request(other, "limited", "bob", trigger="cli")
    assert second.ready and second.run is not None
    started = await service.execute(first.run.id)
    assert started.ok
    # The second was approved before the first ran; at its start the cooldown holds it.
    blocked = await service.execute(second.run.id)
    assert not blocked.ok and blocked.run is not None and blocked.run.state == "refused"
    assert "cooling down" in blocked.text
    refused = await service.request(other, "limited", "bob", trigger="cli")
    assert not refused.ok and "cooling down" in refused.text
    env.clock.advance(minutes=10)
    assert (await service.request(other, "limited", "bob", trigger="cli")).ready
    assert len(env.recorded()) == 1


async def test_max_concurrent_counts_running_runs(env: Env) -> None:
    from functools import partial

    from bot.remediation import approvals

    service = env.bot.remediation
    number = await env.incident()
    first = await service.request(number, "limited", "alice", trigger="cli")
    assert first.run is not None
    running = await env.bot.store.write(
        partial(approvals.start, run_id=first.run.id, runner="bot:elsewhere:1", now=env.clock())
    )
    assert running.ready
    other = await env.incident(cluster="us-1")
    refused = await service.request(other, "limited", "bob", trigger="cli")
    assert not refused.ok and "already running 1 time(s) (max_concurrent 1)" in refused.text


async def test_timeout_kills_the_whole_process_group(env: Env, tmp_path: Path) -> None:
    number = await env.incident()
    asked = await env.bot.remediation.request(number, "slow", "alice", trigger="cli")
    assert asked.ready and asked.run is not None
    finished = await env.bot.remediation.execute(asked.run.id)
    assert finished.run is not None and finished.run.state == "timed_out"
    assert "timed out after 1s" in finished.text
    pid = int((tmp_path / "child.pid").read_text())
    import asyncio

    # The child would write late.txt 1.5 s after it started (before the kill): wait that out.
    await asyncio.sleep(1.6)
    assert not (tmp_path / "late.txt").exists()
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_auto_runs_stop_at_the_circuit_breaker(env: Env) -> None:
    numbers = [await env.incident("Diag", cluster=f"c{i}") for i in range(3)]
    done = ["requested", "started", "finished"]

    async def settled() -> bool:
        kinds = [await _kinds(env, n) for n in numbers]
        return kinds == [done, done, ["auto_stopped"]]

    await eventually(settled)
    assert len(env.recorded()) == 2
    events = await env.bot.store.read(lambda s: trail(s, numbers[2]))
    assert "automatic diag stopped: it ran 2 times in the last hour" in events[0].text
    env.clock.advance(minutes=61)
    later = await env.incident("Diag", cluster="c9")

    async def ran_again() -> bool:
        return await _kinds(env, later) == done

    await eventually(ran_again)
    assert len(env.recorded()) == 3


async def test_restart_marks_a_running_run_interrupted(env: Env) -> None:
    from functools import partial

    from bot.app import Pagerbot
    from bot.config import load_config
    from bot.remediation import approvals
    from bot.settings import Settings

    number = await env.incident()
    asked = await env.bot.remediation.request(number, "limited", "alice", trigger="cli")
    assert asked.run is not None
    await env.bot.store.write(
        partial(
            approvals.start,
            run_id=asked.run.id,
            runner=env.bot.remediation.runner_id,
            now=env.clock(),
        )
    )
    settings = Settings(config_dir=env.root, database_url=env.database_url)
    restarted = Pagerbot(settings, load_config(env.root), clock=env.clock)
    await restarted.start()
    try:
        run = await restarted.remediation.get(asked.run.id)
        assert run is not None and run.state == "interrupted"
        assert run.reason == "the bot restarted while it was running"
        timeline = await restarted.store.read(lambda s: queries.timeline(s, number))
        assert timeline[-1].kind == "remediation_interrupted"
        assert "will not run again without a new request" in timeline[-1].text
    finally:
        await restarted.stop()
    assert env.recorded() == []
    assert os.environ.get("PAGERBOT_NEVER") is None


async def test_an_incident_opened_in_a_shared_batch_runs_its_auto_action_once(
    env: Env,
) -> None:
    """Every webhook of a group commit gets the batch's plan; the openings in it must
    start their automatic actions once, not once per webhook that shared the batch."""
    import asyncio
    import threading

    release = threading.Event()
    blocked = asyncio.ensure_future(env.bot.store.write(lambda _conn: release.wait(10)))
    await asyncio.sleep(0.1)  # the writer thread now waits in that job
    diag = asyncio.ensure_future(env.incident("Diag", cluster="c1"))
    others = [asyncio.ensure_future(env.incident(cluster=f"o{i}")) for i in range(3)]
    await asyncio.sleep(0.1)  # all four queued behind the job: one batch
    release.set()
    await blocked
    number = await diag
    await asyncio.gather(*others)

    async def ran() -> bool:
        return await _kinds(env, number) == ["requested", "started", "finished"]

    await eventually(ran)
    await asyncio.sleep(0.5)  # time for a second run, were one started
    assert await _kinds(env, number) == ["requested", "started", "finished"]
    assert len(env.recorded()) == 1
