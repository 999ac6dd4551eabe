"""Runs a rendered action. Commands are exec'd from their argument list (no shell ever
sees alert data), in their own session so a timeout can kill everything they started,
with an empty working directory and only the environment the action names."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp

from bot.remediation.render import Rendered

MIN_PATH = "/usr/local/bin:/usr/bin:/bin"
OUTPUT_LIMIT = 64 * 1024  # bytes kept; the digest still covers everything produced
_KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL

Status = Literal["succeeded", "failed", "timed_out"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    exit_code: int | None  # process exit code (negative: killed by signal), or HTTP status
    output: str  # stdout and stderr interleaved as written, capped at the limit
    output_bytes: int
    digest: str  # sha256 of all output, including what the cap left out
    error: str | None = None
    truncated: bool = False


class _Capture:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self.hash = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.hash.update(chunk)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]

    def outcome(self, status: Status, exit_code: int | None, error: str | None = None) -> Outcome:
        text = self.kept.decode("utf-8", "replace")
        truncated = self.total > len(self.kept)
        return Outcome(status, exit_code, text, self.total, self.hash.hexdigest(), error, truncated)


def child_environment(names: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """A minimal PATH plus the names the action lists; the bot's secrets stay with the bot."""
    env = {"PATH": MIN_PATH}
    env.update({name: environ[name] for name in names if name in environ})
    return env


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def run_command(
    argv: tuple[str, ...],
    *,
    time_limit: float,
    env_names: list[str],
    environ: Mapping[str, str] | None = None,
    limit: int = OUTPUT_LIMIT,
) -> Outcome:
    capture = _Capture(limit)
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="pagerbot-run-")
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=workdir,
                env=child_environment(env_names, os.environ if environ is None else environ),
                start_new_session=True,
            )
        except OSError as exc:
            return capture.outcome("failed", None, f"cannot start {argv[0]!r}: {exc.strerror}")
        try:
            await asyncio.wait_for(_drain(proc, capture), time_limit)
        except TimeoutError:
            await _terminate(proc)
            return capture.outcome("timed_out", proc.returncode, f"timed out after {time_limit:g}s")
        except BaseException:
            await asyncio.shield(_terminate(proc))
            raise
        code = proc.returncode
        assert code is not None
        return capture.outcome("succeeded" if code == 0 else "failed", code)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _drain(proc: asyncio.subprocess.Process, capture: _Capture) -> None:
    assert proc.stdout is not None
    reader = asyncio.ensure_future(_read(proc.stdout, capture))
    await proc.wait()
    # Whatever the command left running in its group would hold the pipe open forever.
    _kill_group(proc.pid, signal.SIGKILL)
    await reader


async def _read(stream: asyncio.StreamReader, capture: _Capture) -> None:
    while chunk := await stream.read(65536):
        capture.feed(chunk)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the whole group, SIGKILL after a grace period: children die too."""
    _kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), _KILL_GRACE)
    _kill_group(proc.pid, signal.SIGKILL)
    await proc.wait()


async def run_http(
    request: Rendered,
    *,
    time_limit: float,
    environ: Mapping[str, str] | None = None,
    limit: int = OUTPUT_LIMIT,
) -> Outcome:
    """Redirects are not followed: the approved URL is the only one called."""
    capture = _Capture(limit)
    headers = request.headers_with_secrets(os.environ if environ is None else environ)
    client_timeout = aiohttp.ClientTimeout(total=time_limit)
    try:
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.request(
                request.method,
                request.url,
                headers=headers,
                json=request.body,
                allow_redirects=False,
            ) as response,
        ):
            async for chunk in response.content.iter_chunked(65536):
                capture.feed(chunk)
            ok = 200 <= response.status < 300
            return capture.outcome("succeeded" if ok else "failed", response.status)
    except TimeoutError:
        return capture.outcome("timed_out", None, f"timed out after {time_limit:g}s")
    except aiohttp.ClientError as exc:
        return capture.outcome("failed", None, f"{type(exc).__name__}: {exc}")


async def run(
    rendered: Rendered, *, time_limit: float, env_names: list[str], limit: int = OUTPUT_LIMIT
) -> Outcome:
    if rendered.kind == "run":
        return await run_command(
            rendered.argv, time_limit=time_limit, env_names=env_names, limit=limit
        )
    return await run_http(rendered, time_limit=time_limit, limit=limit)
