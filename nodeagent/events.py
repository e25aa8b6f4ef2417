"""Events the agent writes about its pods and its node (source.component "kubelet").

Recording never blocks the caller and never fails it: each event is written by
a background task through `client.create(v1.Event)`, and a write that fails is
logged and dropped, as the kubelet's event broadcaster does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from podlab.podutil import now as now_ts
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.nodeagent.events")

NORMAL, WARNING = "Normal", "Warning"


class EventRecorder:
    """Writes Events through `create` (a client's create); `recorded` keeps the last few."""

    def __init__(self, create: Callable[[Any], Awaitable[Any]] | None, node_name: str,
                 keep: int = 200) -> None:
        self._create = create
        self.node_name = node_name
        self._tasks: set[asyncio.Task[None]] = set()
        self.recorded: list[v1.Event] = []
        self._keep = keep

    def pod_event(self, pod: v1.Pod, type_: str, reason: str, message: str,
                  container: str = "") -> v1.Event:
        """Record an event about `pod` (about one of its containers when `container` is given)."""
        ev = self._event(type_, reason, message, pod.metadata.name, pod.metadata.namespace or "default")
        ref = ev.involved_object
        ref.kind, ref.api_version = "Pod", "v1"
        ref.name, ref.namespace, ref.uid = pod.metadata.name, pod.metadata.namespace or "default", \
            pod.metadata.uid
        if container:
            ref.field_path = f"spec.containers{{{container}}}"
        return self._send(ev)

    def node_event(self, type_: str, reason: str, message: str) -> v1.Event:
        ev = self._event(type_, reason, message, self.node_name, "default")
        ref = ev.involved_object
        ref.kind, ref.api_version, ref.name, ref.uid = "Node", "v1", self.node_name, self.node_name
        return self._send(ev)

    def _event(self, type_: str, reason: str, message: str, name: str, namespace: str) -> v1.Event:
        ev = v1.Event(api_version="v1", kind="Event", reason=reason, message=message, type=type_,
                      count=1, reporting_component="kubelet")
        ev.metadata.name = f"{name}.{secrets.token_hex(8)}"
        ev.metadata.namespace = namespace
        ev.source.component, ev.source.host = "kubelet", self.node_name
        ts = now_ts()
        ev.first_timestamp.CopyFrom(ts)
        ev.last_timestamp.CopyFrom(ts)
        return ev

    def _send(self, ev: v1.Event) -> v1.Event:
        self.recorded.append(ev)
        del self.recorded[:-self._keep]
        log.info("event %s %s: %s node=%s object=%s", ev.type, ev.reason, ev.message,
                 self.node_name, ev.involved_object.name)
        if self._create is None:
            return ev
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return ev
        task = loop.create_task(self._write(ev))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return ev

    async def _write(self, ev: v1.Event) -> None:
        assert self._create is not None
        try:
            async with asyncio.timeout(10):
                await self._create(ev)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - events are best effort
            log.debug("event not written: %r node=%s", err, self.node_name)

    async def flush(self) -> None:
        """Wait for the writes in flight (tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
