"""Opening the store from a one-shot command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.settings import Settings
from bot.store import Store


def database_exists(settings: Settings) -> bool:
    """A command that only reads must not create an empty SQLite file as a side effect."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return True


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Store]:
    store = Store(settings.database_url, ingest_process=False)  # reads and small writes
    await store.open()
    try:
        yield store
    finally:
        await store.close()
