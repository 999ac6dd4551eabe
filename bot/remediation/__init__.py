"""Runbook actions: rendered from checked parameters, approved by the people the action
names, run without a shell, and recorded on the incident's timeline at every step."""

from bot.remediation.render import Rendered, RenderError
from bot.remediation.runs import Decision, RunView
from bot.remediation.service import Remediation, RemediationError

__all__ = ["Decision", "Remediation", "RemediationError", "RenderError", "Rendered", "RunView"]
