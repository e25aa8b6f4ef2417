"""Run a real node agent (Docker runtime) against the in-memory API (tests.support.agent_api)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from google.protobuf.json_format import ParseDict

from nodeagent.agent import NodeAgent
from nodeagent.config import AgentConfig
from nodeagent.runtime.docker import DockerRuntime, load_mirror
from podlab.v1 import objects_pb2 as v1
from tests.support.agent_api import AgentApi


def pod_from(manifest: dict[str, Any]) -> v1.Pod:
    manifest = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    return ParseDict(manifest, v1.Pod())


@contextlib.asynccontextmanager
async def running_agent(kit: Any, node: str, root: Path, cluster: AgentApi | None = None,
                        **cfg: Any) -> AsyncIterator[tuple[AgentApi, DockerRuntime, NodeAgent]]:
    """A node agent on Docker for the duration of the block (containers stay on exit)."""
    cluster = cluster or AgentApi()
    runtime = DockerRuntime(node, kit.network, "podlab/pause:3.9", load_mirror(kit.mirror))
    settings: dict[str, Any] = {"backoff_base": 1.0, "backoff_cap": 4.0, "heartbeat": 0.5,
                                "fence_timeout": 30.0, "resync_period": 2.0}
    settings.update(cfg)
    config = AgentConfig(node_name=node, root_dir=str(root), host_ip="127.0.0.1",
                         pod_network=kit.network, mirror=kit.mirror, **settings)
    agent = NodeAgent(config, cluster, runtime)
    task = asyncio.create_task(agent.run())
    try:
        yield cluster, runtime, agent
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runtime.close()


def status(cluster: AgentApi, name: str) -> v1.PodStatus | None:
    pod = cluster.find_pod(name)
    return pod.status if pod is not None else None


async def wait_phase(cluster: AgentApi, name: str, phase: str, timeout: float = 90) -> v1.PodStatus:
    result: v1.PodStatus = await cluster.wait_for(
        lambda: (s := status(cluster, name)) is not None and s.phase == phase and s, timeout)
    return result


async def container_id(runtime: DockerRuntime, uid: str, name: str) -> str:
    infos = sorted((c for c in await runtime.list_containers(uid) if c.container_name == name),
                   key=lambda c: c.attempt)
    return infos[-1].id


async def exec_in(runtime: DockerRuntime, uid: str, name: str, cmd: list[str]) -> str:
    result = await runtime.exec(await container_id(runtime, uid, name), cmd, 30)
    return (result.stdout + result.stderr).decode(errors="replace")


async def logs_of(runtime: DockerRuntime, uid: str, name: str) -> str:
    cid = await container_id(runtime, uid, name)
    chunks = [c async for c in runtime.logs(cid, False, None, False, None)]
    return b"".join(chunks).decode(errors="replace")


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)
