"""A portable job that imports nothing of the bot: it tells what the ingest process had
loaded before a job arrived."""

from __future__ import annotations

import sys
from typing import Any


def loaded_job_modules(conn: Any) -> tuple[list[str], list[str]]:
    """The job modules loaded, and those expected."""
    expected = list(sys.modules["bot.store.ingest_process"]._JOB_MODULES)
    return [m for m in expected if m in sys.modules], expected
