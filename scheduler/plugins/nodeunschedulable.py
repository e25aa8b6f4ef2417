"""NodeUnschedulable: a cordoned node (spec.unschedulable) takes no new pods.

A pod that tolerates node.kubernetes.io/unschedulable:NoSchedule may still go there.
"""

from __future__ import annotations

from podlab.names import TAINT_UNSCHEDULABLE
from scheduler.framework import (
    SUCCESS,
    FilterPlugin,
    NodeInfo,
    PodInfo,
    Status,
    unschedulable,
)

ERR_REASON = "node(s) were unschedulable"
_UNSCHEDULABLE = unschedulable("NodeUnschedulable", ERR_REASON, unresolvable=True)


class NodeUnschedulable(FilterPlugin):
    name = "NodeUnschedulable"
    restricted_nodes_only = True

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        if node.unschedulable and not pod.tolerates(TAINT_UNSCHEDULABLE, "", "NoSchedule"):
            return _UNSCHEDULABLE
        return SUCCESS
