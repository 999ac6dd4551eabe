"""Owns the tables and sessions; the rest of the bot asks it and never builds SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.store.errors import StoreUnavailable

if TYPE_CHECKING:
    from bot.store.store import Store, utcnow

__all__ = ["Store", "StoreUnavailable", "utcnow"]


def __getattr__(name: str) -> Any:
    """`Store` on first use: the ingest process imports this package's hot path only,
    not SQLModel sessions (a third of its start)."""
    if name in ("Store", "utcnow"):
        from bot.store import store

        return getattr(store, name)
    raise AttributeError(f"module 'bot.store' has no attribute {name!r}")
