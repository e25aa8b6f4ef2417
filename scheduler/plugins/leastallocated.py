"""LeastAllocated: prefer the node with the most cpu and memory left after this pod.

Kubernetes' NodeResourcesFit "LeastAllocated" strategy: per resource
(allocatable - requested) * 100 / allocatable, averaged over cpu and memory,
using non-zero requests so pods without requests still spread.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.framework import NodeInfo, PodInfo, ScorePlugin


class LeastAllocated(ScorePlugin):
    name = "LeastAllocated"

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_all(pod, [node])[0]

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        # One tight loop over plain ints: this runs for every feasible node of every pod.
        cpu, mem = pod.nz_cpu, pod.nz_memory
        out: list[int] = []
        append = out.append
        for n in nodes:
            total = 0
            alloc = n.alloc_cpu
            free = alloc - n.nz_cpu - cpu
            if alloc > 0 and free > 0:
                total += free * 100 // alloc
            alloc = n.alloc_memory
            free = alloc - n.nz_memory - mem
            if alloc > 0 and free > 0:
                total += free * 100 // alloc
            append(total // 2)
        return out

