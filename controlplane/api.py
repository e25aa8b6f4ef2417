"""The API server's core, built in one place: store -> registry -> pod verbs and heartbeats -> events.

Both front ends (gRPC and REST) and the in-process controllers use one `Api`;
tests and simulations build the same one over a MemoryStore.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from google.protobuf.message import Message

from controlplane.agents import NodeAgents
from controlplane.dryrun import DryRunStore
from controlplane.events import ControlPlaneEvents
from controlplane.pipeline import Authorizer, Pipeline
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
    pipeline: Pipeline  # who may do what: every front end asks it before any verb

    @classmethod
    def build(cls, store: Store, config: StrategyConfig | None = None,
              authorizer: Authorizer | None = None) -> Api:
        events = ControlPlaneEvents()
        registry = Registry(store, config, events=events)
        events.attach(registry)
        return cls(store, registry, PodVerbs(registry), NodeHeartbeats(registry), events, NodeAgents(registry),
                   Pipeline(authorizer))

    @functools.cached_property
    def dry_run(self) -> Api:
        """The same verbs over a store that writes nothing (Kubernetes' dryRun=All).

        Every request runs as it would, against the live state (defaulting,
        validation, preconditions, conflicts), and answers with what it would
        have stored; nothing is stored and no Event is recorded.
        """
        if isinstance(self.store, DryRunStore):
            return self  # already one (an eviction may ask in its query and in its body)
        store = DryRunStore(self.store)
        registry = Registry(store, table=self.registry.strategies, events=_DISCARD,
                            admission=self.registry.admission)
        return Api(store, registry, PodVerbs(registry), NodeHeartbeats(registry), ControlPlaneEvents(registry),
                   self.agents, self.pipeline)

    def writer(self, dry_run: bool) -> Api:
        """The Api a write goes through: this one, or its dry run."""
        return self.dry_run if dry_run else self

    def start(self) -> None:
        """Start writing Events (needs a running loop)."""
        self.events.start()

    async def close(self) -> None:
        """Stop writing Events and close the store."""
        await self.events.close()
        await self.store.close()


class _Discard:
    """An EventSink that records nothing: a dry run's events never happened."""

    def object_event(self, obj: Message, type_: str, reason: str, message: str, component: str) -> None:
        pass


_DISCARD = _Discard()
