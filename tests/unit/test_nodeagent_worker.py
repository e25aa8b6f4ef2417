"""The node agent's control loop on the simulated runtime, against an in-memory API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from google.protobuf.json_format import ParseDict

from nodeagent.agent import NodeAgent
from nodeagent.config import AgentConfig
from nodeagent.runtime.base import LABEL_TYPE, RUNNING, TYPE_APP, ContainerInfo
from nodeagent.runtime.sim import SimRuntime
from podlab.v1 import objects_pb2 as v1
from tests.support.agent_api import AgentApi

pytestmark = pytest.mark.unit
NODE = "sim-1"

Body = Callable[[AgentApi, SimRuntime, NodeAgent], Awaitable[None]]


def make_pod(name: str, spec: dict) -> v1.Pod:
    return ParseDict({"metadata": {"name": name}, "spec": spec}, v1.Pod())


def run(tmp_path: Path, body: Body, runtime: SimRuntime | None = None, **cfg: object) -> None:
    async def main() -> None:
        cluster = AgentApi()
        rt = runtime or SimRuntime(NODE)
        settings: dict[str, object] = {"backoff_base": 0.2, "backoff_cap": 1.0, "heartbeat": 0.1,
                                       "fence_timeout": 0.6, "resync_period": 0.5, **cfg}
        config = AgentConfig(node_name=NODE, root_dir=str(tmp_path), **settings)
        agent = NodeAgent(config, cluster, rt)
        task = asyncio.create_task(agent.run())
        try:
            async with asyncio.timeout(30):
                await body(cluster, rt, agent)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())


def status_of(cluster: AgentApi, name: str) -> v1.PodStatus | None:
    pod = cluster.find_pod(name)
    return pod.status if pod else None


def test_agent_registers_node_as_ready_and_renews_its_lease(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.wait_for(lambda: cluster.find("Node", NODE) and cluster.leases)
        node = await cluster.get(v1.Node, NODE)
        ready = {c.type: c for c in node.status.conditions}["Ready"]
        assert ready.status == "True" and ready.reason == "KubeletReady"
        assert node.status.allocatable["pods"] == "110"
        assert {a.type for a in node.status.addresses} == {"InternalIP", "Hostname"}
    run(tmp_path, body)


def test_running_pod_reports_running_ready_ip_and_qos(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("web", {"containers": [
            {"name": "a", "image": "busybox", "resources": {"limits": {"cpu": "100m", "memory": "10Mi"}}}]}),
            NODE)
        st = await cluster.wait_for(lambda: (s := status_of(cluster, "web")) and
                                    s.phase == "Running" and s)
        conds = {c.type: c.status for c in st.conditions}
        assert conds == {"PodScheduled": "True", "Initialized": "True",
                         "ContainersReady": "True", "Ready": "True"}
        assert st.pod_ip.startswith("10.244.") and st.qos_class == "Guaranteed"
        assert st.container_statuses[0].state.HasField("running")
        assert st.container_statuses[0].ready and st.container_statuses[0].started
    run(tmp_path, body)


def test_crashing_container_enters_crash_loop_back_off_and_counts_restarts(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("crash", {"containers": [
            {"name": "a", "image": "busybox", "command": ["sh", "-c", "exit 1"]}]}), NODE)
        await cluster.wait_for(lambda: any(
            u.metadata.name == "crash" and u.status.container_statuses and
            u.status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"
            for u in cluster.status_updates))
        st = await cluster.wait_for(lambda: (s := status_of(cluster, "crash")) and
                                    s.container_statuses[0].restart_count >= 3 and s)
        cs = st.container_statuses[0]
        assert st.phase == "Running"
        assert cs.last_state.terminated.exit_code == 1 and cs.last_state.terminated.reason == "Error"
        # old attempts are removed: at most the current one and the previous one remain
        assert len(await rt.list_containers()) <= 2
    run(tmp_path, body)


def test_completed_pod_with_never_policy_succeeds_and_stops_its_sandbox(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("job", {"restartPolicy": "Never", "containers": [
            {"name": "a", "image": "busybox", "command": ["sh", "-c", "exit 0"]}]}), NODE)
        st = await cluster.wait_for(lambda: (s := status_of(cluster, "job")) and
                                    s.phase == "Succeeded" and s)
        assert st.container_statuses[0].state.terminated.reason == "Completed"
        await cluster.wait_for(lambda: all(s.state != RUNNING for s in rt._sandboxes.values()))
    run(tmp_path, body)


def test_init_containers_run_in_order_before_app_containers(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("init", {
            "initContainers": [{"name": "i1", "image": "b", "command": ["sh", "-c", "exit 0"]},
                               {"name": "i2", "image": "b", "command": ["sh", "-c", "exit 0"]}],
            "containers": [{"name": "a", "image": "b"}]}), NODE)
        await cluster.wait_for(lambda: (s := status_of(cluster, "init")) and s.phase == "Running")
        started = sorted(await rt.list_containers(), key=lambda c: c.started_at)
        assert [c.container_name for c in started] == ["i1", "i2", "a"]
        st = status_of(cluster, "init")
        assert st is not None
        assert [s.state.terminated.reason for s in st.init_container_statuses] == ["Completed"] * 2
    run(tmp_path, body)


def test_graceful_deletion_stops_with_grace_then_confirms(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        pod = await cluster.add_pod(make_pod("del", {
            "terminationGracePeriodSeconds": 7,
            "containers": [{"name": "a", "image": "b",
                            "lifecycle": {"preStop": {"exec": {"command": ["echo", "bye"]}}}}]}), NODE)
        await cluster.wait_for(lambda: (s := status_of(cluster, "del")) and s.phase == "Running")
        cid = (await rt.list_containers())[0].id
        await cluster.delete(v1.Pod, "del", "default")
        await cluster.wait_for(lambda: cluster.find_pod("del") is None)
        assert ("default", "del") in cluster.deleted
        assert (cid, ["echo", "bye"]) in rt.execs
        assert any(c == cid and 6 <= t <= 7 for c, t in rt.stops)
        assert await rt.list_containers(pod.metadata.uid) == []
        assert not (tmp_path / "pods" / pod.metadata.uid).exists()
    run(tmp_path, body)


def test_restarted_agent_adopts_running_containers_without_restarting(tmp_path: Path) -> None:
    rt = SimRuntime(NODE)

    async def body(cluster: AgentApi, rt_: SimRuntime, agent: NodeAgent) -> None:
        pass

    async def main() -> None:
        cluster = AgentApi()
        pod = await cluster.add_pod(make_pod("keep", {"containers": [{"name": "a", "image": "b"}]}), NODE)
        from nodeagent.runtime.base import SandboxSpec
        sb = await rt.run_sandbox(SandboxSpec(pod.metadata.uid, "keep", "default", 0, "keep",
                                              {"io.podlab.container.type": "sandbox"}))
        info = ContainerInfo("old-1", pod.metadata.uid, "keep", "default", "a", 4, RUNNING,
                             started_at=1.0, labels={LABEL_TYPE: TYPE_APP})
        rt.adopt(info)
        config = AgentConfig(node_name=NODE, root_dir=str(tmp_path), resync_period=0.5)
        agent = NodeAgent(config, cluster, rt)
        task = asyncio.create_task(agent.run())
        try:
            st = await cluster.wait_for(lambda: (s := status_of(cluster, "keep")) and
                                        s.phase == "Running" and s, 10)
            assert st.container_statuses[0].restart_count == 4
            assert st.pod_ip == sb.ip
            assert [c.id for c in await rt.list_containers()] == ["old-1"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())


def test_containers_of_pods_no_longer_bound_here_are_removed(tmp_path: Path) -> None:
    rt = SimRuntime(NODE)
    rt.adopt(ContainerInfo("orphan-1", "gone-uid", "old", "default", "a", 0, RUNNING,
                           labels={LABEL_TYPE: TYPE_APP}))

    async def body(cluster: AgentApi, rt_: SimRuntime, agent: NodeAgent) -> None:
        await cluster.wait_for(lambda: not rt_._containers)
    run(tmp_path, body, runtime=rt)


def test_lost_lease_fences_the_node_and_reconnect_resyncs(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("f", {"containers": [{"name": "a", "image": "b"}]}), NODE)
        await cluster.wait_for(lambda: (s := status_of(cluster, "f")) and s.phase == "Running")
        first = (await rt.list_containers())[0].id
        cluster.lease_fail = True
        await cluster.wait_for(lambda: agent.fenced)
        await cluster.wait_for(lambda: rt.container(first).state != RUNNING)  # killed once fenced
        cluster.lease_fail = False
        await cluster.wait_for(lambda: not agent.fenced)
        await cluster.wait_for(lambda: any(x.info.state == RUNNING and x.info.id != first
                                           for x in rt._containers.values()))
    run(tmp_path, body)


def test_missing_image_reports_err_image_pull_then_back_off(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("img", {"containers": [{"name": "a", "image": "nope:1"}]}), NODE)
        await cluster.add_pod(make_pod("never", {"containers": [
            {"name": "a", "image": "nope:1", "imagePullPolicy": "Never"}]}), NODE)

        def reason(name: str) -> str:
            st = status_of(cluster, name)
            return st.container_statuses[0].state.waiting.reason if st and st.container_statuses else ""
        await cluster.wait_for(lambda: reason("img") == "ErrImagePull")
        await cluster.wait_for(lambda: reason("img") == "ImagePullBackOff")
        await cluster.wait_for(lambda: reason("never") == "ErrImageNeverPull")
        assert status_of(cluster, "img").phase == "Pending"
    run(tmp_path, body, runtime=SimRuntime(NODE, images={"b"}))


def pod_events(cluster: AgentApi, pod: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the events about `pod`, oldest first."""
    evs = [e for e in cluster.events() if e.involved_object.name == pod]
    evs.sort(key=lambda e: e.first_timestamp.ToNanoseconds())
    return [(e.type, e.reason, e.message) for e in evs]


