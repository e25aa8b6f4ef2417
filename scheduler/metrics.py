"""The scheduler's Prometheus metrics and a tiny asyncio HTTP endpoint for them (stdlib only)."""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import defaultdict
from collections.abc import Callable

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def render(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        lines, running = [], 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {running}')
        braces = f"{{{labels}}}" if labels else ""
        lines += [f"{name}_sum{braces} {self.sum}", f"{name}_count{braces} {self.count}"]
        return lines


class SchedulerMetrics:
    """Counters and histograms, Kubernetes-named where Kubernetes has the metric."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = defaultdict(int)  # result -> count
        self.binds: dict[str, int] = defaultdict(int)  # result -> count
        self.attempt_duration = Histogram()  # one scheduling cycle (filter + score + assume)
        self.e2e_duration = Histogram()  # first queued -> bound
        self.queue_depth: Callable[[], dict[str, int]] = dict
        self.is_leader: Callable[[], bool] = lambda: False

    def render(self) -> str:
        out = ["# HELP scheduler_schedule_attempts_total Scheduling attempts by result.",
               "# TYPE scheduler_schedule_attempts_total counter"]
        for result in sorted({"scheduled", "unschedulable", "error", *self.attempts}):
            out.append(f'scheduler_schedule_attempts_total{{result="{result}"}} '
                       f"{self.attempts[result]}")
        out += ["# HELP scheduler_binding_total Bind calls by result.",
                "# TYPE scheduler_binding_total counter"]
        out += [f'scheduler_binding_total{{result="{r}"}} {n}'
                for r, n in sorted(self.binds.items())]
        out += ["# HELP scheduler_scheduling_attempt_duration_seconds One scheduling cycle.",
                "# TYPE scheduler_scheduling_attempt_duration_seconds histogram"]
        out += self.attempt_duration.render("scheduler_scheduling_attempt_duration_seconds")
        out += ["# HELP scheduler_pod_scheduling_duration_seconds First queued to bound.",
                "# TYPE scheduler_pod_scheduling_duration_seconds histogram"]
        out += self.e2e_duration.render("scheduler_pod_scheduling_duration_seconds")
        out += ["# HELP scheduler_pending_pods Pods waiting, by queue.",
                "# TYPE scheduler_pending_pods gauge"]
        out += [f'scheduler_pending_pods{{queue="{q}"}} {n}'
                for q, n in sorted(self.queue_depth().items())]
        out += ["# HELP scheduler_is_leader 1 while this replica holds the lease.",
                "# TYPE scheduler_is_leader gauge", f"scheduler_is_leader {int(self.is_leader())}"]
        return "\n".join(out) + "\n"


async def serve_metrics(metrics: SchedulerMetrics, host: str, port: int,
                        started: asyncio.Event | None = None) -> None:
    """Serve GET /metrics and /healthz until cancelled."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            if path.startswith("/metrics"):
                status, ctype, body = "200 OK", "text/plain; version=0.0.4", metrics.render()
            elif path.startswith("/healthz"):
                status, ctype, body = "200 OK", "text/plain", "ok"
            else:
                status, ctype, body = "404 Not Found", "text/plain", "not found"
            data = body.encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: "
                         f"{len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except (TimeoutError, ConnectionError) as err:
            log.debug("metrics request failed: %s", err)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    log.info("metrics on http://%s:%d/metrics", host, port)
    if started is not None:
        started.set()
    async with server:
        await server.serve_forever()
