"""The scheduler's one configuration object, built from flags and environment."""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from podlab.names import DEFAULT_SCHEDULER
from scheduler.plugins import DEFAULT_WEIGHTS

DEFAULT_SERVER = "127.0.0.1:7443"
DEFAULT_METRICS_PORT = 10251


@dataclass
class SchedulerConfig:
    server: str = DEFAULT_SERVER
    scheduler_name: str = DEFAULT_SCHEDULER
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    leader_elect: bool = True
    lease_name: str = "podlab-scheduler"
    lease_namespace: str = "kube-system"
    lease_duration: float = 4.0
    renew_deadline: float = 3.0
    retry_period: float = 0.5
    # Binds (API round-trips) in flight at once; the scheduling cycle itself is
    # single-threaded and never waits for a bind.
    parallelism: int = 16
    # Kubernetes' percentageOfNodesToScore: 0 = adaptive (50% - nodes/125, at
    # least 5%, at least 100 nodes).
    percentage_of_nodes_to_score: int = 0
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    initial_backoff: float = 1.0
    max_backoff: float = 10.0
    max_unschedulable_seconds: float = 30.0
    assume_ttl: float = 30.0
    metrics_port: int | None = None  # None: no metrics endpoint
    metrics_host: str = "0.0.0.0"
    log_level: str = "INFO"

    def describe(self) -> str:
        """One JSON line, printed at start-up."""
        return json.dumps({"component": "scheduler", "config": asdict(self)}, sort_keys=True)


def _weight(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or name not in DEFAULT_WEIGHTS:
        raise argparse.ArgumentTypeError(
            f"expected PLUGIN=WEIGHT with PLUGIN one of {sorted(DEFAULT_WEIGHTS)}, got {text!r}")
    try:
        return name, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"weight must be an integer: {text!r}") from None


def parser() -> argparse.ArgumentParser:
    d = SchedulerConfig(identity="")
    p = argparse.ArgumentParser(prog="podlab-scheduler",
                                description="podlab's scheduler: places unbound pods on nodes.")
    p.add_argument("--server", default=os.environ.get("PODLAB_SERVER", DEFAULT_SERVER),
                   help="API server HOST:PORT (env PODLAB_SERVER; default %(default)s)")
    p.add_argument("--identity", default="", help="leader-election identity (default hostname-pid)")
    p.add_argument("--scheduler-name", default=d.scheduler_name,
                   help="serve pods with this spec.schedulerName (or none)")
    p.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                   help="elect a leader through a Lease before scheduling (default on)")
    p.add_argument("--lease-name", default=d.lease_name)
    p.add_argument("--lease-namespace", default=d.lease_namespace)
    p.add_argument("--lease-duration", type=float, default=d.lease_duration, help="seconds")
    p.add_argument("--renew-deadline", type=float, default=d.renew_deadline, help="seconds")
    p.add_argument("--retry-period", type=float, default=d.retry_period, help="seconds")
    p.add_argument("--parallelism", type=int, default=d.parallelism,
                   help="binds in flight at once (default %(default)s)")
    p.add_argument("--percentage-of-nodes-to-score", type=int,
                   default=d.percentage_of_nodes_to_score, help="0 = adaptive, as Kubernetes")
    p.add_argument("--weight", type=_weight, action="append", default=[], metavar="PLUGIN=N",
                   help=f"score plugin weight, repeatable; plugins: {', '.join(DEFAULT_WEIGHTS)}")
    p.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT,
                   help="Prometheus /metrics port; 0 disables (default %(default)s)")
    p.add_argument("--metrics-host", default=d.metrics_host)
    p.add_argument("--log-level", default=os.environ.get("PODLAB_LOG_LEVEL", d.log_level))
    return p


def from_args(argv: Sequence[str] | None = None) -> SchedulerConfig:
    """Parse flags (exits with usage on bad input, as argparse does)."""
    p = parser()
    a = p.parse_args(argv)
    weights = dict(DEFAULT_WEIGHTS)
    weights.update(dict(a.weight))
    if a.parallelism < 1:
        p.error("--parallelism must be at least 1")
    if a.leader_elect and not a.lease_duration > a.renew_deadline > a.retry_period > 0:
        p.error("need --lease-duration > --renew-deadline > --retry-period > 0")
    config = SchedulerConfig(
        server=a.server, scheduler_name=a.scheduler_name, leader_elect=a.leader_elect,
        lease_name=a.lease_name, lease_namespace=a.lease_namespace,
        lease_duration=a.lease_duration, renew_deadline=a.renew_deadline,
        retry_period=a.retry_period, parallelism=a.parallelism,
        percentage_of_nodes_to_score=a.percentage_of_nodes_to_score, weights=weights,
        metrics_port=a.metrics_port or None, metrics_host=a.metrics_host,
        log_level=a.log_level.upper())
    if a.identity:
        config.identity = a.identity
    return config
