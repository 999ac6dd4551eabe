"""Owns the tables and sessions; the rest of the bot asks it and never builds SQL."""

from bot.store.errors import StoreUnavailable
from bot.store.store import Store, utcnow

__all__ = ["Store", "StoreUnavailable", "utcnow"]
