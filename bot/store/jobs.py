"""Write jobs run in order: the writer thread's and the ingest process's one way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

Job = Callable[[Connection], Any]
Result = tuple[bool, Any]  # (True, what the job returned) or (False, the exception)


def run_jobs(engine: Engine, jobs: list[Job], *, together: bool) -> list[Result]:
    """Each job in its own transaction, or (`together`) all in one (one commit, one
    fsync); if that one fails, each in its own, so that one failing job does not fail
    the others."""
    if together:
        try:
            with engine.begin() as conn:
                results = [job(conn) for job in jobs]
            return [(True, result) for result in results]
        except Exception:
            pass
    out: list[Result] = []
    for job in jobs:
        try:
            with engine.begin() as conn:
                out.append((True, job(conn)))
        except Exception as exc:
            out.append((False, exc))
    return out
