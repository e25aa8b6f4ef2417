"""Every kind's rules, one module per kind or group; `strategies()` is the table the registry uses.

Adding a kind means a proto message, a Kind in podlab.kinds and, when the
defaults do not fit, a Strategy here; nothing in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.strategies.apps import DeploymentStrategy, ReplicaSetStrategy
from controlplane.strategies.base import (
    REMOVE,
    DeleteOptions,
    DeletePlan,
    Lookup,
    Reader,
    Remove,
    Replace,
    Strategy,
    Terminate,
    Writes,
    finalizers_for_deletion,
)
from controlplane.strategies.batch import JobStrategy
from controlplane.strategies.cluster import NamespaceStrategy, NodeStrategy
from controlplane.strategies.config import ConfigMapStrategy, LeaseStrategy, SecretStrategy
from controlplane.strategies.events import EventStrategy
from controlplane.strategies.pods import PodStrategy
from controlplane.strategies.services import ServiceStrategy
from podlab.kinds import KINDS


@dataclass(frozen=True)
class StrategyConfig:
    event_ttl_seconds: int = 3600
    # tolerationSeconds for the node-loss taints (DefaultTolerationSeconds admission).
    default_toleration_seconds: int = 4


def strategies(config: StrategyConfig | None = None) -> dict[str, Strategy]:
    """Kind name -> Strategy, for every kind in podlab.kinds."""
    config = config or StrategyConfig()
    special: list[Strategy] = [
        PodStrategy(), NodeStrategy(), NamespaceStrategy(),
        EventStrategy(config.event_ttl_seconds), ReplicaSetStrategy(), DeploymentStrategy(), ConfigMapStrategy(),
        SecretStrategy(), LeaseStrategy(), ServiceStrategy(), JobStrategy()]
    table: dict[str, Strategy] = {s.kind.name: s for s in special}
    for kind in KINDS:
        table.setdefault(kind.name, Strategy(kind))
    return table


__all__ = ["REMOVE", "DeleteOptions", "DeletePlan", "Lookup", "Remove", "Replace", "Strategy", "StrategyConfig",
           "Terminate", "Reader", "Writes", "finalizers_for_deletion", "strategies"]
