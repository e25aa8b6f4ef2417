"""Node-pressure eviction: thresholds, ranking, pressure transitions, and the agent acting on them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from google.protobuf.json_format import ParseDict

from nodeagent.agent import NodeAgent
from nodeagent.config import AgentConfig, parse_args
from nodeagent.eviction import (
    MEMORY,
    MEMORY_AVAILABLE,
    NODEFS_AVAILABLE,
    EvictionConfig,
    EvictionManager,
    Observation,
    PodUsage,
    Threshold,
    ThresholdError,
    eviction_message,
    format_bytes,
    parse_duration,
    parse_grace_periods,
    parse_thresholds,
    rank_for_eviction,
)
from nodeagent.runtime.sim import SimRuntime
from podlab.v1 import objects_pb2 as v1
from tests.support.agent_api import AgentApi

pytestmark = pytest.mark.unit
Mi = 2**20


# -- thresholds ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("memory.available<100Mi", [Threshold(MEMORY_AVAILABLE, quantity=100 * Mi)]),
    ("memory.available<100Mi,nodefs.available<10%",
     [Threshold(MEMORY_AVAILABLE, quantity=100 * Mi), Threshold(NODEFS_AVAILABLE, percentage=10.0)]),
    (" nodefs.available < 5.5% ", [Threshold(NODEFS_AVAILABLE, percentage=5.5)]),
    ("memory.available<1Gi", [Threshold(MEMORY_AVAILABLE, quantity=2**30)]),
    ("", []),
])
def test_hard_thresholds_parse_quantities_and_percentages(text: str, expected: list[Threshold]) -> None:
    assert parse_thresholds(text) == expected


@pytest.mark.parametrize(("text", "error"), [
    ("memory.available>100Mi", "want SIGNAL<QUANTITY"),
    ("memory.free<100Mi", "unknown eviction signal 'memory.free'"),
    ("memory.available<lots", "invalid quantity 'lots'"),
    ("nodefs.available<120%", "not within 0-100%"),
    ("memory.available<1Mi,memory.available<2Mi", "given twice"),
])
def test_bad_thresholds_are_refused_with_the_reason(text: str, error: str) -> None:
    with pytest.raises(ThresholdError, match=error):
        parse_thresholds(text)


def test_soft_thresholds_take_their_grace_period_and_require_one() -> None:
    grace = parse_grace_periods("memory.available=1m30s,nodefs.available=500ms")
    assert grace == {MEMORY_AVAILABLE: 90.0, NODEFS_AVAILABLE: 0.5}
    (soft,) = parse_thresholds("memory.available<200Mi", grace, soft=True)
    assert soft.soft and soft.grace == 90.0
    with pytest.raises(ThresholdError, match="no grace period"):
        parse_thresholds("nodefs.available<20%", {}, soft=True)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m30s", 90), ("2", 2), ("250ms", 0.25),
                                               ("1h", 3600)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_the_agent_flags_refuse_a_bad_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--node-name", "n", "--eviction-hard", "memory.available<x"])
    assert "invalid quantity" in capsys.readouterr().err
    config = parse_args(["--node-name", "n", "--eviction-soft", "memory.available<1Gi",
                         "--eviction-soft-grace-period", "memory.available=30s"])
    assert config.eviction_hard == "memory.available<100Mi,nodefs.available<10%"


@pytest.mark.parametrize(("n", "text"), [(100 * Mi, "100Mi"), (2**30, "1Gi"), (81920 * 1024, "80Mi"),
                                         (1536, "1Ki"), (0, "0")])
def test_quantities_print_like_kubernetes(n: int, text: str) -> None:
    assert format_bytes(n) == text


# -- ranking ------------------------------------------------------------------------------

def pod(name: str, request: str = "", limit: str = "", priority: int | None = None) -> v1.Pod:
    resources: dict[str, dict[str, str]] = {}
    if request:
        resources["requests"] = {"memory": request, "cpu": "100m"}
    if limit:
        resources["limits"] = {"memory": limit, "cpu": "100m"}
    spec: dict[str, object] = {"containers": [{"name": "app", "image": "busybox",
                                               "resources": resources}]}
    if priority is not None:
        spec["priority"] = priority
    return ParseDict({"metadata": {"name": name, "uid": name}, "spec": spec}, v1.Pod())


def usage(p: v1.Pod, mi: int) -> PodUsage:
    return PodUsage(p, {"app": mi * Mi})


@pytest.mark.parametrize(("pods", "order"), [
    # BestEffort over its (zero) request goes before a Guaranteed pod using more in total
    ([usage(pod("guaranteed", "200Mi", "200Mi"), 150), usage(pod("besteffort"), 10)],
     ["besteffort", "guaranteed"]),
    # among pods over their requests: the one furthest over first
    ([usage(pod("burst-a", "50Mi"), 60), usage(pod("burst-b", "50Mi"), 120), usage(pod("be"), 30)],
     ["burst-b", "be", "burst-a"]),
    # a Burstable pod under its request ranks after every pod over its request
    ([usage(pod("under", "100Mi"), 90), usage(pod("over", "10Mi"), 11)], ["over", "under"]),
    # priority decides among pods that all exceed their requests
    ([usage(pod("important", priority=1000), 500), usage(pod("cheap", priority=0), 5)],
     ["cheap", "important"]),
    # Guaranteed pods last, the one using most relative to its request first
    ([usage(pod("g1", "100Mi", "100Mi"), 10), usage(pod("g2", "100Mi", "100Mi"), 90)], ["g2", "g1"]),
])
def test_pods_are_ranked_for_memory_eviction_in_kubernetes_order(pods: list[PodUsage],
                                                                 order: list[str]) -> None:
    assert [p.pod.metadata.name for p in rank_for_eviction(pods, MEMORY)] == order


def test_eviction_message_names_threshold_available_and_the_hungry_container() -> None:
    victim = usage(pod("hog"), 120)
    message = eviction_message(MEMORY, Threshold(MEMORY_AVAILABLE, quantity=100 * Mi),
                               Observation(80 * Mi, 1024 * Mi), victim)
    assert message == ("The node was low on resource: memory. Threshold quantity: 100Mi, "
                       "available: 80Mi. Container app was using 120Mi, request is 0.")


# -- the manager --------------------------------------------------------------------------

class FakeSignals:
    def __init__(self) -> None:
        self.values = {MEMORY_AVAILABLE: Observation(900 * Mi, 1024 * Mi),
                       NODEFS_AVAILABLE: Observation(50 * 2**30, 100 * 2**30)}

    def set(self, signal: str, available: int) -> None:
        self.values[signal] = Observation(available, self.values[signal].capacity)

    async def observe(self) -> dict[str, Observation]:
        return dict(self.values)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def manager(signals: FakeSignals, clock: Clock, pods: list[PodUsage], evicted: list[tuple[str, float]],
            soft: str = "", changes: list[dict[str, bool]] | None = None) -> EvictionManager:
    async def list_pods() -> list[PodUsage]:
        return pods

    async def evict(p: PodUsage, message: str, grace: float) -> bool:
        evicted.append((p.pod.metadata.name, grace))
        pods.remove(p)
        return True

    mgr: EvictionManager

    async def changed() -> None:
        if changes is not None:
            changes.append(mgr.conditions())

    config = EvictionConfig(hard=parse_thresholds("memory.available<100Mi,nodefs.available<10%"),
                            soft=parse_thresholds(soft, {MEMORY_AVAILABLE: 30.0}, soft=True),
                            pressure_transition_period=5.0, max_pod_grace_period=10.0)
    mgr = EvictionManager(config, signals, list_pods, evict, changed, clock)
    return mgr


def test_hard_memory_threshold_sets_pressure_and_evicts_one_pod_per_pass() -> None:
    signals, clock, evicted, changes = FakeSignals(), Clock(), [], []
    pods = [usage(pod("guaranteed", "64Mi", "64Mi"), 30), usage(pod("besteffort"), 200),
            usage(pod("burstable", "10Mi"), 50)]
    mgr = manager(signals, clock, pods, evicted, changes=changes)

    async def main() -> None:
        assert await mgr.synchronize() is None
        assert mgr.conditions() == {"MemoryPressure": False, "DiskPressure": False}
        signals.set(MEMORY_AVAILABLE, 80 * Mi)
        victim = await mgr.synchronize()
        assert victim is not None and victim.pod.metadata.name == "besteffort"
        assert mgr.conditions()["MemoryPressure"] and not mgr.conditions()["DiskPressure"]
        assert mgr.taints() == ["node.kubernetes.io/memory-pressure"]
        assert changes == [{"MemoryPressure": True, "DiskPressure": False}]
        clock.now += 1
        await mgr.synchronize()  # still under pressure: the next one
        assert [name for name, _ in evicted] == ["besteffort", "burstable"]
        assert all(grace == 0 for _, grace in evicted)  # hard: no grace
        signals.set(MEMORY_AVAILABLE, 500 * Mi)
        clock.now += 1
        assert await mgr.synchronize() is None
        assert mgr.conditions()["MemoryPressure"]  # the transition period holds it
        clock.now += 5
        await mgr.synchronize()
        assert not mgr.conditions()["MemoryPressure"] and mgr.taints() == []
        assert changes[-1] == {"MemoryPressure": False, "DiskPressure": False}
        assert [p.pod.metadata.name for p in pods] == ["guaranteed"]
    asyncio.run(main())


def test_soft_threshold_evicts_only_after_its_grace_period_with_a_capped_pod_grace() -> None:
    signals, clock, evicted = FakeSignals(), Clock(), []
    hog = usage(pod("hog"), 300)
    hog.pod.spec.termination_grace_period_seconds = 60
    mgr = manager(signals, clock, [hog], evicted, soft="memory.available<300Mi")

    async def main() -> None:
        signals.set(MEMORY_AVAILABLE, 250 * Mi)
        assert await mgr.synchronize() is None
        assert mgr.conditions()["MemoryPressure"]  # reported at once, evicted later
        clock.now += 29
        assert await mgr.synchronize() is None
        clock.now += 1
        assert (await mgr.synchronize()) is hog
        assert evicted == [("hog", 10.0)]  # min(pod's 60 s, max pod grace 10 s)
    asyncio.run(main())


def test_soft_grace_restarts_when_the_signal_recovers_in_between() -> None:
    signals, clock, evicted = FakeSignals(), Clock(), []
    mgr = manager(signals, clock, [usage(pod("hog"), 300)], evicted, soft="memory.available<300Mi")

    async def main() -> None:
        signals.set(MEMORY_AVAILABLE, 250 * Mi)
        await mgr.synchronize()
        clock.now += 20
        signals.set(MEMORY_AVAILABLE, 600 * Mi)
        await mgr.synchronize()
        clock.now += 1
        signals.set(MEMORY_AVAILABLE, 250 * Mi)
        await mgr.synchronize()
        clock.now += 20
        assert await mgr.synchronize() is None and not evicted
    asyncio.run(main())


def test_disk_threshold_in_percent_sets_disk_pressure() -> None:
    signals, clock, evicted = FakeSignals(), Clock(), []
    mgr = manager(signals, clock, [usage(pod("a"), 1)], evicted)

    async def main() -> None:
        signals.set(NODEFS_AVAILABLE, 9 * 2**30)  # 9 of 100 Gi < 10%
        await mgr.synchronize()
        assert mgr.conditions() == {"MemoryPressure": False, "DiskPressure": True}
        assert mgr.taints() == ["node.kubernetes.io/disk-pressure"]
        assert [n for n, _ in evicted] == ["a"]
    asyncio.run(main())


# -- the agent: conditions, taints, the evicted pod's status -------------------------------

class HungrySim(SimRuntime):
    """A simulated runtime whose containers use `usage[container name]` bytes of memory."""

    def __init__(self, node: str) -> None:
        super().__init__(node)
        self.usage: dict[str, int] = {}

    async def memory_working_set(self, container_id: str) -> int:
        return self.usage.get(self.container(container_id).container_name, 0)


def test_agent_under_memory_pressure_taints_node_and_evicts_the_best_effort_pod(tmp_path: Path) -> None:
    node_name = "sim-evict"

    async def main() -> None:
        cluster, rt, signals = AgentApi(), HungrySim(node_name), FakeSignals()
        config = AgentConfig(node_name=node_name, root_dir=str(tmp_path), heartbeat=0.1,
                             fence_timeout=30, resync_period=0.5, eviction_interval=0.1,
                             eviction_pressure_transition_period=0.5)
        agent = NodeAgent(config, cluster, rt, signals=signals)
        task = asyncio.create_task(agent.run())
        try:
            async with asyncio.timeout(30):
                await cluster.add_pod(ParseDict({"metadata": {"name": "hog"}, "spec": {"containers": [
                    {"name": "hog", "image": "busybox"}]}}, v1.Pod()), node_name)
                guaranteed = ParseDict({"metadata": {"name": "steady"}, "spec": {"containers": [
                    {"name": "steady", "image": "busybox", "resources": {
                        "limits": {"memory": "64Mi", "cpu": "100m"},
                        "requests": {"memory": "64Mi", "cpu": "100m"}}}]}}, v1.Pod())
                await cluster.add_pod(guaranteed, node_name)
                await cluster.wait_for(lambda: all(
                    (p := cluster.find_pod(n)) is not None and p.status.phase == "Running"
                    for n in ("hog", "steady")))
                rt.usage = {"hog": 120 * Mi, "steady": 30 * Mi}
                signals.set(MEMORY_AVAILABLE, 80 * Mi)

                def node() -> v1.Node:
                    obj = cluster.find("Node", node_name)
                    assert isinstance(obj, v1.Node)
                    return obj

                def pressure() -> str:
                    return next((c.status for c in node().status.conditions
                                 if c.type == "MemoryPressure"), "")

                hog = await cluster.wait_for(lambda: (p := cluster.find_pod("hog")) is not None
                                             and p.status.reason == "Evicted" and p)
                assert hog.status.phase == "Failed"
                assert hog.status.message == (
                    "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
                    "80Mi. Container hog was using 120Mi, request is 0.")
                assert all(c.state.HasField("terminated") for c in hog.status.container_statuses)
                await cluster.wait_for(lambda: pressure() == "True" and any(
                    t.key == "node.kubernetes.io/memory-pressure" and t.effect == "NoSchedule"
                    for t in node().spec.taints))
                steady = cluster.find_pod("steady")
                assert steady is not None and steady.status.phase == "Running"
                assert agent.eviction.evictions[0][0] == "hog"
                await agent.recorder.flush()
                evicted = [e for e in cluster.events() if e.reason == "Evicted"]
                assert [e.involved_object.name for e in evicted] == ["hog"]
                # pressure ends: condition back to False and the taint removed
                signals.set(MEMORY_AVAILABLE, 900 * Mi)
                await cluster.wait_for(lambda: pressure() == "False" and not node().spec.taints)
                steady = cluster.find_pod("steady")
                assert steady is not None and steady.status.phase == "Running"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())
