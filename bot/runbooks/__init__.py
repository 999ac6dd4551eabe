"""Runbooks: Markdown pages with front matter saying which alerts they serve and which
remediation actions they offer."""

from bot.runbooks.loader import load_runbooks
from bot.runbooks.model import Action, Runbook

__all__ = ["Action", "Runbook", "load_runbooks"]
