"""The control plane's Prometheus metrics: failover as the controllers see it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

FAILOVER_BUCKETS = (1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class ControlPlaneMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.nodes_lost = Gauge("podlab_nodes_unreachable", "Nodes currently without heartbeats.",
                                registry=self.registry)
        self.node_losses = Counter("podlab_node_losses", "Times a node was marked unreachable.",
                                   registry=self.registry)
        self.replacements = Counter("podlab_pod_replacements", "Pods replaced by a new pod (new UID), by reason.",
                                    ["reason"], registry=self.registry)
        self.replacement_delay = Histogram(
            "podlab_pod_replacement_delay_seconds",
            "From a node's last heartbeat to the replacement of one of its pods.",
            buckets=FAILOVER_BUCKETS, registry=self.registry)
        self.blind_spells = Counter("podlab_node_lifecycle_blind_spells",
                                    "Times the node lifecycle controller could not see the cluster for longer "
                                    "than --blind-after and restarted every node's grace period.",
                                    registry=self.registry)
        self.held_back = Counter("podlab_replacements_held_back",
                                 "Controller passes that replaced nothing because every node was lost.",
                                 registry=self.registry)