def test_a_container_start_records_the_kubelets_events(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("web", {"containers": [
            {"name": "a", "image": "b", "imagePullPolicy": "IfNotPresent"},
            {"name": "c", "image": "b", "imagePullPolicy": "Always"}]}), NODE)
        await cluster.wait_for(lambda: (s := status_of(cluster, "web")) and s.phase == "Running")
        await cluster.delete(v1.Pod, "web", "default")
        await cluster.wait_for(lambda: cluster.find_pod("web") is None)
        await agent.recorder.flush()
        events = pod_events(cluster, "web")
        assert events[:3] == [("Normal", "Pulled", 'Container image "b" already present on machine'),
                              ("Normal", "Created", "Created container a"),
                              ("Normal", "Started", "Started container a")]
        assert events[3] == ("Normal", "Pulling", 'Pulling image "b"')
        assert events[4][:2] == ("Normal", "Pulled")
        assert events[4][2].startswith('Successfully pulled image "b" in ')
        assert events[5:7] == [("Normal", "Created", "Created container c"),
                               ("Normal", "Started", "Started container c")]
        assert sorted(events[7:]) == [("Normal", "Killing", "Stopping container a"),
                                      ("Normal", "Killing", "Stopping container c")]
    run(tmp_path, body, runtime=SimRuntime(NODE, images={"b"}))


