"""Heartbeat and fence: renew the node's lease, and stop the node's pods when it is cut off.

Every `heartbeat` seconds the agent renews its lease. When renewal fails, the
hold decision (nodeagent.witness) asks whether anyone could replace this
node's pods: the API answered that its storage is down, or peers confirm
they cannot renew either, and the node holds (its pods keep running). Else,
`fence_timeout` seconds after the later of the last renewal and the last
evidence of an outage that is everyone's (`fence_beacon.fence_due`), it
fences (`fence()`: stop every pod container, and pod workers stop syncing);
the first renewal after that unfences: `unfence()` resyncs (the node stays
fenced when it fails), then `resume()` wakes the pods. Each tick also tells
the fence watchdog (nodeagent.fence_beacon) how renewal went and how long a
hold counts, so the node is fenced by the same rule even when this process
is frozen or gone; and answers peers that ask (`witness_report`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from nodeagent.clock import SYSTEM_CLOCK, Clock
from nodeagent.fence_beacon import (
    RENEWED,
    STORAGE_UNAVAILABLE,
    UNREACHABLE,
    Beacon,
    fence_due,
    write_beacon,
)
from nodeagent.node_status import NodeStatusManager
from nodeagent.pod_api import AgentClient
from nodeagent.witness import NoWitnesses, PeerReport, Verdict, Witnesses, decide
from podlab import errors
from podlab.tasks import cancel_and_wait
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api

log = logging.getLogger("podlab.nodeagent")


@dataclass(frozen=True)
class LeaseHolder:
    """Who renews a node's lease: the agent's identity (stable across its restarts: host and
    root dir), when this process started, and how long the lease holds unrenewed (the fence
    timeout: an agent that has not renewed for that long has stopped its pods)."""

    identity: str
    started_ms: int
    duration: float


class LeaseHeld(Exception):
    """Another live agent holds this node's lease: this agent must not run the node's pods."""


def renewal_failure(err: Exception) -> str:
    """Why a renewal failed, as the beacon says it: the API answered that its storage is
    down (everyone's outage), or the control plane could not be reached."""
    if isinstance(err, errors.Unavailable) and str(err).startswith("etcd"):
        return STORAGE_UNAVAILABLE
    return UNREACHABLE


class Heartbeat:
    """The lease loop. `lease_lost` is what pod workers obey; only this object sets `fenced`.

    Fields are touched only by the event loop's tasks: `tick` (one at a time) writes them,
    `witness_report` and `lease_lost` read them.
    """

    def __init__(self, node_name: str, client: AgentClient, heartbeat: float, fence_timeout: float,
                 node_status: NodeStatusManager, fence: Callable[[], Awaitable[None]],
                 unfence: Callable[[], Awaitable[bool]], resume: Callable[[], None],
                 beacon: Path | None = None, witnesses: Witnesses | None = None,
                 clock: Clock = SYSTEM_CLOCK, peers_refresh: float = 10.0,
                 holder: LeaseHolder | None = None) -> None:
        self.node_name = node_name
        self.holder = holder  # None: renew without naming a holder (no pods wait for it)
        self.client = client
        self.period = heartbeat
        self.fence_timeout = fence_timeout
        self.node_status = node_status
        self._fence = fence
        self._unfence = unfence
        self._resume = resume
        self.beacon = beacon
        self.witnesses = witnesses or NoWitnesses()
        self.clock = clock
        self.peers_refresh = peers_refresh
        self.fenced = False
        self.last_renew = clock.monotonic()
        self.renewed_once = False
        self.held_at = 0.0  # the latest evidence that nobody could replace the pods
        self.failing_since: float | None = None  # first failed attempt since the last renewal
        self.failed_at = 0.0  # when the latest failed attempt failed
        self.reason = RENEWED  # how the latest attempt went
        self.verdict: Verdict | None = None  # the latest hold decision, while failing
        self._outage_held: str | None = None  # why this outage held, if it did
        self._outage_fenced = False
        self._peers_due = clock.monotonic()

    async def run(self) -> None:
        while True:
            await self.tick()
            await self.clock.sleep(self.period)

    @property
    def lease_lost(self) -> bool:
        """Fenced, or the fence is already due: true from the first moment, even before this
        loop has run again (a process that was frozen must not sync a pod before it has
        fenced, renewed and resynced)."""
        return self.fenced or (self.holder is not None and not self.renewed_once) or self._stale()

    @property
    def holding(self) -> bool:
        return self.verdict is not None and self.verdict.hold

    def _stale(self) -> bool:
        return fence_due(self.last_renew, self.held_at, self.clock.monotonic(), self.fence_timeout)

    async def tick(self) -> None:
        """One renewal attempt, and what follows from it: unfence, status refresh, hold or
        fence. A fence found due before the attempt (this process was frozen or starved)
        happens first, so that a renewal that succeeds still resyncs before anything restarts.
        While renewals fail, the peers are asked alongside the attempt."""
        if not self.fenced and self._stale():
            await self._fence_now()
        started = self.clock.monotonic()
        peers: asyncio.Future[list[PeerReport]] | None = None
        if self.failing_since is not None and not self.fenced and self.reason != STORAGE_UNAVAILABLE:
            peers = asyncio.ensure_future(self.witnesses.ask())
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
            async with asyncio.timeout(max(self.period, 1.0)):
                if self.holder is None:
                    await self.client.renew_lease(self.node_name)
                else:
                    await self.client.renew_lease(self.node_name, self.holder.identity,
                                                  self.holder.started_ms, self.holder.duration)
        except errors.Conflict as err:  # only a renewal by another holder conflicts
            if self.renewed_once:
                await self._fence_now()
            raise LeaseHeld(f"{err}; this agent ({self.holder.identity if self.holder else '?'}) "
                            "runs no pods and exits: stop the other agent, or give this one "
                            "another --node-name") from None
        except (errors.ApiError, TimeoutError) as err:
            log.debug("lease renewal failed: %r node=%s", err, self.node_name)
            reason = renewal_failure(err) if isinstance(err, errors.ApiError) else UNREACHABLE
            await self._failed(reason, started, peers)
        else:
            await self._renewed()
        finally:
            if peers is not None:
                await cancel_and_wait(peers)
        if not self.fenced and self._stale():
            await self._fence_now()

    async def _failed(self, reason: str, started: float,
                      peers: asyncio.Future[list[PeerReport]] | None) -> None:
        if self.failing_since is None:
            self.failing_since = started
        self.reason, self.failed_at = reason, self.clock.monotonic()
        reports: list[PeerReport] = []
        if reason != STORAGE_UNAVAILABLE and not self.fenced:
            reports = await peers if peers is not None else await self.witnesses.ask()
        verdict = decide(reason, self.failed_at, self.failing_since, self.witnesses.known, reports)
        if verdict.hold and verdict.evidence_at is not None:
            self.held_at = max(self.held_at, verdict.evidence_at)
            self._outage_held = verdict.why
        self._log_verdict(verdict)
        self.verdict = verdict
        self._tell_watchdog(reason)

    def _log_verdict(self, verdict: Verdict) -> None:
        if self.fenced:
            return
        was = self.verdict.hold if self.verdict is not None else None
        if verdict.hold == was:
            return
        failing = self.clock.monotonic() - self.last_renew
        if verdict.hold:
            log.warning("lease not renewed for %.1fs (%s): holding, this node's pods keep running "
                        "since nobody can replace them: %s node=%s", failing, self.reason,
                        verdict.why, self.node_name)
            return
        left = self.fence_timeout - (self.clock.monotonic() - max(self.last_renew, self.held_at))
        log.warning("lease not renewed for %.1fs (%s), no outage confirmed (%s): fencing in "
                    "%.1fs unless it is renewed node=%s", failing, self.reason, verdict.why,
                    max(left, 0.0), self.node_name)

    async def _renewed(self) -> None:
        now = self.clock.monotonic()
        outage = now - self.last_renew if self.failing_since is not None or self._outage_fenced \
            else None
        held, fenced = self._outage_held, self._outage_fenced
        first = not self.renewed_once
        self.last_renew, self.renewed_once = now, True
        if first and self.holder is not None:
            self._resume()  # the pods waited for this node to be ours
        self.failing_since, self.reason, self.verdict = None, RENEWED, None
        self._outage_held, self._outage_fenced = None, False
        self._tell_watchdog(RENEWED)
        if outage is not None and (held or fenced):
            self._note_outage(outage, held, fenced)
        if self.fenced:
            if await self._unfence():
                self.fenced = False
                self._resume()
        elif outage is not None and held:
            log.info("lease renewed after %.1fs; this node's pods kept running through the "
                     "outage node=%s", outage, self.node_name)
            await self.node_status.refresh()
        elif self.node_status.refresh_due():
            await self.node_status.refresh()
        if not self.fenced and now >= self._peers_due:
            await self._learn_peers(now)

    def _note_outage(self, seconds: float, held: str | None, fenced: bool) -> None:
        if fenced:
            self.node_status.note_outage(False, f"lease not renewed for {seconds:.1f}s and no "
                                         "outage of everyone's was confirmed: this node was "
                                         "cut off, and its pods were stopped (fenced)")
        else:
            self.node_status.note_outage(True, f"lease not renewed for {seconds:.1f}s, an outage "
                                         f"of everyone's ({held}): nobody could replace this "
                                         "node's pods, so they kept running")

    async def _learn_peers(self, now: float) -> None:
        try:
            nodes, _ = await self.client.list(v1.Node)
        except errors.ApiError as err:
            log.debug("listing peers failed: %s node=%s", err, self.node_name)
            return
        self._peers_due = now + self.peers_refresh
        self.witnesses.learn(nodes)

    async def _fence_now(self) -> None:
        self.fenced = True
        self._outage_fenced = True
        why = self.verdict.why if self.verdict is not None else "no renewal attempt ran"
        log.warning("fencing: lease not renewed for %.1fs (%s; %s) node=%s",
                    self.clock.monotonic() - self.last_renew, self.reason, why, self.node_name)
        await self._fence()

    def witness_report(self) -> api.WitnessResponse:
        """This agent's renewals, for a peer deciding whether the outage is everyone's."""
        now = self.clock.monotonic()
        failing = self.failing_since is not None
        return api.WitnessResponse(
            node_name=self.node_name,
            renewed_seconds_ago=now - self.last_renew if self.renewed_once else -1.0,
            failing=failing, failed_seconds_ago=now - self.failed_at if failing else 0.0,
            reason=self.reason)

    def _tell_watchdog(self, reason: str) -> None:
        if self.beacon is None:
            return
        beacon = Beacon(self.last_renew, self.clock.monotonic(), reason,
                        reason != RENEWED and self.holding, self.fence_timeout, os.getpid(),
                        self.held_at)
        try:
            write_beacon(self.beacon, beacon)
        except OSError as err:
            log.warning("cannot write the fence beacon %s: %s node=%s", self.beacon, err,
                        self.node_name)
