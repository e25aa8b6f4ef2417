"""NodePorts: two pods on one node cannot bind the same host port.

Ports conflict when protocol and port match and the host IPs overlap: equal,
or either is 0.0.0.0 (every address).
"""

from __future__ import annotations

from scheduler.framework import SUCCESS, FilterPlugin, NodeInfo, PodInfo, Status, unschedulable

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
_CONFLICT = unschedulable("NodePorts", ERR_REASON)
ANY_IP = "0.0.0.0"


class NodePorts(FilterPlugin):
    name = "NodePorts"

    def prefilter(self, pod: PodInfo) -> bool:
        return bool(pod.host_ports)

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        used = node.used_ports
        if not used:
            return SUCCESS
        for ip, proto, port in pod.host_ports:
            ips = used.get((proto, port))
            if ips and (ip == ANY_IP or ANY_IP in ips or ip in ips):
                return _CONFLICT
        return SUCCESS
