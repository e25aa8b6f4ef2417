"""NodeName: a pod that names its node (spec.nodeName) fits only that node."""

from __future__ import annotations

from scheduler.framework import SUCCESS, FilterPlugin, NodeInfo, PodInfo, Status, unschedulable

ERR_REASON = "node(s) didn't match the requested node name"
_MISMATCH = unschedulable("NodeName", ERR_REASON, unresolvable=True)


class NodeName(FilterPlugin):
    name = "NodeName"

    def prefilter(self, pod: PodInfo) -> bool:
        return bool(pod.node_name)

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        if pod.node_name and pod.node_name != node.name:
            return _MISMATCH
        return SUCCESS
