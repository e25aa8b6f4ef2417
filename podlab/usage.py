"""Resource usage as metrics.k8s.io and `top` show it, from the node agents' Stats; pure.

The REST API's metrics.k8s.io (PodMetrics, NodeMetrics) and podctl's `top`
read the same Stats answers through these functions, so kubectl top and
podctl top agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import grpc

from podlab import errors
from podlab.quantity import cpu_millis, to_bytes
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api

MI = 1024 * 1024


@dataclass(frozen=True)
class Usage:
    cpu_cores: float
    memory_bytes: int


@dataclass(frozen=True)
class PodUsage:
    pod: v1.Pod
    containers: list[tuple[str, Usage]]  # in the pod's container order
    timestamp_ms: int
    window_seconds: float

    @property
    def total(self) -> Usage:
        return Usage(sum(u.cpu_cores for _, u in self.containers), sum(u.memory_bytes for _, u in self.containers))


STATS_TIMEOUT = 5.0


async def gather_stats(fetch: Callable[[str], Awaitable[api.StatsResponse]],
                       nodes: Iterable[str]) -> dict[str, api.StatsResponse]:
    """Each node's Stats by `fetch` (at once, at most STATS_TIMEOUT each); a node whose agent fails or
    is slow is left out: it has no metrics, as with metrics-server."""
    names = sorted({n for n in nodes if n})

    async def one(name: str) -> api.StatsResponse | None:
        try:
            async with asyncio.timeout(STATS_TIMEOUT):
                return await fetch(name)
        except (errors.ApiError, grpc.RpcError, TimeoutError):
            return None

    replies = await asyncio.gather(*(one(n) for n in names))
    return {n: r for n, r in zip(names, replies, strict=True) if r is not None}


def pod_usage(pods: Iterable[v1.Pod], stats: dict[str, api.StatsResponse]) -> list[PodUsage]:
    """The usage of each pod whose node answered (`stats` by node name) and that has a running container
    there; other pods have no metrics, as with metrics-server."""
    out = []
    for pod in pods:
        reply = stats.get(pod.spec.node_name)
        if reply is None:
            continue
        mine = {c.container: Usage(c.cpu_cores, c.memory_working_set_bytes) for c in reply.containers
                if c.pod_uid == pod.metadata.uid}
        containers = [(c.name, mine[c.name]) for c in pod.spec.containers if c.name in mine]
        if containers:
            out.append(PodUsage(pod, containers, reply.timestamp_ms, reply.window_seconds))
    return out


def node_usage(reply: api.StatsResponse) -> Usage:
    return Usage(reply.node_cpu_cores, reply.node_memory_working_set_bytes)


def cpu_quantity(cores: float) -> str:
    """A Kubernetes quantity in nanocores, as metrics-server writes CPU."""
    return f"{round(cores * 1e9)}n"


def memory_quantity(size: int) -> str:
    """A Kubernetes quantity in Ki, as metrics-server writes memory."""
    return f"{size // 1024}Ki"


def top_cpu(cores: float) -> str:
    """kubectl top's CPU cell: millicores of the nanocore quantity, rounded up as Quantity.MilliValue."""
    nanos = round(cores * 1e9)
    return f"{-(-nanos // 1_000_000)}m"


def top_memory(size: int) -> str:
    """kubectl top's memory cell: MiB."""
    return f"{size // MI}Mi"


def percent(used: float, available: float) -> str:
    """kubectl top node's percentage cell (truncated)."""
    return f"{int(used * 100 / available)}%" if available > 0 else "<unknown>"


def top_pod_rows(usages: Sequence[PodUsage], containers: bool, all_namespaces: bool) -> list[list[str]]:
    """The rows `top pod` prints (`--containers`: one per container, after POD)."""
    rows = []
    for u in usages:
        lead = [u.pod.metadata.namespace] if all_namespaces else []
        if containers:
            rows += [lead + [u.pod.metadata.name, name, top_cpu(c.cpu_cores), top_memory(c.memory_bytes)]
                     for name, c in u.containers]
        else:
            rows.append(lead + [u.pod.metadata.name, top_cpu(u.total.cpu_cores), top_memory(u.total.memory_bytes)])
    return rows


def top_pod_headers(containers: bool, all_namespaces: bool) -> list[str]:
    return (["NAMESPACE"] if all_namespaces else []) + ["POD" if containers else "NAME"] + \
        (["NAME"] if containers else []) + ["CPU(cores)", "MEMORY(bytes)"]


TOP_NODE_HEADERS = ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]


def top_node_row(name: str, used: Usage, allocatable: dict[str, str]) -> list[str]:
    """One `top node` row: usage and its share of the node's allocatable (kubectl's arithmetic: the
    CPU in millicores rounded up, memory in whole KiB, as the metrics API's quantities carry them)."""
    milli = -(-round(used.cpu_cores * 1e9) // 1_000_000)
    memory = used.memory_bytes // 1024 * 1024
    cpu_total = cpu_millis(allocatable["cpu"]) if allocatable.get("cpu") else 0
    memory_total = to_bytes(allocatable["memory"]) if allocatable.get("memory") else 0
    return [name, f"{milli}m", percent(milli, cpu_total), top_memory(memory), percent(memory, memory_total)]
