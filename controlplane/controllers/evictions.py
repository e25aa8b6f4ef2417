"""Bring node-pressure-evicted pods back as new pods.

A node agent under memory or disk pressure stops a pod and reports it
Failed with reason Evicted. A bare pod that would have restarted
(restartPolicy Always or OnFailure) is then replaced — same name and spec,
new UID, no node — through the same registry swap that node loss uses, so
the scheduler can place it somewhere with room. The agent has already
stopped its containers, so the replacement never overlaps the original. A
pod with a controller stays Failed, as in Kubernetes: its ReplicaSet counts
it no more and makes a new pod (a same-name swap would give it one too many).
"""

from __future__ import annotations

import asyncio
import logging

from controlplane.api import Api
from controlplane.metrics import ControlPlaneMetrics
from podlab import errors
from podlab.kinds import PODS, controller_ref
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)
POD_KIND = PODS


class EvictionReplacementController:
    def __init__(self, api: Api, metrics: ControlPlaneMetrics | None = None,
                 period: float = 0.5) -> None:
        self.api = api
        self.registry = api.registry
        self.metrics = metrics or ControlPlaneMetrics()
        self.period = period

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except errors.ApiError as err:
                log.warning("eviction replacement pass failed: %s", err)
            await asyncio.sleep(self.period)

    async def reconcile(self) -> None:
        pods, _ = await self.registry.list(POD_KIND, field_selector="status.phase=Failed")
        for pod in pods:
            assert isinstance(pod, v1.Pod)
            if pod.status.reason != "Evicted" or pod.spec.restart_policy == "Never" or controller_ref(pod):
                continue
            try:
                new = await self.api.pods.replace(pod, "Evicted", pod.status.message or "evicted",
                                                      component="eviction")
            except errors.ApiError as err:
                log.info("pod %s: replacement deferred: %s", pod.metadata.name, err)
                continue
            self.metrics.replacements.labels("Evicted").inc()
            log.warning("pod %s/%s: evicted, replaced %s -> %s", pod.metadata.namespace, pod.metadata.name,
                        pod.metadata.uid, new.metadata.uid)
