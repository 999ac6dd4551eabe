"""Incident metrics over a period, for `pagerbot report` and `/metrics`."""

from bot.reports.figures import Figures, NoisyAlert, Report, after_hours
from bot.reports.load import build

__all__ = ["Figures", "NoisyAlert", "Report", "after_hours", "build"]
