"""Prometheus metrics of the bot itself; one registry per app so tests stay independent."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.incidents.grouping import Plan, Verdict


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.alerts_received = Counter(
            "pagerbot_alerts_received", "Alerts received, by source", ["source"], registry=r
        )
        self.alerts_verdict = Counter(
            "pagerbot_alerts_processed",
            "Alerts processed, by what they changed (duplicate = deduplicated)",
            ["verdict"],
            registry=r,
        )
        self.alerts_deduplicated = Counter(
            "pagerbot_alerts_deduplicated", "Alerts that changed nothing (repeats)", registry=r
        )
        self.incidents_opened = Counter("pagerbot_incidents_opened", "Incidents opened", registry=r)
        self.incidents_reopened = Counter(
            "pagerbot_incidents_reopened", "Resolved incidents reopened by flapping", registry=r
        )
        self.requests_rejected = Counter(
            "pagerbot_webhook_rejected",
            "Webhook requests refused, by reason",
            ["reason"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "pagerbot_http_request_duration_seconds",
            "HTTP request latency",
            ["path", "method", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_alerts = Histogram(
            "pagerbot_store_batch_alerts",
            "Alerts per group commit",
            buckets=(1, 10, 50, 100, 500, 1000, 5000, 20000),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "pagerbot_store_commit_seconds",
            "Time to plan and commit one batch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=r,
        )
        self.outbox_delivered = Counter(
            "pagerbot_chat_deliveries", "Chat deliveries, by outcome", ["outcome"], registry=r
        )
        self.config_reload_success = Gauge(
            "pagerbot_config_last_reload_success",
            "1 if the last config load succeeded",
            registry=r,
        )

    def observe_batch(self, plan: Plan, seconds: float) -> None:
        self.batch_alerts.observe(len(plan.verdicts))
        self.commit_seconds.observe(seconds)
        for verdict in Verdict:
            count = plan.count(verdict)
            if count:
                self.alerts_verdict.labels(verdict.value).inc(count)
        self.alerts_deduplicated.inc(plan.count(Verdict.DUPLICATE) + plan.count(Verdict.STALE))
        self.incidents_opened.inc(plan.opened)
        self.incidents_reopened.inc(sum(1 for e in plan.events if e.kind == "reopened"))
