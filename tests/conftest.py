"""Shared fixtures: a database per test (SQLite, and PostgreSQL where it answers), a
config folder, and a real bot served on a free loopback port."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.helpers import PG_ADMIN_URL, pg_available

# slack-sdk honours HTTPS_PROXY and ignores NO_PROXY; aiohttp may read them too.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)


def _pg_database() -> Iterator[str]:
    import psycopg

    if not pg_available():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    name = f"pagerbot_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store test runs on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pagerbot.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pagerbot.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _pg_database()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A small config: payments grouped by alertname+cluster, everything else by alertname."""
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "routes.yaml").write_text(
        """
teams:
  payments: {channel: "#payments", members: {alice: {slack: U1}}}
defaults:
  group_by: [alertname]
  flap_window: 5m
  resolve_timeout: 5m
routes:
  - match: {team: payments}
    group_by: [alertname, cluster]
    team: payments
""",
        encoding="utf-8",
    )
    return root


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def anyio_backend() -> AsyncIterator[str]:
    yield "asyncio"
