"""The hold decision: fence only a node whose pods could be replaced elsewhere.

Fencing exists for one case: *this* node is cut off while the rest of the
cluster can replace its pods. When nobody can write replacements, fencing
would only turn a control-plane outage into a workload outage, so the agent
holds: it keeps its pods running. It holds only on evidence that nobody can
write replacements, never on silence:

- the API server answered that its storage is unavailable
  (STORAGE_UNAVAILABLE): nothing can be written, replacements included;
- or peers confirm it (UNREACHABLE here, and over the agents' own gRPC,
  `NodeAgent.Witness`, other agents say their latest renewal failed too and
  they have not renewed since this node's renewals began failing): with this
  node, a strict majority of the nodes known (the Node objects listed while
  the API answered) cannot reach the control plane, and at least one peer
  said so.

A peer that *has* renewed since this node began failing vetoes the hold: the
control plane is up for someone, so this node is the one cut off. A peer that
does not answer says nothing: a node cut off from everything (the lab's
`partition`) hears no peer and fences on time.

A hold is evidence about a moment (`Verdict.evidence_at`: the latest time the
outage was observed, on this node's monotonic clock), and the fence clock runs
from the later of the last renewal and the last evidence
(`fence_beacon.fence_due`): when the evidence stops coming (the outage ends
for the others, or this agent freezes) the node fences a fence timeout after
the last of it, still inside the controller's node grace, which restarts when
the controller regains its storage or leadership (controllers/nodelifecycle).

The known gap: a split in which a majority of nodes reach each other but not
a control plane that is up and reaches the minority. The controller then sees
a partial disruption and replaces pods at `--secondary-eviction-rate`, while
the majority holds; see the README's guarantees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from nodeagent.fence_beacon import STORAGE_UNAVAILABLE
from podlab.client import open_channel
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc

log = logging.getLogger("podlab.nodeagent")

# gRPC's reconnect back-off grows to two minutes by default: after a 30 s outage an agent's
# channel would try again seconds after the control plane is back, and its node could be
# declared lost meanwhile. An agent's channels (to the API and to its peers) retry within 1 s.
RECONNECT_OPTIONS: list[tuple[str, object]] = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


@dataclass(frozen=True)
class PeerReport:
    """One peer's answer, with the times (this node's monotonic clock) it was asked and heard."""

    node: str
    renewed_ago: float  # < 0: never renewed
    failing: bool
    failed_ago: float
    reason: str
    asked_at: float
    heard_at: float

    def renewed_after(self, t: float) -> bool:
        """It renewed after `t` (read late: a doubt counts as a renewal, the safe side)."""
        return self.renewed_ago >= 0 and self.heard_at - self.renewed_ago > t

    @property
    def failed_at(self) -> float:
        """When its latest attempt failed (read early: the evidence is never made newer)."""
        return self.asked_at - self.failed_ago


@dataclass(frozen=True)
class Verdict:
    hold: bool
    evidence_at: float | None  # the latest moment the outage is proven for (hold only)
    why: str  # for the log and the node condition


def decide(reason: str, failed_at: float, failing_since: float, known_peers: int,
           reports: list[PeerReport]) -> Verdict:
    """Whether this node may keep its pods running after a failed renewal.

    `reason`: why renewal failed (fence_beacon); `failed_at`: when this attempt failed;
    `failing_since`: when the first failed attempt since the last renewal began;
    `known_peers`: the other nodes known; `reports`: the peers that answered.
    """
    if reason == STORAGE_UNAVAILABLE:
        return Verdict(True, failed_at, "the API server answered that its storage is unavailable")
    vetoes = sorted(r.node for r in reports if r.renewed_after(failing_since))
    if vetoes:
        return Verdict(False, None, f"{', '.join(vetoes)} renewed since this node's renewals "
                                    "began failing: this node is the one cut off")
    confirming = sorted((r for r in reports if r.failing and r.renewed_ago >= 0),
                        key=lambda r: r.failed_at, reverse=True)
    # With this node, a strict majority of the nodes known (2 of 2 or 3, 3 of 4 or 5, ...),
    # and never this node alone.
    needed = max(1, (known_peers + 1) // 2)
    if len(confirming) < needed:
        heard = len(reports)
        return Verdict(False, None, f"{len(confirming)} of {known_peers} peer(s) confirm the "
                                    f"outage ({heard} answered), {needed} needed")
    witnesses = confirming[:needed]  # the freshest: the evidence is as old as the oldest of them
    evidence = min(failed_at, witnesses[-1].failed_at)
    return Verdict(True, evidence, "the control plane is unreachable from "
                   f"{', '.join(sorted(r.node for r in witnesses))} too")


class Witnesses:
    """The peers this agent can ask, learned from the Node list while the API answered."""

    def __init__(self, node_name: str, timeout: float = 0.5,
                 clock: Callable[[], float] | None = None) -> None:
        import time
        self.node_name = node_name
        self.timeout = timeout
        self.clock = clock or time.monotonic
        self.endpoints: dict[str, str] = {}  # node name -> agent endpoint (the other nodes)
        self._channels: dict[str, grpc.aio.Channel] = {}

    def learn(self, nodes: list[v1.Node]) -> None:
        """Remember the other nodes that have an agent endpoint, Ready or not: a node that is
        down counts among those a majority is taken of, as it does for the controller (and
        right after a control-plane restart every node looks lost for a moment)."""
        endpoints = {n.metadata.name: n.status.agent_endpoint for n in nodes
                     if n.metadata.name != self.node_name and n.status.agent_endpoint}
        if endpoints != self.endpoints:
            log.info("peer witnesses now %s node=%s", sorted(endpoints), self.node_name)
        for name in set(self._channels) - set(endpoints):
            asyncio.ensure_future(self._channels.pop(name).close())
        self.endpoints = endpoints

    @property
    def known(self) -> int:
        return len(self.endpoints)

    async def ask(self) -> list[PeerReport]:
        """Every peer's answer that came within the timeout; the silent ones are left out."""
        answers = await asyncio.gather(*(self._ask(n, e) for n, e in self.endpoints.items()))
        return [a for a in answers if a is not None]

    async def _ask(self, name: str, endpoint: str) -> PeerReport | None:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = open_channel(endpoint, options=RECONNECT_OPTIONS)
        asked = self.clock()
        try:
            reply = await rpc.NodeAgentStub(channel).Witness(
                api.WitnessRequest(node_name=self.node_name), timeout=self.timeout)
        except (TimeoutError, grpc.RpcError) as err:
            code = err.code() if isinstance(err, grpc.RpcError) else "timeout"
            log.debug("peer %s (%s) did not answer: %s node=%s", name, endpoint, code, self.node_name)
            return None
        return PeerReport(reply.node_name or name, reply.renewed_seconds_ago, reply.failing,
                          reply.failed_seconds_ago, reply.reason, asked, self.clock())

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        await asyncio.gather(*(c.close() for c in channels), return_exceptions=True)


class NoWitnesses(Witnesses):
    """No peers: an UNREACHABLE failure always fences (a lone node, or tests)."""

    def __init__(self) -> None:
        super().__init__("")

    async def ask(self) -> list[PeerReport]:
        return []
