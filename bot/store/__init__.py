"""Owns the tables and sessions; the rest of the bot asks it and never builds SQL."""

from bot.store.store import Store, utcnow
from bot.store.writer import StoreUnavailable

__all__ = ["Store", "StoreUnavailable", "utcnow"]