def test_an_image_that_cannot_be_pulled_records_failed_then_back_off(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("img", {"containers": [{"name": "a", "image": "nope:1"}]}), NODE)
        await cluster.add_pod(make_pod("never", {"containers": [
            {"name": "a", "image": "nope:1", "imagePullPolicy": "Never"}]}), NODE)
        await cluster.wait_for(lambda: len(pod_events(cluster, "img")) >= 5)
        events = pod_events(cluster, "img")
        assert events[0] == ("Normal", "Pulling", 'Pulling image "nope:1"')
        assert events[1] == ("Warning", "Failed",
                             'Failed to pull image "nope:1": pull access denied for nope:1')
        assert events[2] == ("Warning", "Failed", "Error: ErrImagePull")
        assert events[3] == ("Normal", "BackOff", 'Back-off pulling image "nope:1"')
        assert events[4] == ("Warning", "Failed", "Error: ImagePullBackOff")
        await cluster.wait_for(lambda: len(pod_events(cluster, "never")) >= 2)
        assert pod_events(cluster, "never")[:2] == [
            ("Warning", "ErrImageNeverPull",
             'Container image "nope:1" is not present with pull policy of Never'),
            ("Warning", "Failed", "Error: ErrImageNeverPull")]
    run(tmp_path, body, runtime=SimRuntime(NODE, images={"b"}))


