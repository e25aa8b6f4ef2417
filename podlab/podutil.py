"""Small pod and node helpers shared by every component: QoS, requests, conditions."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from podlab.names import TERMINAL_PHASES
from podlab.quantity import cpu_millis, parse_quantity, to_bytes
from podlab.v1 import objects_pb2 as v1

_QOS_RESOURCES = ("cpu", "memory")


def now() -> Timestamp:
    """The current time as a protobuf Timestamp."""
    ts = Timestamp()
    ts.FromMicroseconds(time.time_ns() // 1000)  # GetCurrentTime's precision, without a datetime
    return ts


def _effective_requests(c: v1.Container) -> dict[str, str]:
    """A container's requests, with a limit standing in for a missing request (as defaulted)."""
    return {**dict(c.resources.limits), **dict(c.resources.requests)}


def _positive(text: str | None) -> Any:
    """The quantity `text` if it parses and is above zero, else None."""
    if not text:
        return None
    try:
        quantity = parse_quantity(text)
    except ValueError:
        return None
    return quantity if quantity > 0 else None


def qos_class(pod: v1.Pod) -> str:
    """"Guaranteed", "Burstable" or "BestEffort", by Kubernetes' rules (cpu and memory only).

    Guaranteed: every container limits cpu and memory, and requests equal limits.
    BestEffort: no container requests or limits anything. Burstable: the rest.
    A missing request stands in for its limit, as defaulting does.
    """
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for c in (*pod.spec.init_containers, *pod.spec.containers):
        requested, limited = c.resources.requests, c.resources.limits
        for name in _QOS_RESOURCES:
            request = _positive(requested.get(name, limited.get(name)))
            if request is not None:
                requests[name] = requests.get(name, 0) + request
            limit = _positive(limited.get(name))
            if limit is None:
                guaranteed = False
            else:
                limits[name] = limits.get(name, 0) + limit
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _container_request(c: v1.Container) -> tuple[int, int]:
    """(millicores, bytes) one container requests; a malformed or negative quantity counts 0."""
    req = _effective_requests(c)
    cpu = _safe(cpu_millis, req.get("cpu"))
    memory = _safe(to_bytes, req.get("memory"))
    return cpu, memory


def _safe(convert: Any, text: str | None) -> int:
    if not text:
        return 0
    try:
        return max(0, int(convert(text)))
    except ValueError:
        return 0


def pod_requests(pod: v1.Pod) -> dict[str, int]:
    """{"cpu": millicores, "memory": bytes} `pod` requests: what the scheduler reserves on its node
    and what `describe node` and `get nodes -o wide` count as allocated.

    Kubernetes' PodRequests (k8s.io/component-helpers/resource): app
    containers add up; sidecars (init containers with restartPolicy Always)
    keep running, so they add to the app sum and to every later init
    container; an ordinary init container runs alone beside the sidecars
    started before it. The pod needs the larger of the app sum and the
    highest init peak. A limit stands in for a missing request, as defaulting
    makes it. podlab's PodSpec has no `overhead` (RuntimeClass) or pod-level
    `resources`, so there is nothing to add for them.
    """
    cpu = memory = 0  # app containers and sidecars
    sidecar_cpu = sidecar_memory = 0  # the sidecars started so far
    init_cpu = init_memory = 0  # the highest use while an init container runs
    for c in pod.spec.containers:
        c_cpu, c_memory = _container_request(c)
        cpu, memory = cpu + c_cpu, memory + c_memory
    for c in pod.spec.init_containers:
        c_cpu, c_memory = _container_request(c)
        if c.restart_policy == "Always":
            cpu, memory = cpu + c_cpu, memory + c_memory
            sidecar_cpu, sidecar_memory = sidecar_cpu + c_cpu, sidecar_memory + c_memory
            use_cpu, use_memory = sidecar_cpu, sidecar_memory
        else:
            use_cpu, use_memory = sidecar_cpu + c_cpu, sidecar_memory + c_memory
        init_cpu, init_memory = max(init_cpu, use_cpu), max(init_memory, use_memory)
    return {"cpu": max(cpu, init_cpu), "memory": max(memory, init_memory)}


def get_condition(status: Any, type: str) -> Any:
    """The condition of type `type` in a PodStatus or NodeStatus, or None."""
    conditions: Iterable[Any] = status.conditions
    for cond in conditions:
        if cond.type == type:
            return cond
    return None


def set_condition(status: Any, type: str, status_value: str | bool, reason: str = "",
                  message: str = "") -> bool:
    """Sets condition `type` on a PodStatus or NodeStatus; returns whether anything changed.

    `status_value` is "True", "False" or "Unknown" (a bool is taken as True/False).
    lastTransitionTime moves only when the status itself changes.
    """
    if isinstance(status_value, bool):
        status_value = "True" if status_value else "False"
    cond = get_condition(status, type)
    if cond is None:
        cond = status.conditions.add(type=type, status=status_value, reason=reason,
                                     message=message)
        cond.last_transition_time.CopyFrom(now())
        return True
    changed = False
    if cond.status != status_value:
        cond.status = status_value
        cond.last_transition_time.CopyFrom(now())
        changed = True
    if cond.reason != reason or cond.message != message:
        cond.reason, cond.message = reason, message
        changed = True
    return changed


def is_pod_ready(pod: v1.Pod) -> bool:
    cond = get_condition(pod.status, "Ready")
    return cond is not None and cond.status == "True"


def is_terminal(pod: v1.Pod) -> bool:
    """Whether the pod has finished for good (Succeeded or Failed)."""
    return pod.status.phase in TERMINAL_PHASES


def node_condition(node: v1.Node, type: str) -> v1.NodeCondition | None:
    cond: v1.NodeCondition | None = get_condition(node.status, type)
    return cond


def is_node_ready(node: v1.Node) -> bool:
    cond = node_condition(node, "Ready")
    return cond is not None and cond.status == "True"
