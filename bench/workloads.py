"""Workloads benchmark: a Deployment from create to all Running, then a rolling update of it.

(a) scale-out: a Deployment of 1,000 replicas on 100 simulated nodes, create
    -> every pod Running and Ready: pods per second;
(b) rollout: a rolling update of those 1,000 (maxSurge and maxUnavailable
    25%): seconds from the template change until every replica is updated
    and available and no old pod is left;
(c) docker: the same flow for 12 replicas on real Docker (a local cluster of
    processes: etcd, control plane with its controllers, scheduler, three node
    agents on the Docker engine, as `bench startup` runs one).

(a) and (b) run in one process: the real registry over the in-memory store
(controlplane.testing.InMemoryApi, as `bench scheduler`'s loop), the real
scheduler, the ReplicaSet, Deployment and garbage-collector controllers, and
a fleet of simulated kubelets that, for a pod bound to one of their nodes,
write the status an agent on the sim runtime writes (Running, Ready,
container statuses, pod IP), and confirm the deletion of a terminating pod
(the agent's final delete with grace 0 and the pod's uid). Every write goes
through the registry's verbs. The plot bench/out/workloads-rollout.png
shows the Deployment's ready, updated and available replicas over (b).

`--quick` (CI's smoke test): 100 replicas on 10 nodes, and 3 on Docker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.stats import progress
from controlplane.controllers.deployment import DeploymentController
from controlplane.controllers.framework import WorkQueue
from controlplane.controllers.garbagecollector import GarbageCollector
from controlplane.controllers.replicaset import ReplicaSetController
from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.client import ApiClient, Client, Informer
from podlab.kinds import DEPLOYMENTS
from podlab.manifest import from_dict
from podlab.podutil import now
from podlab.v1 import objects_pb2 as v1
from scheduler import Scheduler, SchedulerConfig
from scheduler.testing import make_node

OUT = Path(__file__).resolve().parent / "out"
TARGETS = {"scale_out_pods_per_second_min": 300, "rollout_seconds_max": 10}


def nginx(replicas: int, image: str = "nginx:1.14.2") -> v1.Deployment:
    obj = from_dict({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx-deployment"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": {"app": "nginx"}},
                              "spec": {"containers": [{"name": "nginx", "image": image,
                                                       "command": ["sleep", "3600"]}],
                                       "terminationGracePeriodSeconds": 1}}}}, DEPLOYMENTS)
    assert isinstance(obj, v1.Deployment)
    return obj


# -- (a) and (b): the simulated cluster ---------------------------------------------------------

class SimKubelets:
    """The kubelets of every simulated node, as one informer and a work queue of pods.

    A pod bound to a node and not yet Running gets the status its agent would write; a pod
    marked for deletion is confirmed gone. `running` counts pods this fleet started that are live.
    """

    def __init__(self, api: InMemoryApi, workers: int = 16) -> None:
        self.api = api
        self.queue: WorkQueue[str] = WorkQueue()
        self.pods = Informer(api, v1.Pod, on_change=lambda key, old, new: self.queue.add(key))
        self.workers = workers
        self.ip = 0

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.pods.run())
            for _ in range(self.workers):
                tasks.create_task(self._work())

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self._sync(key)
            except errors.ApiError:
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)
            await asyncio.sleep(0)

    async def _sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if not isinstance(pod, v1.Pod) or not pod.spec.node_name:
            return
        if pod.metadata.HasField("deletion_timestamp"):
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.api.delete(v1.Pod, pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0,
                                      uid=pod.metadata.uid)
            return
        if pod.status.phase == "Running":
            return
        self.ip += 1
        stamp = now()
        status = pod.status
        status.phase = "Running"
        status.pod_ip = f"10.{self.ip // 65536 % 256}.{self.ip // 256 % 256}.{self.ip % 256}"
        status.host_ip = "192.168.0.1"
        status.start_time.CopyFrom(stamp)
        del status.conditions[:]
        for type_ in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
            status.conditions.add(type=type_, status="True", last_transition_time=stamp)
        del status.container_statuses[:]
        for c in pod.spec.containers:
            cs = status.container_statuses.add(name=c.name, image=c.image, ready=True, started=True)
            cs.state.running.started_at.CopyFrom(stamp)
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.api.update_status(pod)


class Sampler:
    """The Deployment's replicas over time: (t, ready, updated, available, replicas)."""

    def __init__(self, read: Callable[[], Any], every: float = 0.01) -> None:
        self.read, self.every = read, every
        self.samples: list[tuple[float, int, int, int, int]] = []
        self.t0 = time.perf_counter()

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.every)

    async def sample(self) -> None:
        d = await self.read()
        if d is not None:
            s = d.status
            self.samples.append((time.perf_counter() - self.t0, s.ready_replicas, s.updated_replicas,
                                 s.available_replicas, s.replicas))


