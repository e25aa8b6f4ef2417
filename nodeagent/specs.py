"""The pure half of starting a pod: what the runtime is asked to run.

`sandbox_spec` and `container_spec` turn the API's pod into the runtime's
SandboxSpec and ContainerSpec (labels, host ports, host aliases, command and
args with $(VAR) expanded, limits, the user and group from the two security
contexts, read-only root filesystem). No I/O: environment and mounts are
resolved by the caller (nodeagent.env, nodeagent.volumes) and passed in, so
these are unit-tested like nodeagent.plan.
"""

from __future__ import annotations

from nodeagent.env import expand
from nodeagent.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_TYPE,
    TYPE_SANDBOX,
    ContainerSpec,
    Mount,
    PortMapping,
    SandboxSpec,
)
from nodeagent.securitycontext import run_as_user
from podlab.quantity import cpu_millis, to_bytes
from podlab.v1 import objects_pb2 as v1

DEFAULT_GRACE = 30
SANDBOX_NAME = "POD"


def default_pull_policy(image: str) -> str:
    """Kubernetes' default: Always for :latest or no tag, else IfNotPresent."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def grace_period(pod: v1.Pod) -> int:
    """The grace of a deletion: the deletion's own, else the pod's, else 30 s."""
    if pod.metadata.HasField("deletion_grace_period_seconds"):
        return max(0, pod.metadata.deletion_grace_period_seconds)
    return pod_grace(pod)


def pod_grace(pod: v1.Pod) -> int:
    """The pod's own termination grace (a probe kill is not a deletion)."""
    if pod.spec.HasField("termination_grace_period_seconds"):
        return max(0, pod.spec.termination_grace_period_seconds)
    return DEFAULT_GRACE


def active_deadline(pod: v1.Pod, now: float) -> float | None:
    """When the pod exceeds spec.activeDeadlineSeconds (epoch s; counted from its start
    time, or from `now` before it has one); None without a deadline."""
    if not pod.spec.HasField("active_deadline_seconds"):
        return None
    start = pod.status.start_time.ToMilliseconds() / 1000 if pod.status.HasField(
        "start_time") else now
    return start + pod.spec.active_deadline_seconds


def pod_labels(pod: v1.Pod, node: str) -> dict[str, str]:
    return {LABEL_MANAGED: "true", LABEL_NODE: node, LABEL_POD_UID: pod.metadata.uid,
            LABEL_POD_NAME: pod.metadata.name,
            LABEL_POD_NAMESPACE: pod.metadata.namespace or "default"}


def host_ports(pod: v1.Pod, host_ip: str) -> list[PortMapping]:
    """The pod's hostPort mappings. hostIP 0.0.0.0 means "every address of this node": on a
    Docker host shared by several nodes, that is the node's own host IP, not every address
    of the machine."""
    return [PortMapping(p.container_port, p.host_port, p.protocol or "TCP",
                        p.host_ip if p.host_ip not in ("", "0.0.0.0") else host_ip)
            for c in list(pod.spec.init_containers) + list(pod.spec.containers)
            for p in c.ports if p.host_port]


def sandbox_spec(pod: v1.Pod, node: str, host_ip: str, attempt: int, mounts: list[Mount]) -> SandboxSpec:
    """The pause container of attempt `attempt` of the pod's sandbox, holding `mounts` (the pod's
    /etc/hosts, written as the kubelet writes it, and its memory emptyDirs) for the pod's life."""
    labels = pod_labels(pod, node)
    labels.update({LABEL_TYPE: TYPE_SANDBOX, LABEL_CONTAINER_NAME: SANDBOX_NAME,
                   LABEL_ATTEMPT: str(attempt)})
    return SandboxSpec(pod.metadata.uid, pod.metadata.name, pod.metadata.namespace or "default",
                       attempt, pod.spec.hostname or pod.metadata.name, labels,
                       host_network=pod.spec.host_network, ports=host_ports(pod, host_ip), mounts=mounts)


def run_as(container: v1.Container, pod: v1.Pod) -> str:
    """The runtime's user: "uid" or "uid:gid", the container's security context first, then
    the pod's; "" for the image's user."""
    sc, psc = container.security_context, pod.spec.security_context
    user = run_as_user(pod, container)
    group = sc.run_as_group if sc.HasField("run_as_group") else (
        psc.run_as_group if psc.HasField("run_as_group") else None)
    if user is None:
        return ""
    return f"{user}:{group}" if group is not None else str(user)


def container_spec(pod: v1.Pod, container: v1.Container, type_: str, attempt: int, node: str,
                   env: dict[str, str], mounts: list[Mount]) -> ContainerSpec:
    """Attempt `attempt` of `container` (type init or app), with its environment resolved."""
    c = container
    labels = pod_labels(pod, node)
    labels.update({LABEL_CONTAINER_NAME: c.name, LABEL_ATTEMPT: str(attempt), LABEL_TYPE: type_})
    spec = ContainerSpec(
        pod.metadata.uid, pod.metadata.name, pod.metadata.namespace or "default", c.name,
        attempt, type_, c.image, labels,
        command=[expand(x, env) for x in c.command], args=[expand(x, env) for x in c.args],
        env=env, working_dir=c.working_dir, mounts=mounts, tty=c.tty, stdin=c.stdin, stdin_once=c.stdin_once,
        user=run_as(c, pod), read_only_rootfs=c.security_context.read_only_root_filesystem)
    limits = c.resources.limits
    if limits.get("cpu"):
        spec.nano_cpus = cpu_millis(limits["cpu"]) * 1_000_000
    if limits.get("memory"):
        spec.memory_limit = to_bytes(limits["memory"])
    return spec