def test_active_deadline_fails_the_pod_with_deadline_exceeded(tmp_path: Path) -> None:
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("dl", {"activeDeadlineSeconds": 1,
                                              "containers": [{"name": "a", "image": "b"}]}), NODE)
        st = await cluster.wait_for(lambda: (s := status_of(cluster, "dl")) and
                                    s.phase == "Failed" and s)
        assert st.reason == "DeadlineExceeded"
        assert all(c.state != RUNNING for c in await rt.list_containers())
    run(tmp_path, body)


def test_env_from_downward_api_and_config_map_reaches_the_container(tmp_path: Path) -> None:
    seen: dict[str, str] = {}

    def behavior(spec):
        seen.update(spec.env)
        seen["__cmd"] = " ".join(spec.command + spec.args)
        return None

    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.create(ParseDict({"metadata": {"name": "cfg", "namespace": "default"},
                                        "data": {"color": "blue"}}, v1.ConfigMap()))
        await cluster.add_pod(make_pod("env", {"containers": [{
            "name": "a", "image": "b", "command": ["echo", "$(MY_POD_NAME)", "$$(X)"],
            "env": [{"name": "MY_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "MY_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                       "divisor": "1Mi"}}},
                    {"name": "GREETING", "value": "hi $(COLOR)"}],
            "resources": {"limits": {"memory": "64Mi"}}}]}), NODE)
        await cluster.wait_for(lambda: (s := status_of(cluster, "env")) and s.phase == "Running")
        assert seen["MY_POD_NAME"] == "env" and seen["MY_POD_IP"].startswith("10.244.")
        assert seen["COLOR"] == "blue" and seen["GREETING"] == "hi blue" and seen["MEM"] == "64"
        assert seen["__cmd"] == "echo env $(X)"
    run(tmp_path, body, runtime=SimRuntime(NODE, behavior=behavior))



class _CountingWorker:
    woken = 0

    def wake(self) -> None:
        self.woken += 1


def test_every_worker_looks_again_when_the_event_stream_returns(tmp_path: Path) -> None:
    """What happened while the stream was down (or before it was live) was never
    announced: with no resync for ten minutes, the reconnect must wake every pod."""
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        # The agent runs no pod before its first renewal: only then are its workers its own to wake.
        await cluster.wait_for(lambda: cluster.find("Node", NODE) and agent.heartbeat.renewed_once)
        worker = _CountingWorker()
        agent.workers["no-event-for-me"] = worker
        rt.break_event_stream()
        await cluster.wait_for(lambda: worker.woken >= 1)
        del agent.workers["no-event-for-me"]
    run(tmp_path, body, resync_period=600)


def test_the_relist_catches_a_container_exit_whose_event_was_dropped(tmp_path: Path) -> None:
    """With no resync for ten minutes and the exit's event dropped, only the relist can see it."""
    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("quiet", {"containers": [{"name": "c", "image": "busybox"}]}), NODE)
        await cluster.wait_for(lambda: (s := status_of(cluster, "quiet")) and s.phase == "Running")
        worker = next(iter(agent.workers.values()))
        syncing = 0
        sync_pod = worker.sync_pod

        async def counted() -> bool:
            nonlocal syncing
            syncing += 1
            try:
                return await sync_pod()
            finally:
                syncing -= 1

        worker.sync_pod = counted
        # Settle first: the agent has seen its own Running status come back and is idle,
        # so nothing but the relist is left to wake the worker.
        await cluster.wait_for(lambda: (p := agent.informer.get("default/quiet")) is not None
                               and p.status.phase == "Running"
                               and not worker._wake.is_set() and syncing == 0)
        first = next(c for c in await rt.list_containers() if c.container_name == "c")
        rt.exit_container(first.id, exit_code=3, announce=False)
        st = await cluster.wait_for(
            lambda: (s := status_of(cluster, "quiet")) and s.container_statuses[0].restart_count == 1 and s,
            timeout=5)
        assert st.container_statuses[0].last_state.terminated.exit_code == 3
    run(tmp_path, body, resync_period=600, relist_period=0.1)


