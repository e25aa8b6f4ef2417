"""SelectorSpread: spread pods of one controller (or, without one, with the same labels).

Raw score: how many such pods the node already has; normalized so the
emptiest node gets 100 and the fullest 0. Pods with neither an owning
controller nor labels are not spread.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.framework import NodeInfo, PodInfo, ScorePlugin, normalize_to_max


class SelectorSpread(ScorePlugin):
    name = "SelectorSpread"

    def prescore(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> bool:
        return pod.spread_key is not None

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return node.spread.get(pod.spread_key, 0)

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        key = pod.spread_key
        return [n.spread.get(key, 0) if n.spread else 0 for n in nodes]

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]:
        return normalize_to_max(scores, reverse=True)
