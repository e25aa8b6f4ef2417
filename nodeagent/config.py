"""The node agent's configuration: one typed object built from flags and environment."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import asdict, dataclass, field, fields

from nodeagent.eviction import host_memory
from podlab.config import DEFAULT_SERVER, ENV_SERVER


@dataclass
class AgentConfig:
    server: str = DEFAULT_SERVER
    # HOST:PORT at which pods reach the Kubernetes API (their KUBERNETES_SERVICE_* variables); "" for none
    kubernetes_service: str = ""
    node_name: str = field(default_factory=socket.gethostname)
    listen: str = "0.0.0.0:7450"
    advertise: str = ""
    runtime: str = "docker"
    mirror: str = ""
    pod_network: str = "podlab-pods"
    host_ip: str = "127.0.0.1"
    root_dir: str = ""
    pause_image: str = "podlab/pause:3.9"
    node_netns_container: str = ""
    exec_helper: str = "auto"
    heartbeat: float = 1.0
    fence_timeout: float = 6.0
    # how long a peer has to answer "did you renew?" (nodeagent.witness)
    witness_timeout: float = 0.5
    # start the fence watchdog (nodeagent.watchdog) as a process of its own beside the agent
    fence_watchdog: bool = False
    cpu: str = ""
    memory: str = ""
    max_pods: int = 110
    backoff_base: float = 10.0
    backoff_cap: float = 300.0
    labels: dict[str, str] = field(default_factory=dict)
    resync_period: float = 60.0
    relist_period: float = 1.0
    status_refresh: float = 10.0
    # node-pressure eviction (nodeagent.eviction)
    eviction_hard: str = "memory.available<100Mi,nodefs.available<10%"
    eviction_soft: str = ""
    eviction_soft_grace_period: str = ""
    eviction_pressure_transition_period: float = 30.0
    eviction_interval: float = 5.0
    eviction_max_pod_grace_period: float = 30.0
    # memory.available from "meminfo" (the host), or "working-set": --memory minus the
    # sum of this node's containers' working sets (a node of its own size on a shared host)
    memory_signal: str = "meminfo"

    def __post_init__(self) -> None:
        if not self.root_dir:
            self.root_dir = f"/var/lib/podlab/{self.node_name}"
        if not self.cpu:
            self.cpu = str(os.cpu_count() or 1)
        if not self.memory:
            self.memory = f"{host_memory().capacity // 1024}Ki"
        if not self.advertise:
            port = self.listen.rsplit(":", 1)[-1]
            self.advertise = f"{self.host_ip}:{port}"

    def describe(self) -> str:
        """One line per setting, for the start-up log."""
        return "\n".join(f"  {k}={v}" for k, v in asdict(self).items())


def _exec_helper(value: str) -> str:
    if value in ("auto", "none") or (os.path.isfile(value) and os.access(value, os.X_OK)):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not an executable file (or 'auto', 'none')")


def _period(value: str) -> float:
    """A period in seconds: a positive number (0 would make its loop spin)."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value!r}: a period must be more than 0 seconds")
    return seconds


def _host_port(value: str) -> str:
    """HOST:PORT, with a port in 1-65535 (or empty: no address)."""
    if not value:
        return value
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return value