@pytest.mark.parametrize("flag", ["--relist-period", "--resync-period", "--heartbeat"])
@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_period_flag_must_be_a_positive_number_of_seconds(flag: str, value: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from nodeagent.config import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--node-name", "n", flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}: " in capsys.readouterr().err


@pytest.mark.parametrize("value", ["garbage", "10.0.0.1:", ":443", "10.0.0.1:99999"])
def test_the_kubernetes_service_flag_must_be_host_and_port(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from nodeagent.config import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--node-name", "n", "--kubernetes-service", value])
    assert exit_info.value.code == 2
    assert "argument --kubernetes-service: " in capsys.readouterr().err
    assert parse_args(["--node-name", "n", "--kubernetes-service", "10.244.255.10:443"]).kubernetes_service \
        == "10.244.255.10:443"


class _PortTaken(SimRuntime):
    """A runtime whose sandboxes cannot start: their host port is taken (counts the attempts)."""

    def __init__(self) -> None:
        super().__init__(NODE)
        self.sandbox_attempts = 0

    async def run_sandbox(self, spec):  # type: ignore[no-untyped-def]
        from nodeagent.runtime.base import ContainerRuntimeError

        self.sandbox_attempts += 1
        # Docker names the attempt's endpoint id: stripped, every attempt reads the same.
        endpoint = f"{self.sandbox_attempts:064x}"
        raise ContainerRuntimeError(
            f"500 Server Error: driver failed programming external connectivity on endpoint "
            f"podlab_POD ({endpoint}): Error starting userland proxy: listen tcp4 127.0.10.1:80: "
            "bind: address already in use")


def test_a_sandbox_that_cannot_start_reports_run_container_error_one_counted_event_and_backs_off(
        tmp_path: Path) -> None:
    """Woken ten times a second for a minute (as its own failed attempts' engine events would),
    the worker tries at 0 s, 10 s and 30 s: three attempts, not the hot loop's ~1,000."""
    from nodeagent.clock import FakeClock
    from nodeagent.pod_worker import PodWorker

    async def main() -> None:
        cluster, rt, clock = AgentApi(), _PortTaken(), FakeClock()
        config = AgentConfig(node_name=NODE, root_dir=str(tmp_path))  # backoff 10 s .. 300 s
        agent = NodeAgent(config, cluster, rt, clock=clock)
        pod = await cluster.add_pod(make_pod("web", {"containers": [
            {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 80}]}]}), NODE)
        worker = PodWorker(agent.ctx, pod)
        for _ in range(600):
            await worker.sync_pod()
            clock.advance(0.1)
        assert rt.sandbox_attempts == 3
        st = status_of(cluster, "web")
        assert st is not None and st.phase == "Pending"
        waiting = st.container_statuses[0].state.waiting
        assert waiting.reason == "RunContainerError"
        assert waiting.message == (
            "failed to start the pod sandbox: 500 Server Error: driver failed programming external "
            "connectivity on endpoint podlab_POD: Error starting userland proxy: listen tcp4 "
            "127.0.10.1:80: bind: address already in use")
        warnings = {(e.reason, e.message): e for e in agent.recorder.recorded if e.type == "Warning"}
        assert len(warnings) == 1, warnings
        (reason, message), event = next(iter(warnings.items()))
        assert reason == "FailedCreatePodSandBox" and message.startswith("Failed to create pod sandbox: 500")
        assert event.count == 3
    asyncio.run(main())


