"""Heartbeat, fence and the watchdog's beacon on an injected clock: no real sleeps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nodeagent.clock import FakeClock
from nodeagent.config import AgentConfig
from nodeagent.fence_beacon import (
    RENEWED,
    STORAGE_UNAVAILABLE,
    UNREACHABLE,
    Beacon,
    read_beacon,
    should_fence,
)
from nodeagent.heartbeat import Heartbeat
from nodeagent.node_status import NodeStatusManager
from nodeagent.pleg import changed_pods
from podlab import errors
from podlab.v1 import objects_pb2 as v1
from tests.support.agent_api import AgentApi

pytestmark = pytest.mark.unit


class NoPressure:
    def conditions(self) -> dict[str, bool]:
        return {}

    def taints(self) -> list[str]:
        return []


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.resync_ok = True

    async def fence(self) -> None:
        self.calls.append("fence")

    async def unfence(self) -> bool:
        self.calls.append("unfence")
        return self.resync_ok

    def resume(self) -> None:
        self.calls.append("resume")


def make(tmp_path: Path, cluster: AgentApi, clock: FakeClock) -> tuple[Heartbeat, Recorder]:
    if cluster.find("Node", "n1") is None:  # renewal needs the node's object, as on the API server
        cluster.create_now(v1.Node(metadata=v1.ObjectMeta(name="n1")))
    config = AgentConfig(node_name="n1", root_dir=str(tmp_path), status_refresh=10.0)
    status = NodeStatusManager(config, cluster, "sim://1.0", {"pods": "110"}, NoPressure(), clock)
    rec = Recorder()
    hb = Heartbeat("n1", cluster, 1.0, 6.0, status, rec.fence, rec.unfence, rec.resume,
                   beacon=tmp_path / "beacon.json", clock=clock)
    return hb, rec


def test_fence_after_the_timeout_without_renewal_and_unfence_on_the_next_renewal(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, clock = AgentApi(), FakeClock()
        hb, rec = make(tmp_path, cluster, clock)
        await hb.tick()
        assert cluster.leases == ["n1"] and not hb.fenced
        cluster.lease_fail = True
        for _ in range(6):
            clock.advance(1.0)
            await hb.tick()
        assert not hb.fenced and rec.calls == []  # 6 s is not more than the timeout
        clock.advance(1.0)
        await hb.tick()
        assert hb.fenced and rec.calls == ["fence"]
        clock.advance(1.0)
        await hb.tick()
        assert rec.calls == ["fence"]  # fenced once
        cluster.lease_fail = False
        rec.resync_ok = False
        await hb.tick()
        assert hb.fenced and rec.calls == ["fence", "unfence"]  # resync failed: stay fenced
        rec.resync_ok = True
        await hb.tick()
        assert not hb.fenced and rec.calls == ["fence", "unfence", "unfence", "resume"]
    asyncio.run(main())


def test_the_beacon_says_when_the_lease_was_renewed_and_why_renewal_failed(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, clock = AgentApi(), FakeClock()
        hb, _ = make(tmp_path, cluster, clock)
        await hb.tick()
        renewed = read_beacon(tmp_path / "beacon.json")
        assert renewed is not None and renewed.reason == RENEWED
        assert renewed.renewed_at == clock.monotonic() and renewed.fence_timeout == 6.0
        cluster.lease_fail = True  # the fake answers Unavailable, not an etcd failure
        clock.advance(2.0)
        await hb.tick()
        failed = read_beacon(tmp_path / "beacon.json")
        assert failed is not None and failed.reason == UNREACHABLE and not failed.hold
        assert failed.renewed_at == renewed.renewed_at and failed.written_at == clock.monotonic()
    asyncio.run(main())


def test_a_storage_outage_is_reported_as_everyones_and_holds_the_fence(tmp_path: Path) -> None:
    class EtcdDown(AgentApi):
        async def renew_lease(self, node_name: str) -> int:
            raise errors.Unavailable("etcd: UNAVAILABLE: connection refused")

    async def main() -> None:
        clock = FakeClock()
        hb, _ = make(tmp_path, EtcdDown(), clock)
        await hb.tick()
        beacon = read_beacon(tmp_path / "beacon.json")
        assert beacon is not None and beacon.reason == STORAGE_UNAVAILABLE and beacon.hold
        assert beacon.held_at == clock.monotonic()
    asyncio.run(main())


def test_the_watchdog_fences_a_stale_lease_unless_fresh_outage_evidence_says_otherwise() -> None:
    fresh = Beacon(renewed_at=100.0, written_at=100.0, reason=RENEWED, hold=False, fence_timeout=6.0)
    assert not should_fence(fresh, 106.0)
    assert should_fence(fresh, 106.5)  # renewed 6.5 s ago: an agent frozen or cut off
    holding = Beacon(100.0, 105.5, STORAGE_UNAVAILABLE, True, 6.0, held_at=105.0)
    assert not should_fence(holding, 110.0)  # evidence 5 s old: everyone's outage
    assert should_fence(holding, 111.5)  # ... but none since
    assert not should_fence(None, 1e9)  # no agent ever ran here


def test_the_relist_wakes_pods_whose_containers_appeared_changed_or_went() -> None:
    last = {"c1": ("a", "running"), "c2": ("b", "running"), "c3": ("c", "running")}
    now = {"c1": ("a", "running"), "c2": ("b", "exited"), "c4": ("d", "created")}
    assert changed_pods(last, now) == {"b", "c", "d"}
    assert changed_pods(now, now) == set()


class CountingContainers:
    def __init__(self) -> None:
        self.running = 3
        self.stops = 0

    def stop_running(self) -> int:
        self.stops += 1
        stopped, self.running = self.running, 0
        return stopped


def test_the_watchdog_stops_the_pods_of_a_stale_beacon_until_it_is_fresh_again(tmp_path: Path) -> None:
    from nodeagent.fence_beacon import write_beacon
    from nodeagent.watchdog import Watchdog

    now = [100.0]
    path = tmp_path / "fence" / "beacon.json"
    pods = CountingContainers()
    dog = Watchdog(path, pods, clock=lambda: now[0])
    assert dog.check() == 0 and pods.stops == 0  # no beacon yet: no agent ran here
    write_beacon(path, Beacon(100.0, 100.0, RENEWED, False, 6.0))
    now[0] = 105.0
    assert dog.check() == 0 and pods.stops == 0
    write_beacon(path, Beacon(100.0, 105.0, UNREACHABLE, False, 6.0))  # the agent is cut off
    now[0] = 106.5
    assert dog.check() == 3 and dog.fenced_since == 100.0
    pods.running = 1  # something came back while the lease is still stale: stopped again
    now[0] = 107.0
    assert dog.check() == 1
    write_beacon(path, Beacon(107.5, 107.5, RENEWED, False, 6.0))
    pods.running = 2  # the agent restarts its pods after unfencing: left alone
    assert dog.check() == 0 and dog.fenced_since is None and pods.running == 2


def test_a_thawed_agent_fences_and_resyncs_before_anything_even_when_renewal_succeeds(
        tmp_path: Path) -> None:
    async def main() -> None:
        cluster, clock = AgentApi(), FakeClock()
        hb, rec = make(tmp_path, cluster, clock)
        await hb.tick()
        clock.advance(10.0)  # frozen: no tick ran for longer than the fence timeout
        assert hb.lease_lost and not hb.fenced  # pod workers already hold off
        await hb.tick()  # the renewal works at once
        assert rec.calls == ["fence", "unfence", "resume"] and not hb.lease_lost
    asyncio.run(main())