def _labels(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"label {part!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def _node_flags(p: argparse.ArgumentParser) -> None:
    """Who the node is, where it listens, how it runs containers, what it offers."""
    p.add_argument("--server", default=os.environ.get(ENV_SERVER, DEFAULT_SERVER),
                   help="API server HOST:PORT (env PODLAB_SERVER)")
    p.add_argument("--kubernetes-service", type=_host_port, default=os.environ.get("PODLAB_KUBERNETES_SERVICE", ""),
                   help="HOST:PORT at which pods reach the Kubernetes API, given to every container as "
                        "KUBERNETES_SERVICE_HOST/PORT (env PODLAB_KUBERNETES_SERVICE)")
    p.add_argument("--node-name", default=os.environ.get("PODLAB_NODE_NAME", socket.gethostname()))
    p.add_argument("--listen", default="0.0.0.0:7450", help="gRPC listen address")
    p.add_argument("--advertise", default="", help="HOST:PORT published as agentEndpoint")
    p.add_argument("--runtime", choices=["docker", "sim"], default="docker")
    p.add_argument("--mirror", default="", help="YAML map upstream image -> local image")
    p.add_argument("--pod-network", default="podlab-pods", help="docker bridge network for pods")
    p.add_argument("--host-ip", default="127.0.0.1", help="node IP (InternalIP, hostPort)")
    p.add_argument("--root-dir", default="", help="volumes root (default /var/lib/podlab/<node>)")
    p.add_argument("--pause-image", default="podlab/pause:3.9")
    p.add_argument("--node-netns-container", default="",
                   help="container whose network namespace hostNetwork pods join")
    p.add_argument("--exec-helper", default="auto", type=_exec_helper,
                   help="podlab-nsexec for exec probes and hooks: a path, 'auto' (look on PATH) "
                        "or 'none' (always exec through the engine)")
    p.add_argument("--cpu", default="", help="capacity override, e.g. 2 or 1500m")
    p.add_argument("--memory", default="", help="capacity override, e.g. 4Gi")
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--labels", type=_labels, default={}, help="node labels k=v,...")


def _timing_flags(p: argparse.ArgumentParser) -> None:
    """Heartbeat and fence, back-off, relist and resync."""
    p.add_argument("--heartbeat", type=_period, default=1.0, help="lease renewal period (s)")
    p.add_argument("--fence-timeout", type=float, default=6.0,
                   help="stop all pods when the lease has not been renewed for this long (s)")
    p.add_argument("--witness-timeout", type=_period, default=0.5,
                   help="how long a peer agent has to answer whether it renews its lease, when "
                        "this node cannot (s): peers that confirm an outage of everyone's keep "
                        "this node's pods running instead of fencing them")
    p.add_argument("--fence-watchdog", action="store_true",
                   help="start the fence watchdog beside the agent: a process of its own that "
                        "stops this node's pods when the agent itself cannot (frozen, hung, killed)")
    p.add_argument("--backoff-base", type=float, default=10.0, help="CrashLoopBackOff base (s)")
    p.add_argument("--backoff-cap", type=float, default=300.0, help="CrashLoopBackOff cap (s)")
    p.add_argument("--relist-period", type=_period, default=1.0,
                   help="how often this node's containers are listed to catch a change the "
                        "runtime's event stream missed (s; the kubelet's PLEG relist period)")
    p.add_argument("--resync-period", type=_period, default=60.0,
                   help="how often each pod is re-examined without a runtime event, and "
                        "orphans swept (s; the kubelet's --sync-frequency)")


def _eviction_flags(p: argparse.ArgumentParser) -> None:
    """Node-pressure eviction (nodeagent.eviction)."""
    p.add_argument("--eviction-hard", default=AgentConfig.eviction_hard,
                   help="hard eviction thresholds, e.g. memory.available<100Mi,nodefs.available<10%%"
                        " ('' disables)")
    p.add_argument("--eviction-soft", default="", help="soft thresholds (same syntax)")
    p.add_argument("--eviction-soft-grace-period", default="",
                   help="grace per soft signal, e.g. memory.available=30s")
    p.add_argument("--eviction-pressure-transition-period", type=float, default=30.0,
                   help="seconds a pressure condition stays after its threshold stops being met")
    p.add_argument("--eviction-interval", type=float, default=5.0,
                   help="seconds between eviction passes")
    p.add_argument("--eviction-max-pod-grace-period", type=float, default=30.0,
                   help="longest grace period given to a pod evicted by a soft threshold (s)")
    p.add_argument("--memory-signal", choices=["meminfo", "working-set"], default="meminfo",
                   help="memory.available from /proc/meminfo, or --memory minus the containers' "
                        "working sets")


def parse_args(argv: list[str] | None = None) -> AgentConfig:
    """Flags (as the lab compose file uses them) into an AgentConfig: each flag sets the
    field of its name; fields without a flag keep their defaults."""
    p = argparse.ArgumentParser("podlab-nodeagent", description="podlab node agent (kubelet)")
    _node_flags(p)
    _timing_flags(p)
    _eviction_flags(p)
    a = p.parse_args(argv)
    from nodeagent.eviction import ThresholdError, parse_grace_periods, parse_thresholds
    try:
        parse_thresholds(a.eviction_hard)
        parse_thresholds(a.eviction_soft, parse_grace_periods(a.eviction_soft_grace_period), soft=True)
    except ThresholdError as err:
        p.error(str(err))
    return AgentConfig(**{f.name: getattr(a, f.name) for f in fields(AgentConfig)
                          if hasattr(a, f.name)})
