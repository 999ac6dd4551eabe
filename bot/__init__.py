"""Pagerbot: self-hosted incident response and alert routing for Slack."""

__version__ = "0.1.0"
