"""TaintToleration: NoSchedule/NoExecute taints repel pods that don't tolerate them.

Filter: the first untolerated NoSchedule or NoExecute taint rejects the node
("node(s) had untolerated taint {key: value}"). Score: fewer untolerated
PreferNoSchedule taints is better.
"""

from __future__ import annotations

from collections.abc import Sequence

from podlab.tolerations import tolerated
from scheduler.framework import (
    SUCCESS,
    FilterPlugin,
    NodeInfo,
    PodInfo,
    ScorePlugin,
    Status,
    normalize_to_max,
    unschedulable,
)


class TaintToleration(FilterPlugin, ScorePlugin):
    name = "TaintToleration"
    restricted_nodes_only = True

    def __init__(self) -> None:
        self._statuses: dict[tuple[str, str], Status] = {}

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        for key, value, effect in node.hard_taints:
            if not tolerated(pod.tolerations, key, value, effect):
                status = self._statuses.get((key, value))
                if status is None:
                    status = self._statuses[(key, value)] = unschedulable(
                        "TaintToleration", f"node(s) had untolerated taint {{{key}: {value}}}",
                        unresolvable=True)
                return status
        return SUCCESS

    def prescore(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> bool:
        for n in nodes:  # a plain loop: any() over a generator is slower here
            if n.soft_taints:
                return True
        return False

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        """The count of untolerated PreferNoSchedule taints (before normalizing)."""
        return sum(1 for key, value, effect in node.soft_taints
                   if not tolerated(pod.tolerations, key, value, effect))

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]:
        return normalize_to_max(scores, reverse=True)
