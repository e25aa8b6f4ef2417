"""Pod startup latency through the whole system, against raw `docker run`.

A real cluster runs as processes (etcd, control plane, scheduler, one node
agent on Docker). Pods are created one at a time through the API; each
pod's latency runs from the create call until a watch reports it Running
with every container started (scheduling, binding, the agent's sandbox,
volumes and container start all included). The image is already present.

The reference does the same container work by hand: `docker run` a pause
container, then the same app container joined to its namespaces
(network_mode/ipc_mode=container:<pause>), one pod at a time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench.stats import progress, summary_ms
from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.support.cluster import LocalCluster, all_nodes_ready, sleeper
from tests.support.dockerkit import remove_node
from tests.support.procs import Etcd

APP_IMAGE = "busybox:latest"
PAUSE_IMAGE = "podlab/pause:3.9"
LABEL = "io.podlab.bench"


async def _through_api(n: int, address: str) -> list[float]:
    latencies: list[float] = []
    async with Client(address) as client:
        await all_nodes_ready(client, 1, timeout=60)
        for i in range(n):
            _, revision = await client.list(v1.Pod, "default")
            pod = sleeper(f"startup-{i}")
            started = time.perf_counter()
            await client.create(pod)
            async for event in client.watch(v1.Pod, "default", resource_version=revision,
                                            field_selector=f"metadata.name=startup-{i}"):
                status = event.object.status if event.object is not None else None
                if status is not None and status.phase == "Running" and status.container_statuses and all(
                        c.state.HasField("running") for c in status.container_statuses):
                    latencies.append(time.perf_counter() - started)
                    break
            if i % 10 == 0:
                progress(f"startup: {i + 1}/{n} through the API: {latencies[-1] * 1000:.0f} ms")
    return latencies


def _raw_docker(n: int, run_id: str) -> list[float]:
    import docker

    client = docker.from_env(timeout=120)
    latencies: list[float] = []
    try:
        for i in range(n):
            labels = {LABEL: run_id}
            started = time.perf_counter()
            pause = client.containers.run(PAUSE_IMAGE, detach=True, labels=labels, name=f"raw-{run_id}-{i}-pause",
                                          ipc_mode="shareable")
            client.containers.run(APP_IMAGE, ["sh", "-c", "sleep 3600"], detach=True, labels=labels,
                                  name=f"raw-{run_id}-{i}-app", network_mode=f"container:{pause.id}",
                                  ipc_mode=f"container:{pause.id}")
            latencies.append(time.perf_counter() - started)
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
            c.remove(force=True)
        client.close()
    return latencies


def run(quick: bool = False) -> dict[str, Any]:
    n = 5 if quick else 50
    run_id = uuid.uuid4().hex[:6]
    store = Etcd()
    try:
        cluster = LocalCluster(store, nodes=1, runtime="docker", node_prefix=f"bench-{run_id}-",
                               agent_flags=("--pod-network", f"podlab-bench-{run_id}",
                                            "--mirror", "compose/images/mirror.yaml"))
        try:
            progress(f"startup: {n} pods, one at a time, through the API")
            api = asyncio.run(_through_api(n, cluster.server_address))
        finally:
            cluster.stop()
            remove_node(cluster.node_names[0], f"podlab-bench-{run_id}")
    finally:
        store.stop()
    progress(f"startup: {n} raw docker runs of pause + app")
    raw = _raw_docker(n, run_id)
    api_ms, raw_ms = summary_ms(api), summary_ms(raw)
    return {
        "config": {"pods": n, "mode": "one at a time", "app_image": APP_IMAGE, "pause_image": PAUSE_IMAGE,
                   "path": "create -> scheduler -> agent -> Docker, Running seen through a watch"},
        "podlab": api_ms,
        "raw_docker_pause_plus_app": raw_ms,
        "ratio": {"p50": round(api_ms["p50_ms"] / raw_ms["p50_ms"], 2),
                  "p99": round(api_ms["p99_ms"] / raw_ms["p99_ms"], 2)},
        "targets": {"p99_ms_max": 1500, "ratio_max": 1.5},
    }
