"""Bring node-pressure-evicted pods back as new pods.

A node agent under memory or disk pressure stops a pod and reports it
Failed with reason Evicted. What becomes of it is controlplane.podfate's
answer: a bare pod that would have restarted (restartPolicy Always or
OnFailure) is replaced — same name and spec, new UID, no node — through the
same registry swap that node loss uses, so the scheduler can place it
somewhere with room. The agent has already stopped its containers, so the
replacement never overlaps the original. A pod with a controller stays
Failed, as in Kubernetes: its ReplicaSet counts it no more and makes a new
pod (a same-name swap would give it one too many).

The one controller shape: the shared pod informer says which pods changed,
the queue holds their keys, `reconcile(key)` replaces the pod if it is
(still) an evicted one whose fate is REPLACE.
"""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from controlplane.controllers.framework import Controller
from controlplane.controllers.nodelifecycle import PodReplacer
from controlplane.metrics import ControlPlaneMetrics
from controlplane.podfate import Cause, Fate, pod_fate
from podlab import errors, names
from podlab.client import ApiClient
from podlab.informers import SharedInformerFactory
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)
COMPONENT = "eviction"


def _to_replace(obj: Message | None) -> bool:
    return (isinstance(obj, v1.Pod) and obj.status.phase == names.FAILED and obj.status.reason == "Evicted"
            and pod_fate(obj, Cause.EVICTED) is Fate.REPLACE)


class EvictionReplacementController(Controller):
    name = "eviction-replacement-controller"

    def __init__(self, client: ApiClient, replacer: PodReplacer, metrics: ControlPlaneMetrics | None = None,
                 workers: int = 2, informers: SharedInformerFactory | None = None) -> None:
        super().__init__(client, workers, informers)
        self.replacer = replacer
        self.metrics = metrics or ControlPlaneMetrics()
        self.pods = self.watch(v1.Pod, self._on_pod)

    def _on_pod(self, key: str, old: Message | None, new: Message | None) -> None:
        if _to_replace(new):
            self.queue.add(key)

    async def reconcile(self, key: str) -> None:
        pod = self.pods.get(key)
        if not _to_replace(pod):
            return
        assert isinstance(pod, v1.Pod)
        try:
            new = await self.replacer.replace(pod, "Evicted", pod.status.message or "evicted",
                                              component=COMPONENT)
        except (errors.Conflict, errors.NotFound) as err:
            # Changed or gone since the cache saw it: the informer brings what it is now.
            log.info("pod %s: replacement deferred: %s", pod.metadata.name, err)
            return
        self.metrics.replacements.labels("Evicted").inc()
        log.warning("pod %s/%s: evicted, replaced %s -> %s", pod.metadata.namespace, pod.metadata.name,
                    pod.metadata.uid, new.metadata.uid)
