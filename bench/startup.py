"""Pod startup latency: the node agent on Docker vs raw `docker run`.

N pods (50; quick: 5) are created at once; each pod's latency runs from its
creation until every container is running (the agent reports Running). The
reference does the same work by hand: for each pod, `docker run` a pause
container and then the same app container joined to it
(network_mode/ipc_mode=container:<pause>), all pods concurrently.

The agent runs in-process against an in-memory API (nodeagent.testing
.FakeCluster), so the figure is the agent's own overhead, not the API
server's. Everything is labelled io.podlab.managed=true and removed after.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
import time
import uuid
from typing import Any

from google.protobuf.json_format import ParseDict

from bench.stats import progress, summary_ms
from podlab.v1 import objects_pb2 as v1

APP_IMAGE = "busybox:latest"
PAUSE_IMAGE = "podlab/pause:3.9"


def _cleanup(node: str, network: str) -> None:
    import docker
    client = docker.from_env(timeout=120)
    for c in client.containers.list(all=True, filters={"label": f"io.podlab.node={node}"}):
        c.remove(force=True)
    for n in client.networks.list(names=[network]):
        n.remove()
    client.close()


async def _agent_run(n: int, node: str, network: str) -> list[float]:
    from nodeagent.agent import NodeAgent
    from nodeagent.config import AgentConfig
    from nodeagent.runtime.docker import DockerRuntime
    from nodeagent.testing import FakeCluster

    cluster = FakeCluster()
    runtime = DockerRuntime(node, network, PAUSE_IMAGE)
    with tempfile.TemporaryDirectory(prefix="podlab-bench-") as root:
        config = AgentConfig(node_name=node, root_dir=root, pod_network=network,
                             resync_period=5.0, fence_timeout=600)
        agent = NodeAgent(config, cluster, runtime)
        task = asyncio.create_task(agent.run())
        try:
            await agent.informer.synced.wait()
            created: dict[str, float] = {}
            running: dict[str, float] = {}
            for i in range(n):
                pod = ParseDict({"metadata": {"name": f"bench-{i}"}, "spec": {"containers": [
                    {"name": "app", "image": APP_IMAGE, "imagePullPolicy": "IfNotPresent",
                     "command": ["sh", "-c", "sleep 3600"]}]}}, v1.Pod())
                created[f"bench-{i}"] = time.perf_counter()
                await cluster.add_pod(pod, node)

            def check() -> bool:
                for name in created:
                    if name in running:
                        continue
                    p = cluster.pod(name)
                    if p is not None and p.status.phase == "Running" and all(
                            cs.state.HasField("running") for cs in p.status.container_statuses):
                        running[name] = time.perf_counter()
                return len(running) == n
            await cluster.wait_for(check, 600)
            return [running[k] - created[k] for k in created]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await runtime.close()


def _raw_run(n: int, node: str, network: str) -> list[float]:
    import docker
    client = docker.from_env(timeout=120, max_pool_size=32)
    try:
        client.networks.get(network)
    except docker.errors.NotFound:
        client.networks.create(network, driver="bridge", labels={"io.podlab.managed": "true"})
    labels = {"io.podlab.managed": "true", "io.podlab.node": node}

    def one(i: int) -> float:
        t0 = time.perf_counter()
        pause = client.containers.run(PAUSE_IMAGE, detach=True, name=f"{node}-raw-{i}-pause",
                                      network=network, hostname=f"raw-{i}", labels=labels,
                                      ipc_mode="shareable")
        pause.reload()
        client.containers.run(APP_IMAGE, ["sh", "-c", "sleep 3600"], detach=True,
                              name=f"{node}-raw-{i}-app", labels=labels,
                              network_mode=f"container:{pause.id}", ipc_mode=f"container:{pause.id}")
        return time.perf_counter() - t0

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        out = list(pool.map(one, range(n)))
    client.close()
    return out


def run(quick: bool = False) -> dict[str, Any]:
    n = 5 if quick else 50
    tag = uuid.uuid4().hex[:6]
    node, network = f"bench-{tag}", f"podlab-bench-{tag}"
    try:
        progress(f"startup: {n} pods through the node agent")
        agent = asyncio.run(_agent_run(n, node, network))
        _cleanup(node, network)
        progress(f"startup: {n} raw docker pause+app pairs")
        raw = _raw_run(n, node, network)
    finally:
        _cleanup(node, network)
    a, r = summary_ms(agent), summary_ms(raw)
    return {
        "config": {"pods": n, "app_image": APP_IMAGE, "pause_image": PAUSE_IMAGE,
                   "concurrency": "all pods created at once", "api": "in-memory FakeCluster"},
        "agent": a, "raw_docker": r,
        "ratio": {"p50": round(a["p50_ms"] / r["p50_ms"], 2) if r["p50_ms"] else None,
                  "p99": round(a["p99_ms"] / r["p99_ms"], 2) if r["p99_ms"] else None},
    }
