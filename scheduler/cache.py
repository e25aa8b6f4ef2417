"""The scheduler's view of nodes and the pods placed on them, with "assume".

Fed by the Node and Pod informers. When the scheduler picks a node it
*assumes* the pod there at once, so the next pod already sees the node's
resources and ports as taken while the bind is still on the wire. Then:

- the bind fails → `forget`: the pod's share is released;
- the bind succeeds → `finish_binding`; the pod informer's update showing
  spec.nodeName confirms it (`add_pod`). An assumed pod never confirmed
  within `assume_ttl` after its bind finished is expired (the update was
  lost or the pod vanished), as Kubernetes does.

Pods are keyed by UID: a pod replaced under the same name is a different pod.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from podlab.v1 import objects_pb2 as v1
from scheduler.framework import NodeInfo, PodInfo

log = logging.getLogger(__name__)


@dataclass
class _PodState:
    info: PodInfo
    node: str
    assumed: bool = False
    binding_finished: bool = False
    deadline: float = 0.0


class SchedulerCache:
    def __init__(self, assume_ttl: float = 30.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.assume_ttl = assume_ttl
        self._clock = clock
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._node_list: list[NodeInfo] | None = None

    # -- nodes -----------------------------------------------------------------------

    def node_list(self) -> list[NodeInfo]:
        """Every known node, in a stable order (rebuilt only when nodes come or go)."""
        if self._node_list is None:
            self._node_list = [n for n in self._nodes.values() if n.node is not None]
        return self._node_list

    def node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    def set_node(self, node: v1.Node) -> bool:
        """Add or update a node. True when something the filters read changed."""
        name = node.metadata.name
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(name)
        if info.node is None:
            self._node_list = None
        return info.set_node(node)

    def remove_node(self, name: str) -> None:
        info = self._nodes.get(name)
        if info is None:
            return
        self._node_list = None
        if info.pods:
            # Its pods are still counted until they are deleted, as in Kubernetes.
            info.node = None
        else:
            del self._nodes[name]

    # -- pods ------------------------------------------------------------------------

    def is_assumed(self, uid: str) -> bool:
        state = self._pods.get(uid)
        return state is not None and state.assumed

    def pod_node(self, uid: str) -> str | None:
        state = self._pods.get(uid)
        return state.node if state is not None else None

    def assume(self, info: PodInfo, node_name: str) -> None:
        """Count `info` on `node_name` now, before its bind completes."""
        if info.uid in self._pods:
            self._remove(info.uid)
        self._pods[info.uid] = _PodState(info, node_name, assumed=True)
        self._node_info(node_name).add_pod(info)

    def finish_binding(self, info: PodInfo) -> None:
        state = self._pods.get(info.uid)
        if state is not None and state.assumed:
            state.binding_finished = True
            state.deadline = self._clock() + self.assume_ttl

    def forget(self, info: PodInfo) -> None:
        """Undo `assume` (the bind failed)."""
        state = self._pods.get(info.uid)
        if state is not None and state.assumed:
            self._remove(info.uid)

    def add_pod(self, pod: v1.Pod) -> None:
        """A pod bound to a node (spec.nodeName set), not finished. Confirms an assumption.

        Cheap for the common case (a status update of a known pod): nothing is
        recomputed unless its node or labels changed.
        """
        uid, node_name = pod.metadata.uid, pod.spec.node_name
        state = self._pods.get(uid)
        if state is not None:
            if state.node == node_name and state.info.labels == dict(pod.metadata.labels):
                state.assumed = False
                state.info.pod = pod
                return
            self._remove(uid)
        info = PodInfo(pod)
        self._pods[uid] = _PodState(info, node_name)
        self._node_info(node_name).add_pod(info)

    def remove_pod(self, uid: str) -> bool:
        """The pod is deleted or finished. True when it held resources on a node."""
        return self._remove(uid)

    def cleanup_expired(self) -> list[PodInfo]:
        """Drop assumed pods whose bind finished long ago but were never confirmed."""
        now = self._clock()
        expired = [s for s in self._pods.values()
                   if s.assumed and s.binding_finished and s.deadline <= now]
        for state in expired:
            log.warning("assumed pod expired", extra={"pod": state.info.key, "uid": state.info.uid,
                                                      "node": state.node})
            self._remove(state.info.uid)
        return [s.info for s in expired]

    def __len__(self) -> int:
        return len(self._pods)

    # -- internals -------------------------------------------------------------------

    def _node_info(self, name: str) -> NodeInfo:
        info = self._nodes.get(name)
        if info is None:
            # A pod bound to a node we haven't seen yet: keep its share anyway.
            info = self._nodes[name] = NodeInfo(name)
        return info

    def _remove(self, uid: str) -> bool:
        state = self._pods.pop(uid, None)
        if state is None:
            return False
        info = self._nodes.get(state.node)
        if info is None:
            return False
        removed = info.remove_pod(state.info)
        if info.node is None and not info.pods:
            del self._nodes[state.node]
        return removed
