"""Liveness, readiness and startup probes on real containers (node agent on Docker, no API server).

Every handler kind (exec, httpGet on a named port, tcpSocket, grpc) is probed
for real, from the agent on the host to the pod's IP on the Docker bridge.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from _harness import exec_in, pod_from, running_agent, status, wait_phase
from conftest import DockerKit, run_async

from podlab.v1 import objects_pb2 as v1
from tests.support.agent_api import AgentApi

pytestmark = pytest.mark.e2e


def probe(handler: dict[str, Any], delay: int = 0, period: int = 1, failures: int = 1,
          successes: int = 1, timeout: int = 1, **extra: Any) -> dict[str, Any]:
    """A probe with every timing field spelled out (AgentApi does no API defaulting)."""
    return {**handler, "initialDelaySeconds": delay, "periodSeconds": period,
            "failureThreshold": failures, "successThreshold": successes,
            "timeoutSeconds": timeout, **extra}


def events(cluster: AgentApi, reason: str, pod: str = "") -> list[v1.Event]:
    return sorted((e for e in cluster.events() if e.reason == reason
                   and (not pod or e.involved_object.name == pod)),
                  key=lambda e: e.first_timestamp.ToMilliseconds())


def container(cluster: AgentApi, pod: str, name: str) -> v1.ContainerStatus | None:
    st = status(cluster, pod)
    if st is None:
        return None
    return next((c for c in st.container_statuses if c.name == name), None)


def condition(cluster: AgentApi, pod: str, ctype: str) -> str:
    st = status(cluster, pod)
    return next((c.status for c in st.conditions if c.type == ctype), "") if st else ""


def ready_one_restart_the_other(docker_kit: DockerKit, tmp_path: Path, manifest: dict[str, Any],
                                ready: str, sick: str) -> list[str]:
    """Run a pod whose `ready` container's readiness probe passes and whose `sick`
    container's liveness probe fails: wait until the first is ready and the
    second restarted, check the first never restarted, and return the pod's
    Unhealthy event messages."""
    pod = manifest["metadata"]["name"]

    async def body() -> list[str]:
        node = docker_kit.node(f"probe-{pod}")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, _, _):
            await cluster.add_pod(pod_from(manifest), node)
            await cluster.wait_for(
                lambda: (c := container(cluster, pod, ready)) is not None and c.ready, 40)
            await cluster.wait_for(
                lambda: (c := container(cluster, pod, sick)) is not None and c.restart_count >= 1, 40)
            healthy = container(cluster, pod, ready)
            assert healthy is not None and healthy.restart_count == 0
            return [e.message for e in events(cluster, "Unhealthy", pod)]
    return run_async(body())


SH = ["/bin/sh", "-c"]


def test_seed_liveness_exec_restarts_the_container_once_the_healthy_file_is_gone(
        docker_kit: DockerKit, tmp_path: Path) -> None:
    # The seed's liveness example, with 30 s shortened to 4 s.
    manifest = {"metadata": {"name": "liveness-exec"}, "spec": {
        "terminationGracePeriodSeconds": 2,
        "containers": [{
            "name": "liveness", "image": "busybox",
            "args": ["/bin/sh", "-c", "touch /tmp/healthy; sleep 4; rm -f /tmp/healthy; sleep 600"],
            "livenessProbe": probe({"exec": {"command": ["cat", "/tmp/healthy"]}},
                                   delay=1, period=1, failures=3)}]}}

    async def body() -> None:
        node = docker_kit.node("probe-live")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, _, _):
            await cluster.add_pod(pod_from(manifest), node)
            await wait_phase(cluster, "liveness-exec", "Running")
            first = container(cluster, "liveness-exec", "liveness")
            assert first is not None and first.restart_count == 0
            restarted = await cluster.wait_for(
                lambda: (c := container(cluster, "liveness-exec", "liveness")) is not None
                and c.restart_count == 1 and c.state.HasField("running") and c, 60)
            assert restarted.last_state.terminated.exit_code in (137, 143)
            unhealthy = events(cluster, "Unhealthy", "liveness-exec")
            assert unhealthy and unhealthy[0].type == "Warning"
            assert unhealthy[0].message.startswith("Liveness probe failed: ")
            assert "/tmp/healthy" in unhealthy[0].message
            assert unhealthy[0].source.component == "kubelet" and unhealthy[0].source.host == node
            killing = events(cluster, "Killing", "liveness-exec")
            assert killing[0].message == "Container liveness failed liveness probe, will be restarted"
            assert killing[0].involved_object.field_path == "spec.containers{liveness}"
            # file gone at ~4 s; 3 failures at 1 s intervals -> killed at ~6-7 s after start
            started = first.state.running.started_at.ToMilliseconds() / 1000
            killed = killing[0].first_timestamp.ToMilliseconds() / 1000
            assert 4 + 1 <= killed - started <= 4 + 3 + 1.5, killed - started
    run_async(body())


def test_liveness_failure_is_detected_after_initial_delay_plus_failure_threshold_periods(
        docker_kit: DockerKit, tmp_path: Path) -> None:
    delay, period, failures = 2, 1, 3
    manifest = {"metadata": {"name": "always-sick"}, "spec": {
        # The pod's grace is long; the probe's own terminationGracePeriodSeconds wins.
        "terminationGracePeriodSeconds": 120,
        "containers": [{
            "name": "app", "image": "busybox", "command": SH + ["sleep 600"],
            "livenessProbe": probe({"exec": {"command": ["false"]}}, delay=delay, period=period,
                                   failures=failures, terminationGracePeriodSeconds=1)}]}}

    async def body() -> None:
        node = docker_kit.node("probe-timing")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, _, _):
            await cluster.add_pod(pod_from(manifest), node)
            await wait_phase(cluster, "always-sick", "Running")
            first = container(cluster, "always-sick", "app")
            assert first is not None
            started = first.state.running.started_at.ToMilliseconds() / 1000
            restarted = await cluster.wait_for(
                lambda: (c := container(cluster, "always-sick", "app")) is not None
                and c.restart_count >= 1 and c, 60)
            killing = events(cluster, "Killing", "always-sick")[0]
            detected = killing.first_timestamp.ToMilliseconds() / 1000 - started
            expected = delay + failures * period
            # Kubernetes' promise: within one period of initialDelay + failureThreshold x period
            assert expected - period - 0.5 <= detected <= expected + period, detected
            # SIGTERM is ignored by sh as PID 1: the 1 s probe grace, not the pod's 120 s, applied
            term = restarted.last_state.terminated
            stopped = term.finished_at.ToMilliseconds() / 1000 - killing.first_timestamp.ToMilliseconds() / 1000
            assert stopped < 10, stopped
    run_async(body())


def test_readiness_follows_the_probe_true_false_true(docker_kit: DockerKit, tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "readiness-exec"}, "spec": {"containers": [{
        "name": "app", "image": "busybox", "command": SH + ["sleep 600"],
        "readinessProbe": probe({"exec": {"command": ["cat", "/tmp/ready"]}}, period=1)}]}}

    def ready_is(cluster: AgentApi, want: bool) -> Any:
        def check() -> bool:
            c = container(cluster, "readiness-exec", "app")
            want_text = "True" if want else "False"
            return c is not None and c.ready == want and \
                condition(cluster, "readiness-exec", "Ready") == want_text and \
                condition(cluster, "readiness-exec", "ContainersReady") == want_text
        return check

    async def body() -> None:
        node = docker_kit.node("probe-ready")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, rt, _):
            pod = await cluster.add_pod(pod_from(manifest), node)
            uid = pod.metadata.uid
            await wait_phase(cluster, "readiness-exec", "Running")
            assert ready_is(cluster, False)()
            await exec_in(rt, uid, "app", ["touch", "/tmp/ready"])
            await cluster.wait_for(ready_is(cluster, True), 15)
            await exec_in(rt, uid, "app", ["rm", "/tmp/ready"])
            await cluster.wait_for(ready_is(cluster, False), 15)
            await exec_in(rt, uid, "app", ["touch", "/tmp/ready"])
            await cluster.wait_for(ready_is(cluster, True), 15)
            c = container(cluster, "readiness-exec", "app")
            assert c is not None and c.restart_count == 0  # readiness never restarts
            assert events(cluster, "Unhealthy", "readiness-exec")[0].message.startswith(
                "Readiness probe failed: ")
    run_async(body())


def test_slow_starter_with_startup_probe_is_not_killed_by_its_liveness_probe(
        docker_kit: DockerKit, tmp_path: Path) -> None:
    check = {"exec": {"command": ["cat", "/tmp/started"]}}
    manifest = {"metadata": {"name": "slow-start"}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "app", "image": "busybox",
            "command": SH + ["sleep 5; touch /tmp/started; sleep 600"],
            # Without the startup probe this liveness probe would kill it at ~1 s.
            "livenessProbe": probe(check, period=1, failures=1),
            "startupProbe": probe(check, period=1, failures=15)}]}}

    async def body() -> None:
        node = docker_kit.node("probe-startup")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, _, _):
            await cluster.add_pod(pod_from(manifest), node)
            await wait_phase(cluster, "slow-start", "Running")
            c = container(cluster, "slow-start", "app")
            assert c is not None and not c.started and not c.ready
            started_at = time.monotonic()
            await cluster.wait_for(
                lambda: (c := container(cluster, "slow-start", "app")) is not None
                and c.started and c.ready, 30)
            assert time.monotonic() - started_at >= 2  # it really was slow
            # liveness now runs and succeeds: a few periods later, still the first attempt
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                c = container(cluster, "slow-start", "app")
                assert c is not None and c.restart_count == 0 and c.state.HasField("running")
                await asyncio.sleep(0.5)  # watching it stay up, not waiting for anything
            assert not events(cluster, "Killing", "slow-start")
            assert any(e.message.startswith("Startup probe failed: ")
                       for e in events(cluster, "Unhealthy", "slow-start"))
    run_async(body())


def test_http_get_probes_on_a_named_port(docker_kit: DockerKit, tmp_path: Path) -> None:
    def nginx(name: str, path: str) -> dict[str, Any]:
        http = {"httpGet": {"path": path, "port": "liveness-port",
                            "httpHeaders": [{"name": "X-Probe", "value": "podlab"}]}}
        return {"metadata": {"name": name}, "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "nginx", "image": "nginx",
                            "ports": [{"name": "liveness-port", "containerPort": 80}],
                            "livenessProbe": probe(http, delay=1, period=1, failures=2),
                            "readinessProbe": probe(http, period=1)}]}}

    async def body() -> None:
        node = docker_kit.node("probe-http")
        async with running_agent(docker_kit, node, tmp_path) as (cluster, _, _):
            await cluster.add_pod(pod_from(nginx("http-ok", "/")), node)
            await cluster.add_pod(pod_from(nginx("http-404", "/healthz")), node)
            await cluster.wait_for(
                lambda: (c := container(cluster, "http-ok", "nginx")) is not None and c.ready, 40)
            await cluster.wait_for(
                lambda: (c := container(cluster, "http-404", "nginx")) is not None
                and c.restart_count >= 1, 40)
            ok = container(cluster, "http-ok", "nginx")
            assert ok is not None and ok.restart_count == 0
            assert condition(cluster, "http-ok", "Ready") == "True"
            failed = [e.message for e in events(cluster, "Unhealthy", "http-404")]
            assert "Liveness probe failed: HTTP probe failed with statuscode: 404" in failed
            # (readiness may fail while nginx is still starting; liveness, delayed 1 s, never does)
            assert not [e for e in events(cluster, "Unhealthy", "http-ok")
                        if e.message.startswith("Liveness")]
    run_async(body())


def test_tcp_socket_probes_pass_on_a_listening_port_and_restart_on_a_closed_one(
        docker_kit: DockerKit, tmp_path: Path) -> None:
    manifest = {"metadata": {"name": "tcp"}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [
            {"name": "nginx", "image": "nginx",
             "readinessProbe": probe({"tcpSocket": {"port": 80}}, period=1)},
            {"name": "closed", "image": "busybox", "command": SH + ["sleep 600"],
             "livenessProbe": probe({"tcpSocket": {"port": 8081}}, delay=1, period=1, failures=2)}]}}

    msgs = ready_one_restart_the_other(docker_kit, tmp_path, manifest, ready="nginx", sick="closed")
    assert any("Liveness probe failed: dial tcp" in m and ":8081" in m for m in msgs), msgs


HEALTH_SERVER = """
import sys
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
port, state = sys.argv[1], sys.argv[2]
server = grpc.server(futures.ThreadPoolExecutor(2))
servicer = health.HealthServicer()
servicer.set("", getattr(health_pb2.HealthCheckResponse, state))
health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
server.add_insecure_port("0.0.0.0:" + port)
server.start()
server.wait_for_termination()
"""


def test_grpc_probe_restarts_a_not_serving_server_and_readies_a_serving_one(
        docker_kit: DockerKit, tmp_path: Path) -> None:
    def server(name: str, port: int, state: str, probe_kind: str, **timing: Any) -> dict[str, Any]:
        return {"name": name, "image": "podlab/pytools:latest", "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-c", HEALTH_SERVER, str(port), state],
                probe_kind: probe({"grpc": {"port": port}}, period=1, **timing)}

    manifest = {"metadata": {"name": "grpc-health"}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [server("serving", 9091, "SERVING", "readinessProbe"),
                       server("sick", 9090, "NOT_SERVING", "livenessProbe", delay=2, failures=2)]}}

    msgs = ready_one_restart_the_other(docker_kit, tmp_path, manifest, ready="serving", sick="sick")
    assert 'Liveness probe failed: service unhealthy (responded with "NOT_SERVING")' in msgs, msgs
