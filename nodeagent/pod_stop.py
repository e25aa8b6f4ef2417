"""Stopping a pod's containers: preStop, SIGTERM, SIGKILL after the grace; restarts for
failed probes; and tearing a pod down."""

from __future__ import annotations

import asyncio
import logging

from nodeagent.hooks import HookError, run_handler
from nodeagent.probes import kill_grace
from nodeagent.runtime.base import RUNNING, TYPE_INIT, ContainerInfo, SandboxInfo
from nodeagent.specs import pod_grace
from nodeagent.worker_context import PodHandle, WorkerContext
from podlab.events import NORMAL, WARNING
from podlab.v1 import objects_pb2 as v1


async def stop_containers(ctx: WorkerContext, handle: PodHandle, pod: v1.Pod | None,
                          containers: list[ContainerInfo], grace: float) -> None:
    """preStop, SIGTERM, SIGKILL after `grace`: every running container at once, app
    containers before init (sidecar) containers; one deadline for all of them."""
    rt, clock = ctx.runtime, ctx.clock
    deadline = clock.monotonic() + grace
    specs = {c.name: c for c in (list(pod.spec.init_containers) + list(pod.spec.containers))} \
        if pod is not None else {}

    async def stop(info: ContainerInfo) -> None:
        spec = specs.get(info.container_name)
        if spec is not None and grace > 0 and spec.lifecycle.HasField("pre_stop"):
            try:
                await run_handler(rt, info.id, spec, spec.lifecycle.pre_stop, handle.pod_ip,
                                  timeout=grace)
            except HookError as err:
                handle.log(logging.INFO, "preStop of %s failed: %s", info.container_name, err)
                handle.event(WARNING, "FailedPreStopHook", str(err), info.container_name)
        handle.event(NORMAL, "Killing", f"Stopping container {info.container_name}",
                     info.container_name)
        await rt.stop_container(info.id, max(0.0, deadline - clock.monotonic()))
        ctx.probes.container_stopped(handle.uid, info.container_name)

    running = [c for c in containers if c.state == RUNNING]
    apps = [c for c in running if c.type != TYPE_INIT]
    inits = [c for c in running if c.type == TYPE_INIT]
    await asyncio.gather(*(stop(c) for c in apps))
    await asyncio.gather(*(stop(c) for c in inits))  # sidecars outlive the app


async def kill_failed_probes(ctx: WorkerContext, handle: PodHandle, pod: v1.Pod,
                             containers: list[ContainerInfo]) -> bool:
    """Keep the prober in step with the running containers; kill those whose liveness
    or startup probe failed (their restart is the plan's). True when something was killed."""
    probes = ctx.probes
    running = {c.container_name: c.id for c in containers if c.state == RUNNING}
    probes.sync(pod, running, handle.pod_ip)
    killed = []
    for c in containers:
        failure = probes.failure(handle.uid, c.container_name, c.id) if c.state == RUNNING else None
        if failure is None:
            continue
        handle.log(logging.INFO, "container %s failed %s probe; restarting", c.container_name,
                   failure.kind)
        handle.event(NORMAL, "Killing", failure.message, c.container_name)
        killed.append((c, kill_grace(failure, pod_grace(pod))))
    await asyncio.gather(*(ctx.runtime.stop_container(c.id, grace) for c, grace in killed))
    for c, _ in killed:
        probes.container_stopped(handle.uid, c.container_name)
    return bool(killed)


async def stop_sandboxes(ctx: WorkerContext, sandboxes: list[SandboxInfo]) -> None:
    for sb in sandboxes:
        await ctx.runtime.stop_container(sb.id, 0)


async def teardown(ctx: WorkerContext, handle: PodHandle, pod: v1.Pod | None,
                   containers: list[ContainerInfo], sandboxes: list[SandboxInfo],
                   grace: float) -> None:
    """Stop everything, remove every container and sandbox of the pod (including any that
    came meanwhile) and its volumes, and forget its probes and back-off."""
    rt = ctx.runtime
    await stop_containers(ctx, handle, pod, containers, grace)
    await stop_sandboxes(ctx, sandboxes)
    left, left_sandboxes = await rt.list_all(handle.uid)  # containers may have come since
    for cid in [c.id for c in left] + [sb.id for sb in left_sandboxes]:
        await rt.remove_container(cid)
    await ctx.volumes.teardown(handle.uid)
    ctx.probes.pod_removed(handle.uid)
    ctx.backoff.forget(handle.uid)
