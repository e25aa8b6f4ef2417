"""The scheduler's Prometheus metrics, Kubernetes-named where Kubernetes has the metric."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from podlab.metrics import LATENCY_BUCKETS, render


class _LiveGauges(Collector):
    """Gauges read at scrape time from the scheduler's own state."""

    def __init__(self, metrics: SchedulerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pending = GaugeMetricFamily("scheduler_pending_pods", "Pods waiting, by queue.", labels=["queue"])
        for queue, n in sorted(self.metrics.queue_depth().items()):
            pending.add_metric([queue], n)
        yield pending
        yield GaugeMetricFamily("scheduler_is_leader", "1 while this replica holds the lease.",
                                value=int(self.metrics.is_leader()))


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.attempts = Counter("scheduler_schedule_attempts", "Scheduling attempts by result.",
                                ["result"], registry=self.registry)
        self.binds = Counter("scheduler_binding", "Bind calls by result.", ["result"], registry=self.registry)
        self.attempt_duration = Histogram("scheduler_scheduling_attempt_duration_seconds",
                                          "One scheduling cycle (filter + score + assume).",
                                          buckets=LATENCY_BUCKETS, registry=self.registry)
        self.e2e_duration = Histogram("scheduler_pod_scheduling_duration_seconds", "First queued to bound.",
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth: Callable[[], dict[str, int]] = dict
        self.is_leader: Callable[[], bool] = lambda: False
        self.registry.register(_LiveGauges(self))

    def attempts_with(self, result: str) -> float:
        """How many scheduling attempts ended with `result` so far."""
        return self.registry.get_sample_value("scheduler_schedule_attempts_total", {"result": result}) or 0.0

    def render(self) -> str:
        return render(self.registry)
