"""Recording Events, as client-go's event recorder does for every Kubernetes component.

Recording never blocks and never fails the caller: an event joins a bounded
backlog (beyond it, events are dropped and counted) and `run()`'s workers write
it through the API. A write that fails is logged and dropped.

A repeat of an event -- the same object, container, type, reason and message --
is not a new Event. The first one's `count` goes up and its `lastTimestamp`
moves, which `podctl describe` shows as "(x4 over 2m)": a readiness probe that
fails every few seconds for an hour is one Event, not a thousand. Writes of one
series keep their order (a series always goes to the same worker), and a write
that a newer one of its series already supersedes is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from typing import Any, Protocol

from podlab import errors
from podlab.names import namespace_or_default
from podlab.podutil import now as now_ts
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.events")

NORMAL, WARNING = "Normal", "Warning"

SeriesKey = tuple[str, ...]


class EventWriter(Protocol):
    async def create(self, obj: Any) -> Any: ...
    async def update(self, obj: Any) -> Any: ...


class EventRecorder:
    """Events from one component (`source.component`, e.g. "kubelet"), on `host` if it has one.
    `recorded` keeps the last few, as recorded (tests and benchmarks read it)."""

    def __init__(self, client: EventWriter | None, component: str, host: str = "",
                 workers: int = 2, backlog: int = 10_000, series: int = 4096, keep: int = 200) -> None:
        self._client = client
        self.component = component
        self.host = host
        self._queues: list[asyncio.Queue[tuple[SeriesKey, v1.Event]]] = [
            asyncio.Queue(max(1, backlog // workers)) for _ in range(workers)]
        self._series: OrderedDict[SeriesKey, v1.Event] = OrderedDict()
        self._series_max = series
        self.recorded: list[v1.Event] = []
        self._keep = keep
        self.dropped = 0

    # -- recording ------------------------------------------------------------------

    def pod_event(self, pod: v1.Pod, type_: str, reason: str, message: str,
                  container: str = "") -> v1.Event:
        """Record an event about `pod` (about one of its containers when `container` is given)."""
        meta = pod.metadata
        ref = v1.ObjectReference(kind="Pod", api_version="v1", name=meta.name,
                                 namespace=namespace_or_default(meta.namespace), uid=meta.uid)
        if container:
            ref.field_path = f"spec.containers{{{container}}}"
        return self.record(ref, type_, reason, message)

    def record(self, ref: v1.ObjectReference, type_: str, reason: str, message: str) -> v1.Event:
        key = (ref.kind, ref.namespace, ref.name, ref.uid, ref.field_path, type_, reason, message)
        ts = now_ts()
        previous = self._series.pop(key, None)
        if previous is None:
            ev = v1.Event(api_version="v1", kind="Event", type=type_, reason=reason, message=message,
                          count=1, reporting_component=self.component, involved_object=ref)
            ev.metadata.name = f"{ref.name}.{secrets.token_hex(8)}"
            ev.metadata.namespace = namespace_or_default(ref.namespace)
            ev.source.component, ev.source.host = self.component, self.host
            ev.first_timestamp.CopyFrom(ts)
        else:
            ev = v1.Event()
            ev.CopyFrom(previous)
            ev.count += 1
        ev.last_timestamp.CopyFrom(ts)
        self._series[key] = ev
        if len(self._series) > self._series_max:
            self._series.popitem(last=False)
        self.recorded.append(ev)
        del self.recorded[:-self._keep]
        log.info("event %s %s: %s object=%s/%s", type_, reason, message, ref.kind, ref.name,
                 extra={"component": self.component})
        if self._client is not None:
            try:
                self._queues[hash(key) % len(self._queues)].put_nowait((key, ev))
            except asyncio.QueueFull:
                self.dropped += 1
        return ev

    # -- writing --------------------------------------------------------------------

    async def run(self) -> None:
        """Write recorded events until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for queue in self._queues:
                tg.create_task(self._worker(queue))

    async def flush(self) -> None:
        """Wait until every event recorded so far is written (or dropped). Needs run()."""
        for queue in self._queues:
            await queue.join()

    async def _worker(self, queue: asyncio.Queue[tuple[SeriesKey, v1.Event]]) -> None:
        while True:
            key, ev = await queue.get()
            try:
                latest = self._series.get(key)
                if latest is None or latest.count <= ev.count:  # else a newer write follows
                    await self._write(ev)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - events are best effort
                log.info("event not written: %s", err, extra={"component": self.component})
            finally:
                queue.task_done()

    async def _write(self, ev: v1.Event) -> None:
        assert self._client is not None
        async with asyncio.timeout(10):
            if ev.count == 1:
                await self._client.create(ev)
                return
            try:
                await self._client.update(ev)
            except errors.NotFound:  # the first write was dropped, or its TTL ran out
                await self._client.create(ev)
