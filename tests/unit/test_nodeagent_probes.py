"""Probes without Docker: each handler against local servers, the prober's state machine,
and the agent restarting a container whose liveness probe fails (simulated runtime)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import ParseDict

from nodeagent.agent import NodeAgent
from nodeagent.config import AgentConfig
from nodeagent.probes import Prober, run_probe
from nodeagent.runtime.base import ExecResult
from nodeagent.runtime.sim import SimRuntime
from podlab.v1 import objects_pb2 as v1
from tests.support.agent_api import AgentApi

pytestmark = pytest.mark.unit


class ScriptedSim(SimRuntime):
    """Exec answers from `results[command[0]]` (exit code), default 0; `slow` never answers."""

    def __init__(self, node: str = "sim-probes") -> None:
        super().__init__(node)
        self.results: dict[str, int] = {}

    async def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        self.execs.append((container_id, list(command)))
        if command[0] == "slow":
            async with asyncio.timeout(timeout):
                await asyncio.sleep(3600)
        code = self.results.get(command[0], 0)
        return ExecResult(code, b"", b"no such file" if code else b"")


def container(spec: dict[str, Any]) -> v1.Container:
    return ParseDict({"name": "app", "image": "busybox", **spec}, v1.Container())


def probe(spec: dict[str, Any]) -> v1.Probe:
    return ParseDict(spec, v1.Probe())


# -- handlers -----------------------------------------------------------------------------

async def _http_server(status: int) -> tuple[asyncio.Server, int, list[bytes]]:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


@pytest.mark.parametrize(("status", "ok"), [(200, True), (302, True), (399, True), (404, False),
                                            (500, False)])
def test_http_probe_succeeds_for_200_to_399_on_a_named_port(status: int, ok: bool) -> None:
    async def main() -> None:
        server, port, seen = await _http_server(status)
        async with server:
            c = container({"ports": [{"name": "web", "containerPort": port}]})
            p = probe({"httpGet": {"path": "/healthz", "port": "web",
                                   "httpHeaders": [{"name": "X-Custom", "value": "yes"}]}})
            outcome = await run_probe(SimRuntime("n"), "cid", c, p, "127.0.0.1", 1.0)
        assert outcome.ok is ok
        if not ok:
            assert outcome.detail == f"HTTP probe failed with statuscode: {status}"
        assert seen[0].startswith(b"GET /healthz HTTP/1.0") and b"X-Custom: yes" in seen[0]
    asyncio.run(main())


def test_tcp_probe_needs_a_listening_port() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            ok = await run_probe(SimRuntime("n"), "c", container({}),
                                 probe({"tcpSocket": {"port": port}}), "127.0.0.1", 1.0)
        closed = await run_probe(SimRuntime("n"), "c", container({}),
                                 probe({"tcpSocket": {"port": port}}), "127.0.0.1", 1.0)
        assert ok.ok and not closed.ok and f"dial tcp 127.0.0.1:{port}" in closed.detail
    asyncio.run(main())


def test_exec_probe_succeeds_on_exit_zero_and_times_out() -> None:
    async def main() -> None:
        rt = ScriptedSim()
        rt.results["cat"] = 1
        assert (await run_probe(rt, "c", container({}), probe({"exec": {"command": ["true"]}}),
                                "", 1.0)).ok
        failed = await run_probe(rt, "c", container({}), probe({"exec": {"command": ["cat", "x"]}}), "", 1.0)
        assert not failed.ok and failed.detail == "no such file"
        slow = await run_probe(rt, "c", container({}), probe({"exec": {"command": ["slow"]}}), "", 0.2)
        assert not slow.ok and "timed out" in slow.detail
    asyncio.run(main())


@pytest.mark.parametrize(("serving", "ok"), [(True, True), (False, False)])
def test_grpc_probe_asks_the_standard_health_service(serving: bool, ok: bool) -> None:
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    async def main() -> None:
        server = grpc.aio.server()
        servicer = health.aio.HealthServicer()
        state = health_pb2.HealthCheckResponse.SERVING if serving else \
            health_pb2.HealthCheckResponse.NOT_SERVING
        await servicer.set("svc", state)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            outcome = await run_probe(SimRuntime("n"), "c", container({}),
                                      probe({"grpc": {"port": port, "service": "svc"}}), "127.0.0.1", 2.0)
        finally:
            await server.stop(0)
        assert outcome.ok is ok
        if not ok:
            assert outcome.detail == 'service unhealthy (responded with "NOT_SERVING")'
        nothing = await run_probe(SimRuntime("n"), "c", container({}),
                                  probe({"grpc": {"port": port}}), "127.0.0.1", 0.5)
        assert not nothing.ok
    asyncio.run(main())


# -- the prober's state machine -----------------------------------------------------------

def pod_with(c: v1.Container) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name="p", namespace="default", uid="uid-1"))
    pod.spec.containers.append(c)
    return pod


def timing(handler: dict[str, Any], **kw: int) -> dict[str, Any]:
    base = {"periodSeconds": 1, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 1}
    return {**handler, **base, **{k: v for k, v in kw.items()}}


def test_readiness_needs_success_threshold_and_wakes_the_worker_on_each_change() -> None:
    async def main() -> None:
        rt, woken = ScriptedSim(), []
        prober = Prober(rt, wake=woken.append)
        c = container({"readinessProbe": timing({"exec": {"command": ["check"]}}, successThreshold=2)})
        prober.container_started(pod_with(c), c, "cid", "10.0.0.2")
        assert prober.readiness("uid-1", "app", "cid") is False  # not ready before it succeeds
        assert prober.readiness("uid-1", "app", "other-cid") is None  # a stale id is not answered
        await _until(lambda: prober.readiness("uid-1", "app", "cid"), 5)
        assert len(rt.execs) >= 2 and woken == ["uid-1"]
        rt.results["check"] = 1
        await _until(lambda: prober.readiness("uid-1", "app", "cid") is False, 5)
        assert woken == ["uid-1", "uid-1"]
        assert prober.failure("uid-1", "app", "cid") is None  # readiness never kills
        prober.close()
    asyncio.run(main())


def test_startup_probe_holds_liveness_until_it_succeeds() -> None:
    async def main() -> None:
        rt = ScriptedSim()
        rt.results.update({"started": 1, "alive": 1})
        prober = Prober(rt)
        c = container({"startupProbe": timing({"exec": {"command": ["started"]}}, failureThreshold=30),
                       "livenessProbe": timing({"exec": {"command": ["alive"]}})})
        prober.container_started(pod_with(c), c, "cid", "")
        await _until(lambda: len(rt.execs) >= 3, 5)
        assert prober.started("uid-1", "app", "cid") is False
        assert prober.failure("uid-1", "app", "cid") is None
        assert {cmd[0] for _, cmd in rt.execs} == {"started"}  # liveness has not run yet
        rt.results["started"] = 0
        await _until(lambda: prober.started("uid-1", "app", "cid"), 5)
        failure = await _until(lambda: prober.failure("uid-1", "app", "cid"), 5)
        assert failure.kind == "liveness" and failure.grace is None
        assert failure.message == "Container app failed liveness probe, will be restarted"
        prober.close()
    asyncio.run(main())


def test_startup_failure_kills_with_the_probe_grace_period() -> None:
    async def main() -> None:
        rt = ScriptedSim()
        rt.results["started"] = 1
        prober = Prober(rt)
        c = container({"startupProbe": timing({"exec": {"command": ["started"]}}, failureThreshold=2,
                                              terminationGracePeriodSeconds=3)})
        prober.container_started(pod_with(c), c, "cid", "")
        failure = await _until(lambda: prober.failure("uid-1", "app", "cid"), 5)
        assert failure.kind == "startup" and failure.grace == 3
        prober.close()
    asyncio.run(main())


async def _until(predicate: Any, timeout: float) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(0.05)
        return value


# -- the agent ----------------------------------------------------------------------------

def test_agent_restarts_a_container_whose_liveness_probe_fails_and_records_events(
        tmp_path: Path) -> None:
    async def main() -> None:
        cluster, rt = AgentApi(), ScriptedSim("sim-live")
        config = AgentConfig(node_name="sim-live", root_dir=str(tmp_path), heartbeat=0.1,
                             fence_timeout=30, resync_period=0.5, backoff_base=0.2, backoff_cap=1)
        agent = NodeAgent(config, cluster, rt)
        task = asyncio.create_task(agent.run())
        try:
            async with asyncio.timeout(30):
                pod = ParseDict({"metadata": {"name": "sick"}, "spec": {"containers": [{
                    "name": "app", "image": "busybox",
                    "livenessProbe": timing({"exec": {"command": ["cat", "/tmp/healthy"]}},
                                            failureThreshold=2)}]}}, v1.Pod())
                await cluster.add_pod(pod, "sim-live")

                def app() -> v1.ContainerStatus | None:
                    p = cluster.find_pod("sick")
                    return p.status.container_statuses[0] if p and p.status.container_statuses else None

                await cluster.wait_for(lambda: (c := app()) is not None and c.ready)
                rt.results["cat"] = 1
                await cluster.wait_for(lambda: (c := app()) is not None and c.restart_count == 1
                                       and c.state.HasField("running"))
                await agent.recorder.flush()
                evs = cluster.events()
                reasons = [(e.reason, e.type) for e in evs]
                assert ("Unhealthy", "Warning") in reasons and ("Killing", "Normal") in reasons
                assert ("Started", "Normal") in reasons
                unhealthy = next(e for e in evs if e.reason == "Unhealthy")
                assert unhealthy.message == "Liveness probe failed: no such file"
                assert unhealthy.metadata.name.startswith("sick.")
                # Repeats are one Event with a count, as `describe` shows "(x2 over 1s)".
                assert reasons.count(("Unhealthy", "Warning")) == 1
                assert unhealthy.count >= 2
                started = [e for e in evs if e.reason == "Started"]
                assert [e.count for e in started] == [2]
                assert unhealthy.last_timestamp.ToNanoseconds() > \
                    unhealthy.first_timestamp.ToNanoseconds()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())


def test_http_probe_follows_local_redirects_and_takes_a_redirect_elsewhere_as_success() -> None:
    """The kubelet's prober: a redirect to the same host is followed (here to a failing
    /healthz); one to another host is not followed and counts as a success."""
    from google.protobuf import struct_pb2

    from nodeagent.probes import _http

    replies = {"/redirect": "302 Found\r\nLocation: /healthz", "/healthz": "500 Internal Server Error",
               "/away": "302 Found\r\nLocation: http://elsewhere.invalid/"}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path = (await reader.readline()).split()[1].decode()
        while (await reader.readline()).strip():
            pass
        writer.write(f"HTTP/1.0 {replies[path]}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    async def body() -> tuple[bool, bool]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            outcomes = []
            for path in ("/redirect", "/away"):
                hg = v1.HTTPGetAction(path=path, port=struct_pb2.Value(number_value=port))
                outcomes.append((await _http(hg, v1.Container(), "127.0.0.1", 2.0)).ok)
            return outcomes[0], outcomes[1]
        finally:
            server.close()
    assert asyncio.run(body()) == (False, True)
