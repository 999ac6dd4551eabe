"""Telling people: the Notifier interface, its console sink, and the outbox that feeds it."""

from bot.notify.base import EventView, IncidentView, Notifier
from bot.notify.console import ConsoleNotifier

__all__ = ["ConsoleNotifier", "EventView", "IncidentView", "Notifier"]
