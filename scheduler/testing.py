"""Builders of the nodes and pods scheduler tests and the scheduler benchmark use.

The API they run against is controlplane.testing.InMemoryApi: the real
registry over an in-memory store.
"""

from __future__ import annotations

from podlab.v1 import objects_pb2 as v1


def make_node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
              labels: dict[str, str] | None = None,
              taints: list[tuple[str, str, str]] | None = None,
              ready: str = "True", unschedulable: bool = False) -> v1.Node:
    node = v1.Node(api_version="v1", kind="Node")
    node.metadata.name = name
    node.metadata.labels.update(labels or {})
    node.spec.unschedulable = unschedulable
    for key, value, effect in taints or []:
        node.spec.taints.add(key=key, value=value, effect=effect)
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    node.status.capacity.update(alloc)
    node.status.allocatable.update(alloc)
    node.status.conditions.add(type="Ready", status=ready)
    return node


def make_pod(name: str, cpu: str = "", memory: str = "", namespace: str = "default",
             labels: dict[str, str] | None = None, node_selector: dict[str, str] | None = None,
             host_port: int = 0, priority: int | None = None,
             tolerations: list[tuple[str, str, str, str]] | None = None,
             scheduler_name: str = "") -> v1.Pod:
    pod = v1.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace = name, namespace
    pod.metadata.labels.update(labels or {})
    pod.spec.scheduler_name = scheduler_name
    pod.spec.node_selector.update(node_selector or {})
    if priority is not None:
        pod.spec.priority = priority
    for key, op, value, effect in tolerations or []:
        pod.spec.tolerations.add(key=key, operator=op, value=value, effect=effect)
    c = pod.spec.containers.add(name="app", image="nginx")
    if cpu:
        c.resources.requests["cpu"] = cpu
    if memory:
        c.resources.requests["memory"] = memory
    if host_port:
        c.ports.add(container_port=80, host_port=host_port)
    pod.status.phase = "Pending"
    return pod
