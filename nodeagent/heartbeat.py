"""Heartbeat and fence: renew the node's lease, and stop the node's pods when it cannot.

Every `heartbeat` seconds the agent renews its lease. After `fence_timeout`
seconds without a renewal it fences (`fence()`: stop every pod container, and
pod workers stop syncing); the first renewal after that unfences: `unfence()`
resyncs (the node stays fenced when it fails), then `resume()` wakes the pods. Each tick also tells the fence
watchdog (nodeagent.fence_beacon) how renewal went, so the node is fenced even
when this process is frozen or gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from nodeagent.clock import SYSTEM_CLOCK, Clock
from nodeagent.fence_beacon import RENEWED, STORAGE_UNAVAILABLE, UNREACHABLE, Beacon, write_beacon
from nodeagent.node_status import NodeStatusManager
from nodeagent.pod_api import AgentClient
from podlab import errors

log = logging.getLogger("podlab.nodeagent")


def renewal_failure(err: Exception) -> str:
    """Why a renewal failed, as the beacon says it: the API answered that its storage is
    down (everyone's outage), or the control plane could not be reached."""
    if isinstance(err, errors.Unavailable) and str(err).startswith("etcd"):
        return STORAGE_UNAVAILABLE
    return UNREACHABLE


def never_hold(reason: str) -> bool:
    """The fence policy today: any renewal failure longer than the fence timeout fences."""
    return False


class Heartbeat:
    """The lease loop. `lease_lost` is what pod workers obey; only this object sets `fenced`."""

    def __init__(self, node_name: str, client: AgentClient, heartbeat: float, fence_timeout: float,
                 node_status: NodeStatusManager, fence: Callable[[], Awaitable[None]],
                 unfence: Callable[[], Awaitable[bool]], resume: Callable[[], None],
                 beacon: Path | None = None,
                 hold: Callable[[str], bool] = never_hold, clock: Clock = SYSTEM_CLOCK) -> None:
        self.node_name = node_name
        self.client = client
        self.period = heartbeat
        self.fence_timeout = fence_timeout
        self.node_status = node_status
        self._fence = fence
        self._unfence = unfence
        self._resume = resume
        self.beacon = beacon
        self.hold = hold
        self.clock = clock
        self.fenced = False
        self.last_renew = clock.monotonic()

    async def run(self) -> None:
        while True:
            await self.tick()
            await self.clock.sleep(self.period)

    @property
    def lease_lost(self) -> bool:
        """Fenced, or the lease is already older than the fence timeout: true from the first
        moment, even before this loop has run again (a process that was frozen must not sync
        a pod before it has fenced, renewed and resynced)."""
        return self.fenced or self._stale()

    def _stale(self) -> bool:
        return self.clock.monotonic() - self.last_renew > self.fence_timeout

    async def tick(self) -> None:
        """One renewal attempt, and what follows from it: unfence, status refresh, or fence.
        A lease found stale before the attempt (this process was frozen or starved) fences
        first, so that a renewal that succeeds still resyncs before anything restarts."""
        if not self.fenced and self._stale():
            self.fenced = True
            await self._fence()
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
            async with asyncio.timeout(max(self.period, 1.0)):
                await self.client.renew_lease(self.node_name)
            self.last_renew = self.clock.monotonic()
            self._tell_watchdog(RENEWED)
            if self.fenced:
                if await self._unfence():
                    self.fenced = False
                    self._resume()
            elif self.node_status.refresh_due():
                await self.node_status.refresh()
        except (errors.ApiError, TimeoutError) as err:
            log.debug("lease renewal failed: %r node=%s", err, self.node_name)
            self._tell_watchdog(renewal_failure(err) if isinstance(err, errors.ApiError)
                                else UNREACHABLE)
        if not self.fenced and self._stale():
            self.fenced = True
            await self._fence()

    def _tell_watchdog(self, reason: str) -> None:
        if self.beacon is None:
            return
        beacon = Beacon(self.last_renew, self.clock.monotonic(), reason,
                        reason != RENEWED and self.hold(reason), self.fence_timeout, os.getpid())
        try:
            write_beacon(self.beacon, beacon)
        except OSError as err:
            log.warning("cannot write the fence beacon %s: %s node=%s", self.beacon, err,
                        self.node_name)
