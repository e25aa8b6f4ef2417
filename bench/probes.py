"""What probing costs the node agent: CPU for N pods, each with an exec and an HTTP probe every second.

A real node agent runs in this process on Docker (against the real registry
over an in-memory store, tests.support.agent_api: no etcd or gRPC server
shares the process). Each pod is busybox
`httpd` with a liveness exec probe (`true`) and a readiness httpGet probe,
both every second. Once every pod is ready, the process's CPU time (user +
system, every thread: the docker bridge included) is measured over a window
and divided by the window's wall time: 1.0 = one core busy. A second window
with the probes stopped gives the agent's own baseline. Target: <= 0.25.

Exec probes enter the containers with podlab-nsexec when it is installed
(scripts/bootstrap.sh builds it); those processes run in the pods' cgroups
and are reported apart (`exec_processes_cpu_cores`), as is the container
engine's CPU over the same window (`engine_cpu_cores`). `exec_path` says
which way the execs went.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.stats import own_cpu_seconds, process_cpu_seconds, progress
from nodeagent.agent import NodeAgent
from nodeagent.config import AgentConfig
from nodeagent.probes import NoProbes, Prober
from nodeagent.runtime.docker import DockerRuntime, load_mirror
from nodeagent.runtime.nsexec import find_helper
from podlab.v1 import objects_pb2 as v1
from tests.support.agent_api import AgentApi
from tests.support.dockerkit import remove_node

MIRROR = Path(__file__).resolve().parents[1] / "compose" / "images" / "mirror.yaml"
SERVE = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"


def probed_pod(name: str) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=name))
    pod.spec.termination_grace_period_seconds = 0
    c = pod.spec.containers.add(name="web", image="busybox:latest", image_pull_policy="IfNotPresent",
                                command=["sh", "-c", SERVE])
    for probe in (c.liveness_probe, c.readiness_probe):
        probe.period_seconds, probe.timeout_seconds = 1, 1
        probe.success_threshold, probe.failure_threshold = 1, 3
    c.liveness_probe.exec.command.append("true")
    c.readiness_probe.http_get.path = "/"
    c.readiness_probe.http_get.port.number_value = 8080
    return pod


ENGINE = ("dockerd", "containerd")  # containerd, containerd-shim*: runc's time ends up in the shims


def _engine_cpu() -> float:
    """CPU seconds of the container engine's processes (and their reaped children)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip().startswith(ENGINE):
                total += process_cpu_seconds(int(entry.name), with_children=True)
        except OSError:
            continue
    return total


async def _window(seconds: float, prober: Prober | None = None) -> dict[str, float]:
    runs = prober.runs if prober else 0
    cpu, children = own_cpu_seconds(), own_cpu_seconds(resource.RUSAGE_CHILDREN)
    engine, wall = _engine_cpu(), time.monotonic()
    await asyncio.sleep(seconds)  # the measurement window itself
    wall = time.monotonic() - wall
    cpu, children = own_cpu_seconds() - cpu, own_cpu_seconds(resource.RUSAGE_CHILDREN) - children
    out = {"cpu_cores": round(cpu / wall, 3),
           # podlab-nsexec and the probe commands: charged to the pods' cgroups, not the agent's
           "exec_processes_cpu_cores": round(children / wall, 3),
           "engine_cpu_cores": round((_engine_cpu() - engine) / wall, 3),
           "wall_s": round(wall, 1)}
    if prober is not None:
        out["probes_per_s"] = round((prober.runs - runs) / wall, 1)
    return out


async def _bench(n: int, window: float) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    node, network = f"bench-probes-{run_id}", f"podlab-bench-{run_id}"
    root = tempfile.mkdtemp(prefix="podlab-bench-probes-")
    runtime = DockerRuntime(node, network, "podlab/pause:3.9", load_mirror(str(MIRROR)))
    cluster = AgentApi()
    config = AgentConfig(node_name=node, root_dir=root, pod_network=network, mirror=str(MIRROR),
                         heartbeat=1.0, fence_timeout=600, eviction_hard="")
    agent = NodeAgent(config, cluster, runtime)
    prober = agent.probes
    assert isinstance(prober, Prober)
    task = asyncio.create_task(agent.run())
    try:
        started = time.monotonic()
        for i in range(n):
            await cluster.add_pod(probed_pod(f"probed-{i}"), node)

        def ready() -> int:
            count = 0
            for i in range(n):
                pod = cluster.find_pod(f"probed-{i}")
                if pod is not None and any(c.type == "Ready" and c.status == "True"
                                           for c in pod.status.conditions):
                    count += 1
            return count

        last = -1
        while (count := ready()) < n:
            if count != last:
                progress(f"probes: {count}/{n} pods ready ({time.monotonic() - started:.0f}s)")
                last = count
            if time.monotonic() - started > 60 + 6 * n:
                raise TimeoutError(f"only {count}/{n} pods became ready")
            await asyncio.sleep(0.5)
        setup_s = time.monotonic() - started
        progress(f"probes: all {n} ready after {setup_s:.0f}s; settling")
        await asyncio.sleep(3)
        progress(f"probes: measuring {window:.0f}s with probes")
        with_probes = await _window(window, prober)
        profiler = cProfile.Profile()
        profiler.enable()
        await asyncio.sleep(min(window, 10))
        profiler.disable()
        stats = io.StringIO()
        pstats.Stats(profiler, stream=stats).sort_stats("tottime").print_stats(8)
        restarts = sum(c.restart_count for i in range(n)
                       if (p := cluster.find_pod(f"probed-{i}")) is not None
                       for c in p.status.container_statuses)
        prober.close()
        agent.ctx.probes = NoProbes()  # else the next sync would start probing again
        progress(f"probes: measuring {window:.0f}s without probes (baseline)")
        baseline = await _window(window)
        return {"pods": n, "setup_s": round(setup_s, 1),
                "exec_path": "podlab-nsexec" if find_helper("auto") else "engine",
                "with_probes": with_probes,
                "baseline_no_probes": baseline,
                "probe_cpu_cores": round(with_probes["cpu_cores"] - baseline["cpu_cores"], 3),
                "restarts_during_run": restarts,
                "unhealthy_samples": sorted({e.message[:120] for e in agent.recorder.recorded
                                             if e.reason == "Unhealthy"})[:5],
                "target_cpu_cores": 0.25, "meets_target": with_probes["cpu_cores"] <= 0.25,
                "profile_main_thread_top": _top_lines(stats.getvalue())}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runtime.close()
        remove_node(node, network)


def _top_lines(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("ncalls")), len(lines))
    return [ln for ln in lines[start + 1:] if ln][:8]


def run(quick: bool = False) -> dict[str, Any]:
    n, window = (10, 10.0) if quick else (100, 30.0)
    return asyncio.run(_bench(n, window))
