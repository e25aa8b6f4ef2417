"""The default plugins, in the order filters run, and the default score weights."""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.framework import FilterPlugin, ScorePlugin
from scheduler.plugins.balancedallocation import BalancedAllocation
from scheduler.plugins.leastallocated import LeastAllocated
from scheduler.plugins.nodeaffinity import NodeAffinity
from scheduler.plugins.nodename import NodeName
from scheduler.plugins.nodeports import NodePorts
from scheduler.plugins.nodeready import NodeReady
from scheduler.plugins.noderesources import NodeResourcesFit
from scheduler.plugins.nodeunschedulable import NodeUnschedulable
from scheduler.plugins.selectorspread import SelectorSpread
from scheduler.plugins.tainttoleration import TaintToleration

# Kubernetes' default weights (SelectorSpread stands in for PodTopologySpread).
DEFAULT_WEIGHTS: dict[str, int] = {
    "LeastAllocated": 1,
    "BalancedAllocation": 1,
    "TaintToleration": 3,
    "NodeAffinity": 2,
    "SelectorSpread": 2,
}


def default_plugins(weights: Mapping[str, int] | None = None
                    ) -> tuple[list[FilterPlugin], list[tuple[ScorePlugin, int]]]:
    """Fresh default filter plugins (cheap, node-only checks first) and weighted scorers.

    Raises ValueError for a weight naming no score plugin.
    """
    merged = dict(DEFAULT_WEIGHTS)
    for name, weight in (weights or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise ValueError(f"unknown score plugin {name!r}; known: {sorted(DEFAULT_WEIGHTS)}")
        merged[name] = weight
    taints, affinity = TaintToleration(), NodeAffinity()
    filters: list[FilterPlugin] = [
        NodeUnschedulable(), NodeName(), taints, NodeReady(), affinity, NodePorts(),
        NodeResourcesFit(),
    ]
    scorers: list[ScorePlugin] = [LeastAllocated(), BalancedAllocation(), taints, affinity,
                                  SelectorSpread()]
    return filters, [(s, merged[s.name]) for s in scorers]


__all__ = [
    "DEFAULT_WEIGHTS", "BalancedAllocation", "LeastAllocated", "NodeAffinity", "NodeName",
    "NodePorts", "NodeReady", "NodeResourcesFit", "NodeUnschedulable", "SelectorSpread",
    "TaintToleration", "default_plugins",
]
