"""The report's figures on `/metrics`: recomputed from the database by a scheduled job
(every replica sees the same database, so each exports the same figures), served from
the last result so a scrape never waits on a query."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.config import Config
from bot.reports.figures import Figures, Report
from bot.reports.load import build
from bot.store import Store

WINDOW = timedelta(days=30)
BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0)
_GAUGES: tuple[tuple[str, str, Callable[[Figures], float | None]], ...] = (
    ("incidents", "Incidents opened in the window", lambda f: f.incidents),
    ("mtta_seconds", "Mean time to acknowledge", lambda f: f.mtta_seconds),
    ("mttr_seconds", "Mean time to resolve", lambda f: f.mttr_seconds),
    ("pages", "Pages sent (one per person paged)", lambda f: f.pages),
    ("pages_per_incident", "Pages per incident", lambda f: f.pages_per_incident),
    (
        "after_hours_pages",
        "Pages outside Mon-Fri 08:00-18:00 in the paged person's time zone",
        lambda f: f.after_hours_pages,
    ),
)


def _histogram(name: str, doc: str, series: Iterable[tuple[str, Sequence[float]]]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=["team"])
    for team, values in series:
        buckets = [(str(le), float(sum(1 for v in values if v <= le))) for le in BUCKETS]
        buckets.append(("+Inf", float(len(values))))
        family.add_metric([team], buckets, sum_value=float(sum(values)))
    return family


class ReportCollector(Collector):
    def __init__(self) -> None:
        self.report: Report | None = None
        self.refreshed_at: datetime | None = None

    def describe(self) -> Iterable[Metric]:
        return []  # the figures appear after the first refresh

    def collect(self) -> Iterator[Metric]:
        report = self.report
        if report is None or self.refreshed_at is None:
            return
        teams = [("all", report.total), *sorted(report.by_team.items())]
        window = f"{WINDOW.days}d"
        for key, doc, value in _GAUGES:
            gauge = GaugeMetricFamily(
                f"pagerbot_report_{key}", f"{doc}, over the last {window}", labels=["team"]
            )
            for team, figures in teams:
                number = value(figures)
                if number is not None:
                    gauge.add_metric([team], float(number))
            yield gauge
        yield _histogram(
            "pagerbot_report_time_to_acknowledge_seconds",
            f"Time from opening to the first acknowledgement, over the last {window}",
            [(team, f.tta_seconds) for team, f in teams],
        )
        yield _histogram(
            "pagerbot_report_time_to_resolve_seconds",
            f"Time from opening to resolution, over the last {window}",
            [(team, f.ttr_seconds) for team, f in teams],
        )
        pages = GaugeMetricFamily(
            "pagerbot_report_alert_pages",
            f"Pages for the noisiest alerts, over the last {window}",
            labels=["alertname"],
        )
        quiet = GaugeMetricFamily(
            "pagerbot_report_alert_unacted_incidents",
            f"Incidents of the noisiest alerts with no note and no remediation ({window})",
            labels=["alertname"],
        )
        for noisy in report.noisiest:
            pages.add_metric([noisy.alertname], float(noisy.pages))
            quiet.add_metric([noisy.alertname], float(noisy.incidents - noisy.acted_on))
        yield pages
        yield quiet
        yield GaugeMetricFamily(
            "pagerbot_report_last_refresh_timestamp_seconds",
            "When the report figures were last computed",
            value=self.refreshed_at.timestamp(),
        )


class ReportExporter:
    def __init__(
        self,
        registry: CollectorRegistry,
        store: Store,
        config: Callable[[], Config],
        clock: Callable[[], datetime],
    ) -> None:
        self.collector = ReportCollector()
        registry.register(self.collector)
        self._store = store
        self._config = config
        self._clock = clock

    async def refresh_report_metrics(self) -> Report:
        now = self._clock()
        config = self._config()
        report = await self._store.read(
            lambda s: build(s, config, start=now - WINDOW, end=now + timedelta(seconds=1))
        )
        self.collector.report, self.collector.refreshed_at = report, now
        return report
