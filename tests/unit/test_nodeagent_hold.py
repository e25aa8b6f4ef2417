"""The hold decision (issue #19): fence only a node whose pods could be replaced elsewhere.

Three agents' heartbeats run on one injected clock over the one API double
(controlplane.testing.InMemoryApi); each agent's path to the control plane can
be cut, and each one's peers are the other heartbeats, asked directly (the
gRPC hop is covered by the last test). The fence watchdog reads each beacon
on the same clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from controlplane.testing import InMemoryApi
from nodeagent.clock import FakeClock
from nodeagent.config import AgentConfig
from nodeagent.fence_beacon import STORAGE_UNAVAILABLE, UNREACHABLE, read_beacon
from nodeagent.heartbeat import Heartbeat
from nodeagent.node_status import OUTAGE_CONDITION, NodeStatusManager
from nodeagent.watchdog import Watchdog
from nodeagent.witness import PeerReport, Witnesses, decide
from podlab import errors
from podlab.podutil import get_condition, set_condition
from podlab.v1 import objects_pb2 as v1

pytestmark = pytest.mark.unit

NODES = ("n1", "n2", "n3")
FENCE_TIMEOUT = 6.0


class NoPressure:
    def conditions(self) -> dict[str, bool]:
        return {}

    def taints(self) -> list[str]:
        return []


class Link:
    """One agent's path to the real (in-memory) API: `cut` makes it fail as a partition
    does; `storage_down` as an API server whose etcd is gone. Every verb is the API's."""

    def __init__(self, api: InMemoryApi) -> None:
        self.api = api
        self.cut = False
        self.storage_down = False

    def __getattr__(self, verb: str) -> Any:
        real = getattr(self.api, verb)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.cut:
                raise errors.Unavailable("failed to connect to all addresses")
            if self.storage_down:
                raise errors.Unavailable("etcd: UNAVAILABLE: connection refused")
            return await real(*args, **kwargs)
        return call


class LocalWitnesses(Witnesses):
    """The peers' real heartbeats, asked without gRPC; `reachable` says who hears whom."""

    def __init__(self, me: str, nodes: World) -> None:
        super().__init__(me, clock=nodes.clock.monotonic)
        self.world = nodes

    async def _ask(self, name: str, endpoint: str) -> PeerReport | None:
        if not self.world.reach(self.node_name, name):
            return None
        asked = self.clock()
        reply = self.world.beats[name].witness_report()
        return PeerReport(reply.node_name, reply.renewed_seconds_ago, reply.failing,
                          reply.failed_seconds_ago, reply.reason, asked, self.clock())


class Pods:
    def __init__(self) -> None:
        self.running = 2
        self.fenced_at: float | None = None

    def stop_running(self) -> int:
        stopped, self.running = self.running, 0
        return stopped


