"""NodeResourcesFit: the pod's cpu, memory and pod slot fit in what the node has left.

"Left" is status.allocatable minus the requests of every pod assumed or bound
to the node. Each shortage is its own reason ("Insufficient cpu",
"Insufficient memory", "Too many pods"), counted separately in the pod's
FailedScheduling message.
"""

from __future__ import annotations

from scheduler.framework import SUCCESS, FilterPlugin, NodeInfo, PodInfo, Status, unschedulable

TOO_MANY_PODS = "Too many pods"
INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"

_STATUSES: dict[tuple[bool, bool, bool], Status] = {}
for _pods in (False, True):
    for _cpu in (False, True):
        for _mem in (False, True):
            _msgs = [m for m, bad in ((TOO_MANY_PODS, _pods), (INSUFFICIENT_CPU, _cpu),
                                      (INSUFFICIENT_MEMORY, _mem)) if bad]
            if _msgs:
                _STATUSES[(_pods, _cpu, _mem)] = unschedulable("InsufficientResources", *_msgs)


class NodeResourcesFit(FilterPlugin):
    name = "NodeResourcesFit"

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        if (node.pod_count < node.alloc_pods and pod.cpu <= node.alloc_cpu - node.req_cpu
                and pod.memory <= node.alloc_memory - node.req_memory):
            return SUCCESS
        too_many = node.pod_count + 1 > node.alloc_pods
        no_cpu = pod.cpu > 0 and pod.cpu > node.alloc_cpu - node.req_cpu
        no_mem = pod.memory > 0 and pod.memory > node.alloc_memory - node.req_memory
        if too_many or no_cpu or no_mem:
            return _STATUSES[(too_many, no_cpu, no_mem)]
        return SUCCESS
