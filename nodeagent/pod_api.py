"""The pod workers' port to the API server: the only writes a worker makes.

One object, handed to every worker in its WorkerContext: reads of the objects
a pod refers to, status writes retried on Conflict, and the final deletion.
"""

from __future__ import annotations

from typing import Any, Protocol

from podlab import errors
from podlab.v1 import objects_pb2 as v1

STATUS_ATTEMPTS = 5


class AgentClient(Protocol):
    """The part of podlab.client.Client the agent uses (a fake can stand in for tests)."""

    async def get(self, kind: Any, name: str, namespace: str = "") -> Any: ...
    async def create(self, obj: Any) -> Any: ...
    async def list(self, kind: Any, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> Any: ...
    async def update(self, obj: Any) -> Any: ...
    async def update_status(self, obj: Any) -> Any: ...
    async def delete(self, kind: Any, name: str, namespace: str = "",
                     grace_period_seconds: int | None = None, uid: str = "",
                     resource_version: str = "") -> Any: ...
    async def renew_lease(self, node_name: str, holder: str = "", started_ms: int = 0,
                          duration: float = 0.0) -> int: ...
    def watch(self, kind: Any, namespace: str = "", resource_version: str = "",
              label_selector: str = "", field_selector: str = "",
              bookmark_seconds: int = 0) -> Any: ...


class PodApi:
    """What a pod worker may ask of the API server."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client

    async def get_object(self, kind: str, namespace: str, name: str) -> object | None:
        """A ConfigMap, Secret, ... the pod refers to; None when it does not exist."""
        try:
            return await self.client.get(kind, name, namespace)
        except errors.NotFound:
            return None

    async def write_status(self, pod: v1.Pod) -> v1.Pod | None:
        """update_status; on Conflict re-get and reapply. The stored pod, or None when the
        pod (this incarnation of it) is gone. Raises Conflict when it keeps conflicting."""
        attempt = pod
        for _ in range(STATUS_ATTEMPTS):
            try:
                return await self.client.update_status(attempt)
            except errors.NotFound:
                return None
            except errors.Conflict:
                try:
                    fresh = await self.client.get(v1.Pod, pod.metadata.name, pod.metadata.namespace)
                except errors.NotFound:
                    return None
                if fresh.metadata.uid != pod.metadata.uid:
                    return None
                fresh.status.CopyFrom(pod.status)
                attempt = fresh
        raise errors.Conflict(f"status of pod {pod.metadata.name} kept conflicting")

    async def confirm_delete(self, pod: v1.Pod) -> None:
        """End a graceful deletion: remove the object (grace 0, guarded by the uid)."""
        try:
            await self.client.delete(v1.Pod, pod.metadata.name, pod.metadata.namespace,
                                     grace_period_seconds=0, uid=pod.metadata.uid)
        except (errors.NotFound, errors.Conflict):
            pass