def done(d: v1.Deployment, replicas: int, image: str) -> bool:
    s = d.status
    return (s.observed_generation == d.metadata.generation and s.updated_replicas == replicas
            and s.available_replicas == replicas and s.replicas == replicas and s.ready_replicas == replicas
            and d.spec.template.spec.containers[0].image == image)


async def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.01) -> None:
    deadline = time.perf_counter() + timeout
    while not await check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)


async def _simulated(replicas: int, nodes: int) -> dict[str, Any]:
    api = InMemoryApi()
    for i in range(nodes):
        api.create_now(make_node(f"sim-{i:03d}", cpu="32", memory="128Gi", pods=110))
    scheduler = Scheduler(api, SchedulerConfig(leader_elect=False, parallelism=16))
    controllers = [ReplicaSetController(api), DeploymentController(api), GarbageCollector(api)]
    kubelets = SimKubelets(api)
    runs: list[Coroutine[Any, Any, None]] = [scheduler.run(), kubelets.run(), *(c.run() for c in controllers)]
    tasks = [asyncio.create_task(r) for r in runs]
    try:
        await asyncio.wait_for(scheduler.ready.wait(), 60)
        for c in controllers:
            await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in c.informers)), 60)

        async def deployment() -> v1.Deployment | None:
            with contextlib.suppress(errors.NotFound):
                found: v1.Deployment = api.get_now(v1.Deployment, "nginx-deployment")
                return found
            return None

        def running() -> int:
            return sum(1 for p in kubelets.pods.items() if isinstance(p, v1.Pod) and p.status.phase == "Running"
                       and not p.metadata.HasField("deletion_timestamp"))

        progress(f"workloads: (a) a Deployment of {replicas} replicas on {nodes} simulated nodes")
        cpu0, t0 = time.process_time(), time.perf_counter()
        api.create_now(nginx(replicas))

        async def all_running() -> bool:
            return running() == replicas
        await wait_for(all_running, 300, f"{replicas} pods Running", every=0.05)
        scale_out = time.perf_counter() - t0
        scale_cpu = time.process_time() - cpu0

        async def settled(image: str) -> bool:
            d = await deployment()
            return d is not None and done(d, replicas, image)
        await wait_for(lambda: settled("nginx:1.14.2"), 60, "the Deployment's status")
        progress(f"  {replicas} Running in {scale_out:.2f}s ({replicas / scale_out:.0f} pods/s)")

        progress(f"workloads: (b) a rolling update of {replicas} (maxSurge 25%, maxUnavailable 25%)")
        sampler = Sampler(deployment)
        sampling = asyncio.create_task(sampler.run())
        d = await deployment()
        assert d is not None
        d.spec.template.spec.containers[0].image = "nginx:1.16.1"
        cpu0, t0 = time.process_time(), time.perf_counter()
        sampler.t0 = t0
        api.update_now(d)

        async def old_pods_gone() -> bool:
            pods = [p for p in kubelets.pods.items() if isinstance(p, v1.Pod)]
            return await settled("nginx:1.16.1") and len(pods) == replicas and all(
                p.spec.containers[0].image == "nginx:1.16.1" for p in pods)
        await wait_for(old_pods_gone, 300, "the rollout", every=0.05)
        rollout = time.perf_counter() - t0
        rollout_cpu = time.process_time() - cpu0
        sampling.cancel()
        await sampler.sample()
        progress(f"  rolled out in {rollout:.2f}s")
        surge = max(s[4] for s in sampler.samples)
        least_available = min(s[3] for s in sampler.samples)
        return {"replicas": replicas, "nodes": nodes,
                "scale_out": {"seconds": round(scale_out, 2), "pods_per_second": round(replicas / scale_out, 1),
                              "cpu_ms_per_pod": round(scale_cpu / replicas * 1e3, 3)},
                "rollout": {"seconds": round(rollout, 2), "cpu_seconds": round(rollout_cpu, 2),
                            "most_replicas": surge, "least_available": least_available,
                            "max_surge": -(-replicas * 25 // 100), "max_unavailable": replicas * 25 // 100},
                "samples": sampler.samples}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in controllers:
            c.queue.close()
        kubelets.queue.close()
        await api.close()


# -- (c): real Docker ------------------------------------------------------------------------------

async def _docker_flow(address: str, replicas: int) -> dict[str, Any]:
    async with Client(address) as client:
        from tests.support.cluster import all_nodes_ready

        await all_nodes_ready(client, 3, timeout=60)
        d = nginx(replicas, "busybox:latest")
        d.spec.template.spec.containers[0].image = "busybox:latest"
        t0 = time.perf_counter()
        await client.create(d)
        await _until(client, replicas, "busybox:latest", 180)
        scale_out = time.perf_counter() - t0
        progress(f"  {replicas} Running on Docker in {scale_out:.2f}s")
        current = await client.get(v1.Deployment, "nginx-deployment")
        # Another local image: the kit's podlab/busybox.
        current.spec.template.spec.containers[0].image = "podlab/busybox:1.35.0"
        t0 = time.perf_counter()
        await client.update(current)
        await _until(client, replicas, "podlab/busybox:1.35.0", 300)
        rollout = time.perf_counter() - t0
        progress(f"  rolled out on Docker in {rollout:.2f}s")
        await client.delete(v1.Deployment, "nginx-deployment")
        t0 = time.perf_counter()

        async def gone() -> bool:
            pods, _ = await client.list(v1.Pod, "default")
            return not pods
        await wait_for(gone, 120, "the pods to go", every=0.2)
        return {"replicas": replicas, "nodes": 3, "scale_out_seconds": round(scale_out, 2),
                "pods_per_second": round(replicas / scale_out, 2), "rollout_seconds": round(rollout, 2),
                "delete_seconds": round(time.perf_counter() - t0, 2)}


async def _until(client: ApiClient, replicas: int, image: str, timeout: float) -> None:
    async def check() -> bool:
        d = await client.get(v1.Deployment, "nginx-deployment")
        if not done(d, replicas, image):
            return False
        pods, _ = await client.list(v1.Pod, "default", "app=nginx")
        return len(pods) == replicas
    try:
        await wait_for(check, timeout, f"{replicas} pods of {image}", every=0.1)
    except TimeoutError:
        d = await client.get(v1.Deployment, "nginx-deployment")
        pods, _ = await client.list(v1.Pod, "default", "app=nginx")
        waiting = {c.state.waiting.reason for p in pods for c in p.status.container_statuses if c.state.waiting.reason}
        progress(f"  stuck: status {d.status.replicas} replicas, {d.status.updated_replicas} updated, "
                 f"{d.status.available_replicas} available; pods: "
                 + ", ".join(f"{p.metadata.name} {p.status.phase} on {p.spec.node_name or '-'}"
                             f"{' terminating' if p.metadata.HasField('deletion_timestamp') else ''}" for p in pods)
                 + f"; waiting reasons {sorted(waiting)}")
        raise


def _docker(replicas: int) -> dict[str, Any]:
    from tests.support.cluster import LocalCluster
    from tests.support.dockerkit import remove_node
    from tests.support.procs import Etcd

    run_id = uuid.uuid4().hex[:6]
    network = f"podlab-bench-{run_id}"
    progress(f"workloads: (c) {replicas} replicas on Docker (3 node agents)")
    store = Etcd()
    try:
        cluster = LocalCluster(store, nodes=3, runtime="docker", node_prefix=f"bench-{run_id}-",
                               agent_flags=("--pod-network", network, "--mirror", "compose/images/mirror.yaml"))
        try:
            return asyncio.run(_docker_flow(cluster.server_address, replicas))
        except Exception:
            progress(cluster.logs()[-8000:])
            raise
        finally:
            cluster.stop()
            for i, node in enumerate(cluster.node_names):
                remove_node(node, network if i == len(cluster.node_names) - 1 else "")
    finally:
        store.stop()


def _plot(samples: list[tuple[float, int, int, int, int]], replicas: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] for s in samples]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for index, label in ((1, "ready"), (2, "updated"), (3, "available"), (4, "replicas (pods)")):
        ax.plot(t, [s[index] for s in samples], label=label, linestyle="--" if index == 4 else "-")
    ax.axhline(replicas * 1.25, color="grey", linewidth=0.8, linestyle=":", label="replicas + maxSurge")
    ax.axhline(replicas * 0.75, color="grey", linewidth=0.8, linestyle="-.", label="replicas - maxUnavailable")
    ax.set_xlabel("seconds since the template changed")
    ax.set_ylabel("replicas")
    ax.set_title(f"Rolling update of {replicas} replicas (maxSurge 25%, maxUnavailable 25%)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(quick: bool = False) -> dict[str, Any]:
    replicas, nodes, docker_replicas = (100, 10, 3) if quick else (1_000, 100, 12)
    sim = asyncio.run(_simulated(replicas, nodes))
    samples = sim.pop("samples")
    OUT.mkdir(exist_ok=True)
    plot = OUT / ("workloads-rollout-quick.png" if quick else "workloads-rollout.png")
    _plot(samples, replicas, plot)
    docker = _docker(docker_replicas)
    return {
        "config": {"simulated": "in-process: registry over the memory store, scheduler, ReplicaSet, Deployment "
                                "and garbage-collector controllers, simulated kubelets writing agent statuses",
                   "docker": "etcd, control plane, scheduler and 3 node agents as processes on the Docker engine",
                   "strategy": "RollingUpdate, maxSurge 25%, maxUnavailable 25%"},
        "simulated": sim,
        "docker": docker,
        "plot": str(plot.relative_to(OUT.parent.parent)),
        "targets": TARGETS,
        "meets_targets": (sim["scale_out"]["pods_per_second"] >= TARGETS["scale_out_pods_per_second_min"]
                          and sim["rollout"]["seconds"] <= TARGETS["rollout_seconds_max"]),
    }
