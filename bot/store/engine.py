"""Engines for SQLite (embedded default) and PostgreSQL (scale-out), and schema migration."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
_BUSY_TIMEOUT_MS = 30_000
_MIGRATION_LOCK = 0x70616765  # any constant: replicas starting together migrate one at a time


def normalize_url(url: str) -> str:
    """Accept the URLs operators write; pick the drivers we ship (sqlite3, psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, writer: bool = False) -> Engine:
    """An engine; `writer=True` gives SQLite's one write connection its own pragmas."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, writer=writer)
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args={"connect_timeout": 5}
    )


def _sqlite_engine(url: str, *, writer: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin below decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the webhook gets its 200.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        if writer:
            # Checkpoints run in the background (Store.checkpoint), not on the commit path.
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: no deadlock upgrading a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def checkpoint_wal(engine: Engine, *, restart_within_ms: int = 0) -> tuple[int, int, int]:
    """SQLite: copy the WAL into the database file; returns (busy, frames in the WAL,
    frames copied). Without `restart_within_ms` it waits for no one. With it (the
    writer's connection, between two writes), it also waits up to that long for the
    readers of older snapshots to finish, so that the next write starts the WAL over
    at its beginning; busy is 1 when they did not finish in time. Straight on the
    driver: SQLite refuses a checkpoint inside a transaction, and SQLAlchemy would
    begin one."""
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        if not restart_within_ms:
            row = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        else:
            driver.execute(f"PRAGMA busy_timeout={int(restart_within_ms)}")
            try:
                row = driver.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                driver.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    finally:
        raw.close()
    busy, frames, copied = row
    return int(busy), int(frames), int(copied)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; an upgrade never needs a wipe."""
    from alembic import command  # here: the ingest process and most commands never migrate
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        if is_sqlite(engine):
            # Table rebuilds (batch migrations) need this off; SQLite ignores it inside a
            # transaction, so it goes straight to the driver before one starts.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if not is_sqlite(engine):
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK}
                    )
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if is_sqlite(engine):
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
