"""A payments team across two time zones, an escalation policy and a runbook."""

from __future__ import annotations

from pathlib import Path

import pytest

RULES = """
teams:
  payments:
    channel: "#payments"
    members:
      alice: {slack: U01ALICE, tz: Europe/Berlin}
      bob: {slack: U02BOB, tz: America/New_York}
defaults:
  group_by: [alertname]
  flap_window: 5m
escalation_policies:
  payments:
    steps:
      - {notify: user:alice, after: 0m}
      - {notify: user:bob, after: 10m}
routes:
  - match: {team: payments}
    group_by: [alertname, cluster]
    team: payments
    escalation: payments
"""

RUNBOOK = """---
title: Checkout latency high
match: {alertname: CheckoutLatencyHigh}
actions:
  - name: restart-checkout
    run: [echo, "deployment.apps/{{ labels.deployment }} restarted"]
    params: {deployment: "^[a-z0-9-]{1,63}$"}
    approvers: [team:payments]
---
# Checkout latency high
"""


@pytest.fixture
def pm_config(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "payments.yaml").write_text(RULES, encoding="utf-8")
    (root / "runbooks" / "checkout-latency-high.md").write_text(RUNBOOK, encoding="utf-8")
    return root
