"""BalancedAllocation: prefer nodes whose cpu and memory use stay in proportion.

Kubernetes' NodeResourcesBalancedAllocation: with f = requested/allocatable
per resource (after this pod, capped at 1), score = (1 - std(f)) * 100, and
for two resources std = |f_cpu - f_mem| / 2.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.framework import NodeInfo, PodInfo, ScorePlugin


class BalancedAllocation(ScorePlugin):
    name = "BalancedAllocation"

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return self.score_all(pod, [node])[0]

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        # One tight loop over plain ints: this runs for every feasible node of every pod.
        cpu, mem = pod.nz_cpu, pod.nz_memory
        out: list[int] = []
        append = out.append
        for n in nodes:
            ac, am = n.alloc_cpu, n.alloc_memory
            if ac <= 0 or am <= 0:
                append(0)
                continue
            f_cpu = (n.nz_cpu + cpu) / ac
            f_mem = (n.nz_memory + mem) / am
            if f_cpu > 1.0:
                f_cpu = 1.0
            if f_mem > 1.0:
                f_mem = 1.0
            diff = f_cpu - f_mem if f_cpu > f_mem else f_mem - f_cpu
            append(int((1.0 - diff / 2) * 100))
        return out

