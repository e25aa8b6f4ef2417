"""NodeReady: a node whose Ready condition is not True takes no new pods.

Kubernetes does this with the node.kubernetes.io/not-ready (Ready=False or
missing) and node.kubernetes.io/unreachable (Ready=Unknown) NoSchedule taints
the node lifecycle controller adds; podlab reads the condition directly, so
it also holds when no controller has tainted the node yet. The message names
the taint as Kubernetes would, and a pod tolerating that taint may still go.
"""

from __future__ import annotations

from scheduler.framework import SUCCESS, FilterPlugin, NodeInfo, PodInfo, Status, unschedulable


def _status(taint: str) -> Status:
    return unschedulable("NodeNotReady", f"node(s) had untolerated taint {{{taint}: }}",
                         unresolvable=True)


class NodeReady(FilterPlugin):
    name = "NodeReady"
    restricted_nodes_only = True

    def __init__(self) -> None:
        self._statuses: dict[str, Status] = {}

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        taint = node.not_ready_taint
        if taint is None or pod.tolerates(taint, "", "NoSchedule"):
            return SUCCESS
        status = self._statuses.get(taint)
        if status is None:
            status = self._statuses[taint] = _status(taint)
        return status
