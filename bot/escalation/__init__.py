"""Escalation: page the steps of a policy until someone acknowledges, durably."""
