"""Pod startup latency through the whole system, against raw `docker run`.

A real cluster runs as processes (etcd, control plane, scheduler, one node
agent on Docker). Pods are created one at a time through the API; each
pod's latency runs from the create call until a watch reports it Running
with every container started (scheduling, binding, the agent's sandbox,
volumes and container start all included). The image is already present.

The reference does the same container work by hand: `docker run` a pause
container on a user-defined bridge network (what the agent's pod network
is), then the same app container joined to its namespaces
(network_mode/ipc_mode=container:<pause>). Pod i through podlab and pod i by
hand run back to back, so both see the same machine and the same number of
running containers (Docker's start time grows with it). The same by hand on
Docker's default bridge is printed for context.
"""

from __future__ import annotations

import asyncio
import threading
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


async def _one_through_api(client: Client, name: str) -> float:
    """Create one pod and wait, through a watch, until every container runs."""
    _, revision = await client.list(v1.Pod, "default")
    started = time.perf_counter()
    await client.create(sleeper(name))
    async for event in client.watch(v1.Pod, "default", resource_version=revision,
                                    field_selector=f"metadata.name={name}"):
        status = event.object.status if event.object is not None else None
        if status is not None and status.phase == "Running" and status.container_statuses and all(
                c.state.HasField("running") for c in status.container_statuses):
            break
    return time.perf_counter() - started


class _RawDocker:
    """`docker run` pause, then the app joined to its namespaces, as a pod by hand."""

    def __init__(self, run_id: str) -> None:
        import docker

        self.run_id = run_id
        self.client = docker.from_env(timeout=120)
        # Held while a pod is made: close() waits for one a worker thread is still making when the
        # benchmark is stopped, which would otherwise outlive the clean-up.
        self._busy = threading.Lock()
        # A user-defined bridge, as the agent's pod network is.
        self.network = self.client.networks.create(f"podlab-bench-{run_id}-raw", driver="bridge")

    def one(self, name: str, network: str | None) -> float:
        labels = {LABEL: self.run_id}
        with self._busy:
            started = time.perf_counter()
            pause = self.client.containers.run(PAUSE_IMAGE, detach=True, labels=labels, name=f"{name}-pause",
                                               ipc_mode="shareable", network=network)
            self.client.containers.run(APP_IMAGE, ["sh", "-c", "sleep 3600"], detach=True, labels=labels,
                                       name=f"{name}-app", network_mode=f"container:{pause.id}",
                                       ipc_mode=f"container:{pause.id}")
            return time.perf_counter() - started

    def close(self) -> None:
        with self._busy:
            for c in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
                c.remove(force=True)
            self.network.remove()
            self.client.close()


async def _interleaved(n: int, address: str, run_id: str) -> dict[str, list[float]]:
    """Pod i through podlab, then by hand on a pod network and on Docker's default
    bridge, for i in 0..n-1: all three see the same machine and container count."""
    out: dict[str, list[float]] = {"podlab": [], "raw": [], "default_bridge": []}
    raw = await asyncio.to_thread(_RawDocker, run_id)
    try:
        async with Client(address) as client:
            await all_nodes_ready(client, 1, timeout=60)
            for i in range(n):
                out["podlab"].append(await _one_through_api(client, f"startup-{i}"))
                out["raw"].append(await asyncio.to_thread(raw.one, f"raw-{run_id}-{i}", raw.network.name))
                out["default_bridge"].append(await asyncio.to_thread(raw.one, f"raw-{run_id}-{i}-b", None))
                if i % 10 == 0:
                    progress(f"startup: {i + 1}/{n}: podlab {out['podlab'][-1] * 1000:.0f} ms, "
                             f"raw docker {out['raw'][-1] * 1000:.0f} ms")
    finally:
        await asyncio.to_thread(raw.close)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    n = 5 if quick else 50
    run_id = uuid.uuid4().hex[:6]
    store = Etcd()
    try:
        cluster = LocalCluster(store, nodes=1, runtime="docker", node_prefix=f"bench-{run_id}-",
                               agent_flags=("--pod-network", f"podlab-bench-{run_id}",
                                            "--mirror", "compose/images/mirror.yaml"))
        try:
            progress(f"startup: {n} pods one at a time, each through the API and by hand with docker")
            runs = asyncio.run(_interleaved(n, cluster.server_address, run_id))
        finally:
            cluster.stop()
            remove_node(cluster.node_names[0], f"podlab-bench-{run_id}")
    finally:
        store.stop()
    api_ms, raw_ms = summary_ms(runs["podlab"]), summary_ms(runs["raw"])
    return {
        "config": {"pods": n, "mode": "one at a time, interleaved with the reference",
                   "app_image": APP_IMAGE, "pause_image": PAUSE_IMAGE,
                   "path": "create -> scheduler -> agent -> Docker, Running seen through a watch",
                   "reference": "docker run pause on a user-defined bridge (as the agent's pod network), "
                                "then the app joined to its namespaces"},
        "podlab": api_ms,
        "raw_docker_pause_plus_app": raw_ms,
        "raw_docker_on_default_bridge": summary_ms(runs["default_bridge"]),
        "ratio": {"p50": round(api_ms["p50_ms"] / raw_ms["p50_ms"], 2),
                  "p99": round(api_ms["p99_ms"] / raw_ms["p99_ms"], 2)},
        "targets": {"p99_ms_max": 1500, "ratio_max": 1.5},
        "meets_targets": api_ms["p99_ms"] <= 1500 and api_ms["p99_ms"] <= 1.5 * raw_ms["p99_ms"],
    }