def test_a_container_that_cannot_start_backs_off_10s_doubling_to_the_cap(tmp_path: Path) -> None:
    """The start attempts of a container the runtime refuses: 0, 10, 30, 70, 150, 310 s, then every
    300 s (10 s doubling to 5 min); each one's Warning is the same Event, counted."""
    from nodeagent.clock import FakeClock
    from nodeagent.pod_worker import PodWorker
    from nodeagent.runtime.base import ContainerRuntimeError

    class BadCommand(SimRuntime):
        starts: list[float] = []

        async def start_container(self, container_id: str) -> None:
            self.starts.append(clock.time() - t0)
            raise ContainerRuntimeError(
                f'OCI runtime create failed: container {int(container_id[3:]):064x}: exec: "nosuch": '
                "executable file not found in $PATH: unknown")

    clock = FakeClock()
    t0 = clock.time()

    async def main() -> None:
        cluster, rt = AgentApi(), BadCommand(NODE)
        agent = NodeAgent(AgentConfig(node_name=NODE, root_dir=str(tmp_path)), cluster, rt, clock=clock)
        pod = await cluster.add_pod(make_pod("bad", {"containers": [
            {"name": "a", "image": "busybox", "command": ["nosuch"]}]}), NODE)
        worker = PodWorker(agent.ctx, pod)
        for _ in range(1000):  # 1,000 s, a pass every second
            await worker.sync_pod()
            clock.advance(1.0)
        assert [round(t) for t in rt.starts] == [0, 10, 30, 70, 150, 310, 610, 910]
        st = status_of(cluster, "bad")
        assert st is not None
        waiting = st.container_statuses[0].state.waiting
        assert waiting.reason == "RunContainerError"
        assert waiting.message == ('OCI runtime create failed: container: exec: "nosuch": executable '
                                   "file not found in $PATH: unknown")
        failed = [e for e in agent.recorder.recorded if e.type == "Warning"]
        assert {(e.reason, e.message) for e in failed} == {("Failed", f"Error: {waiting.message}")}
        assert max(e.count for e in failed) == 8
    asyncio.run(main())


def test_the_api_refuses_a_second_holder_of_a_nodes_lease_until_the_first_ones_runs_out() -> None:
    from podlab import errors

    async def main() -> None:
        cluster = AgentApi()
        await cluster.create(ParseDict({"metadata": {"name": NODE}}, v1.Node()))
        await cluster.renew_lease(NODE, "host-a:/var/lib/podlab/n", 1000, 30.0)
        await cluster.renew_lease(NODE, "host-a:/var/lib/podlab/n", 2000, 30.0)  # its restart: same holder
        with pytest.raises(errors.Conflict, match=rf'^node "{NODE}" is held by another agent: '
                           r"host-a:/var/lib/podlab/n \(started 00:00:02 UTC, renewed 0\.\ds ago\)$"):
            await cluster.renew_lease(NODE, "host-b:/other", 3000, 30.0)
        await cluster.renew_lease(NODE, "host-a:/var/lib/podlab/n", 2000, 0.0)  # a lease that holds 0 s
        await cluster.renew_lease(NODE, "host-b:/other", 3000, 30.0)  # ... is free at once
    asyncio.run(main())


def test_a_second_agent_for_a_held_node_is_refused_and_the_first_keeps_its_pods(tmp_path: Path) -> None:
    from nodeagent.heartbeat import LeaseHeld

    async def body(cluster: AgentApi, rt: SimRuntime, agent: NodeAgent) -> None:
        await cluster.add_pod(make_pod("web", {"containers": [{"name": "a", "image": "busybox"}]}), NODE)
        await cluster.wait_for(lambda: (s := status_of(cluster, "web")) and s.phase == "Running")
        [running] = [c for c in await rt.list_containers() if c.state == RUNNING]
        config = AgentConfig(node_name=NODE, root_dir=str(tmp_path / "second"), heartbeat=0.1,
                             fence_timeout=0.6, resync_period=0.5)
        second = NodeAgent(config, cluster, rt)  # the same engine, as a second `podlab up` had
        with pytest.raises(ExceptionGroup) as refused:
            await second.run()
        [held] = refused.value.exceptions
        assert isinstance(held, LeaseHeld)
        assert str(held).startswith(f'node "{NODE}" is held by another agent: ')
        assert str(held).endswith("runs no pods and exits: stop the other agent, or give this one "
                                  "another --node-name")
        assert not second.workers
        # The first agent goes on: its container untouched, its lease renewed, its pod Running.
        renewals = len(cluster.leases)
        await cluster.wait_for(lambda: len(cluster.leases) > renewals + 3)
        assert [c.id for c in await rt.list_containers() if c.state == RUNNING] == [running.id]
        assert not rt.stops
        st = status_of(cluster, "web")
        assert st is not None and st.phase == "Running"
    run(tmp_path, body)
