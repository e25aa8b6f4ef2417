"""The eviction manager's view of this node's pods: what each uses, and how to evict one.

The eviction manager (nodeagent.eviction) decides; this module measures the
pods (memory working sets from the runtime, emptyDir bytes on disk) and asks
a pod's worker to stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping

from nodeagent.config import AgentConfig
from nodeagent.eviction import (
    EvictionConfig,
    EvictionManager,
    NodeSignals,
    PodUsage,
    SignalSource,
    parse_grace_periods,
    parse_thresholds,
)
from nodeagent.pod_worker import PodWorker
from nodeagent.runtime.base import RUNNING, Runtime
from podlab.quantity import to_bytes
from podlab.v1 import objects_pb2 as v1


def eviction_config(config: AgentConfig) -> EvictionConfig:
    return EvictionConfig(
        hard=parse_thresholds(config.eviction_hard),
        soft=parse_thresholds(config.eviction_soft,
                              parse_grace_periods(config.eviction_soft_grace_period), soft=True),
        interval=config.eviction_interval,
        pressure_transition_period=config.eviction_pressure_transition_period,
        max_pod_grace_period=config.eviction_max_pod_grace_period)


class PodPressure:
    """This node's pods for the eviction manager. `workers` is the agent's live map."""

    def __init__(self, config: AgentConfig, runtime: Runtime, workers: Mapping[str, PodWorker]) -> None:
        self.config = config
        self.runtime = runtime
        self.workers = workers
        self.eviction = eviction_config(config)

    def manager(self, signals: SignalSource | None,
                on_change: Callable[[], Awaitable[None]]) -> EvictionManager:
        """The node's eviction manager over these pods (signals: the node's, by default)."""
        return EvictionManager(self.eviction, signals or self.default_signals(), self.usage,
                               self.evict, on_change=on_change)

    def default_signals(self) -> SignalSource:
        capacity = 0
        if self.config.memory_signal == "working-set":
            capacity = to_bytes(self.config.memory)
        return NodeSignals(self.config.root_dir, capacity, self.working_set_total)

    async def working_set_total(self) -> int:
        return sum(u.memory for u in await self.usage(all_pods=True))

    async def usage(self, all_pods: bool = False) -> list[PodUsage]:
        """Running pods that may be evicted (every running pod when `all_pods`) and their usage."""
        containers = [c for c in await self.runtime.list_containers() if c.state == RUNNING]
        sets = await asyncio.gather(*(self.runtime.memory_working_set(c.id) for c in containers))
        usage: dict[str, PodUsage] = {}
        for c, ws in zip(containers, sets, strict=True):
            worker = self.workers.get(c.pod_uid)
            pod = worker.pod if worker is not None else None
            if pod is None:
                if not all_pods:
                    continue
                pod = v1.Pod()
            elif not all_pods and (worker is None or worker.finished
                                   or pod.metadata.HasField("deletion_timestamp")):
                continue
            entry = usage.setdefault(c.pod_uid, PodUsage(pod))
            entry.containers[c.container_name] = entry.containers.get(c.container_name, 0) + ws
        if not all_pods:
            for entry in usage.values():
                entry.disk = await asyncio.to_thread(self.volumes_usage, entry.pod.metadata.uid)
        return list(usage.values())

    def volumes_usage(self, uid: str) -> int:
        """Bytes under the pod's volume directory (its emptyDirs on the node's disk)."""
        total = 0
        for dirpath, _, files in os.walk(os.path.join(self.config.root_dir, "pods", uid)):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
        return total

    async def evict(self, usage: PodUsage, message: str, grace: float) -> bool:
        """Ask the pod's worker to evict it; True once it is stopped and reported."""
        worker = self.workers.get(usage.pod.metadata.uid)
        if worker is None:
            return False
        worker.evict(message, grace)
        try:
            async with asyncio.timeout(grace + self.eviction.eviction_wait):
                await worker.evicted.wait()
        except TimeoutError:
            return False
        return True
