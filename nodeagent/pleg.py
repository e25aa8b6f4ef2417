"""The pod lifecycle event generator: when to look at a pod again, never what it holds.

Two sources, as the kubelet's PLEG: the runtime's event stream wakes the pod an
event names (and every pod whenever the stream (re)connects, since what
happened before it was live went unseen); behind it, the relist lists the
node's containers every `relist_period` and wakes the pods whose containers
appeared, changed state or went since the last list, which is what an event
the engine dropped would have said.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nodeagent.clock import SYSTEM_CLOCK, Clock
from nodeagent.runtime.base import CONNECTED, ContainerInfo, Runtime, SandboxInfo

log = logging.getLogger("podlab.nodeagent")

Listing = tuple[list[ContainerInfo], list[SandboxInfo]]
Snapshot = dict[str, tuple[str, str]]  # container id -> (pod uid, state)
EVENTS_RETRY = 1.0


def snapshot(listing: Listing) -> Snapshot:
    containers, sandboxes = listing
    listed = {c.id: (c.pod_uid, c.state) for c in containers}
    listed |= {s.id: (s.pod_uid, s.state) for s in sandboxes}
    return listed


def changed_pods(last: Snapshot, now: Snapshot) -> set[str]:
    """The pods with a container that appeared, changed state or went between two lists."""
    changed = {uid for cid, (uid, state) in now.items() if last.get(cid) != (uid, state)}
    changed |= {uid for cid, (uid, _) in last.items() if cid not in now}
    return changed


class Pleg:
    """Wakes pods: `wake(uid)` for one, `wake_all()` for every pod.

    `after_relist(listing)` runs after every successful relist, with what it
    listed (the agent's orphan sweep reuses it).
    """

    def __init__(self, runtime: Runtime, node_name: str, relist_period: float,
                 wake: Callable[[str], None], wake_all: Callable[[], None],
                 after_relist: Callable[[Listing], Awaitable[None]] | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.runtime = runtime
        self.node_name = node_name
        self.relist_period = relist_period
        self.wake = wake
        self.wake_all = wake_all
        self.after_relist = after_relist
        self.clock = clock
        self._last: Snapshot | None = None

    async def watch_events(self) -> None:
        """Follow the runtime's event stream until cancelled, reconnecting when it ends."""
        while True:
            try:
                async for event in self.runtime.events():
                    if event is CONNECTED:
                        self.wake_all()
                    else:
                        self.wake(event.pod_uid)
            except Exception as err:  # noqa: BLE001 - the engine went away; relist covers it
                log.warning("runtime events failed: %r node=%s", err, self.node_name)
            await self.clock.sleep(EVENTS_RETRY)

    async def relist(self) -> Listing | None:
        """List once and wake the pods that changed since the last list; the listing, or None
        when the runtime could not list."""
        try:
            listing = await self.runtime.list_all()
        except Exception as err:  # noqa: BLE001 - the engine went away; try again next period
            log.warning("relist failed: %r node=%s", err, self.node_name)
            return None
        listed = snapshot(listing)
        if self._last is not None:
            for uid in changed_pods(self._last, listed):
                self.wake(uid)
        self._last = listed
        return listing

    async def relist_loop(self, ready: asyncio.Event) -> None:
        """Relist every period once `ready` is set (the pods bound here are known)."""
        await ready.wait()
        while True:
            listing = await self.relist()
            if listing is not None and self.after_relist is not None:
                await self.after_relist(listing)
            await self.clock.sleep(self.relist_period)
