"""The control plane's Events: podlab.events' recorder (the one place that builds Events), one per component.

The registry and the controllers record through `ControlPlaneEvents`; its
recorders write through the registry itself, so an Event is created and
aggregated exactly as the agents' and the scheduler's are. Recording never
blocks and never fails the caller; `run()` writes, `flush()` waits for it.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from google.protobuf.message import Message

from podlab.events import EventRecorder, EventWriter
from podlab.kinds import kind_of
from podlab.tasks import cancel_and_wait
from podlab.v1 import objects_pb2 as v1


class EventSink(Protocol):
    def object_event(self, obj: Message, type_: str, reason: str, message: str, component: str) -> None: ...


def reference(obj: Message) -> v1.ObjectReference:
    """An ObjectReference to `obj`, as Events name what they are about."""
    kind = kind_of(obj)
    meta: v1.ObjectMeta = obj.metadata
    return v1.ObjectReference(kind=kind.name, api_version=kind.api_version, name=meta.name,
                              namespace=meta.namespace, uid=meta.uid)


class ControlPlaneEvents:
    """Recorders by component (`source.component`: "node-lifecycle-controller", "eviction", ...).

    Concurrency: used from one event loop. A recorder made while `run()` is
    active starts writing at once; one made before starts with `run()`.
    """

    def __init__(self, writer: EventWriter | None = None) -> None:
        self._writer = writer
        self._recorders: dict[str, EventRecorder] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    def attach(self, writer: EventWriter) -> None:
        """Write through `writer` (the registry, which is built after this sink)."""
        self._writer = writer

    def recorder(self, component: str) -> EventRecorder:
        recorder = self._recorders.get(component)
        if recorder is None:
            recorder = self._recorders[component] = EventRecorder(self._writer, component)
            if self._running:
                self._tasks.append(asyncio.get_running_loop().create_task(recorder.run()))
        return recorder

    def object_event(self, obj: Message, type_: str, reason: str, message: str, component: str) -> None:
        self.recorder(component).record(reference(obj), type_, reason, message)

    def start(self) -> None:
        """Start writing (on the running loop) until `close()`."""
        if not self._running:
            self._running = True
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(r.run()) for r in self._recorders.values()]

    async def flush(self) -> None:
        """Wait until every event recorded so far is written (or dropped)."""
        for recorder in list(self._recorders.values()):
            await recorder.flush()

    async def close(self) -> None:
        self._running = False
        await cancel_and_wait(*self._tasks)
        self._tasks = []