class World:
    """Three nodes; `isolated` ones reach no peer."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.api = InMemoryApi(clock=self.clock.monotonic)
        self.isolated: set[str] = set()
        self.frozen: set[str] = set()  # agents that neither tick nor answer (their watchdog runs)
        self.links = {n: Link(self.api) for n in NODES}
        self.beats: dict[str, Heartbeat] = {}
        self.fences: dict[str, list[float]] = {n: [] for n in NODES}
        self.dogs: dict[str, Watchdog] = {}
        self.pods = {n: Pods() for n in NODES}
        for n in NODES:
            config = AgentConfig(node_name=n, root_dir=str(tmp_path / n), advertise=f"{n}:7450")
            status = NodeStatusManager(config, self.links[n], "sim://1.0", {"pods": "110"},
                                       NoPressure(), self.clock)

            async def fence(n: str = n) -> None:
                self.fences[n].append(self.clock.monotonic())

            async def unfence() -> bool:
                return True

            beacon = tmp_path / n / "fence" / "beacon.json"
            self.beats[n] = Heartbeat(n, self.links[n], 1.0, FENCE_TIMEOUT, status, fence, unfence,
                                      lambda: None, beacon=beacon,
                                      witnesses=LocalWitnesses(n, self), clock=self.clock)
            self.dogs[n] = Watchdog(beacon, self.pods[n], clock=self.clock.monotonic)

    def reach(self, a: str, b: str) -> bool:
        return a not in self.isolated and b not in self.isolated and b not in self.frozen

    async def start(self) -> None:
        for n in NODES:
            await self.beats[n].node_status.register()
        for node in self.api.objects(v1.Node):  # the controller's view: every node Ready
            set_condition(node.status, "Ready", True, "KubeletReady")
            self.api.update_status_now(node)
        await self.run(1.0)
        assert all(b.witnesses.known == 2 for b in self.beats.values())

    async def run(self, seconds: float, step: float = 1.0) -> None:
        """Every agent ticks and every watchdog looks, once per `step`, for `seconds`."""
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            await asyncio.gather(*(b.tick() for n, b in self.beats.items() if n not in self.frozen))
            for n, dog in self.dogs.items():
                if dog.check() and self.pods[n].fenced_at is None:
                    self.pods[n].fenced_at = self.clock.monotonic()

    def fenced(self) -> set[str]:
        return {n for n in NODES if self.fences[n] or self.pods[n].running == 0}


def test_a_control_plane_outage_of_30s_fences_no_node_the_peers_confirm_it(tmp_path: Path) -> None:
    async def main() -> None:
        world = World(tmp_path)
        await world.start()
        for link in world.links.values():
            link.cut = True
        await world.run(30)
        assert world.fenced() == set()
        assert all(b.holding for b in world.beats.values())
        beacon = read_beacon(tmp_path / "n1" / "fence" / "beacon.json")
        assert beacon is not None and beacon.reason == UNREACHABLE and beacon.hold
        assert world.clock.monotonic() - beacon.held_at < FENCE_TIMEOUT
        for link in world.links.values():
            link.cut = False
        await world.run(2)
        node = world.api.get_now(v1.Node, "n1")
        cond = get_condition(node.status, OUTAGE_CONDITION)
        assert cond is not None and cond.status == "False" and cond.reason == "PodsKeptRunning", cond
        assert "n2" in cond.message or "n3" in cond.message
        assert world.fenced() == set()
    asyncio.run(main())


def test_a_storage_outage_of_30s_fences_no_node_even_one_that_hears_no_peer(tmp_path: Path) -> None:
    async def main() -> None:
        world = World(tmp_path)
        await world.start()
        world.isolated = set(NODES)  # the API's own answer is the evidence
        for link in world.links.values():
            link.storage_down = True
        await world.run(30)
        assert world.fenced() == set()
        assert all(b.reason == STORAGE_UNAVAILABLE and b.holding for b in world.beats.values())
    asyncio.run(main())


def test_a_node_partitioned_alone_hears_no_peer_and_fences_within_the_fence_timeout(
        tmp_path: Path) -> None:
    async def main() -> None:
        world = World(tmp_path)
        await world.start()
        cut_at = world.clock.monotonic()
        world.links["n3"].cut = True
        world.isolated = {"n3"}
        await world.run(8)
        assert world.fenced() == {"n3"}
        assert world.pods["n3"].fenced_at is not None
        assert world.pods["n3"].fenced_at - cut_at <= FENCE_TIMEOUT + 1  # the watchdog: on time
        assert world.fences["n3"][0] - cut_at <= FENCE_TIMEOUT + 1  # and the agent itself
    asyncio.run(main())


def test_a_node_cut_from_the_control_plane_only_is_told_so_by_its_peers_and_fences(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        world = World(tmp_path)
        await world.start()
        world.links["n3"].cut = True  # it still hears n1 and n2, which renew: a veto
        await world.run(8)
        assert world.fenced() == {"n3"}
    asyncio.run(main())
    fencing = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fencing")]
    assert fencing and "n1, n2 renewed since this node's renewals began failing" in fencing[0]


def test_control_plane_down_while_a_node_is_partitioned_fences_only_that_node(
        tmp_path: Path) -> None:
    async def main() -> None:
        world = World(tmp_path)
        await world.start()
        world.links["n3"].cut = True
        world.isolated = {"n3"}
        await world.run(2)
        for link in world.links.values():
            link.cut = True  # the control plane goes down too
        await world.run(30)
        assert world.fenced() == {"n3"}
        for link in ("n1", "n2"):
            world.links[link].cut = False  # it comes back; n3 is still cut off
        await world.run(10)
        assert world.fenced() == {"n3"}
    asyncio.run(main())


def test_a_held_node_that_stays_cut_off_when_the_others_recover_fences_within_the_timeout(
        tmp_path: Path) -> None:
    async def main() -> None:
        world = World(tmp_path)
        await world.start()
        for link in world.links.values():
            link.cut = True
        await world.run(20)
        assert world.fenced() == set()
        back = world.clock.monotonic()
        world.links["n1"].cut = world.links["n2"].cut = False  # n3 alone stays cut off
        await world.run(8)
        assert world.fenced() == {"n3"}
        # Fenced a fence timeout after its last evidence at the latest: inside the node grace
        # (8 s) that the controller restarts when it can see again.
        assert world.pods["n3"].fenced_at is not None
        assert world.pods["n3"].fenced_at - back <= FENCE_TIMEOUT + 1
    asyncio.run(main())


def test_an_agent_frozen_while_holding_is_fenced_by_its_watchdog_a_timeout_later(
        tmp_path: Path) -> None:
    async def main() -> None:
        world = World(tmp_path)
        await world.start()
        for link in world.links.values():
            link.cut = True
        await world.run(10)
        world.frozen = {"n3"}  # no more ticks, no more beacons; its watchdog looks on
        held_at = world.beats["n3"].held_at
        await world.run(8)
        assert world.pods["n3"].fenced_at is not None
        assert held_at + FENCE_TIMEOUT < world.pods["n3"].fenced_at <= held_at + FENCE_TIMEOUT + 1
        assert world.pods["n1"].running and world.pods["n2"].running
    asyncio.run(main())


def test_the_hold_rule_needs_a_confirming_majority_and_no_peer_that_renewed() -> None:
    def peer(name: str, renewed_ago: float, failing: bool = True) -> PeerReport:
        return PeerReport(name, renewed_ago, failing, 0.5 if failing else 0.0, UNREACHABLE,
                          asked_at=100.0, heard_at=100.1)

    # This node has been failing since t=95.
    assert decide(STORAGE_UNAVAILABLE, 100.0, 95.0, 0, []).hold
    assert not decide(UNREACHABLE, 100.0, 95.0, 2, []).hold  # silence is not confirmation
    assert not decide(UNREACHABLE, 100.0, 95.0, 0, []).hold  # never this node alone
    held = decide(UNREACHABLE, 100.0, 95.0, 2, [peer("b", 6.0)])
    assert held.hold and held.evidence_at == 99.5  # as old as the witness's failure
    vetoed = decide(UNREACHABLE, 100.0, 95.0, 2, [peer("b", 6.0), peer("c", 1.0, False)])
    assert not vetoed.hold and "c renewed" in vetoed.why
    assert not decide(UNREACHABLE, 100.0, 95.0, 4, [peer("b", 6.0)]).hold  # 2 of 5: no majority
    assert decide(UNREACHABLE, 100.0, 95.0, 4, [peer("b", 6.0), peer("c", 7.0)]).hold
    assert not decide(UNREACHABLE, 100.0, 95.0, 2, [peer("b", -1.0)]).hold  # never renewed


def test_peers_are_learned_from_the_node_list_and_answer_over_the_agents_grpc(
        tmp_path: Path) -> None:
    from types import SimpleNamespace

    from nodeagent.server import NodeAgentService
    from podlab.v1 import services_pb2_grpc as rpc

    async def main() -> None:
        clock = FakeClock()
        api = InMemoryApi(clock=clock.monotonic)
        config = AgentConfig(node_name="n2", root_dir=str(tmp_path))
        status = NodeStatusManager(config, api, "sim://1.0", {}, NoPressure(), clock)

        async def nothing() -> None:
            return None

        async def yes() -> bool:
            return True
        peer = Heartbeat("n2", api, 1.0, FENCE_TIMEOUT, status, nothing, yes, lambda: None,
                         clock=clock)
        await status.register()
        await peer.tick()
        server = grpc.aio.server()
        rpc.add_NodeAgentServicer_to_server(NodeAgentService(SimpleNamespace(heartbeat=peer)),
                                            server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        witnesses = Witnesses("n1", timeout=2.0, clock=clock.monotonic)
        try:
            ready, lost, new = v1.Node(), v1.Node(), v1.Node()
            ready.metadata.name, ready.status.agent_endpoint = "n2", f"127.0.0.1:{port}"
            set_condition(ready.status, "Ready", True)
            lost.metadata.name, lost.status.agent_endpoint = "n3", "127.0.0.1:1"
            set_condition(lost.status, "Ready", "Unknown")
            new.metadata.name = "n4"  # no agent endpoint yet: nobody to ask
            me = v1.Node()
            me.metadata.name, me.status.agent_endpoint = "n1", "127.0.0.1:2"
            set_condition(me.status, "Ready", True)
            witnesses.learn([me, ready, lost, new])
            # A lost node still counts (the majority is of every node), and says nothing.
            assert witnesses.endpoints == {"n2": f"127.0.0.1:{port}", "n3": "127.0.0.1:1"}
            clock.advance(2.0)
            [report] = await witnesses.ask()
            assert report.node == "n2" and not report.failing and report.renewed_ago == 2.0
        finally:
            await witnesses.close()
            await server.stop(None)
    asyncio.run(main())
