"""The API a node agent test runs against: `InMemoryApi` (the real registry), plus what agent tests read.

The agent under test talks to the real registry, strategies and pod verbs
over a MemoryStore, so a bound pod's graceful deletion, the agent's
confirming delete (grace 0 with the pod's UID), status updates of a deleted
incarnation and the node's lease all behave as on the API server. On top,
and without re-implementing any verb:

- `add_pod(pod, node)`: create a pod already bound to a node (spec.nodeName,
  as a user can);
- `status_updates`: every pod the agent wrote through update_status, in order;
- `leases` and `lease_fail`: the lease renewals made, and a switch that makes
  renewal fail as an unreachable control plane does;
- `deleted`: the (namespace, name) of every deletion the API completed;
- `find_pod` / `find`: the object, or None;
- `wait_for(predicate)`: wait until a condition on the cluster holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.message import Message

from controlplane.testing import InMemoryApi
from podlab import errors
from podlab.client import KindRef
from podlab.kinds import meta
from podlab.v1 import objects_pb2 as v1

M = TypeVar("M", bound=Message)
T = TypeVar("T")

POLL = 0.01


class AgentApi(InMemoryApi):
    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.status_updates: list[v1.Pod] = []
        self.leases: list[str] = []
        self.lease_fail = False
        self.deleted: list[tuple[str, str]] = []

    async def add_pod(self, pod: v1.Pod, node: str) -> v1.Pod:
        pod.spec.node_name = node
        return await self.create(pod)

    async def update_status(self, obj: M, dry_run: bool = False) -> M:
        updated = await super().update_status(obj, dry_run)
        if isinstance(updated, v1.Pod) and not dry_run:
            snapshot = v1.Pod()
            snapshot.CopyFrom(updated)
            self.status_updates.append(snapshot)
        return updated

    async def delete(self, kind: KindRef, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "", propagation_policy: str = "",
                     dry_run: bool = False) -> tuple[Message, bool]:
        obj, deleted = await super().delete(kind, name, namespace, grace_period_seconds, uid, resource_version,
                                            propagation_policy, dry_run)
        if deleted and not dry_run:
            self.deleted.append((meta(obj).namespace, name))
        return obj, deleted

    async def renew_lease(self, node_name: str, holder: str = "", started_ms: int = 0,
                          duration: float = 0.0) -> int:
        if self.lease_fail:
            raise errors.Unavailable("lease renewal refused (test partition)")
        revision = await super().renew_lease(node_name, holder, started_ms, duration)
        self.leases.append(node_name)
        return revision

    def find(self, kind: KindRef, name: str, namespace: str = "") -> Any:
        try:
            return self.get_now(kind, name, namespace)
        except errors.NotFound:
            return None

    def find_pod(self, name: str, namespace: str = "default") -> v1.Pod | None:
        pod = self.find("Pod", name, namespace)
        return pod if isinstance(pod, v1.Pod) else None

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 30.0) -> T:
        """The first truthy value of `predicate()`, re-checked every few milliseconds, within `timeout`."""
        async with asyncio.timeout(timeout):
            while not (value := predicate()):
                await asyncio.sleep(POLL)
            return value


__all__ = ["AgentApi"]
