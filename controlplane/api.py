"""The API server's core, built in one place: store -> registry -> pod verbs and heartbeats -> events.

Both front ends (gRPC and REST) and the in-process controllers use one `Api`;
tests and simulations build the same one over a MemoryStore.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.agents import NodeAgents
from controlplane.events import ControlPlaneEvents
from controlplane.podverbs import NodeHeartbeats, PodVerbs
from controlplane.registry import Registry
from controlplane.storage import Store
from controlplane.strategies import StrategyConfig


@dataclass
class Api:
    store: Store
    registry: Registry
    pods: PodVerbs
    heartbeats: NodeHeartbeats
    events: ControlPlaneEvents
    agents: NodeAgents  # the node agents logs and exec are proxied to

    @classmethod
    def build(cls, store: Store, config: StrategyConfig | None = None) -> Api:
        events = ControlPlaneEvents()
        registry = Registry(store, config, events=events)
        events.attach(registry)
        return cls(store, registry, PodVerbs(registry), NodeHeartbeats(registry), events, NodeAgents(registry))

    def start(self) -> None:
        """Start writing Events (needs a running loop)."""
        self.events.start()

    async def close(self) -> None:
        """Stop writing Events and close the store."""
        await self.events.close()
        await self.store.close()
