"""Scheduler benchmark: throughput and latency of the scheduling core, in-process.

Two measurements per cluster size (1,000 nodes × 10,000 pods, and 100 nodes):

- core: the scheduling cycle alone (framework filter + score over the cache,
  then assume), one pod after another: per-pod latency and CPU time;
- loop: the whole Scheduler (informers, queue, cycle, concurrent binds,
  events) against the in-memory API (the real registry over a memory store),
  all pods created at once before the clock starts: pods bound per second
  until the last bind, CPU time per pod (binds and events included).

`run(quick)` returns the figures; `python -m bench scheduler [--quick]`
prints them as the last line of stdout. Progress goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

from controlplane.testing import InMemoryApi
from scheduler import Scheduler, SchedulerConfig
from scheduler.cache import SchedulerCache
from scheduler.framework import Framework, PodInfo
from scheduler.plugins import default_plugins
from scheduler.testing import make_node, make_pod

APPS = 100


def _progress(msg: str) -> None:
    print(f"[bench scheduler] {msg}", file=sys.stderr, flush=True)


def _nodes(n: int) -> list[Any]:
    return [make_node(f"node-{i:04d}", cpu="32", memory="128Gi", pods=110,
                      labels={"zone": f"z{i % 3}"}) for i in range(n)]


def _pods(n: int) -> list[Any]:
    pods = []
    for i in range(n):
        pod = make_pod(f"pod-{i:05d}", cpu="100m", memory="128Mi",
                       labels={"app": f"app-{i % APPS}"})
        pod.metadata.uid = f"uid-{i:05d}"
        pods.append(pod)
    return pods


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_core(num_nodes: int, num_pods: int) -> dict[str, Any]:
    cache = SchedulerCache()
    for node in _nodes(num_nodes):
        cache.set_node(node)
    filters, scores = default_plugins()
    framework = Framework(filters, scores)
    infos = [PodInfo(p) for p in _pods(num_pods)]
    latencies: list[float] = []
    unscheduled = 0
    nodes = cache.node_list()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for info in infos:
        start = time.perf_counter()
        result = framework.schedule(info, nodes)
        if result.node is None:
            unscheduled += 1
        else:
            cache.assume(info, result.node)
        latencies.append(time.perf_counter() - start)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    per_node = [node.pod_count for n in nodes if (node := cache.node(n.name)) is not None]
    return {
        "nodes": num_nodes, "pods": num_pods, "unscheduled": unscheduled,
        "pods_per_second": round(num_pods / wall, 1),
        "latency_p50_ms": round(_pct(latencies, 0.50) * 1e3, 3),
        "latency_p99_ms": round(_pct(latencies, 0.99) * 1e3, 3),
        "cpu_ms_per_pod": round(cpu / num_pods * 1e3, 3),
        "feasible_nodes_sampled": framework.num_feasible_nodes_to_find(num_nodes),
        "pods_per_node_min_max": [min(per_node), max(per_node)],
        "pods_per_node_stdev": round(statistics.pstdev(per_node), 2),
    }


async def _bench_loop(num_nodes: int, num_pods: int, parallelism: int,
                      bind_latency: float) -> dict[str, Any]:
    client = InMemoryApi()
    for node in _nodes(num_nodes):
        client.create_now(node)
    sched = Scheduler(client, SchedulerConfig(leader_elect=False,
                                              parallelism=parallelism))
    bound_at: dict[str, float] = {}
    created_at: dict[str, float] = {}

    def on_bound(info: PodInfo, node: str) -> None:
        bound_at[info.key] = time.perf_counter()
        if len(bound_at) == num_pods:
            all_bound.set()

    all_bound = asyncio.Event()
    sched.on_bound = on_bound
    task = asyncio.create_task(sched.run())
    await asyncio.wait_for(sched.ready.wait(), 60)
    sched.on_bound = on_bound
    client.latency = 0.0
    # Every pod is created at once, before the clock starts: the API's create work (validation,
    # defaulting, storage) belongs to the API server, which runs in a process of its own in a
    # cluster. The scheduler sees the pods through its watch after the clock starts.
    for pod in _pods(num_pods):
        client.create_now(pod)
    client.latency = bind_latency
    cpu0, t0 = time.process_time(), time.perf_counter()
    created_at.update((f"default/{pod.metadata.name}", t0) for pod in client.pods())
    await asyncio.wait_for(all_bound.wait(), 600)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    e2e = [bound_at[k] - created_at[k] for k in bound_at]
    sample = sched.metrics.registry.get_sample_value
    attempts = int(sample("scheduler_scheduling_attempt_duration_seconds_count") or 0)
    attempt_seconds = sample("scheduler_scheduling_attempt_duration_seconds_sum") or 0.0
    return {
        "nodes": num_nodes, "pods": num_pods, "parallelism": parallelism,
        "bind_latency_ms": bind_latency * 1e3,
        "pods_per_second": round(num_pods / wall, 1),
        "e2e_p50_ms": round(_pct(e2e, 0.50) * 1e3, 1),
        "e2e_p99_ms": round(_pct(e2e, 0.99) * 1e3, 1),
        "cpu_ms_per_pod": round(cpu / num_pods * 1e3, 3),
        "attempt_count": attempts,
        "attempt_mean_ms": round(attempt_seconds / max(1, attempts) * 1e3, 3),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns figures, configuration and machine as one dict."""
    sizes = [(100, 1_000)] if quick else [(100, 1_000), (1_000, 10_000)]
    figures: dict[str, Any] = {"core": [], "loop": []}
    for nodes, pods in sizes:
        _progress(f"core: {nodes} nodes, {pods} pods")
        figures["core"].append(bench_core(nodes, pods))
        _progress(f"  {figures['core'][-1]}")
    for nodes, pods in sizes:
        _progress(f"loop: {nodes} nodes, {pods} pods, binds 1 ms round-trip")
        figures["loop"].append(asyncio.run(_bench_loop(nodes, pods, 16, 0.001)))
        _progress(f"  {figures['loop'][-1]}")
    return {
        "benchmark": "scheduler", "quick": quick, "figures": figures,
        "target": {"pods_per_second_at_1000_nodes": 1000},
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv)))
